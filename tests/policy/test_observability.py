"""Logging and tracing rules (policy/observability.py): each passes a minimal compliant input and fails a bad one."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy import observability
from policy.core import (
    DISTRIBUTION,
    EKS_CLUSTER,
    LAMBDA_FUNCTION,
    LOG_GROUP,
    RDS_CLUSTER,
    RDS_INSTANCE,
    STATE_MACHINE,
    Rule,
    StackResource,
)
from tests.support.policy_cases import (
    Cases,
    ResourceCases,
    StackCases,
    check_cases,
    failing,
    passing,
    resource,
    run_failing,
    run_passing,
    stack,
)

BUCKET = "aws:s3/bucket:Bucket"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
STAGE_V2 = "aws:apigatewayv2/stage:Stage"
STAGE_V1 = "aws:apigateway/stage:Stage"
LOG_ARN = "arn:aws:logs:us-east-1:123456789012:log-group:runbook:*"
ACCESS_LOGS = {"destinationArn": LOG_ARN, "format": "{}"}

VPC = resource(observability.VPC, "vpc")
DATA = resource(BUCKET, "data", bucket="data")
LOGS = resource(BUCKET, "logs", bucket="logs")
CDN = resource(DISTRIBUTION, "cdn")
SOURCE = resource(observability.LOG_DELIVERY_SOURCE, "cdn-source", depends_on=[CDN], logType="ACCESS_LOGS", name="cdn-logs")
DELIVERY = resource(observability.LOG_DELIVERY, "cdn-delivery", deliverySourceName="cdn-logs")


LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
NONCURRENT = {"noncurrentVersionExpiration": {"noncurrentDays": 90.0}}
ABORT = {"abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0}}
EXPIRE = {"expiration": {"days": 365.0}}
TO_LOGS = resource(LOGGING, "data-logging", bucket="data", targetBucket="logs")


def lifecycle(bucket: str, *rules: dict[str, Any], status: str = "Enabled") -> Any:
    return resource(LIFECYCLE, f"{bucket}-lifecycle", bucket=bucket, rules=[{"status": status, **r} for r in rules])


PG = "aurora-postgresql"
PG_CLUSTER = resource(RDS_CLUSTER, "db", engine=PG, engineVersion="16.8", dbClusterParameterGroupName="db-logging")
PENDING_CLUSTER = StackResource(
    RDS_CLUSTER,
    "pending",
    "urn:pending",
    unknown_checking_proxy({"engine": PG, "dbClusterParameterGroupName": UNKNOWN_STRING_VALUE}),
    "us-east-1",
    ("urn:aws:rds/clusterParameterGroup:ClusterParameterGroup::db-logging",),
)


def pg_group(*, family: str = "aurora-postgresql16", region: str = "us-east-1", **parameters: str) -> Any:
    values = {"log_statement": "ddl", "log_min_duration_statement": "1000", **parameters}
    return resource(
        observability.RDS_CLUSTER_PARAMETER_GROUP,
        "db-logging",
        region,
        name="db-logging",
        family=family,
        parameters=[{"name": k, "value": v, "applyMethod": "immediate"} for k, v in values.items()],
    )


PG_GROUP = pg_group()


def flow_log(traffic: str) -> Any:
    return resource(observability.FLOW_LOG, f"flow-{traffic}", depends_on=[VPC], trafficType=traffic)


FUNCTION = resource(LAMBDA_FUNCTION, "fn", name="fn")
CASES: Cases = {
    "log-group-retention": ResourceCases(
        passing=[(LOG_GROUP, {"retentionInDays": 365.0}), (LOG_GROUP, {"retentionInDays": 3653.0})],
        failing=[
            (LOG_GROUP, {}, "retentionInDays must be set"),
            (LOG_GROUP, {"retentionInDays": 0.0}, "retentionInDays must be set"),
            (LOG_GROUP, {"retentionInDays": 180.0}, "retentionInDays is 180; keep logs at least 365 days"),
        ],
    ),
    "eks-control-plane-logs": ResourceCases(
        passing=[(EKS_CLUSTER, {"enabledClusterLogTypes": list(observability.EKS_LOG_TYPES)})],
        failing=[
            (EKS_CLUSTER, {"enabledClusterLogTypes": ["api", "authenticator"]}, "misses audit, controllerManager, scheduler")
        ],
    ),
    "rds-log-exports": ResourceCases(
        passing=[
            (RDS_CLUSTER, {"engine": "aurora-postgresql", "enabledCloudwatchLogsExports": ["postgresql"]}),
            (RDS_INSTANCE, {"engine": "mysql", "enabledCloudwatchLogsExports": ["audit", "error"]}),
        ],
        failing=[
            (RDS_CLUSTER, {"engine": "aurora-postgresql", "enabledCloudwatchLogsExports": ["upgrade"]}, "include 'postgresql'"),
            (RDS_INSTANCE, {"engine": "mysql"}, "must not be empty"),
        ],
    ),
    "api-access-logs": ResourceCases(
        passing=[(STAGE_V2, {"accessLogSettings": ACCESS_LOGS}), (STAGE_V1, {"accessLogSettings": ACCESS_LOGS})],
        failing=[
            (STAGE_V2, {"name": "$default"}, "accessLogSettings"),
            (STAGE_V1, {"accessLogSettings": {"destinationArn": LOG_ARN}}, "format"),
        ],
    ),
    "state-machine-logging": ResourceCases(
        passing=[
            (STATE_MACHINE, {"loggingConfiguration": {"level": "ALL", "logDestination": LOG_ARN, "includeExecutionData": True}})
        ],
        failing=[
            (STATE_MACHINE, {"loggingConfiguration": {"level": "ERROR", "logDestination": LOG_ARN}}, "'ERROR'"),
            (STATE_MACHINE, {"loggingConfiguration": {"level": "ALL"}}, "logDestination"),
            (STATE_MACHINE, {}, "level is None"),
        ],
    ),
    "lambda-tracing": ResourceCases(
        passing=[(LAMBDA_FUNCTION, {"tracingConfig": {"mode": "Active"}})],
        failing=[(LAMBDA_FUNCTION, {"tracingConfig": {"mode": "PassThrough"}}, "'PassThrough'"), (LAMBDA_FUNCTION, {}, "None")],
    ),
    "state-machine-tracing": ResourceCases(
        passing=[(STATE_MACHINE, {"tracingConfiguration": {"enabled": True}})],
        failing=[(STATE_MACHINE, {"tracingConfiguration": {"enabled": False}}, "tracingConfiguration.enabled")],
    ),
    "aurora-postgresql-query-logging": StackCases(
        passing=[
            stack(PG_CLUSTER, PG_GROUP),
            # A new group's name is known only after the update: the group the cluster depends on.
            stack(PG_GROUP, PENDING_CLUSTER),
            stack(resource(RDS_CLUSTER, "mysql", engine="aurora-mysql")),
        ],
        failing=[
            (stack(resource(RDS_CLUSTER, "db", engine=PG, engineVersion="16.8")), "names no cluster parameter group"),
            (stack(PG_CLUSTER, pg_group(log_statement="none")), "log_statement 'none'; one of ddl, mod, all"),
            (stack(PG_CLUSTER, pg_group(log_min_duration_statement="-1")), "does not set log_min_duration_statement"),
            (stack(PG_CLUSTER, pg_group(family="aurora-postgresql15")), "runs 16.8 but its parameter group"),
            (stack(PG_CLUSTER, pg_group(region="eu-west-1")), "names no cluster parameter group"),
        ],
    ),
    "lambda-async-failures-kept": StackCases(
        passing=[
            # Invoked synchronously (API Gateway): no dead-letter queue needed.
            stack(
                FUNCTION, resource(observability.LAMBDA_PERMISSION, "api", function="fn", principal="apigateway.amazonaws.com")
            ),
            stack(
                FUNCTION,
                resource(observability.LAMBDA_PERMISSION, "topic", function="fn", principal="sns.amazonaws.com"),
                resource(
                    observability.EVENT_INVOKE_CONFIG,
                    "fn-async",
                    functionName="arn:aws:lambda:us-east-1:1:function:fn",
                    destinationConfig={"onFailure": {"destination": "arn:aws:sqs:us-east-1:1:failed"}},
                ),
            ),
            stack(
                resource(LAMBDA_FUNCTION, "fn", name="fn", deadLetterConfig={"targetArn": "arn:aws:sqs:us-east-1:1:dlq"}),
                resource(observability.LAMBDA_PERMISSION, "bucket", function="fn", principal="s3.amazonaws.com"),
            ),
        ],
        failing=[
            (
                stack(
                    FUNCTION, resource(observability.LAMBDA_PERMISSION, "rule", function="fn", principal="events.amazonaws.com")
                ),
                "function fn is invoked asynchronously by events.amazonaws.com",
            ),
            (
                stack(
                    FUNCTION,
                    resource(observability.LAMBDA_PERMISSION, "topic", function="fn", principal="sns.amazonaws.com"),
                    resource(observability.EVENT_INVOKE_CONFIG, "fn-async", functionName="fn", maximumRetryAttempts=0),
                ),
                "keeps no failed event",
            ),
        ],
    ),
    "vpc-flow-logs": StackCases(
        passing=[stack(VPC, flow_log("ALL"))],
        failing=[
            (stack(VPC), "VPC vpc has no flow log"),
            (stack(VPC, flow_log("REJECT")), "trafficType ALL"),
            (stack(VPC, resource(observability.FLOW_LOG, "elsewhere", trafficType="ALL")), "VPC vpc has no flow log"),
        ],
    ),
    "s3-access-logging": StackCases(
        passing=[stack(DATA, LOGS, resource(LOGGING, "data-logging", bucket="data", targetBucket="logs"))],
        failing=[
            (stack(DATA, LOGS), "bucket data writes no server access logs"),
            (stack(DATA, LOGS, resource(LOGGING, "other-logging", bucket="other", targetBucket="logs")), "bucket data writes no"),
        ],
    ),
    "s3-bucket-lifecycle": StackCases(
        passing=[
            # The data bucket's rules apart, the log bucket's in one rule with its transitions.
            stack(
                DATA,
                LOGS,
                TO_LOGS,
                lifecycle("data", NONCURRENT, ABORT),
                lifecycle("logs", {**EXPIRE, **NONCURRENT, **ABORT, "transitions": [{"days": 30.0, "storageClass": "GLACIER"}]}),
            ),
        ],
        failing=[
            (stack(DATA), "bucket data has no enabled lifecycle rule"),
            (stack(DATA, lifecycle("data", NONCURRENT, ABORT, status="Disabled")), "bucket data has no enabled lifecycle rule"),
            (stack(DATA, lifecycle("data", NONCURRENT)), "does not abort incomplete multipart uploads"),
            (
                stack(DATA, LOGS, TO_LOGS, lifecycle("data", NONCURRENT, ABORT), lifecycle("logs", NONCURRENT, ABORT)),
                "bucket logs's lifecycle does not expire its access logs",
            ),
            (
                stack(DATA, LOGS, TO_LOGS, lifecycle("data", NONCURRENT, ABORT), lifecycle("logs", {**EXPIRE, **ABORT})),
                "does not expire noncurrent versions",
            ),
        ],
    ),
    "cloudfront-access-logging": StackCases(
        passing=[
            stack(CDN, SOURCE, DELIVERY),
            stack(resource(DISTRIBUTION, "legacy", loggingConfig={"bucket": "logs.s3.amazonaws.com", "prefix": "cdn/"})),
        ],
        failing=[
            (stack(CDN), "distribution cdn writes no access logs"),
            (stack(CDN, SOURCE), "distribution cdn writes no access logs"),
            (
                stack(
                    CDN, DELIVERY, resource(observability.LOG_DELIVERY_SOURCE, "other", logType="ACCESS_LOGS", name="cdn-logs")
                ),
                "cdn",
            ),
        ],
    ),
}


def test_every_rule_has_passing_and_failing_cases() -> None:
    check_cases(observability.RULES, CASES)


def test_only_tracing_is_advisory() -> None:
    advisory = {r.name for r in observability.RULES if r.advisory}
    assert advisory == {"lambda-tracing", "state-machine-tracing"}


@pytest.mark.parametrize(("rule", "item"), passing(observability.RULES, CASES))
def test_rule_passes(rule: Rule, item: Any) -> None:
    run_passing(rule, item)


@pytest.mark.parametrize(("rule", "item"), failing(observability.RULES, CASES))
def test_rule_fails(rule: Rule, item: Any) -> None:
    run_failing(rule, item)
