"""checkov over the synthesized plans of prod and dev (``planning.scan``), and the converter to Terraform plan JSON
(``planning.tfplan``) proven on its own, without checkov.

checkov runs once for the file (a module fixture: one checkov process over both plans); it is installed into its own
virtualenv on first use (``.build/checkov-venv``, from ``requirements-checkov.txt``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planning.harness import ProgramRun, Resource
from planning.scan import (
    CheckovError,
    Finding,
    NotApplicable,
    NotApplicableError,
    ScanResult,
    load_not_applicable,
    parse_report,
    render,
    run_checkov,
    write_plans,
)
from planning.tfplan import TfPlanError, convert_inputs, snake, terraform_type, to_tfplan
from tests.support.program import STACKS, program

SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"}


def resource(type_: str, name: str, inputs: dict[str, object], depends: tuple[str, ...] = ()) -> Resource:
    return Resource(
        urn=f"urn:pulumi:test::p::{type_}::{name}",
        type=type_,
        name=name,
        custom=True,
        inputs=inputs,
        parent=None,
        provider=None,
        dependencies=depends,
        region="us-east-1",
    )


def tiny_run(*resources: Resource) -> ProgramRun:
    return ProgramRun(stack="test", preview=False, resources=list(resources), outputs={})


def planned(plan: dict[str, object], address: str) -> dict[str, object]:
    resources = plan["planned_values"]["root_module"]["resources"]
    return next(r for r in resources if r["address"] == address)


def configured(plan: dict[str, object], address: str) -> dict[str, object]:
    resources = plan["configuration"]["root_module"]["resources"]
    return next(r for r in resources if r["address"] == address)


# ---- the converter -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("aws:lambda/function:Function", "aws_lambda_function"),
        ("aws:cloudwatch/logGroup:LogGroup", "aws_cloudwatch_log_group"),
        ("aws:ec2/vpc:Vpc", "aws_vpc"),
        ("aws:ec2/routeTableAssociation:RouteTableAssociation", "aws_route_table_association"),
        ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
         "aws_s3_bucket_server_side_encryption_configuration"),
        ("aws:rds/subnetGroup:SubnetGroup", "aws_db_subnet_group"),
        ("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "aws_s3_bucket_replication_configuration"),
        ("aws:sqs/redriveAllowPolicy:RedriveAllowPolicy", "aws_sqs_queue_redrive_allow_policy"),
        ("aws:wafv2/webAcl:WebAcl", "aws_wafv2_web_acl"),
        ("random:index/randomPassword:RandomPassword", "random_password"),
    ],
)  # fmt: skip
def test_type_tokens_map_to_terraform_types(token: str, expected: str) -> None:
    assert terraform_type(token) == expected


def test_a_malformed_type_token_is_refused_by_name() -> None:
    with pytest.raises(TfPlanError, match="'aws-lambda-function' is not provider:module/name:Name"):
        terraform_type("aws-lambda-function")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("kmsKeyArn", "kms_key_arn"), ("retentionInDays", "retention_in_days"), ("KMSKey", "kms_key"), ("ttl", "ttl")],
)
def test_camel_case_becomes_snake_case(name: str, expected: str) -> None:
    assert snake(name) == expected


def test_objects_become_blocks_and_maps_stay_maps() -> None:
    inputs = {
        "name": "fn",
        "memorySize": 256.0,
        "environment": {"variables": {"TABLE_NAME": "t", "cacheTtl": "300"}},
        "tracingConfig": {"mode": "Active"},
        "tags": {"Team": "core"},
        "masterPassword": SECRET,
    }
    values = convert_inputs("aws:lambda/function:Function", inputs, {}).values
    assert values == {
        "function_name": "fn",
        "memory_size": 256,
        "environment": [{"variables": {"TABLE_NAME": "t", "cacheTtl": "300"}}],
        "tracing_config": [{"mode": "Active"}],
        "tags": {"Team": "core"},
        "master_password": "hunter2",
    }


def test_pluralized_list_blocks_take_terraforms_singular_name() -> None:
    inputs = {"rules": [{"id": "a", "noncurrentVersionExpiration": {"noncurrentDays": 90.0}}], "bucket": "b"}
    values = convert_inputs("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", inputs, {}).values
    assert values == {"rule": [{"id": "a", "noncurrent_version_expiration": [{"noncurrent_days": 90}]}], "bucket": "b"}


def test_an_input_holding_another_resources_id_is_an_unknown_reference() -> None:
    bucket = resource("aws:s3/bucket:Bucket", "data", {"bucket": "data-bucket-123"})
    key = resource("aws:kms/key:Key", "key", {})
    versioning = resource(
        "aws:s3/bucketVersioning:BucketVersioning",
        "data-versioning",
        {"bucket": "data-bucket-123", "versioningConfiguration": {"status": "Enabled"}},
        depends=(bucket.urn,),
    )
    encryption = resource(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "data-encryption",
        {
            "bucket": "data-bucket-123",
            "rules": [{"applyServerSideEncryptionByDefault": {"kmsMasterKeyId": "arn:aws:kms:us-east-1:123456789012:key/key"}}],
        },
        depends=(versioning.urn, bucket.urn, key.urn),
    )
    plan = to_tfplan(tiny_run(bucket, key, versioning, encryption))
    address = "aws_s3_bucket_versioning.data-versioning"
    assert planned(plan, address)["values"] == {"versioning_configuration": [{"status": "Enabled"}]}
    assert configured(plan, address)["expressions"] == {"bucket": {"references": ["aws_s3_bucket.data.id", "aws_s3_bucket.data"]}}
    change = next(c for c in plan["resource_changes"] if c["address"] == address)
    assert change["change"]["after_unknown"] == {"bucket": True, "versioning_configuration": [{}]}
    # The bucket's name is also the versioning resource's input: the reference goes to the bucket, nested ones too.
    expressions = configured(plan, "aws_s3_bucket_server_side_encryption_configuration.data-encryption")["expressions"]
    assert expressions == {
        "bucket": {"references": ["aws_s3_bucket.data.id", "aws_s3_bucket.data"]},
        "rule": [
            {
                "apply_server_side_encryption_by_default": [
                    {"kms_master_key_id": {"references": ["aws_kms_key.key.arn", "aws_kms_key.key"]}}
                ]
            }
        ],
    }


def test_a_value_equal_to_a_resource_it_does_not_depend_on_stays_a_value() -> None:
    bucket = resource("aws:s3/bucket:Bucket", "data", {"bucket": "data-bucket-123"})
    policy = resource("aws:s3/bucketPolicy:BucketPolicy", "policy", {"bucket": "data-bucket-123"})
    plan = to_tfplan(tiny_run(bucket, policy))
    assert planned(plan, "aws_s3_bucket_policy.policy")["values"] == {"bucket": "data-bucket-123"}
    assert configured(plan, "aws_s3_bucket_policy.policy")["expressions"] == {}


def test_names_repeated_within_a_type_get_distinct_addresses() -> None:
    first = resource("aws:sqs/queue:Queue", "q", {})
    second = Resource(**{**first.__dict__, "urn": first.urn + "-other", "children": []})
    plan = to_tfplan(tiny_run(first, second))
    addresses = [r["address"] for r in plan["planned_values"]["root_module"]["resources"]]
    assert addresses == ["aws_sqs_queue.q", "aws_sqs_queue.q_2"]


def test_a_preview_run_is_refused() -> None:
    with pytest.raises(TfPlanError, match="preview=False"):
        to_tfplan(ProgramRun(stack="test", preview=True, resources=[], outputs={}))


@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_of_the_stacks_is_in_the_plan(stack: str) -> None:
    run = program(stack)
    plan = to_tfplan(run)
    resources = plan["planned_values"]["root_module"]["resources"]
    assert len(resources) == len(run.custom()) == len({r["address"] for r in resources})
    assert {r["type"] for r in resources} >= {"aws_lambda_function", "aws_rds_cluster", "aws_s3_bucket", "aws_vpc"}


# ---- the not-applicable list and checkov's report ----------------------------------------------------------------


def test_the_committed_not_applicable_list_loads_with_a_reason_for_each_entry() -> None:
    entries = load_not_applicable()
    assert entries and all(len(entry.reason) > 20 for entry in entries)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CKV_GCP_1: {reason: x}", "CKV_GCP_1: not a checkov AWS check id"),
        ("CKV_AWS_1: {because: x}", "CKV_AWS_1: expected a mapping with the keys reason, only, stacks"),
        ("CKV_AWS_1: {reason: ' '}", "CKV_AWS_1: 'reason' must say why"),
        ("CKV_AWS_1: {reason: x, only: aws_s3_bucket.a}", "CKV_AWS_1: 'only' must be a list of resource address"),
        ("CKV_AWS_1: {reason: x, stacks: dev}", "CKV_AWS_1: 'stacks' must be a list of stack names"),
        ("- CKV_AWS_1", "expected a mapping of check ids"),
    ],
)
def test_a_malformed_not_applicable_entry_is_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "na.yaml"
    path.write_text(text)
    with pytest.raises(NotApplicableError, match=message):
        load_not_applicable(path)


def test_an_entry_narrowed_by_address_and_stack_covers_those_resources_alone() -> None:
    entry = NotApplicable("CKV_AWS_145", "log targets", ("aws_s3_bucket.*-logs",), ("prod",))
    logs = Finding("prod", "CKV_AWS_145", "kms", "aws_s3_bucket.us-east-1-logs")
    data = Finding("prod", "CKV_AWS_145", "kms", "aws_s3_bucket.us-east-1-data")
    dev_logs = Finding("dev", "CKV_AWS_145", "kms", "aws_s3_bucket.us-east-1-logs")
    result = ScanResult((logs, data, dev_logs), (entry,))
    assert result.applicable == [data, dev_logs]
    assert result.excused == [logs]
    assert "prod: 1 failed checks that apply, 1 not applicable" in render(result)
    assert "dev: 1 failed checks that apply, 0 not applicable" in render(result)


def test_the_report_names_each_finding_with_its_stack() -> None:
    failed = {"check_id": "CKV_AWS_21", "check_name": "versioning", "resource": "aws_s3_bucket.b"}
    report = [
        {"results": {"failed_checks": [{**failed, "file_path": "/prod.tfplan.json"}]}, "summary": {"parsing_errors": 0}},
        {"results": {"failed_checks": [{**failed, "file_path": "/x/dev.tfplan.json"}]}, "summary": {"parsing_errors": 0}},
    ]
    plans = {"prod": Path("a/prod.tfplan.json"), "dev": Path("a/dev.tfplan.json")}
    assert [f.stack for f in parse_report(json.dumps(report), plans)] == ["dev", "prod"]
    with pytest.raises(CheckovError, match="printed no JSON report"):
        parse_report("Traceback ...", plans)
    with pytest.raises(CheckovError, match="could not parse the plans"):
        parse_report(json.dumps({"results": {"parsing_errors": ["p"]}, "summary": {"parsing_errors": 1}}), plans)


# ---- checkov over prod and dev -----------------------------------------------------------------------------------


def connections_run() -> ProgramRun:
    """Resources that checkov's graph checks must find connected: a rotated secret and one that is not, two
    PostgreSQL clusters on a logging parameter group and in one backup selection, and a third in neither."""

    def arn(name: str) -> str:
        return f"arn:aws:rds:us-east-1:123456789012:cluster/{name}"

    rotated = resource("aws:secretsmanager/secret:Secret", "rotated", {"name": "rotated"})
    rotation = resource(
        "aws:secretsmanager/secretRotation:SecretRotation",
        "rotated-rotation",
        {"secretId": "rotated-id", "rotationRules": {"automaticallyAfterDays": 30.0}},
        depends=(rotated.urn,),
    )
    unrotated = resource("aws:secretsmanager/secret:Secret", "unrotated", {"name": "unrotated"})
    logging = [{"name": "log_statement", "value": "ddl"}, {"name": "log_min_duration_statement", "value": "1000"}]
    group = resource("aws:rds/clusterParameterGroup:ClusterParameterGroup", "pg", {"name": "pg", "parameters": logging})
    clusters = [
        resource(
            "aws:rds/cluster:Cluster", name, {"engine": "aurora-postgresql", "dbClusterParameterGroupName": "pg"}, (group.urn,)
        )
        for name in ("first", "second")
    ]
    alone = resource("aws:rds/cluster:Cluster", "alone", {"engine": "aurora-postgresql"})
    selection = resource(
        "aws:backup/selection:Selection",
        "selection",
        {"name": "selection", "resources": [arn("first"), arn("second")]},
        depends=tuple(cluster.urn for cluster in clusters),
    )
    run = tiny_run(rotated, rotation, unrotated, group, *clusters, alone, selection)
    run.stack = "connections"
    return run


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> ScanResult:
    """checkov's findings on prod and dev, and on the connections run: one checkov run over the three plans."""
    plans = write_plans([*(program(stack) for stack in STACKS), connections_run()], tmp_path_factory.mktemp("tfplan"))
    return ScanResult(tuple(run_checkov(plans)), load_not_applicable())


def test_checkov_sees_rotations_parameter_groups_and_backup_selections(scanned: ScanResult) -> None:
    """A secret's rotation, a cluster's parameter group and a backup selection's clusters are resources of their own,
    seen only through the converter's references (every cluster of a selection's list)."""
    failed = {(f.check_id, f.address) for f in scanned.findings if f.stack == "connections"}
    checks = {"CKV2_AWS_57", "CKV2_AWS_27", "CKV2_AWS_8"}
    assert {found for found in failed if found[0] in checks} == {
        ("CKV2_AWS_57", "aws_secretsmanager_secret.unrotated"),
        ("CKV2_AWS_27", "aws_rds_cluster.alone"),
        ("CKV2_AWS_8", "aws_rds_cluster.alone"),
    }


def test_checkov_read_every_plan(scanned: ScanResult) -> None:
    assert {f.stack for f in scanned.findings} == {*STACKS, "connections"}


def test_checkov_sees_the_resources_connected_to_a_bucket(scanned: ScanResult) -> None:
    """The data buckets' versioning, lifecycle, encryption and logging are resources of their own: checkov's graph
    checks see them only through the converter's references."""
    connected = {"CKV_AWS_21", "CKV2_AWS_61", "CKV_AWS_145", "CKV_AWS_18"}
    data_buckets = [f for f in scanned.findings if f.check_id in connected and f.address.endswith("-bucket-data")]
    assert any(f.address.endswith("-bucket-data") for f in scanned.findings)  # other checks do fail on them
    assert data_buckets == []


def test_every_not_applicable_entry_still_matches_a_finding(scanned: ScanResult) -> None:
    """An entry that covers nothing is stale: remove it, or it would hide the check when it next fails."""
    unused = [entry.check_id for entry in scanned.not_applicable if not any(entry.covers(f) for f in scanned.findings)]
    assert unused == []


# The findings that apply and are not fixed yet, each (stack, check, address): none. A new finding fails the test
# until it is fixed, or listed here with the reason it is still open.
OPEN_FINDINGS: set[tuple[str, str, str]] = set()


def test_checkov_reports_no_applicable_failure_on_prod_and_dev_but_the_open_ones(scanned: ScanResult) -> None:
    applicable = [f for f in scanned.applicable if f.stack in STACKS]
    assert {(f.stack, f.check_id, f.address) for f in applicable} == OPEN_FINDINGS, render(ScanResult(tuple(applicable), ()))
