"""The application layer of one region (ARCHITECTURE §3): three functions, their queues, triggers, routes and roles.

``RegionalApp`` is created in ``__main__`` after the global table, once per region, under that region's provider and
named ``<region>-app`` (so the parity rule compares it across regions). Every region runs the same layer:

- **processor** (``functions.processor.handler.handle``): triggered by the region's events queue, ten messages a
  batch, with partial batch responses (``ReportBatchItemFailures``: only the failed records come back). A record that
  fails ``queueMaxReceiveCount`` times moves to the dead-letter queue.
- **stream** (``functions.stream.handler.handle``): triggered by this region's replica stream of the global table.
- **api** (``functions.api.handler.handle``): behind the region's HTTP API (``components/api.py``). HTTP API rather
  than function URLs: the API already carries the ``api.<domain>`` custom domain, TLS policy, access logs and the
  execute-api endpoint the Route53 health checks probe, and it routes per path with IAM authorisation on the data
  routes while the health route stays anonymous (the health checkers cannot sign requests). A function URL is one
  auth mode for every path.

Functions
---------
One package (``components/packaging.py``) for all three, ``LAMBDA_RUNTIME`` on arm64, 256 MB, the configured timeout,
X-Ray tracing active, in the region's private subnets with the application security group (egress to AWS APIs over
HTTPS and to MemoryDB; DynamoDB through the VPC's gateway endpoint, the rest through NAT). The processor and the
stream handler reserve ``processorReservedConcurrency``, the API ``apiReservedConcurrency`` (-1: unreserved). Names
are fixed, ``<project>-<stack>-<function>`` (function names are regional), so that each log group,
``/aws/lambda/<name>``, is created first with its retention and the region's key, and Lambda never creates one
without them. Environment: ``TABLE_NAME``, the cache endpoint, user and the ARN of the secret holding its password
(read once per container), ``CACHE_TLS``/``CACHE_CLUSTER`` on (MemoryDB), the cache TTL and the clock-skew limit;
``QUEUE_URL`` and ``HEALTH_PATH`` for the API. ``AWS_REGION`` is set by Lambda itself.

Queues
------
``<prefix>-events`` (visibility timeout 6 x the function timeout + the batching window, as Lambda recommends, so a
batch retried after throttling is not delivered twice), its dead-letter queue ``<prefix>-events-dlq`` (14 days; its
redrive allow policy admits only the events queue, so a redrive moves messages back there and nowhere else) and
``<prefix>-stream-failures`` (see below). All three are SSE-KMS with the region's key. In production they are
protected and kept on delete (they hold events not yet processed, or given up on), like the cache secret, which can
also be restored for 30 days after a deletion.

The stream's failures go to their own queue, not the events DLQ: what Lambda sends there is a description of the
failed batch (shard, sequence numbers), not an event, and a DLQ redrive back to the events queue would feed it to the
processor as a malformed event. The mapping starts at ``TRIM_HORIZON``: the handler is idempotent (re-asserting a
winner that already holds writes nothing; invalidating a cache key twice is harmless), while ``LATEST`` would skip the
changes made between the replica's creation and the mapping's first poll, and with them the re-assertion of a
replicated loser. It bisects a failing batch, reports item failures, retries a record ``STREAM_MAX_RETRY_ATTEMPTS``
times for at most ``STREAM_MAX_RECORD_AGE_SECONDS``, then records it in the failures queue (alarmed, like the DLQ).

IAM
---
Each function has its own role with one inline policy (``function_policy``), naming only this region's resources:
the table (the replica of the global table in this region is a table of the same name there) and its idempotency
index, the stream, the queues, the cache secret, its own log group, and the region's key: through SQS and Secrets
Manager of this region for the queues and the secret, and through DynamoDB of this region for the table's replica
here, which is encrypted with it (``table_key``). DynamoDB's own grants on the key serve only the table's creation
and replication; every read or write a function makes is authorised against the function's role, so a reader needs
``kms:Decrypt`` and a writer also ``kms:Encrypt`` and the data-key actions (``dynamodb_key_statements``; the
stream handler's stream reads decrypt with the same key). ``*`` only where IAM has no resource for an action: X-Ray
writes, the VPC network interface actions Lambda performs with the role, and ``dynamodb:ListStreams`` (Lambda's
stream poller lists the table's streams; IAM authorises it on ``*`` alone). No managed policy
(``AWSLambdaVPCAccessExecutionRole`` grants logs on every log group).

Example:
    >>> RegionalApp("us-east-1-app", RegionalAppArgs(region="us-east-1", name_prefix="multi-region-prod", ...),
    ...             pulumi.ResourceOptions(provider=providers["us-east-1"]))
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import AppConfig
from components.packaging import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, Package
from components.policies import Policy, allow_statement, assume_role_policy, dynamodb_key_statements
from components.table import GlobalTable, regional_table_arn
from functions.shared.metrics import NAMESPACE_VARIABLE

PROCESSOR = "processor"
STREAM = "stream"
API = "api"
FUNCTIONS = (PROCESSOR, STREAM, API)
HANDLERS = {
    PROCESSOR: "functions.processor.handler.handle",
    STREAM: "functions.stream.handler.handle",
    API: "functions.api.handler.handle",
}
FUNCTION_MEMORY_MB = 256
SECRET_RECOVERY_DAYS_PROTECTED = 30

EVENTS_QUEUE = "events"
DEAD_LETTER_QUEUE = "events-dlq"
STREAM_FAILURE_QUEUE = "stream-failures"
# The queues whose every message is a failure: each is alarmed on its first visible message.
FAILURE_QUEUES = (DEAD_LETTER_QUEUE, STREAM_FAILURE_QUEUE)
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
FAILURE_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: time to look before a failed event is gone
KMS_DATA_KEY_REUSE_SECONDS = 300
VISIBILITY_TIMEOUT_FACTOR = 6

QUEUE_BATCH_SIZE = 10
QUEUE_BATCHING_WINDOW_SECONDS = 1
STREAM_BATCH_SIZE = 100
STREAM_BATCHING_WINDOW_SECONDS = 0
STREAM_STARTING_POSITION = "TRIM_HORIZON"
STREAM_MAX_RETRY_ATTEMPTS = 10
STREAM_MAX_RECORD_AGE_SECONDS = 3600
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
# Lambda's SQS maximum concurrency takes 2 to 1000.
SQS_MIN_MAXIMUM_CONCURRENCY = 2

# The API's routes: the data routes need SigV4 (IAM); the health route is anonymous (Route53 health checkers).
SIGNED_ROUTES = ("GET /items/{id}", "POST /events", "GET /state")
PAYLOAD_FORMAT_VERSION = "2.0"

XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
NETWORK_INTERFACE_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
"""The only actions granted on ``*``: AWS grants them on ``*`` alone."""


# ---- pure builders: names ------------------------------------------------------------------------


def function_name(name_prefix: str, function: str) -> str:
    """The fixed name of a function, the same in every region.

    Example:
        >>> function_name("multi-region-prod", "processor")
        'multi-region-prod-processor'
    """
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; functions: {', '.join(FUNCTIONS)}")
    return f"{name_prefix}-{function}"


def queue_name(name_prefix: str, queue: str) -> str:
    """The fixed name of a queue, the same in every region.

    Example:
        >>> queue_name("multi-region-prod", "events-dlq")
        'multi-region-prod-events-dlq'
    """
    if queue not in (EVENTS_QUEUE, *FAILURE_QUEUES):
        raise ValueError(f"unknown queue {queue!r}")
    return f"{name_prefix}-{queue}"


def log_group_name(function_name: str) -> str:
    """The log group Lambda writes a function's logs to."""
    return f"/aws/lambda/{function_name}"


def log_group_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """A log group's ARN, as IAM names it (log streams are ``<arn>:log-stream:<name>``, so ``<arn>:*``)."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{name}"


# ---- pure builders: settings ---------------------------------------------------------------------


def visibility_timeout_seconds(
    function_timeout_seconds: int, batching_window_seconds: int = QUEUE_BATCHING_WINDOW_SECONDS
) -> int:
    """Six times the function timeout plus the batching window (Lambda's guidance for SQS event sources).

    Example:
        >>> visibility_timeout_seconds(30)
        181
    """
    return VISIBILITY_TIMEOUT_FACTOR * function_timeout_seconds + batching_window_seconds


def sqs_maximum_concurrency(reserved_concurrency: int) -> int | None:
    """The SQS mapping's maximum concurrency: the function's reservation, so the poller never invokes more than
    the function may run (extra invocations would be throttled and their messages delayed); ``None`` when the
    function is unreserved (-1) or reserves fewer than the 2 the setting accepts.

    Example:
        >>> sqs_maximum_concurrency(20), sqs_maximum_concurrency(-1)
        (20, None)
    """
    return reserved_concurrency if reserved_concurrency >= SQS_MIN_MAXIMUM_CONCURRENCY else None


def redrive_policy(dead_letter_queue_arn: str, max_receive_count: int) -> str:
    """The events queue's redrive policy: after ``max_receive_count`` receives a message moves to the DLQ."""
    return json.dumps({"deadLetterTargetArn": dead_letter_queue_arn, "maxReceiveCount": max_receive_count})


def redrive_allow_policy(source_queue_arns: Sequence[str]) -> str:
    """A DLQ's redrive allow policy: only these queues may use it (and a redrive moves messages back to them)."""
    return json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": list(source_queue_arns)})


def deny_all_redrive_policy() -> str:
    """No queue may use this one as its dead-letter queue."""
    return json.dumps({"redrivePermission": "denyAll"})


def route_keys(health_check_path: str) -> dict[str, str]:
    """Every route of the API with its authorisation type.

    Example:
        >>> route_keys("/health")["GET /health"], route_keys("/health")["POST /events"]
        ('NONE', 'AWS_IAM')
    """
    routes = dict.fromkeys(SIGNED_ROUTES, "AWS_IAM")
    routes[f"GET {health_check_path}"] = "NONE"
    return routes


def route_resource_suffix(route_key: str) -> str:
    """A resource-name suffix for a route: ``GET /items/{id}`` → ``get-items``.

    Example:
        >>> route_resource_suffix("GET /items/{id}")
        'get-items'
    """
    method, path = route_key.split(" ", 1)
    words = [part for part in path.strip("/").split("/") if part and not part.startswith("{")]
    return "-".join([method.lower(), *[w.replace("_", "-").replace(".", "-").lower() for w in words]]) or method.lower()


def replica_stream_arn(replicas: Sequence[aws.dynamodb.outputs.TableReplica] | None, region: str) -> str:
    """The stream ARN of the table's replica in ``region``.

    Raises
    ------
    ValueError
        The table has no replica in ``region``, or the provider reports no stream for it.
    """
    for replica in replicas or ():
        if replica.region_name == region:
            if not replica.stream_arn:
                raise ValueError(f"the provider reports no stream for the table's replica in {region}")
            return replica.stream_arn
    raise ValueError(f"the global table has no replica in {region}; replicas: {', '.join(r.region_name for r in replicas or ())}")


def table_stream_arn(table: GlobalTable, region: str) -> pulumi.Output[str]:
    """This region's stream of the global table: the table's own in its home region, else its replica's."""
    if region not in table.replica_regions:
        return table.stream_arn
    return table.table.replicas.apply(lambda replicas: replica_stream_arn(replicas, region))


# ---- pure builders: IAM --------------------------------------------------------------------------


@dataclass(frozen=True)
class AppResources:
    """The ARNs of one region's application resources, what the role policies name.

    ``table`` is this region's table (the home table or the replica) and ``table_key`` the key encrypting it;
    ``stream`` its current stream; ``key`` the region's key, encrypting the queues and the cache secret.
    """

    partition: str
    region: str
    account_id: str
    table: str
    stream: str
    events_queue: str
    dead_letter_queue: str
    stream_failure_queue: str
    key: str
    table_key: str
    cache_secret: str


def _table_key_statements(resources: AppResources, *, writes: bool) -> list[Policy]:
    """The table's key through DynamoDB of this region: decrypt to read, and encrypt to write."""
    return dynamodb_key_statements("TableKeyThroughDynamoDB", {resources.region: resources.table_key}, writes=writes)


def _common_statements(resources: AppResources, log_group: str, *, sends: bool) -> list[Policy]:
    """What every function needs: its logs, tracing, network interfaces, the cache secret and the key through
    SQS and Secrets Manager (``sends``: it also sends to an encrypted queue, which takes a data key)."""
    logs = log_group_arn(resources.partition, resources.region, resources.account_id, log_group)
    key_actions = ["kms:Decrypt", "kms:GenerateDataKey"] if sends else ["kms:Decrypt"]
    return [
        allow_statement("OwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{logs}:*"]),
        allow_statement("Tracing", XRAY_ACTIONS, ["*"]),
        allow_statement("VpcNetworkInterfaces", NETWORK_INTERFACE_ACTIONS, ["*"]),
        allow_statement("CacheSecret", ["secretsmanager:GetSecretValue"], [resources.cache_secret]),
        allow_statement(
            "RegionKeyThroughSqsAndSecretsManager",
            key_actions,
            [resources.key],
            {
                "StringEquals": {
                    "kms:ViaService": [
                        f"sqs.{resources.region}.amazonaws.com",
                        f"secretsmanager.{resources.region}.amazonaws.com",
                    ]
                }
            },
        ),
    ]


def processor_policy(resources: AppResources, log_group: str) -> Policy:
    """The event processor: reads the state record, claims idempotency keys (put, and delete when a write is refused),
    conditionally updates items, records conflicts; consumes the events queue."""
    table = resources.table
    return {
        "Version": "2012-10-17",
        "Statement": [
            allow_statement(
                "TableItems",
                ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                [table],
            ),
            allow_statement(
                "ConsumeEvents",
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
                [resources.events_queue],
            ),
            *_table_key_statements(resources, writes=True),
            *_common_statements(resources, log_group, sends=False),
        ],
    }


def stream_policy(resources: AppResources, log_group: str) -> Policy:
    """The stream handler: reads this region's stream, re-asserts winners and records conflicts, and records the
    batches it gives up on in the stream-failures queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            allow_statement(
                "ReadStream", ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], [resources.stream]
            ),
            allow_statement("ListStreams", ["dynamodb:ListStreams"], ["*"]),
            # Re-asserting a winner and recording a conflict are conditional puts; nothing else is written.
            allow_statement("TableItems", ["dynamodb:PutItem"], [resources.table]),
            allow_statement("RecordFailedBatches", ["sqs:SendMessage"], [resources.stream_failure_queue]),
            *_table_key_statements(resources, writes=True),
            *_common_statements(resources, log_group, sends=True),
        ],
    }


def api_policy(resources: AppResources, log_group: str) -> Policy:
    """The API: reads items and the state record, enqueues events."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            allow_statement("TableItems", ["dynamodb:GetItem"], [resources.table]),
            allow_statement("EnqueueEvents", ["sqs:SendMessage"], [resources.events_queue]),
            *_table_key_statements(resources, writes=False),
            *_common_statements(resources, log_group, sends=True),
        ],
    }


POLICIES = {PROCESSOR: processor_policy, STREAM: stream_policy, API: api_policy}


def function_policy(function: str, resources: AppResources, log_group: str) -> Policy:
    """The inline policy of ``function``'s role (see the module notes)."""
    return POLICIES[function](resources, log_group)


def reserved_concurrency(app: AppConfig) -> dict[str, int]:
    """Each function's reserved concurrency (-1: none); the stream handler shares the processor's setting."""
    return {
        PROCESSOR: app.processor_reserved_concurrency,
        STREAM: app.processor_reserved_concurrency,
        API: app.api_reserved_concurrency,
    }


def function_environment(
    *,
    table_name: str,
    cache_host: pulumi.Input[str],
    cache_port: int,
    cache_user: str,
    cache_secret_arn: pulumi.Input[str],
    app: AppConfig,
    metrics_namespace: str,
) -> dict[str, pulumi.Input[str]]:
    """The environment ``functions.shared.settings.Settings.from_env`` reads (every value a string)."""
    return {
        "TABLE_NAME": table_name,
        "CACHE_HOST": cache_host,
        "CACHE_PORT": str(cache_port),
        "CACHE_USER": cache_user,
        "CACHE_SECRET_ARN": cache_secret_arn,
        "CACHE_TLS": "true",
        "CACHE_CLUSTER": "true",
        "CACHE_TTL_SECONDS": str(app.cache_ttl_seconds),
        "MAX_CLOCK_SKEW_MS": str(app.max_clock_skew_seconds * 1000),
        NAMESPACE_VARIABLE: metrics_namespace,
    }


def _policy_document(resources: pulumi.Output[AppResources], function: str, log_group: str) -> pulumi.Output[str]:
    return resources.apply(lambda r: json.dumps(function_policy(function, r, log_group)))


# ---- the components ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppFunctionArgs:
    """Parameters
    ----------
    function_name: the fixed name (``function_name``).
    handler: the handler in the package.
    package: the built package.
    policy: the role's inline policy document (JSON).
    environment: the function's environment.
    timeout_seconds, reserved_concurrency, log_retention_days: from the app config.
    key_arn: the region's key, encrypting the log group.
    private_subnet_ids, security_group_id: where the function's network interfaces go.
    """

    function_name: str
    handler: str
    package: Package
    policy: pulumi.Input[str]
    environment: Mapping[str, pulumi.Input[str]]
    timeout_seconds: int
    reserved_concurrency: int
    log_retention_days: int
    key_arn: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]


class AppFunction(pulumi.ComponentResource):
    """A function with its own role, inline policy and log group (created before it)."""

    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy
    log_group: aws.cloudwatch.LogGroup
    function: aws.lambda_.Function

    def __init__(self, name: str, args: AppFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:app:Function", name, None, opts)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name(args.function_name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"Execution role of {args.function_name}",
            assume_role_policy=json.dumps(assume_role_policy("lambda.amazonaws.com")),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.id, policy=args.policy, opts=pulumi.ResourceOptions(parent=self.role)
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            role=self.role.arn,
            runtime=LAMBDA_RUNTIME,
            architectures=[LAMBDA_ARCHITECTURE],
            handler=args.handler,
            code=pulumi.FileArchive(str(args.package.path)),
            source_code_hash=args.package.sha256_b64,
            memory_size=FUNCTION_MEMORY_MB,
            timeout=args.timeout_seconds,
            reserved_concurrent_executions=args.reserved_concurrency,
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=list(args.private_subnet_ids), security_group_ids=[args.security_group_id]
            ),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment)),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=self.log_group.name),
            # Creating a function in a VPC checks that its role may manage network interfaces: the policy first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy, self.log_group]),
        )
        self.register_outputs({"function_name": self.function.name, "function_arn": self.function.arn, "role_arn": self.role.arn})


@dataclass(frozen=True)
class RegionalAppArgs:
    """Parameters
    ----------
    region: the region of the provider in ``opts``.
    name_prefix: ``<project>-<stack>``: function and queue names start with it.
    metrics_namespace: the CloudWatch namespace of the functions' own metrics (the project's name).
    table_name: the global table; its replica in this region has the same name.
    stream_arn: this region's stream of the table (``table_stream_arn``).
    key_arn: the region's KMS key (queues, secret, log groups).
    table_key_arn: the key encrypting the table's replica in this region (``GlobalTable.key_arns``).
    private_subnet_ids, security_group_id: the region's private subnets and application security group.
    cache_endpoint, cache_port, cache_user, cache_password: the region's MemoryDB configuration endpoint and ACL user.
    api: the region's HTTP API (``RegionalApi.api``), which gets the routes.
    health_check_path: the anonymous route the Route53 health checks request.
    app: the functions' settings.
    package: the built Lambda package.
    protect: production: protect the queues and the cache secret and keep them on delete.
    """

    region: str
    name_prefix: str
    metrics_namespace: str
    table_name: str
    stream_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    table_key_arn: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    cache_endpoint: pulumi.Input[str]
    cache_port: int
    cache_user: str
    cache_password: pulumi.Input[str]
    api: aws.apigatewayv2.Api
    health_check_path: str
    app: AppConfig
    package: Package
    protect: bool


class RegionalApp(pulumi.ComponentResource):
    """The region's application layer (see the module notes)."""

    cache_secret: aws.secretsmanager.Secret
    events_queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    stream_failure_queue: aws.sqs.Queue
    functions: dict[str, AppFunction]
    queue_mapping: aws.lambda_.EventSourceMapping
    stream_mapping: aws.lambda_.EventSourceMapping
    integration: aws.apigatewayv2.Integration
    routes: dict[str, aws.apigatewayv2.Route]
    api_permission: aws.lambda_.Permission

    def __init__(self, name: str, args: RegionalAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:app:RegionalApp", name, None, opts)
        app, prefix = args.app, args.name_prefix
        invoke = pulumi.InvokeOutputOptions(parent=self)
        # The secret, and the queues that hold events not yet (or never) processed, are protected in production.
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)

        self.cache_secret = aws.secretsmanager.Secret(
            f"{name}-cache-secret",
            description=f"{prefix}: password of the MemoryDB user {args.cache_user} in {args.region}",
            kms_key_id=args.key_arn,
            # Autonamed: in dev the secret goes at once; in prod it can be restored for the recovery window.
            recovery_window_in_days=SECRET_RECOVERY_DAYS_PROTECTED if args.protect else 0,
            opts=kept,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-cache-secret-value",
            secret_id=self.cache_secret.id,
            secret_string=pulumi.Output.secret(args.cache_password).apply(lambda password: json.dumps({"password": password})),
            opts=pulumi.ResourceOptions(parent=self.cache_secret),
        )

        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-{DEAD_LETTER_QUEUE}",
            name=queue_name(prefix, DEAD_LETTER_QUEUE),
            message_retention_seconds=FAILURE_RETENTION_SECONDS,
            kms_master_key_id=args.key_arn,
            kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
            opts=kept,
        )
        self.events_queue = aws.sqs.Queue(
            f"{name}-{EVENTS_QUEUE}",
            name=queue_name(prefix, EVENTS_QUEUE),
            visibility_timeout_seconds=visibility_timeout_seconds(app.function_timeout_seconds),
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            redrive_policy=self.dead_letter_queue.arn.apply(lambda arn: redrive_policy(arn, app.queue_max_receive_count)),
            kms_master_key_id=args.key_arn,
            kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
            opts=kept,
        )
        # A separate resource: the DLQ's allow policy names the events queue, which names the DLQ.
        aws.sqs.RedriveAllowPolicy(
            f"{name}-{DEAD_LETTER_QUEUE}-allow",
            queue_url=self.dead_letter_queue.url,
            redrive_allow_policy=self.events_queue.arn.apply(lambda arn: redrive_allow_policy([arn])),
            opts=pulumi.ResourceOptions(parent=self.dead_letter_queue),
        )
        self.stream_failure_queue = aws.sqs.Queue(
            f"{name}-{STREAM_FAILURE_QUEUE}",
            name=queue_name(prefix, STREAM_FAILURE_QUEUE),
            message_retention_seconds=FAILURE_RETENTION_SECONDS,
            redrive_allow_policy=deny_all_redrive_policy(),
            kms_master_key_id=args.key_arn,
            kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
            opts=kept,
        )

        resources = pulumi.Output.all(
            partition=partition.partition,
            account_id=identity.account_id,
            stream=args.stream_arn,
            events_queue=self.events_queue.arn,
            dead_letter_queue=self.dead_letter_queue.arn,
            stream_failure_queue=self.stream_failure_queue.arn,
            key=args.key_arn,
            table_key=args.table_key_arn,
            cache_secret=self.cache_secret.arn,
        ).apply(
            lambda v: AppResources(
                region=args.region,
                table=regional_table_arn(v["partition"], args.region, v["account_id"], args.table_name),
                **v,
            )
        )
        reserved = reserved_concurrency(app)
        common = function_environment(
            table_name=args.table_name,
            cache_host=args.cache_endpoint,
            cache_port=args.cache_port,
            cache_user=args.cache_user,
            cache_secret_arn=self.cache_secret.arn,
            app=app,
            metrics_namespace=args.metrics_namespace,
        )
        environments: dict[str, dict[str, pulumi.Input[str]]] = {
            PROCESSOR: common,
            STREAM: common,
            API: {**common, "QUEUE_URL": self.events_queue.url, "HEALTH_PATH": args.health_check_path},
        }
        self.functions = {}
        for function in FUNCTIONS:
            fname = function_name(prefix, function)
            self.functions[function] = AppFunction(
                f"{name}-{function}",
                AppFunctionArgs(
                    function_name=fname,
                    handler=HANDLERS[function],
                    package=args.package,
                    policy=_policy_document(resources, function, log_group_name(fname)),
                    environment=environments[function],
                    timeout_seconds=app.function_timeout_seconds,
                    reserved_concurrency=reserved[function],
                    log_retention_days=app.function_log_retention_days,
                    key_arn=args.key_arn,
                    private_subnet_ids=args.private_subnet_ids,
                    security_group_id=args.security_group_id,
                ),
                pulumi.ResourceOptions(parent=self),
            )

        processor = self.functions[PROCESSOR]
        concurrency = sqs_maximum_concurrency(app.processor_reserved_concurrency)
        self.queue_mapping = aws.lambda_.EventSourceMapping(
            f"{name}-{PROCESSOR}-trigger",
            event_source_arn=self.events_queue.arn,
            function_name=processor.function.arn,
            batch_size=QUEUE_BATCH_SIZE,
            maximum_batching_window_in_seconds=QUEUE_BATCHING_WINDOW_SECONDS,
            function_response_types=[REPORT_BATCH_ITEM_FAILURES],
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(maximum_concurrency=concurrency)
            if concurrency is not None
            else None,
            # Lambda checks the role's SQS permissions when the mapping is created.
            opts=pulumi.ResourceOptions(parent=processor, depends_on=[processor.role_policy]),
        )
        stream = self.functions[STREAM]
        self.stream_mapping = aws.lambda_.EventSourceMapping(
            f"{name}-{STREAM}-trigger",
            event_source_arn=args.stream_arn,
            function_name=stream.function.arn,
            starting_position=STREAM_STARTING_POSITION,
            batch_size=STREAM_BATCH_SIZE,
            maximum_batching_window_in_seconds=STREAM_BATCHING_WINDOW_SECONDS,
            function_response_types=[REPORT_BATCH_ITEM_FAILURES],
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=STREAM_MAX_RETRY_ATTEMPTS,
            maximum_record_age_in_seconds=STREAM_MAX_RECORD_AGE_SECONDS,
            destination_config=aws.lambda_.EventSourceMappingDestinationConfigArgs(
                on_failure=aws.lambda_.EventSourceMappingDestinationConfigOnFailureArgs(
                    destination_arn=self.stream_failure_queue.arn
                )
            ),
            opts=pulumi.ResourceOptions(parent=stream, depends_on=[stream.role_policy]),
        )

        api_function = self.functions[API]
        self.integration = aws.apigatewayv2.Integration(
            f"{name}-{API}-integration",
            api_id=args.api.id,
            integration_type="AWS_PROXY",
            integration_uri=api_function.function.arn,
            payload_format_version=PAYLOAD_FORMAT_VERSION,
            opts=pulumi.ResourceOptions(parent=api_function),
        )
        target = self.integration.id.apply(lambda integration_id: f"integrations/{integration_id}")
        self.routes = {
            key: aws.apigatewayv2.Route(
                f"{name}-route-{route_resource_suffix(key)}",
                api_id=args.api.id,
                route_key=key,
                authorization_type=authorization,
                target=target,
                opts=pulumi.ResourceOptions(parent=self.integration),
            )
            for key, authorization in route_keys(args.health_check_path).items()
        }
        self.api_permission = aws.lambda_.Permission(
            f"{name}-{API}-invoke",
            action="lambda:InvokeFunction",
            function=api_function.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(args.api.execution_arn, "/*/*"),
            opts=pulumi.ResourceOptions(parent=api_function),
        )

        self.register_outputs(
            {
                "events_queue_url": self.events_queue.url,
                "dead_letter_queue_url": self.dead_letter_queue.url,
                "stream_failure_queue_url": self.stream_failure_queue.url,
                "function_names": {f: fn.function.name for f, fn in self.functions.items()},
                "cache_secret_arn": self.cache_secret.arn,
            }
        )
