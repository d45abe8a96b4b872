"""The application's functions, one entry each: handler, trigger, grants, environment, concurrency, alarms.

``RegionalApp`` (components/app.py) builds each region's functions, roles, log groups and triggers from this table,
the per-region alarms and the dashboard read it (components/observability.py), the diagram labels its functions by
it and the ``application`` export lists them. Adding a function is one entry here plus its handler module in
``functions/``; ``components.app.validate_functions`` refuses an entry the program cannot build. See
docs/design/application-functions.md.
"""

from __future__ import annotations

from dataclasses import dataclass

PROCESSOR = "processor"
STREAM = "stream"
API = "api"

EVENTS_QUEUE = "events"
DEAD_LETTER_QUEUE = "events-dlq"
STREAM_FAILURE_QUEUE = "stream-failures"

FUNCTION_MEMORY_MB = 256

# Lambda limits a function's name to 64 characters (CreateFunction's FunctionName, when given as a name).
FUNCTION_NAME_LIMIT = 64
# Names the table cannot take: ``<prefix>-runbook`` is the failover runbook's function (components/runbook.py).
RESERVED_FUNCTION_NAMES = ("runbook",)

# The queue's batches: ten messages, one second; partial batch responses report only the failed records.
QUEUE_BATCH_SIZE = 10
QUEUE_BATCHING_WINDOW_SECONDS = 1
# The stream's batches: bisected on failure, a record retried 10 times for at most an hour, then sent to a queue.
STREAM_BATCH_SIZE = 100
STREAM_BATCHING_WINDOW_SECONDS = 0
STREAM_STARTING_POSITION = "TRIM_HORIZON"
STREAM_MAX_RETRY_ATTEMPTS = 10
STREAM_MAX_RECORD_AGE_SECONDS = 3600

# The API's routes: the data routes need SigV4 (IAM); the health route is anonymous (Route53 health checkers), and so
# is the read-only summary the status page reads through CloudFront (docs/design/status-page.md).
SIGNED_ROUTES = ("GET /items/{id}", "POST /events", "GET /state")
PUBLIC_ROUTES = ("GET /regions/{region}/status",)

ERRORS = "errors"
THROTTLES = "throttles"
ALARM_KINDS = {ERRORS: "fails", THROTTLES: "is throttled"}
"""Each function alarm and how its description reads (``The <function> function in <region> <verb>``)."""


@dataclass(frozen=True)
class QueueTrigger:
    """An SQS event source mapping on one of the application's queues (by its short name)."""

    queue: str = EVENTS_QUEUE
    batch_size: int = QUEUE_BATCH_SIZE
    batching_window_seconds: int = QUEUE_BATCHING_WINDOW_SECONDS


@dataclass(frozen=True)
class StreamTrigger:
    """An event source mapping on this region's stream of the global table; failed batches go to ``failure_queue``."""

    failure_queue: str = STREAM_FAILURE_QUEUE
    batch_size: int = STREAM_BATCH_SIZE
    batching_window_seconds: int = STREAM_BATCHING_WINDOW_SECONDS
    starting_position: str = STREAM_STARTING_POSITION
    max_retry_attempts: int = STREAM_MAX_RETRY_ATTEMPTS
    max_record_age_seconds: int = STREAM_MAX_RECORD_AGE_SECONDS


@dataclass(frozen=True)
class ApiTrigger:
    """The region's HTTP API: ``signed_routes`` with IAM authorisation, plus the anonymous health route and
    ``public_routes``."""

    signed_routes: tuple[str, ...] = SIGNED_ROUTES
    public_routes: tuple[str, ...] = PUBLIC_ROUTES


Trigger = QueueTrigger | StreamTrigger | ApiTrigger
TRIGGER_TYPES = (QueueTrigger, StreamTrigger, ApiTrigger)

UNRESERVED = -1
"""Lambda's reserved concurrency of a function that reserves none (an entry whose ``concurrency`` is None)."""


@dataclass(frozen=True)
class Grant:
    """One statement of a function's role: ``actions`` on one of ``components.app.AppResources``' ARNs by field name
    (``table``, ``stream``, ``events_queue``, ...), or ``"*"`` where IAM has no resource for the actions."""

    sid: str
    actions: tuple[str, ...]
    resource: str


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the application.

    name: ``<project>-<stack>-<name>`` is the function, ``<region>-app-<name>-...`` its resources.
    handler: ``module.attribute`` in the package (``functions/``).
    trigger: what invokes it.
    grants: its own statements; the table key (decrypt, and encrypt when a grant writes items), logs, tracing, network
        interfaces, the cache secret and the region's key (a data key too when a grant sends to a queue) are added.
    environment: variables beyond the common ones (``components.app.function_environment``), by name.
    concurrency: the ``AppConfig`` field holding its reserved concurrency; None (the default): unreserved, drawing on
        the account's unreserved pool.
    alarms: the Lambda alarms on it (``ALARM_KINDS``).
    """

    name: str
    handler: str
    trigger: Trigger
    grants: tuple[Grant, ...]
    environment: tuple[str, ...] = ()
    concurrency: str | None = None
    alarms: tuple[str, ...] = (ERRORS, THROTTLES)
    memory_mb: int = FUNCTION_MEMORY_MB


FUNCTION_TABLE: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name=PROCESSOR,
        handler="functions.processor.handler.handle",
        trigger=QueueTrigger(EVENTS_QUEUE),
        grants=(
            # The write path's TransactWriteItems is authorised by its Put and Update (PutItem, UpdateItem).
            Grant("TableItems", ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"), "table"),
            Grant(
                "ConsumeEvents",
                ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"),
                "events_queue",
            ),
        ),
        concurrency="processor_reserved_concurrency",
    ),
    FunctionSpec(
        name=STREAM,
        handler="functions.stream.handler.handle",
        trigger=StreamTrigger(STREAM_FAILURE_QUEUE),
        grants=(
            Grant("ReadStream", ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"), "stream"),
            # Lambda's stream poller lists the table's streams; IAM authorises that on * alone.
            Grant("ListStreams", ("dynamodb:ListStreams",), "*"),
            # Re-asserting a winner and recording a conflict are conditional puts; nothing else is written.
            Grant("TableItems", ("dynamodb:PutItem",), "table"),
            Grant("RecordFailedBatches", ("sqs:SendMessage",), "stream_failure_queue"),
        ),
        # processorReservedConcurrency reserves for the event processor and the stream handler (README).
        concurrency="processor_reserved_concurrency",
    ),
    FunctionSpec(
        name=API,
        handler="functions.api.handler.handle",
        trigger=ApiTrigger(SIGNED_ROUTES, PUBLIC_ROUTES),
        grants=(
            Grant("TableItems", ("dynamodb:GetItem",), "table"),
            Grant("EnqueueEvents", ("sqs:SendMessage",), "events_queue"),
            # The status summary's replication lag; CloudWatch authorises metric reads on * alone.
            Grant("ReplicationMetrics", ("cloudwatch:ListMetrics", "cloudwatch:GetMetricData"), "*"),
        ),
        environment=("QUEUE_URL", "HEALTH_PATH"),
        concurrency="api_reserved_concurrency",
    ),
)


def application_functions() -> tuple[FunctionSpec, ...]:
    """The table every builder reads (looked up at each call, so a test can extend it)."""
    return FUNCTION_TABLE


def function_names() -> tuple[str, ...]:
    """The short names of the application's functions, in table order."""
    return tuple(spec.name for spec in application_functions())


def function_spec(function: str) -> FunctionSpec:
    """The entry named ``function``.

    Raises
    ------
    ValueError
        No entry has that name; the message lists the names there are.
    """
    for spec in application_functions():
        if spec.name == function:
            return spec
    raise ValueError(f"unknown function {function!r}; functions: {', '.join(function_names())}")


def function_name(name_prefix: str, function: str) -> str:
    """The fixed name of a function, the same in every region.

    Example:
        >>> function_name("multi-region-prod", "processor")
        'multi-region-prod-processor'
    """
    return f"{name_prefix}-{function_spec(function).name}"


@dataclass(frozen=True)
class FunctionAlarm:
    """One alarm on one function in one region: ``kind`` is a key of ``ALARM_KINDS``; ``suffix`` names the alarm
    (``<prefix>-<suffix>``) and its resource."""

    suffix: str
    kind: str
    dimensions: dict[str, str]
    description: str


def function_alarms(name_prefix: str, region: str) -> list[FunctionAlarm]:
    """The alarms on every function of the table in ``region``, function by function, in the order of its ``alarms``."""
    return [
        FunctionAlarm(
            suffix=f"{spec.name}-{kind}-{region}",
            kind=kind,
            dimensions={"FunctionName": function_name(name_prefix, spec.name)},
            description=f"The {spec.name} function in {region} {ALARM_KINDS[kind]}",
        )
        for spec in application_functions()
        for kind in spec.alarms
    ]
