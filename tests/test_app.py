"""The application layer in every region (components/app.py): functions, queues, triggers, routes and least-privilege
roles, asserted per region on the update-mode runs of prod, dev and a 3-region latency stack."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from components.app import (
    AppResources,
    function_policy,
    queue_name,
    replica_stream_arn,
    reserved_concurrency,
    route_keys,
    route_resource_suffix,
    sqs_maximum_concurrency,
    visibility_timeout_seconds,
)
from components.app_functions import FUNCTION_TABLE, ApiTrigger, function_name, function_names, function_spec
from components.packaging import LAMBDA_RUNTIME, runtime_python_version
from components.policies import region_sid
from planning.harness import ACCOUNT_ID, ProgramRun, Resource
from planning.parity import compare_regions
from tests.support.mock_ids import mock_arn
from tests.support.program import THREE_REGIONS_LATENCY, ProgramRunner
from tests.support.role_statements import FUNCTION_MANAGED_POLICIES, TABLE_WRITER_KEY_ACTIONS, environment_key_statement

FUNCTION = "aws:lambda/function:Function"
QUEUE = "aws:sqs/queue:Queue"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
ROUTE = "aws:apigatewayv2/route:Route"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
PERMISSION = "aws:lambda/permission:Permission"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
# The three functions' handlers written out; an entry added to the table is checked against its own.
FUNCTIONS = function_names()
HANDLERS = {spec.name: spec.handler for spec in FUNCTION_TABLE} | {
    "processor": "functions.processor.handler.handle",
    "stream": "functions.stream.handler.handle",
    "api": "functions.api.handler.handle",
}
# Per function a function, role, policy and log group; an event source mapping per queue or stream trigger.
EXPECTED_PER_REGION = {
    FUNCTION: len(FUNCTIONS),
    ROLE: len(FUNCTIONS),
    ROLE_POLICY: len(FUNCTIONS),
    LOG_GROUP: len(FUNCTIONS),
    QUEUE: 3,
    REDRIVE_ALLOW: 1,
    MAPPING: sum(not isinstance(spec.trigger, ApiTrigger) for spec in FUNCTION_TABLE),
    INTEGRATION: 1,
    ROUTE: 5,
    PERMISSION: 1,
    SECRET: 0,
    SECRET_VERSION: 0,
}


@pytest.fixture(scope="module")
def latency_run(run_stack: ProgramRunner) -> ProgramRun:
    return run_stack("prod", **THREE_REGIONS_LATENCY)


def _runs(stack_run: ProgramRun, latency_run: ProgramRun) -> list[ProgramRun]:
    """prod or dev, and the 3-region latency stack."""
    return [stack_run, latency_run]


def _app(run: ProgramRun, region: str) -> list[Resource]:
    root = next(r for r in run.resources if r.name == f"{region}-app" and r.parent and run.by_urn(r.parent).name == region)
    assert root.type == "multi-region:app:RegionalApp" and root.region == region
    return list(run.descendants(root))


def _of(run: ProgramRun, region: str, type_: str) -> list[Resource]:
    return [r for r in _app(run, region) if r.type == type_]


def _named(run: ProgramRun, region: str, name: str) -> Resource:
    return next(r for r in _app(run, region) if r.name == name)


def _function(run: ProgramRun, region: str, function: str) -> Resource:
    return _named(run, region, f"{region}-app-{function}-function")


def _prefix(run: ProgramRun) -> str:
    return f"multi-region-{run.stack}"


def _key_arn(region: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{region}-kms-key"


def _table_arn(run: ProgramRun, region: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{_prefix(run)}-items"


def _queue(run: ProgramRun, region: str, queue: str) -> Resource:
    return _named(run, region, f"{region}-app-{queue}")


def _cache_arns(run: ProgramRun, region: str) -> tuple[str, str]:
    """The region's MemoryDB cluster and application user ARNs (the mocks' ARNs)."""
    cluster = run.one("aws:memorydb/cluster:Cluster", region)
    user = run.one("aws:memorydb/user:User", region)
    return mock_arn(cluster), mock_arn(user)


# ---- functions ------------------------------------------------------------------------------------------------


def test_every_region_runs_the_three_functions_on_one_package(stack_run: ProgramRun, latency_run: ProgramRun) -> None:
    for run in _runs(stack_run, latency_run):
        assert run.config is not None
        app = run.config.app
        for region in run.region_order:
            for function in FUNCTIONS:
                inputs = _function(run, region, function).inputs
                assert inputs["name"] == f"{_prefix(run)}-{function}"
                assert inputs["handler"] == HANDLERS[function]
                assert inputs["runtime"] == LAMBDA_RUNTIME and runtime_python_version(inputs["runtime"]) >= (3, 12)
                assert inputs["architectures"] == ["arm64"]
                assert inputs["memorySize"] == 256
                assert inputs["timeout"] == app.function_timeout_seconds
                assert inputs["tracingConfig"] == {"mode": "Active"}
                assert inputs["loggingConfig"] == {"logFormat": "Text", "logGroup": f"/aws/lambda/{_prefix(run)}-{function}"}
                assert inputs["role"] == mock_arn(_named(run, region, f"{region}-app-{function}-role"))


def test_functions_run_in_the_regions_private_subnets_with_the_app_security_group(
    stack_run: ProgramRun, latency_run: ProgramRun
) -> None:
    for run in _runs(stack_run, latency_run):
        for region in run.region_order:
            subnets = sorted(
                f"{s.name}-id"
                for s in run.of_type("aws:ec2/subnet:Subnet", region)
                if s.name.startswith(f"{region}-net-private-")
            )
            assert len(subnets) == 3
            for function in FUNCTIONS:
                vpc = _function(run, region, function).inputs["vpcConfig"]
                assert sorted(vpc["subnetIds"]) == subnets
                assert vpc["securityGroupIds"] == [f"{region}-app-sg-id"]


def test_environment_names_this_regions_table_and_cache_cluster(stack_run: ProgramRun, latency_run: ProgramRun) -> None:
    for run in _runs(stack_run, latency_run):
        assert run.config is not None
        app, prefix = run.config.app, _prefix(run)
        for region in run.region_order:
            common = {
                "TABLE_NAME": f"{prefix}-items",
                "CACHE_HOST": f"clustercfg.{region}-memorydb-cluster.memorydb.amazonaws.com",
                "CACHE_PORT": "6379",
                "CACHE_USER": f"{prefix}-app",
                "CACHE_CLUSTER_NAME": prefix,
                "CACHE_TLS": "true",
                "CACHE_CLUSTER": "true",
                # The runtime settings are in the region's parameter, which the environment names (test_app_config.py).
                "APP_CONFIG_PARAMETER": f"/{run.config.project}/{run.config.stack}/app-config",
                "APP_CONFIG_MAX_AGE_SECONDS": str(app.app_config_max_age_seconds),
                "POWERTOOLS_METRICS_NAMESPACE": run.config.project,
            }
            api = {
                **common,
                "QUEUE_URL": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{prefix}-events",
                "HEALTH_PATH": run.config.edge.health_check_path,
            }
            extra = {name: value for name, value in api.items() if name not in common}
            # Any further entry: the common variables plus the ones it names.
            expected = {f: {**common, **{v: extra[v] for v in function_spec(f).environment}} for f in FUNCTIONS}
            expected |= {"processor": common, "stream": common, "api": api}
            for function in FUNCTIONS:
                variables = _function(run, region, function).inputs["environment"]["variables"]
                # Powertools' settings (components/powertools.py): the function's service name, INFO, 1 % at DEBUG.
                powertools = {
                    "POWERTOOLS_SERVICE_NAME": function,
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                    "POWERTOOLS_LOGGER_SAMPLE_RATE": "0.01",
                }
                assert variables == {**expected[function], **powertools}, f"{region} {function}"
                assert "AWS_REGION" not in variables, "reserved: Lambda sets it"
                # Encrypted with the region's key (its role's decrypt: the IAM tests).
                assert _function(run, region, function).inputs["kmsKeyArn"] == _key_arn(region)


def test_log_groups_come_first_with_retention_and_the_region_key(stack_run: ProgramRun, latency_run: ProgramRun) -> None:
    for run in _runs(stack_run, latency_run):
        assert run.config is not None
        for region in run.region_order:
            for function in FUNCTIONS:
                logs = _named(run, region, f"{region}-app-{function}-logs")
                assert logs.inputs == {
                    "name": f"/aws/lambda/{_prefix(run)}-{function}",
                    "retentionInDays": run.config.log_retention_days,
                    "kmsKeyId": _key_arn(region),
                }
                created = _function(run, region, function)
                assert logs.urn in created.dependencies
                assert _named(run, region, f"{region}-app-{function}-policy").urn in created.dependencies


def test_reserved_concurrency_comes_from_config(run_stack: ProgramRunner) -> None:
    for stack, written in (("prod", {"processor": 20, "stream": 20, "api": 50}), ("dev", dict.fromkeys(FUNCTIONS, -1))):
        run = run_stack(stack)
        assert run.config is not None
        # The three functions' values written out; a further entry's from the setting it names (-1 if none).
        expected = reserved_concurrency(run.config.app) | written
        for region in run.region_order:
            got = {f: _function(run, region, f).inputs["reservedConcurrentExecutions"] for f in FUNCTIONS}
            assert got == expected, f"{stack} {region}"


def test_one_package_hash_for_every_function_equal_to_the_archives(stack_run: ProgramRun, latency_run: ProgramRun) -> None:
    # The application's functions, the failover runbook's and the master secret's rotation function, in every region of
    # both runs.
    functions = [r for run in _runs(stack_run, latency_run) for r in run.of_type(FUNCTION)]
    assert len(functions) == (len(FUNCTIONS) + 2) * (len(stack_run.region_order) + 3)
    archives = {json.dumps(f.inputs["code"]) for f in functions}
    hashes = {f.inputs["sourceCodeHash"] for f in functions}
    assert len(archives) == len(hashes) == 1, "one package, the same in two program runs"
    path = Path(functions[0].inputs["code"]["fileArchive"])
    assert path.is_file() and path.name.startswith("lambda-") and path.suffix == ".zip"
    assert hashes == {base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()}


# ---- queues ---------------------------------------------------------------------------------------------------


def test_queues_are_encrypted_with_the_region_key_and_wired_to_the_dlq(stack_run: ProgramRun, latency_run: ProgramRun) -> None:
    for run in _runs(stack_run, latency_run):
        assert run.config is not None
        app, prefix = run.config.app, _prefix(run)
        for region in run.region_order:
            events, dlq, failures = (_queue(run, region, q) for q in ("events", "events-dlq", "stream-failures"))
            assert [q.inputs["name"] for q in (events, dlq, failures)] == [
                f"{prefix}-events",
                f"{prefix}-events-dlq",
                f"{prefix}-stream-failures",
            ]
            for queue in (events, dlq, failures):
                assert queue.inputs["kmsMasterKeyId"] == _key_arn(region)
                assert queue.inputs["kmsDataKeyReusePeriodSeconds"] == 300
            assert events.inputs["visibilityTimeoutSeconds"] >= 6 * app.function_timeout_seconds
            assert events.inputs["visibilityTimeoutSeconds"] == 6 * app.function_timeout_seconds + 1
            assert json.loads(events.inputs["redrivePolicy"]) == {
                "deadLetterTargetArn": mock_arn(dlq),
                "maxReceiveCount": app.queue_max_receive_count,
            }
            assert dlq.inputs["messageRetentionSeconds"] == failures.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
            assert events.inputs["messageRetentionSeconds"] < dlq.inputs["messageRetentionSeconds"]
            (allow,) = _of(run, region, REDRIVE_ALLOW)
            assert allow.parent == dlq.urn
            assert allow.inputs["queueUrl"] == f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{prefix}-events-dlq"
            assert json.loads(allow.inputs["redriveAllowPolicy"]) == {
                "redrivePermission": "byQueue",
                "sourceQueueArns": [mock_arn(events)],
            }
            assert json.loads(failures.inputs["redriveAllowPolicy"]) == {"redrivePermission": "denyAll"}
            assert "redrivePolicy" not in dlq.inputs and "redrivePolicy" not in failures.inputs


def test_the_queue_triggers_the_processor_with_partial_batch_responses(run_stack: ProgramRunner) -> None:
    for stack, concurrency in (("prod", 20), ("dev", None)):
        run = run_stack(stack)
        for region in run.region_order:
            mapping = _named(run, region, f"{region}-app-processor-trigger")
            assert mapping.inputs["eventSourceArn"] == mock_arn(_queue(run, region, "events"))
            assert mapping.inputs["functionName"] == mock_arn(_function(run, region, "processor"))
            assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
            assert (mapping.inputs["batchSize"], mapping.inputs["maximumBatchingWindowInSeconds"]) == (10, 1)
            assert mapping.inputs.get("scalingConfig", {}).get("maximumConcurrency") == concurrency
            assert _named(run, region, f"{region}-app-processor-policy").urn in mapping.dependencies


def test_the_regions_own_stream_triggers_the_stream_handler(stack_run: ProgramRun, latency_run: ProgramRun) -> None:
    for run in _runs(stack_run, latency_run):
        for region in run.region_order:
            mapping = _named(run, region, f"{region}-app-stream-trigger")
            assert mapping.inputs["eventSourceArn"].startswith(f"{_table_arn(run, region)}/stream/")
            assert mapping.inputs["functionName"] == mock_arn(_function(run, region, "stream"))
            assert mapping.inputs["startingPosition"] == "TRIM_HORIZON"
            assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
            assert mapping.inputs["bisectBatchOnFunctionError"] is True
            assert (mapping.inputs["maximumRetryAttempts"], mapping.inputs["maximumRecordAgeInSeconds"]) == (10, 3600)
            assert mapping.inputs["destinationConfig"] == {
                "onFailure": {"destinationArn": mock_arn(_queue(run, region, "stream-failures"))}
            }


# ---- the API --------------------------------------------------------------------------------------------------


def test_api_routes_reach_the_api_function_signed_but_for_health(stack_run: ProgramRun, latency_run: ProgramRun) -> None:
    for run in _runs(stack_run, latency_run):
        for region in run.region_order:
            api_id = f"{region}-api-api-id"
            (integration,) = _of(run, region, INTEGRATION)
            assert integration.inputs == {
                "apiId": api_id,
                "integrationType": "AWS_PROXY",
                "integrationUri": mock_arn(_function(run, region, "api")),
                "payloadFormatVersion": "2.0",
            }
            routes = {r.inputs["routeKey"]: r.inputs for r in _of(run, region, ROUTE)}
            assert {key: r["authorizationType"] for key, r in routes.items()} == {
                "GET /items/{id}": "AWS_IAM",
                "POST /events": "AWS_IAM",
                "GET /state": "AWS_IAM",
                "GET /health": "NONE",
                "GET /regions/{region}/status": "NONE",
            }
            assert {(r["apiId"], r["target"]) for r in routes.values()} == {(api_id, f"integrations/{integration.name}-id")}
            (permission,) = _of(run, region, PERMISSION)
            assert permission.inputs == {
                "action": "lambda:InvokeFunction",
                "function": f"{_prefix(run)}-api",
                "principal": "apigateway.amazonaws.com",
                "sourceArn": f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{api_id}/*/*",
            }


def test_the_health_route_follows_the_configured_path(run_stack: ProgramRunner) -> None:
    run = run_stack("dev", healthCheckPath="/status/health")
    for region in run.region_order:
        keys = {r.inputs["routeKey"]: r.inputs["authorizationType"] for r in _of(run, region, ROUTE)}
        assert keys["GET /status/health"] == "NONE" and "GET /health" not in keys
        assert _function(run, region, "api").inputs["environment"]["variables"]["HEALTH_PATH"] == "/status/health"


# ---- IAM ------------------------------------------------------------------------------------------------------


def _expected_policy(run: ProgramRun, region: str, function: str) -> list[dict[str, Any]]:
    """Written out by hand for the three functions, so that a change in the builders shows here; a further entry's
    own statements are its grants on this region's ARNs."""
    table = _table_arn(run, region)
    events, failures = mock_arn(_queue(run, region, "events")), mock_arn(_queue(run, region, "stream-failures"))
    cache_cluster, cache_user = _cache_arns(run, region)
    logs = f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:/aws/lambda/{_prefix(run)}-{function}:*"
    arns = {
        "table": table,
        "stream": "STREAM",
        "events_queue": events,
        "dead_letter_queue": mock_arn(_queue(run, region, "events-dlq")),
        "stream_failure_queue": failures,
        "key": _key_arn(region),
        "table_key": _key_arn(region),
        "cache_cluster": cache_cluster,
        "cache_user": cache_user,
        "*": "*",
    }
    granted = [(g.sid, list(g.actions), [arns[g.resource]]) for g in function_spec(function).grants]
    actions = {a for _, granted_actions, _ in granted for a in granted_actions}
    sends = {"processor": False, "stream": True, "api": True}.get(function, "sqs:SendMessage" in actions)
    writes = {"processor": True, "stream": True, "api": False}.get(
        function, bool(actions & {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"})
    )
    own = {
        "processor": [
            ("TableItems", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [table]),
            (
                "ConsumeEvents",
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
                [events],
            ),
        ],
        "stream": [
            ("ReadStream", ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], ["STREAM"]),
            ("ListStreams", ["dynamodb:ListStreams"], ["*"]),
            ("TableItems", ["dynamodb:PutItem"], [table]),
            ("RecordFailedBatches", ["sqs:SendMessage"], [failures]),
        ],
        "api": [
            ("TableItems", ["dynamodb:GetItem"], [table]),
            ("EnqueueEvents", ["sqs:SendMessage"], [events]),
            ("ReplicationMetrics", ["cloudwatch:ListMetrics", "cloudwatch:GetMetricData"], ["*"]),
        ],
    }.get(function, granted)
    common = [
        ("OwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [logs]),
        ("CacheIamConnect", ["memorydb:Connect"], [cache_cluster, cache_user]),
    ]
    statements = [{"Sid": sid, "Effect": "Allow", "Action": a, "Resource": r} for sid, a, r in own]
    statements.append(
        {
            "Sid": f"TableKeyThroughDynamoDB{region_sid(region)}",
            "Effect": "Allow",
            "Action": TABLE_WRITER_KEY_ACTIONS if writes else ["kms:Decrypt"],
            "Resource": [_key_arn(region)],
            "Condition": {"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}},
        }
    )
    # The region's runtime-settings parameter, and its key through SSM for that parameter only.
    parameter = f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter/{run.config.project}/{run.config.stack}/app-config"
    statements += [
        {"Sid": "AppConfigRead", "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": [parameter]},
        {
            "Sid": "AppConfigKeyThroughSsm",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [_key_arn(region)],
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"ssm.{region}.amazonaws.com",
                    "kms:EncryptionContext:PARAMETER_ARN": parameter,
                }
            },
        },
    ]
    statements += [{"Sid": sid, "Effect": "Allow", "Action": a, "Resource": r} for sid, a, r in common]
    statements.append(
        {
            "Sid": "RegionKeyThroughSqs",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"] if sends else ["kms:Decrypt"],
            "Resource": [_key_arn(region)],
            "Condition": {"StringEquals": {"kms:ViaService": [f"sqs.{region}.amazonaws.com"]}},
        }
    )
    statements.append(environment_key_statement(region, ACCOUNT_ID, _key_arn(region), f"{_prefix(run)}-{function}"))
    return statements


def _policy(run: ProgramRun, region: str, function: str) -> dict[str, Any]:
    policy = _named(run, region, f"{region}-app-{function}-policy")
    assert policy.inputs["role"] == f"{region}-app-{function}-role-id"
    return json.loads(policy.inputs["policy"])  # type: ignore[no-any-return]


def test_each_role_allows_exactly_its_functions_actions_on_this_regions_arns(
    stack_run: ProgramRun, latency_run: ProgramRun
) -> None:
    for run in _runs(stack_run, latency_run):
        for region in run.region_order:
            stream = _named(run, region, f"{region}-app-stream-trigger").inputs["eventSourceArn"]
            for function in FUNCTIONS:
                document = _policy(run, region, function)
                expected = _expected_policy(run, region, function)
                for statement in expected:
                    statement["Resource"] = [stream if r == "STREAM" else r for r in statement["Resource"]]
                assert document == {"Version": "2012-10-17", "Statement": expected}, f"{run.stack} {region} {function}"


def test_no_role_names_another_region_or_a_wildcard_on_a_data_service(stack_run: ProgramRun, latency_run: ProgramRun) -> None:
    for run in _runs(stack_run, latency_run):
        for region in run.region_order:
            others = [r for r in run.region_order if r != region]
            for function in FUNCTIONS:
                for statement in _policy(run, region, function)["Statement"]:
                    assert statement["Effect"] == "Allow"
                    assert not [a for a in statement["Action"] if "*" in a], statement
                    if "*" in statement["Resource"]:
                        assert statement["Resource"] == ["*"]
                        # Both are authorised on * alone: the stream poller's listing, the status summary's metrics.
                        assert statement["Action"] in (
                            ["dynamodb:ListStreams"],
                            ["cloudwatch:ListMetrics", "cloudwatch:GetMetricData"],
                        ), statement
                        continue
                    for arn in statement["Resource"]:
                        assert arn.split(":")[3] == region, f"{function} in {region}: {arn}"
                        assert not [o for o in others if o in arn], f"{function} in {region} names another region: {arn}"


def test_roles_trust_lambda_and_carry_exactly_the_managed_execution_policies(stack_run: ProgramRun) -> None:
    """Network interfaces and traces come from AWS's managed policies, attached to each role and created before the
    function (Lambda checks the role's network-interface permissions when it creates a function in a VPC)."""
    for region in stack_run.region_order:
        attachments = _of(stack_run, region, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        for function in FUNCTIONS:
            role = _named(stack_run, region, f"{region}-app-{function}-role")
            assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ]
            assert "managedPolicyArns" not in role.inputs
            attached = [a for a in attachments if a.inputs["role"] == f"{role.name}-id"]
            assert sorted(a.inputs["policyArn"] for a in attached) == sorted(
                f"arn:aws:iam::aws:policy/{p}" for p in FUNCTION_MANAGED_POLICIES
            )
            depends = set(_function(stack_run, region, function).dependencies)
            assert {a.urn for a in attached} <= depends, function
        assert len(attachments) == len(FUNCTIONS) * len(FUNCTION_MANAGED_POLICIES)


def test_every_role_connects_to_its_regions_cache_by_iam_and_no_cache_secret_is_left(stack_run: ProgramRun) -> None:
    for region in stack_run.region_order:
        cluster, user = _cache_arns(stack_run, region)
        assert cluster == f"arn:aws:memorydb:{region}:{ACCOUNT_ID}:cluster/{region}-memorydb-cluster"
        assert user == f"arn:aws:memorydb:{region}:{ACCOUNT_ID}:user/{region}-memorydb-app-user"
        for function in FUNCTIONS:
            (connect,) = [s for s in _policy(stack_run, region, function)["Statement"] if "memorydb:Connect" in s["Action"]]
            assert (connect["Action"], connect["Resource"]) == (["memorydb:Connect"], [cluster, user])
        assert not _of(stack_run, region, SECRET) and not _of(stack_run, region, SECRET_VERSION)


def test_queues_are_protected_in_prod_only(run_stack: ProgramRunner) -> None:
    for stack, protected in (("prod", True), ("dev", False)):
        run = run_stack(stack)
        for region in run.region_order:
            for resource in _of(run, region, QUEUE):
                assert (resource.protect, resource.retain_on_delete) == (protected, protected), resource.name


# ---- shape, outputs, preview, parity --------------------------------------------------------------------------


def test_every_region_has_the_same_application_layer(stack_run: ProgramRun, latency_run: ProgramRun) -> None:
    for run in _runs(stack_run, latency_run):
        for region in run.region_order:
            counts = {type_: len(_of(run, region, type_)) for type_ in EXPECTED_PER_REGION}
            assert counts == EXPECTED_PER_REGION, region
        report = compare_regions(run)
        assert report.differences == []


def test_preview_registers_the_whole_layer_in_every_region(preview_run: ProgramRun) -> None:
    for region in preview_run.region_order:
        counts = {type_: len(_of(preview_run, region, type_)) for type_ in EXPECTED_PER_REGION}
        assert counts == EXPECTED_PER_REGION, region
        for function in FUNCTIONS:
            assert _function(preview_run, region, function).inputs["handler"] == HANDLERS[function]


def test_the_stack_exports_each_regions_queues_and_functions(stack_run: ProgramRun) -> None:
    prefix = _prefix(stack_run)
    assert stack_run.outputs["application"] == {
        region: {
            "queueUrl": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{prefix}-events",
            "deadLetterQueueUrl": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{prefix}-events-dlq",
            "streamFailureQueueUrl": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{prefix}-stream-failures",
            "functions": {f: f"{prefix}-{f}" for f in FUNCTIONS},
        }
        for region in stack_run.region_order
    }


# ---- pure builders --------------------------------------------------------------------------------------------


def test_names_are_fixed_per_stack_and_checked() -> None:
    assert function_name("p", "stream") == "p-stream"
    assert queue_name("p", "stream-failures") == "p-stream-failures"
    with pytest.raises(ValueError, match="unknown function"):
        function_name("p", "worker")
    with pytest.raises(ValueError, match="unknown queue"):
        queue_name("p", "other")


def test_visibility_timeout_and_sqs_concurrency() -> None:
    assert visibility_timeout_seconds(30) == 181
    assert visibility_timeout_seconds(900, 0) == 5400
    assert [sqs_maximum_concurrency(n) for n in (-1, 0, 1, 2, 20, 1000)] == [None, None, None, 2, 20, 1000]


def test_route_keys_and_their_resource_names() -> None:
    assert route_keys("/healthz") == {
        "GET /items/{id}": "AWS_IAM",
        "POST /events": "AWS_IAM",
        "GET /state": "AWS_IAM",
        "GET /healthz": "NONE",
        "GET /regions/{region}/status": "NONE",
    }
    assert [route_resource_suffix(k) for k in route_keys("/v1/health_check")] == [
        "get-items",
        "post-events",
        "get-state",
        "get-v1-health-check",
        "get-regions-status",
    ]


class _Replica:
    def __init__(self, region_name: str, stream_arn: str | None) -> None:
        self.region_name, self.stream_arn = region_name, stream_arn


def test_a_replicas_stream_is_found_by_region_or_refused() -> None:
    replicas = [_Replica("eu-west-1", "arn:eu"), _Replica("ap-southeast-2", None)]
    assert replica_stream_arn(replicas, "eu-west-1") == "arn:eu"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no replica in us-west-2"):
        replica_stream_arn(replicas, "us-west-2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no stream"):
        replica_stream_arn(replicas, "ap-southeast-2")  # type: ignore[arg-type]


def test_policies_grant_star_only_for_tracing_network_interfaces_listing_streams_and_metrics() -> None:
    resources = AppResources(
        partition="aws",
        region="eu-west-1",
        account_id="111122223333",
        table="arn:aws:dynamodb:eu-west-1:111122223333:table/t",
        stream="arn:aws:dynamodb:eu-west-1:111122223333:table/t/stream/x",
        events_queue="arn:aws:sqs:eu-west-1:111122223333:q",
        dead_letter_queue="arn:aws:sqs:eu-west-1:111122223333:q-dlq",
        stream_failure_queue="arn:aws:sqs:eu-west-1:111122223333:q-failures",
        key="arn:aws:kms:eu-west-1:111122223333:key/k",
        table_key="arn:aws:kms:eu-west-1:111122223333:key/k",
        cache_cluster="arn:aws:memorydb:eu-west-1:111122223333:cluster/c",
        cache_user="arn:aws:memorydb:eu-west-1:111122223333:user/u",
    )
    for function in FUNCTIONS:
        statements = function_policy(function, resources, f"/aws/lambda/p-{function}")["Statement"]
        starred = [s for s in statements if s["Resource"] == ["*"]]
        written = {"processor": [], "stream": ["ListStreams"], "api": ["ReplicationMetrics"]}
        listing = written.get(function, [g.sid for g in function_spec(function).grants if g.resource == "*"])
        assert [s["Sid"] for s in starred] == listing
        named = {arn for s in statements if s not in starred for arn in s["Resource"]}
        assert all(":eu-west-1:111122223333:" in arn for arn in named), named
        assert resources.dead_letter_queue not in named, "no function touches the DLQ: SQS redrives to it"
        actions = {a for s in statements for a in s["Action"]}
        assert not {a for a in actions if a.startswith("dynamodb:") and a.endswith(("Scan", "BatchWriteItem"))}
        # No function deletes an item: the write path's transaction leaves no claim to release (write_path.py).
        assert "dynamodb:DeleteItem" not in actions
