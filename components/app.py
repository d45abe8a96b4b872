"""The application layer of one region: its functions (``components/app_functions.py``), queues, triggers and roles.

``RegionalApp`` builds, for every entry of the function table, the function on the one package (``packaging.py``)
with its own role, inline policy (the entry's grants plus what every function needs) and log group, and its trigger
(an SQS mapping, the region's table stream, or the HTTP API's routes); plus the queues
(``events``, its DLQ ``events-dlq``, ``stream-failures``), SSE-KMS with the region's key and kept in production.
Names are fixed, ``<project>-<stack>-<function>``, so alarms and log groups are known before the functions exist.
Why each setting is what it is: docs/design/application-functions.md.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import pulumi
import pulumi_aws as aws

from components.app_config import (
    parameter_arn,
    parameter_environment,
    parameter_read_statements,
    runtime_settings_parameter,
)
from components.app_functions import (
    ALARM_KINDS,
    DEAD_LETTER_QUEUE,
    EVENTS_QUEUE,
    FUNCTION_MEMORY_MB,
    FUNCTION_NAME_LIMIT,
    PUBLIC_ROUTES,
    QUEUE_BATCHING_WINDOW_SECONDS,
    RESERVED_FUNCTION_NAMES,
    SIGNED_ROUTES,
    STREAM_FAILURE_QUEUE,
    TRIGGER_TYPES,
    UNRESERVED,
    ApiTrigger,
    FunctionSpec,
    QueueTrigger,
    StreamTrigger,
    application_functions,
    function_name,
    function_spec,
)
from components.config import AppConfig
from components.packaging import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, Package, handler_entry
from components.policies import (
    LAMBDA_VPC_ACCESS_POLICY,
    XRAY_WRITE_POLICY,
    Policy,
    allow_statement,
    assume_role_policy,
    dynamodb_key_statements,
    environment_key_statement,
    lambda_function_arn,
    managed_policy_arn,
)
from components.powertools import powertools_environment, powertools_layer_arn
from components.table import GlobalTable, regional_table_arn
from functions.shared.metrics import NAMESPACE_VARIABLE

# The queues whose every message is a failure: each is alarmed on its first visible message.
FAILURE_QUEUES = (DEAD_LETTER_QUEUE, STREAM_FAILURE_QUEUE)
QUEUES = (EVENTS_QUEUE, *FAILURE_QUEUES)
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
FAILURE_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: time to look before a failed event is gone
KMS_DATA_KEY_REUSE_SECONDS = 300
VISIBILITY_TIMEOUT_FACTOR = 6
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
# Lambda's SQS maximum concurrency takes 2 to 1000.
SQS_MIN_MAXIMUM_CONCURRENCY = 2
PAYLOAD_FORMAT_VERSION = "2.0"

# What every function role carries besides its inline policy: the managed policies AWS documents for a function in a
# VPC (its network interfaces) with active tracing (X-Ray writes), actions with no resource an inline statement could
# name (components/policies.py).
FUNCTION_MANAGED_POLICIES = {"vpc-access": LAMBDA_VPC_ACCESS_POLICY, "xray-write": XRAY_WRITE_POLICY}
# What a grant may do: writing items takes the table key's encrypt actions, sending to a queue a data key.
TABLE_WRITE_ACTIONS = frozenset({"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"})
QUEUE_SEND_ACTIONS = frozenset({"sqs:SendMessage"})
# The extra environment variables an entry may ask for (``FunctionSpec.environment``).
EXTRA_ENVIRONMENT = ("QUEUE_URL", "HEALTH_PATH")


# ---- pure builders: names ------------------------------------------------------------------------


def queue_name(name_prefix: str, queue: str) -> str:
    """The fixed name of a queue, the same in every region.

    Example:
        >>> queue_name("multi-region-prod", "events-dlq")
        'multi-region-prod-events-dlq'
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; queues: {', '.join(QUEUES)}")
    return f"{name_prefix}-{queue}"


def log_group_name(function_name: str) -> str:
    """The log group Lambda writes a function's logs to."""
    return f"/aws/lambda/{function_name}"


def log_group_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """A log group's ARN, as IAM names it (log streams are ``<arn>:log-stream:<name>``, so ``<arn>:*``)."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{name}"


def own_logs_statement(partition: str, region: str, account_id: str, log_group: str) -> Policy:
    """A function role's writing to its own log group (its streams) and nothing else.

    Example:
        >>> own_logs_statement("aws", "eu-west-1", "1", "/aws/lambda/f")["Resource"]
        ['arn:aws:logs:eu-west-1:1:log-group:/aws/lambda/f:*']
    """
    logs = log_group_arn(partition, region, account_id, log_group)
    return allow_statement("OwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{logs}:*"])


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


def route_keys(
    health_check_path: str, signed_routes: Sequence[str] = SIGNED_ROUTES, public_routes: Sequence[str] = PUBLIC_ROUTES
) -> dict[str, str]:
    """Every route of the API with its authorisation type: the signed routes, the anonymous health route and the
    anonymous read-only ``public_routes``.

    Example:
        >>> routes = route_keys("/health")
        >>> routes["GET /health"], routes["POST /events"], routes["GET /regions/{region}/status"]
        ('NONE', 'AWS_IAM', 'NONE')
    """
    routes = dict.fromkeys(signed_routes, "AWS_IAM")
    routes[f"GET {health_check_path}"] = "NONE"
    routes.update(dict.fromkeys(public_routes, "NONE"))
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
    """The ARNs of one region's application resources, what the role policies name (a ``Grant.resource`` is one of
    these fields).

    ``table`` is this region's table (the home table or the replica) and ``table_key`` the key encrypting it;
    ``stream`` its current stream; ``key`` the region's key, encrypting the queues; ``cache_cluster`` and
    ``cache_user`` the region's MemoryDB cluster and IAM-authenticated user, which ``memorydb:Connect`` names;
    ``app_config`` the region's runtime-settings parameter (``components/app_config.py``; empty: none to read).
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
    cache_cluster: str
    cache_user: str
    app_config: str = ""


QUEUE_RESOURCES = {
    EVENTS_QUEUE: "events_queue",
    DEAD_LETTER_QUEUE: "dead_letter_queue",
    STREAM_FAILURE_QUEUE: "stream_failure_queue",
}
GRANT_RESOURCES = ("table", "stream", *QUEUE_RESOURCES.values())
"""What a grant may name (or ``*``); the keys and the cache are granted by ``function_policy`` itself."""


def _table_key_statements(resources: AppResources, *, writes: bool) -> list[Policy]:
    """The table's key through DynamoDB of this region: decrypt to read, and encrypt to write."""
    return dynamodb_key_statements("TableKeyThroughDynamoDB", {resources.region: resources.table_key}, writes=writes)


def _common_statements(resources: AppResources, log_group: str, *, sends: bool) -> list[Policy]:
    """What every function needs in its inline policy: the region's runtime-settings parameter (when there is one), its
    logs, an IAM connection to the cache (its cluster and user, docs/design/data-store-auth.md) and the key through SQS
    (``sends``: it also sends to an encrypted queue, which takes a data key). Tracing and network interfaces come from
    the managed policies (``FUNCTION_MANAGED_POLICIES``)."""
    key_actions = ["kms:Decrypt", "kms:GenerateDataKey"] if sends else ["kms:Decrypt"]
    config = parameter_read_statements(resources.app_config, resources.key, resources.region) if resources.app_config else []
    return [
        *config,
        own_logs_statement(resources.partition, resources.region, resources.account_id, log_group),
        allow_statement("CacheIamConnect", ["memorydb:Connect"], [resources.cache_cluster, resources.cache_user]),
        allow_statement(
            "RegionKeyThroughSqs",
            key_actions,
            [resources.key],
            {"StringEquals": {"kms:ViaService": [f"sqs.{resources.region}.amazonaws.com"]}},
        ),
    ]


def grants_policy(spec: FunctionSpec, resources: AppResources, log_group: str) -> Policy:
    """An entry's role policy: its grants, the table key (encrypt too when a grant writes items), then what every
    function needs (a data key of the region's key too when a grant sends to a queue)."""
    actions = {action for grant in spec.grants for action in grant.actions}
    own = [
        allow_statement(g.sid, g.actions, ["*"] if g.resource == "*" else [getattr(resources, g.resource)]) for g in spec.grants
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            *own,
            *_table_key_statements(resources, writes=bool(actions & TABLE_WRITE_ACTIONS)),
            *_common_statements(resources, log_group, sends=bool(actions & QUEUE_SEND_ACTIONS)),
        ],
    }


def with_environment_key(policy: Policy, key_arn: str, function_arn: str, region: str) -> Policy:
    """A function role's inline policy with the decrypt of its environment appended (``environment_key_statement``)."""
    return {**policy, "Statement": [*policy["Statement"], environment_key_statement(key_arn, function_arn, region)]}


def function_policy(function: str, resources: AppResources, log_group: str) -> Policy:
    """The inline policy of ``function``'s role (its entry's ``grants_policy``)."""
    return grants_policy(function_spec(function), resources, log_group)


def reserved_concurrency(app: AppConfig) -> dict[str, int]:
    """Each function's reserved concurrency (-1: none), from the ``AppConfig`` field its entry names; -1 for an entry
    that names none."""
    return {
        spec.name: UNRESERVED if spec.concurrency is None else getattr(app, spec.concurrency) for spec in application_functions()
    }


def function_environment(
    *,
    table_name: str,
    cache_host: pulumi.Input[str],
    cache_port: int,
    cache_user: str,
    cache_cluster_name: str,
    app: AppConfig,
    metrics_namespace: str,
    app_config_parameter: str,
) -> dict[str, pulumi.Input[str]]:
    """The environment ``functions.shared.settings.Settings.from_env`` reads (every value a string). The runtime
    settings (cache TTLs, skew limit, feature flags) are not in it but in the parameter it names, so that changing
    them redeploys no function (``components/app_config.py``)."""
    return {
        "TABLE_NAME": table_name,
        "CACHE_HOST": cache_host,
        "CACHE_PORT": str(cache_port),
        "CACHE_USER": cache_user,
        "CACHE_CLUSTER_NAME": cache_cluster_name,
        "CACHE_TLS": "true",
        "CACHE_CLUSTER": "true",
        **parameter_environment(app_config_parameter, app),
        NAMESPACE_VARIABLE: metrics_namespace,
    }


# ---- the table's checks --------------------------------------------------------------------------


def _trigger_problems(spec: FunctionSpec) -> list[str]:
    """What the entry's trigger needs and its grants lack (Lambda checks these when the mapping is created)."""
    granted = {(a, g.resource) for g in spec.grants for a in g.actions}
    needed: list[tuple[str, str]] = []
    trigger = spec.trigger
    given: object = trigger  # the table is Python: an entry can hold anything there
    if not isinstance(given, TRIGGER_TYPES):
        allowed = ", ".join(t.__name__ for t in TRIGGER_TYPES)
        return [f"trigger {type(given).__name__} is not one of {allowed}"]
    if isinstance(trigger, QueueTrigger):
        if trigger.queue not in QUEUES:
            return [f"trigger.queue {trigger.queue!r} is not one of {', '.join(QUEUES)}"]
        needed = [
            (a, QUEUE_RESOURCES[trigger.queue]) for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
        ]
    elif isinstance(trigger, StreamTrigger):
        if trigger.failure_queue not in FAILURE_QUEUES:
            return [f"trigger.failure_queue {trigger.failure_queue!r} is not one of {', '.join(FAILURE_QUEUES)}"]
        needed = [(a, "stream") for a in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")]
        needed += [("dynamodb:ListStreams", "*"), ("sqs:SendMessage", QUEUE_RESOURCES[trigger.failure_queue])]
    return [
        f"grants lack {action} on {resource}, which its trigger needs"
        for action, resource in needed
        if (action, resource) not in granted
    ]


def _name_problems(name: str, name_prefix: str) -> list[str]:
    """What is wrong with an entry's name: its characters, a name the stack already gives a function, or a function
    name (``<prefix>-<name>``) longer than Lambda takes."""
    problems = [] if name.replace("-", "").isalnum() and name.islower() else ["name must be lower-case letters, digits and '-'"]
    if name in RESERVED_FUNCTION_NAMES:
        problems.append(
            f"name {name!r} is taken ({name_prefix}-{name} is another function); not one of {', '.join(RESERVED_FUNCTION_NAMES)}"
        )
    full = f"{name_prefix}-{name}"
    if len(full) > FUNCTION_NAME_LIMIT:
        problems.append(
            f"name {name!r}: the function name {full!r} has {len(full)} characters, Lambda allows at most "
            f"{FUNCTION_NAME_LIMIT} (at most {FUNCTION_NAME_LIMIT - len(name_prefix) - 1} for the name with this prefix)"
        )
    return problems


def _entry_problems(spec: FunctionSpec, package: Package, name_prefix: str) -> list[str]:
    """Every field of one entry the program cannot build, each named with what it allows."""
    problems = _name_problems(spec.name, name_prefix)
    try:
        entry = handler_entry(spec.handler)
    except ValueError as error:
        problems.append(str(error))
    else:
        if entry not in package.entries:
            problems.append(f"handler {spec.handler!r}: no module {entry} in the package")
    problems += [
        f"grant {g.sid}: resource {g.resource!r} is not '*' or one of {', '.join(GRANT_RESOURCES)}"
        for g in spec.grants
        if g.resource not in (*GRANT_RESOURCES, "*")
    ]
    problems += [
        f"environment {v!r} is not one of {', '.join(EXTRA_ENVIRONMENT)}" for v in spec.environment if v not in EXTRA_ENVIRONMENT
    ]
    settings = [f.name for f in fields(AppConfig) if f.name.endswith("_reserved_concurrency")]
    if spec.concurrency is not None and spec.concurrency not in settings:
        problems.append(f"concurrency {spec.concurrency!r} is not None (unreserved) or one of {', '.join(settings)}")
    problems += [f"alarm {a!r} is not one of {', '.join(ALARM_KINDS)}" for a in spec.alarms if a not in ALARM_KINDS]
    return problems + _trigger_problems(spec)


def validate_functions(functions: Sequence[FunctionSpec], package: Package, name_prefix: str) -> None:
    """Refuse a table the program cannot build: every problem of every entry, each naming the field and what it
    allows; two entries of one name, two consuming one queue, or two claiming one API route.

    Raises
    ------
    ValueError
        With one line per problem.
    """
    names = [spec.name for spec in functions]
    problems = [f"function {n!r} is in the table twice" for n in sorted({n for n in names if names.count(n) > 1})]
    routes = [r for spec in functions if isinstance(spec.trigger, ApiTrigger) for r in spec.trigger.signed_routes]
    problems += [f"route {r!r} is claimed twice" for r in sorted({r for r in routes if routes.count(r) > 1})]
    if sum(isinstance(spec.trigger, ApiTrigger) for spec in functions) > 1:
        problems.append("only one function may serve the HTTP API (its health route and invoke permission are one)")
    consumed = [spec.trigger.queue for spec in functions if isinstance(spec.trigger, QueueTrigger)]
    problems += [
        f"trigger.queue {q!r} is consumed twice (one function per queue; a message goes to one consumer)"
        for q in sorted({q for q in consumed if consumed.count(q) > 1})
    ]
    problems += [f"function {spec.name!r}: {p}" for spec in functions for p in _entry_problems(spec, package, name_prefix)]
    if problems:
        raise ValueError("the function table (components/app_functions.py) cannot be built:\n  " + "\n  ".join(problems))


# ---- the components ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppFunctionArgs:
    """Parameters
    ----------
    function_name: the fixed name (``function_name``).
    service: its short name (``api``, ``runbook``): Powertools' service name in its logs and metrics.
    region: the region of the provider in ``opts``: the Powertools layer is that region's.
    handler: the handler in the package.
    package: the built package.
    policy: the role's inline policy document (JSON); the decrypt of the function's environment is added
        (``environment_key_statement``).
    environment: the function's own environment; the Powertools settings (``powertools_environment``) are added.
    timeout_seconds, reserved_concurrency, log_retention_days: from the app config.
    memory_mb: its memory (``FUNCTION_MEMORY_MB`` unless its entry says otherwise).
    key_arn: the region's key, encrypting the log group and the function's environment.
    private_subnet_ids, security_group_id: where the function's network interfaces go.
    """

    function_name: str
    service: str
    region: str
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
    memory_mb: int = FUNCTION_MEMORY_MB


class AppFunction(pulumi.ComponentResource):
    """A function with its own role, inline policy, AWS managed policies (``FUNCTION_MANAGED_POLICIES``) and log group
    (created before it)."""

    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy
    managed_policies: list[aws.iam.RolePolicyAttachment]
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
        self._role(name, args)
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            role=self.role.arn,
            runtime=LAMBDA_RUNTIME,
            architectures=[LAMBDA_ARCHITECTURE],
            handler=args.handler,
            code=pulumi.FileArchive(str(args.package.path)),
            # Powertools comes from the AWS-managed public layer, not the package (components/powertools.py).
            layers=[powertools_layer_arn(args.region)],
            source_code_hash=args.package.sha256_b64,
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            reserved_concurrent_executions=args.reserved_concurrency,
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=list(args.private_subnet_ids), security_group_ids=[args.security_group_id]
            ),
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={**args.environment, **powertools_environment(args.service)}
            ),
            # The environment names the stack's resources: encrypted with the region's key, not Lambda's default key.
            kms_key_arn=args.key_arn,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=self.log_group.name),
            # Creating a function in a VPC checks that its role may manage network interfaces: the policies first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy, *self.managed_policies, self.log_group]),
        )
        self.register_outputs({"function_name": self.function.name, "function_arn": self.function.arn, "role_arn": self.role.arn})

    def _role(self, name: str, args: AppFunctionArgs) -> None:
        """The function's role: its inline policy (with the decrypt of its environment) and the managed policies."""
        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"Execution role of {args.function_name}",
            assume_role_policy=json.dumps(assume_role_policy("lambda.amazonaws.com")),
            opts=pulumi.ResourceOptions(parent=self),
        )
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke).partition
        policy = pulumi.Output.all(
            document=args.policy,
            key=args.key_arn,
            partition=partition,
            account_id=aws.get_caller_identity_output(opts=invoke).account_id,
        ).apply(
            lambda v: json.dumps(
                with_environment_key(
                    json.loads(v["document"]),
                    v["key"],
                    lambda_function_arn(v["partition"], args.region, v["account_id"], args.function_name),
                    args.region,
                )
            )
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.id, policy=policy, opts=pulumi.ResourceOptions(parent=self.role)
        )
        self.managed_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-{short}",
                role=self.role.id,  # an IAM role's id is its name
                policy_arn=partition.apply(functools.partial(managed_policy_arn, policy=managed)),
                opts=pulumi.ResourceOptions(parent=self.role),
            )
            for short, managed in FUNCTION_MANAGED_POLICIES.items()
        ]


@dataclass(frozen=True)
class RegionalAppArgs:
    """Parameters
    ----------
    region: the region of the provider in ``opts``.
    name_prefix: ``<project>-<stack>``: function and queue names start with it.
    metrics_namespace: the CloudWatch namespace of the functions' own metrics (the project's name).
    table_name: the global table; its replica in this region has the same name.
    stream_arn: this region's stream of the table (``table_stream_arn``).
    key_arn: the region's KMS key (queues, log groups).
    table_key_arn: the key encrypting the table's replica in this region (``GlobalTable.key_arns``).
    private_subnet_ids, security_group_id: the region's private subnets and application security group.
    cache_endpoint, cache_port, cache_user: the region's MemoryDB configuration endpoint and ACL user (IAM-authenticated).
    cache_cluster_name, cache_cluster_arn, cache_user_arn: the cluster the IAM token names and the ARNs
        ``memorydb:Connect`` is granted on.
    api: the region's HTTP API (``RegionalApi.api``), which gets the routes.
    health_check_path: the anonymous route the Route53 health checks request.
    app: the functions' settings.
    app_config_parameter: the name of the region's runtime-settings parameter (``app_config.parameter_name``).
    log_retention_days: of every function's log group (``logRetentionDays``).
    package: the built Lambda package.
    protect: production: protect the queues and keep them on delete.
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
    cache_cluster_name: str
    cache_cluster_arn: pulumi.Input[str]
    cache_user_arn: pulumi.Input[str]
    api: aws.apigatewayv2.Api
    health_check_path: str
    app: AppConfig
    app_config_parameter: str
    log_retention_days: int
    package: Package
    protect: bool


class RegionalApp(pulumi.ComponentResource):
    """The region's application layer: the queues, and every function of the table with its
    trigger (see the module notes)."""

    events_queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    stream_failure_queue: aws.sqs.Queue
    queues: dict[str, aws.sqs.Queue]
    functions: dict[str, AppFunction]
    triggers: dict[str, list[pulumi.CustomResource]]
    routes: dict[str, aws.apigatewayv2.Route]
    app_config: aws.ssm.Parameter

    def __init__(self, name: str, args: RegionalAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:app:RegionalApp", name, None, opts)
        table = application_functions()
        validate_functions(table, args.package, args.name_prefix)
        self.component_name, self.args = name, args
        # The queues, which hold events not yet (or never) processed, are protected in production.
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        self._queues(kept)
        self.app_config = runtime_settings_parameter(
            f"{name}-config", args.app_config_parameter, args.app, args.key_arn, pulumi.ResourceOptions(parent=self)
        )
        resources = self._resources()
        environment = self._environments()
        reserved = reserved_concurrency(args.app)
        self.functions, self.triggers, self.routes = {}, {}, {}
        for spec in table:
            function = self._function(spec, resources, environment, reserved[spec.name])
            self.functions[spec.name] = function
            self.triggers[spec.name] = self._trigger(spec, function)
        self.register_outputs(
            {
                "events_queue_url": self.events_queue.url,
                "dead_letter_queue_url": self.dead_letter_queue.url,
                "stream_failure_queue_url": self.stream_failure_queue.url,
                "function_names": {f: fn.function.name for f, fn in self.functions.items()},
            }
        )

    @property
    def outputs(self) -> dict[str, object]:
        """This region's entry of the stack's ``application`` output: its queues' URLs and its functions' names."""
        return {
            "queueUrl": self.events_queue.url,
            "deadLetterQueueUrl": self.dead_letter_queue.url,
            "streamFailureQueueUrl": self.stream_failure_queue.url,
            "functions": {function: fn.function.name for function, fn in self.functions.items()},
        }

    def _queue(self, queue: str, kept: pulumi.ResourceOptions, **settings: pulumi.Input[object]) -> aws.sqs.Queue:
        return aws.sqs.Queue(
            f"{self.component_name}-{queue}",
            name=queue_name(self.args.name_prefix, queue),
            kms_master_key_id=self.args.key_arn,
            kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
            opts=kept,
            **settings,  # type: ignore[arg-type]
        )

    def _queues(self, kept: pulumi.ResourceOptions) -> None:
        """The events queue with its DLQ (whose allow policy admits only it) and the stream-failures queue."""
        app = self.args.app
        self.dead_letter_queue = self._queue(DEAD_LETTER_QUEUE, kept, message_retention_seconds=FAILURE_RETENTION_SECONDS)
        self.events_queue = self._queue(
            EVENTS_QUEUE,
            kept,
            visibility_timeout_seconds=visibility_timeout_seconds(app.function_timeout_seconds),
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            redrive_policy=self.dead_letter_queue.arn.apply(lambda arn: redrive_policy(arn, app.queue_max_receive_count)),
        )
        # A separate resource: the DLQ's allow policy names the events queue, which names the DLQ.
        aws.sqs.RedriveAllowPolicy(
            f"{self.component_name}-{DEAD_LETTER_QUEUE}-allow",
            queue_url=self.dead_letter_queue.url,
            redrive_allow_policy=self.events_queue.arn.apply(lambda arn: redrive_allow_policy([arn])),
            opts=pulumi.ResourceOptions(parent=self.dead_letter_queue),
        )
        self.stream_failure_queue = self._queue(
            STREAM_FAILURE_QUEUE,
            kept,
            message_retention_seconds=FAILURE_RETENTION_SECONDS,
            redrive_allow_policy=deny_all_redrive_policy(),
        )
        self.queues = {
            EVENTS_QUEUE: self.events_queue,
            DEAD_LETTER_QUEUE: self.dead_letter_queue,
            STREAM_FAILURE_QUEUE: self.stream_failure_queue,
        }

    def _resources(self) -> pulumi.Output[AppResources]:
        """The ARNs the role policies name, once the account, the queues and the cache are known."""
        args, invoke = self.args, pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)
        return pulumi.Output.all(
            partition=partition.partition,
            account_id=identity.account_id,
            stream=args.stream_arn,
            events_queue=self.events_queue.arn,
            dead_letter_queue=self.dead_letter_queue.arn,
            stream_failure_queue=self.stream_failure_queue.arn,
            key=args.key_arn,
            table_key=args.table_key_arn,
            cache_cluster=args.cache_cluster_arn,
            cache_user=args.cache_user_arn,
        ).apply(
            lambda v: AppResources(
                region=args.region,
                table=regional_table_arn(v["partition"], args.region, v["account_id"], args.table_name),
                app_config=parameter_arn(v["partition"], args.region, v["account_id"], args.app_config_parameter),
                **v,
            )
        )

    def _environments(self) -> tuple[dict[str, pulumi.Input[str]], dict[str, pulumi.Input[str]]]:
        """Every function's common environment, and the extra variables an entry may ask for by name."""
        args = self.args
        common = function_environment(
            table_name=args.table_name,
            cache_host=args.cache_endpoint,
            cache_port=args.cache_port,
            cache_user=args.cache_user,
            cache_cluster_name=args.cache_cluster_name,
            app=args.app,
            metrics_namespace=args.metrics_namespace,
            app_config_parameter=args.app_config_parameter,
        )
        extra: dict[str, pulumi.Input[str]] = {"QUEUE_URL": self.events_queue.url, "HEALTH_PATH": args.health_check_path}
        return common, extra

    def _function(
        self,
        spec: FunctionSpec,
        resources: pulumi.Output[AppResources],
        environment: tuple[dict[str, pulumi.Input[str]], dict[str, pulumi.Input[str]]],
        reserved: int,
    ) -> AppFunction:
        args = self.args
        fname = function_name(args.name_prefix, spec.name)
        log_group = log_group_name(fname)
        common, extra = environment
        return AppFunction(
            f"{self.component_name}-{spec.name}",
            AppFunctionArgs(
                function_name=fname,
                service=spec.name,
                region=args.region,
                handler=spec.handler,
                package=args.package,
                policy=resources.apply(lambda r: json.dumps(grants_policy(spec, r, log_group))),
                environment={**common, **{variable: extra[variable] for variable in spec.environment}},
                timeout_seconds=args.app.function_timeout_seconds,
                reserved_concurrency=reserved,
                log_retention_days=args.log_retention_days,
                key_arn=args.key_arn,
                private_subnet_ids=args.private_subnet_ids,
                security_group_id=args.security_group_id,
                memory_mb=spec.memory_mb,
            ),
            pulumi.ResourceOptions(parent=self),
        )

    def _trigger(self, spec: FunctionSpec, function: AppFunction) -> list[pulumi.CustomResource]:
        """The resources that invoke ``function``: its event source mapping, or the API's integration and routes."""
        trigger = spec.trigger
        if isinstance(trigger, QueueTrigger):
            return [self._queue_trigger(spec, trigger, function)]
        if isinstance(trigger, StreamTrigger):
            return [self._stream_trigger(spec, trigger, function)]
        return self._api_trigger(spec, trigger, function)

    def _queue_trigger(self, spec: FunctionSpec, trigger: QueueTrigger, function: AppFunction) -> aws.lambda_.EventSourceMapping:
        concurrency = sqs_maximum_concurrency(reserved_concurrency(self.args.app)[spec.name])
        return aws.lambda_.EventSourceMapping(
            f"{self.component_name}-{spec.name}-trigger",
            event_source_arn=self.queues[trigger.queue].arn,
            function_name=function.function.arn,
            batch_size=trigger.batch_size,
            maximum_batching_window_in_seconds=trigger.batching_window_seconds,
            function_response_types=[REPORT_BATCH_ITEM_FAILURES],
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(maximum_concurrency=concurrency)
            if concurrency is not None
            else None,
            # Lambda checks the role's SQS permissions when the mapping is created.
            opts=pulumi.ResourceOptions(parent=function, depends_on=[function.role_policy]),
        )

    def _stream_trigger(
        self, spec: FunctionSpec, trigger: StreamTrigger, function: AppFunction
    ) -> aws.lambda_.EventSourceMapping:
        return aws.lambda_.EventSourceMapping(
            f"{self.component_name}-{spec.name}-trigger",
            event_source_arn=self.args.stream_arn,
            function_name=function.function.arn,
            starting_position=trigger.starting_position,
            batch_size=trigger.batch_size,
            maximum_batching_window_in_seconds=trigger.batching_window_seconds,
            function_response_types=[REPORT_BATCH_ITEM_FAILURES],
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=trigger.max_retry_attempts,
            maximum_record_age_in_seconds=trigger.max_record_age_seconds,
            destination_config=aws.lambda_.EventSourceMappingDestinationConfigArgs(
                on_failure=aws.lambda_.EventSourceMappingDestinationConfigOnFailureArgs(
                    destination_arn=self.queues[trigger.failure_queue].arn
                )
            ),
            opts=pulumi.ResourceOptions(parent=function, depends_on=[function.role_policy]),
        )

    def _api_trigger(self, spec: FunctionSpec, trigger: ApiTrigger, function: AppFunction) -> list[pulumi.CustomResource]:
        """The API's integration with the function, a route per key (the signed ones and health), and the permission
        for API Gateway to invoke it."""
        args = self.args
        integration = aws.apigatewayv2.Integration(
            f"{self.component_name}-{spec.name}-integration",
            api_id=args.api.id,
            integration_type="AWS_PROXY",
            integration_uri=function.function.arn,
            payload_format_version=PAYLOAD_FORMAT_VERSION,
            opts=pulumi.ResourceOptions(parent=function),
        )
        target = integration.id.apply(lambda integration_id: f"integrations/{integration_id}")
        for key, authorization in route_keys(args.health_check_path, trigger.signed_routes, trigger.public_routes).items():
            self.routes[key] = aws.apigatewayv2.Route(
                f"{self.component_name}-route-{route_resource_suffix(key)}",
                api_id=args.api.id,
                route_key=key,
                authorization_type=authorization,
                target=target,
                opts=pulumi.ResourceOptions(parent=integration),
            )
        permission = aws.lambda_.Permission(
            f"{self.component_name}-{spec.name}-invoke",
            action="lambda:InvokeFunction",
            function=function.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(args.api.execution_arn, "/*/*"),
            opts=pulumi.ResourceOptions(parent=function),
        )
        return [integration, *self.routes.values(), permission]
