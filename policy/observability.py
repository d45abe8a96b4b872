"""Logging and tracing: every request path, control plane and network leaves a record that outlives the incident.

Tracing rules are advisory: traces make an incident faster to explain, but their absence neither exposes nor loses
data, so a stack without them should warn rather than stop.
"""

from __future__ import annotations

from policy.core import (
    DISTRIBUTION,
    EKS_CLUSTER,
    LAMBDA_FUNCTION,
    LOG_GROUP,
    RDS_CLUSTER,
    RDS_INSTANCE,
    S3_BUCKET,
    S3_LIFECYCLE,
    S3_LOGGING,
    STATE_MACHINE,
    Messages,
    Props,
    Stack,
    StackResource,
    StackViolation,
    Violations,
    attached,
    block,
    blocks,
    bucket_of,
    flag,
    given,
    known,
    log_target_buckets,
    number,
    resource_rule,
    stack_rule,
    strings,
)

EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
TRACING_ADVISORY = "a recommendation: traces speed up diagnosis, but without them no data is exposed or lost"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
VPC = "aws:ec2/vpc:Vpc"
LOG_DELIVERY_SOURCE = "aws:cloudwatch/logDeliverySource:LogDeliverySource"
LOG_DELIVERY = "aws:cloudwatch/logDelivery:LogDelivery"
RDS_CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
# log_statement values that log at least every DDL statement; log_min_duration_statement -1 turns slow-statement
# logging off.
DDL_LOG_STATEMENTS = ("ddl", "mod", "all")
# A year of logs: what an incident or audit reaching back over the last year needs (checkov CKV_AWS_338).
MIN_LOG_RETENTION_DAYS = 365


@resource_rule(
    "log-group-retention",
    f"CloudWatch log groups keep their logs at least {MIN_LOG_RETENTION_DAYS} days, and not forever.",
    LOG_GROUP,
)
def log_group_retention(resource_type: str, props: Props) -> Messages:
    days = number(props.get("retentionInDays"))
    if days is None or days <= 0:
        yield "retentionInDays must be set: without it logs are kept, and billed, forever"
    elif days < MIN_LOG_RETENTION_DAYS:
        yield f"retentionInDays is {days:g}; keep logs at least {MIN_LOG_RETENTION_DAYS} days (logRetentionDays)"


@resource_rule(
    "eks-control-plane-logs",
    "EKS clusters send every control-plane log type to CloudWatch Logs.",
    EKS_CLUSTER,
)
def eks_control_plane_logs(resource_type: str, props: Props) -> Messages:
    missing = [t for t in EKS_LOG_TYPES if t not in strings(props.get("enabledClusterLogTypes"))]
    if missing:
        yield f"enabledClusterLogTypes misses {', '.join(missing)}"


@resource_rule(
    "rds-log-exports",
    "Aurora and RDS export their database logs to CloudWatch Logs.",
    RDS_CLUSTER,
    RDS_INSTANCE,
)
def rds_log_exports(resource_type: str, props: Props) -> Messages:
    exports = strings(props.get("enabledCloudwatchLogsExports"))
    engine = str(props.get("engine") or "")
    if "postgres" in engine and "postgresql" not in exports:
        yield "enabledCloudwatchLogsExports must include 'postgresql'"
    elif not exports:
        yield "enabledCloudwatchLogsExports must not be empty"


@resource_rule(
    "api-access-logs",
    "API Gateway stages write access logs.",
    "aws:apigatewayv2/stage:Stage",
    "aws:apigateway/stage:Stage",
)
def api_access_logs(resource_type: str, props: Props) -> Messages:
    settings = block(props.get("accessLogSettings"))
    if not given(settings, "destinationArn") or not given(settings, "format"):
        yield "accessLogSettings must name a destinationArn and a format"


@resource_rule(
    "state-machine-logging",
    "Step Functions state machines (the failover runbook) log every execution event (level ALL).",
    STATE_MACHINE,
)
def state_machine_logging(resource_type: str, props: Props) -> Messages:
    config = block(props.get("loggingConfiguration"))
    if config.get("level") != "ALL":
        yield f"loggingConfiguration.level is {config.get('level')!r}; it must be 'ALL': a failover must leave its trail"
    if not given(config, "logDestination"):
        yield "loggingConfiguration.logDestination must name a log group"


@resource_rule(
    "lambda-tracing",
    "Lambda functions trace with X-Ray (tracingConfig mode Active).",
    LAMBDA_FUNCTION,
    advisory=TRACING_ADVISORY,
)
def lambda_tracing(resource_type: str, props: Props) -> Messages:
    mode = block(props.get("tracingConfig")).get("mode")
    if mode != "Active":
        yield f"tracingConfig.mode is {mode!r}; set 'Active'"


@resource_rule(
    "state-machine-tracing",
    "Step Functions state machines trace with X-Ray.",
    STATE_MACHINE,
    advisory=TRACING_ADVISORY,
)
def state_machine_tracing(resource_type: str, props: Props) -> Messages:
    if flag(block(props.get("tracingConfiguration")).get("enabled")) is not True:
        yield "tracingConfiguration.enabled must be true"


def _names_group(stack: Stack, cluster: StackResource, name: str | None, group: StackResource) -> bool:
    """Whether ``cluster`` names ``group``; a new group's name is known only after the update: then the group the
    cluster depends on."""
    if name:
        return group.props.get("name") == name
    return given(cluster.props, "dbClusterParameterGroupName") and stack.depends_on(cluster, group)


@stack_rule(
    "aurora-postgresql-query-logging",
    "Aurora PostgreSQL clusters log DDL and slow statements through a cluster parameter group of their engine's family "
    "(log_statement ddl or more, log_min_duration_statement set).",
)
def aurora_postgresql_query_logging(stack: Stack) -> Violations:
    groups = stack.of_type(RDS_CLUSTER_PARAMETER_GROUP)
    for cluster in stack.of_type(RDS_CLUSTER):
        if "postgresql" not in str(cluster.props.get("engine") or ""):
            continue
        name = known(cluster.props, "dbClusterParameterGroupName")
        attached_groups = [g for g in groups if g.region == cluster.region and _names_group(stack, cluster, name, g)]
        if not attached_groups:
            yield StackViolation(f"cluster {cluster.name} names no cluster parameter group of the stack", cluster.urn)
            continue
        group = attached_groups[0]
        values = {str(p.get("name")): str(p.get("value")) for p in blocks(group.props.get("parameters"))}
        if values.get("log_statement") not in DDL_LOG_STATEMENTS:
            yield StackViolation(
                f"cluster {cluster.name}'s parameter group {group.name} has log_statement {values.get('log_statement')!r}; "
                f"one of {', '.join(DDL_LOG_STATEMENTS)}",
                cluster.urn,
            )
        if not values.get("log_min_duration_statement", "-1").isdigit():
            yield StackViolation(
                f"cluster {cluster.name}'s parameter group {group.name} does not set log_min_duration_statement to a number "
                "of milliseconds (slow statements go unlogged)",
                cluster.urn,
            )
        version = known(cluster.props, "engineVersion")
        family = known(group.props, "family")
        if version and family and family != f"aurora-postgresql{str(version).split('.', maxsplit=1)[0]}":
            yield StackViolation(
                f"cluster {cluster.name} runs {version} but its parameter group {group.name} is of family {family}", cluster.urn
            )


@stack_rule(
    "vpc-flow-logs",
    "Every VPC records all its traffic (accepted and rejected) in flow logs.",
)
def vpc_flow_logs(stack: Stack) -> Violations:
    flow_logs = stack.of_type(FLOW_LOG)
    for vpc in stack.of_type(VPC):
        logs = [f for f in flow_logs if stack.depends_on(f, vpc)]
        if not any(f.props.get("trafficType") == "ALL" for f in logs):
            yield StackViolation(f"VPC {vpc.name} has no flow log with trafficType ALL", vpc.urn)


@stack_rule(
    "s3-access-logging",
    "Every S3 bucket but the log buckets themselves writes server access logs.",
)
def s3_access_logging(stack: Stack) -> Violations:
    log_buckets = log_target_buckets(stack)
    for bucket in stack.of_type(*S3_BUCKET):
        if bucket_of(bucket) in log_buckets:
            continue
        if not any(r.props.get("targetBucket") for r in attached(stack, S3_LOGGING, bucket)):
            yield StackViolation(f"bucket {bucket.name} writes no server access logs", bucket.urn)


@stack_rule(
    "s3-bucket-lifecycle",
    "Every S3 bucket has a lifecycle that expires noncurrent versions and aborts incomplete uploads; a bucket of "
    "server access logs also expires its logs.",
)
def s3_bucket_lifecycle(stack: Stack) -> Violations:
    log_buckets = log_target_buckets(stack)
    for bucket in stack.of_type(*S3_BUCKET):
        rules = [
            rule
            for config in attached(stack, S3_LIFECYCLE, bucket)
            for rule in blocks(config.props.get("rules"))
            if rule.get("status") == "Enabled"
        ]
        if not rules:
            yield StackViolation(f"bucket {bucket.name} has no enabled lifecycle rule", bucket.urn)
            continue
        missing = [
            what
            for what, path in (
                ("expire noncurrent versions", ("noncurrentVersionExpiration", "noncurrentDays")),
                ("abort incomplete multipart uploads", ("abortIncompleteMultipartUpload", "daysAfterInitiation")),
                *((("expire its access logs", ("expiration", "days")),) if bucket_of(bucket) in log_buckets else ()),
            )
            if not any(given(block(rule.get(path[0])), path[1]) for rule in rules)
        ]
        if missing:
            yield StackViolation(f"bucket {bucket.name}'s lifecycle does not {', '.join(missing)}", bucket.urn)


@stack_rule(
    "cloudfront-access-logging",
    "Every CloudFront distribution writes access logs (legacy S3 logging, or a log delivery source with a delivery).",
)
def cloudfront_access_logging(stack: Stack) -> Violations:
    delivered = {str(d.props.get("deliverySourceName")) for d in stack.of_type(LOG_DELIVERY)}
    for distribution in stack.of_type(DISTRIBUTION):
        if given(block(distribution.props.get("loggingConfig")), "bucket"):
            continue
        sources = [
            s
            for s in stack.of_type(LOG_DELIVERY_SOURCE)
            if stack.depends_on(s, distribution) and s.props.get("logType") == "ACCESS_LOGS"
        ]
        if not any(str(s.props.get("name")) in delivered for s in sources):
            yield StackViolation(f"distribution {distribution.name} writes no access logs", distribution.urn)


LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
EVENT_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
# The services that invoke a function asynchronously (Lambda's "Invoking a Lambda function asynchronously"): Lambda
# queues the event, retries twice, then drops it unless a dead-letter queue or an on-failure destination keeps it.
# API Gateway and Step Functions (RequestResponse) invoke synchronously and see the error; SQS, Kinesis and
# DynamoDB streams are polled by event source mappings, whose failures go to the queue's redrive DLQ or the
# mapping's own on-failure destination.
ASYNC_INVOKERS = frozenset(
    f"{service}.amazonaws.com"
    for service in ("s3", "sns", "ses", "events", "logs", "iot", "config", "cloudformation", "codecommit")
)


def _function_key(value: object) -> str:
    """A function's name from its name or ARN (a permission or an invoke config may name it either way)."""
    return str(value).split(":function:", 1)[-1].split(":", 1)[0]


@stack_rule(
    "lambda-async-failures-kept",
    "A Lambda function that a service invokes asynchronously (S3, SNS, EventBridge ...) keeps the events it fails: a "
    "dead-letter queue or an on-failure destination.",
)
def lambda_async_failures_kept(stack: Stack) -> Violations:
    configured = {
        _function_key(c.props.get("functionName"))
        for c in stack.of_type(EVENT_INVOKE_CONFIG)
        if given(block(block(c.props.get("destinationConfig")).get("onFailure")), "destination")
    }
    invoked = {
        _function_key(p.props.get("function")): str(p.props.get("principal"))
        for p in stack.of_type(LAMBDA_PERMISSION)
        if p.props.get("principal") in ASYNC_INVOKERS
    }
    for function in stack.of_type(LAMBDA_FUNCTION):
        name = _function_key(function.props.get("name") or function.name)
        if name not in invoked or name in configured or given(block(function.props.get("deadLetterConfig")), "targetArn"):
            continue
        yield StackViolation(
            f"function {name} is invoked asynchronously by {invoked[name]} but keeps no failed event: set "
            "deadLetterConfig.targetArn or a FunctionEventInvokeConfig with an onFailure destination",
            function.urn,
        )


RULES = (
    log_group_retention,
    eks_control_plane_logs,
    rds_log_exports,
    aurora_postgresql_query_logging,
    api_access_logs,
    state_machine_logging,
    lambda_tracing,
    lambda_async_failures_kept,
    state_machine_tracing,
    vpc_flow_logs,
    s3_access_logging,
    s3_bucket_lifecycle,
    cloudfront_access_logging,
)
