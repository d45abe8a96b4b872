"""The offline evaluator (policy/evaluate.py): prod and dev pass the pack under the mocks harness, a run that breaks a
guardrail fails it, preview runs report what could not be checked, and stack policy configs work as in the CLI."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi.output import Unknown
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from planning.harness import ProgramRun
from policy.evaluate import STACK_TYPE, PolicyConfigError, PolicyReport, Violation, enforcement_levels, engine_props, evaluate
from policy.pack import RULES
from policy.protection import DELETION_PROTECTION
from tests.support.program import ProgramRunner, program

Inputs = dict[str, Any]
NO_DOMAIN_RULE = "dns-routing-covers-every-region"


def mutated(run: ProgramRun, type_: str, name: str, change: Callable[[Inputs], Inputs]) -> ProgramRun:
    """A copy of ``run`` whose resource ``name`` of ``type_`` has ``change``d inputs (the run itself is untouched)."""
    targets = [r for r in run.resources if (r.type, r.name) == (type_, name)]
    assert len(targets) == 1, (type_, name)
    changed = dataclasses.replace(targets[0], inputs=change(dict(targets[0].inputs)))
    return dataclasses.replace(run, resources=[changed if r is targets[0] else r for r in run.resources])


def setting(**values: Any) -> Callable[[Inputs], Inputs]:
    return lambda inputs: {**inputs, **values}


def without(key: str) -> Callable[[Inputs], Inputs]:
    return lambda inputs: {k: v for k, v in inputs.items() if k != key}


def slow_replication(inputs: Inputs) -> Inputs:
    rule = inputs["rules"][0]
    destination = {**rule["destination"], "replicationTime": {"status": "Disabled", "time": {"minutes": 15.0}}}
    return {**inputs, "rules": [{**rule, "destination": destination}]}


def broad_grant(inputs: Inputs) -> Inputs:
    policy = json.loads(inputs["policy"])
    policy["Statement"].append({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
    return {**inputs, "policy": json.dumps(policy)}


def rules_violated(report: PolicyReport) -> set[str]:
    return {v.rule for v in report.violations}


def test_prod_and_dev_pass_the_pack(stack_run: ProgramRun) -> None:
    report = evaluate(stack_run)
    assert report.passed, "\n".join(report.summary_lines())
    assert report.violations == [] and report.not_run == []
    assert [r.name for r in report.rules] == [r.name for r in RULES]
    assert report.summary_lines()[0].endswith("; passed")


def test_dev_passes_only_through_its_policy_config(run_stack: ProgramRunner) -> None:
    dev = run_stack("dev")
    report = evaluate(dev)
    assert report.config_file == "policy/config/dev.json"
    # Dev is built to be torn down, and has no domain: no DNS records to move clients between regions.
    assert {r.name for r in report.rules if r.level == "disabled"} == {*DELETION_PROTECTION, NO_DOMAIN_RULE}
    assert "8 disabled by policy/config/dev.json" in report.summary_lines()[0]
    unconfigured = evaluate(dev, config={})
    assert not unconfigured.passed
    assert rules_violated(unconfigured) == {*DELETION_PROTECTION, NO_DOMAIN_RULE}


@pytest.mark.parametrize(
    ("type_", "name", "change", "rule"),
    [
        ("aws:rds/cluster:Cluster", "us-east-1-aurora-cluster", setting(storageEncrypted=False), "rds-storage-encrypted"),
        ("aws:dynamodb/table:Table", "items-table", setting(replicas=[]), "dynamodb-replicated-to-every-region"),
        ("aws:route53/record:Record", "api-traffic-primary", without("healthCheckId"), "dns-routing-health-checked"),
        ("aws:route53/record:Record", "api-traffic-primary", setting(ttl=300.0), "dns-ttl-with-health-checks"),
        (
            "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
            "us-east-1-replication-config",
            slow_replication,
            "s3-replication-time-control",
        ),
        ("aws:iam/rolePolicy:RolePolicy", "us-east-1-app-api-policy", broad_grant, "iam-wildcard-resource-allowlist"),
        ("aws:cloudfront/distribution:Distribution", "cdn-distribution", setting(originGroups=[]), "cdn-origin-failover"),
        (
            "aws:cloudwatch/logGroup:LogGroup",
            "eu-west-1-app-api-logs",
            setting(kmsKeyId="arn:aws:kms:us-east-1:123456789012:key/us-east-1-kms-key"),
            "kms-key-in-own-region",
        ),
    ],
)
def test_a_run_that_breaks_a_guardrail_fails(
    run_stack: ProgramRunner, type_: str, name: str, change: Callable[[Inputs], Inputs], rule: str
) -> None:
    report = evaluate(mutated(run_stack("prod"), type_, name, change))
    assert not report.passed
    assert rule in {v.rule for v in report.mandatory_violations()}
    assert any(line.startswith(f"  mandatory {rule}: ") for line in report.summary_lines())
    assert report.summary_lines()[0].endswith("mandatory violation" + ("s" if len(report.mandatory_violations()) > 1 else ""))


def test_a_violation_names_the_resource_and_the_rule_level(run_stack: ProgramRunner) -> None:
    run = mutated(run_stack("prod"), "aws:rds/cluster:Cluster", "us-east-1-aurora-cluster", setting(storageEncrypted=False))
    (violation,) = [v for v in evaluate(run).violations if v.rule == "rds-storage-encrypted"]
    assert violation == Violation(
        "rds-storage-encrypted",
        "aws:rds/cluster:Cluster",
        "us-east-1-aurora-cluster",
        "storageEncrypted must be true (it cannot be turned on after creation)",
        "mandatory",
    )


def test_a_stack_wide_violation_is_reported_on_the_stack(run_stack: ProgramRunner) -> None:
    prod = run_stack("prod")
    run = dataclasses.replace(prod, resources=[r for r in prod.resources if r.type != "aws:cloudfront/distribution:Distribution"])
    (violation,) = [v for v in evaluate(run).violations if v.rule == "cdn-origin-failover"]
    assert (violation.resource_type, violation.resource_name) == (STACK_TYPE, "prod")


def test_an_advisory_violation_warns_without_failing(run_stack: ProgramRunner) -> None:
    run = mutated(run_stack("prod"), "aws:lambda/function:Function", "us-east-1-app-api-function", without("tracingConfig"))
    report = evaluate(run)
    assert report.passed
    assert [(v.rule, v.level) for v in report.violations] == [("lambda-tracing", "advisory")]


def test_a_preview_run_passes_and_lists_what_it_could_not_check(preview_run: ProgramRun) -> None:
    report = evaluate(preview_run)
    assert report.passed, "\n".join(report.summary_lines())
    # Policy documents are built from other resources' ARNs: unknown until the update, as in `pulumi preview`.
    assert {n.rule for n in report.not_run} <= {
        "iam-no-wildcard-actions",
        "iam-wildcard-resource-allowlist",
        "iam-resourceless-actions-on-star",
        "iam-execution-writes-from-managed-policies",
        "s3-bucket-tls-only",
    }
    assert report.not_run and "could not run (values known only after the update)" in report.summary_lines()[-1]


def test_policy_config_levels_follow_the_cli() -> None:
    levels = enforcement_levels(
        {"all": "advisory", "dynamodb-pitr": {"enforcementLevel": "mandatory"}, "lambda-tracing": "disabled"}
    )
    assert levels["dynamodb-pitr"] == "mandatory" and levels["lambda-tracing"] == "disabled"
    assert levels["rds-storage-encrypted"] == "advisory"
    assert enforcement_levels({})["lambda-in-vpc"] == "advisory"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"no-such-rule": "disabled"}, "unknown rules \\['no-such-rule'\\]; rules: "),
        ({"dynamodb-pitr": "off"}, "dynamodb-pitr: enforcement level 'off'; allowed: advisory, mandatory, disabled"),
        ({"dynamodb-pitr": {"enforcementLevel": "disabled", "days": 3}}, "unknown settings \\['days'\\]"),
    ],
)
def test_a_bad_policy_config_is_refused_by_name(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        enforcement_levels(config)


def test_engine_props_unwrap_secrets_and_mark_unknowns() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"}
    props = engine_props({"password": secret, "arn": Unknown(), "list": (1, {"x": Unknown()})})
    assert props == {"password": "hunter2", "arn": UNKNOWN_STRING_VALUE, "list": [1, {"x": UNKNOWN_STRING_VALUE}]}


@pytest.mark.parametrize("preview", [False, True])
def test_a_stack_with_a_multi_region_cache_passes_the_pack(preview: bool) -> None:
    """Its Multi-Region cluster and members, in preview (the name members join is unknown) and in update mode."""
    run = program("prod", preview=preview, cacheTopology="multiRegion", memorydbNodeType="db.r7g.xlarge")
    report = evaluate(run)
    assert report.passed, "\n".join(report.summary_lines())
    assert not {n.rule for n in report.not_run} & {"memorydb-multi-region-member-in-every-region", "cache-tls-in-transit"}
