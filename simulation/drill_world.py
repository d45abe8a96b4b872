"""The drill's world: two regions on this machine running the real function code, on a simulated clock.

One moto server holds both regions' AWS services, a Redis server per region stands in for MemoryDB (with
``multiRegion`` caches, the cache replication double carries its keys between them), the replication double carries
writes between the regional tables, and :class:`simulation.aurora_double.GlobalClusterDouble` is
Aurora's control plane. The clock advances in ticks (:meth:`World.tick`: health, writers, processors, readers,
replication, stream handlers, in that order), single-threaded; the runbook runs between ticks through
:class:`DrillClients`. A region that is down answers nothing and replicates nothing. How time, DNS, health and
queues are simulated, and why: docs/design/drill.md.
"""

from __future__ import annotations

import io
import json
import logging
import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import redis
from botocore.config import Config

from functions.api import handler as api_handler
from functions.api.handler import PUBLIC_ATTRIBUTES, Api
from functions.processor import handler as processor_handler
from functions.processor.handler import Processor
from functions.runbook.model import TRAFFIC_HEALTH_CHECK_GATE, Topology
from functions.runbook.steps import GATE_OPEN, cluster_identifier
from functions.shared.cache import ItemCache, cache_breaker, item_key
from functions.shared.clients import redis_client
from functions.shared.codec import item_from_image
from functions.shared.log import now_ms as wall_clock_ms
from functions.shared.log import record_fields
from functions.shared.metrics import Metrics
from functions.shared.schema import ATTR_ID, STATE_ITEM_ID, STATUS_ACTIVE
from functions.shared.settings import Settings
from functions.shared.state import AppState, ItemTable, StateUnavailableError, read_state
from functions.shared.state_cache import STATE_CACHE_SECONDS, StateCache
from functions.stream import handler as stream_handler
from functions.stream.handler import StreamHandler
from planning.harness import read_project
from simulation.aurora_double import GlobalClusterDouble
from simulation.cache_replication_double import CacheReplicationDouble
from simulation.drill_reads import SAME, SERVED_FROM_CACHE, FirstReads, ReadLog, compare_read
from simulation.http_api import http_api_event
from simulation.local_servers import MotoServer, RedisServer, free_port
from simulation.local_tables import create_items_table
from simulation.replication_double import GlobalTableReplicationDouble

PRIMARY, SECONDARY = "us-east-1", "eu-west-1"
REGIONS = (PRIMARY, SECONDARY)
# Named as a deployment of this project's "drill" stack would be.
PROJECT = read_project().name
GLOBAL_CLUSTER = f"{PROJECT}-drill"
TABLE = f"{GLOBAL_CLUSTER}-items"
QUEUE = f"{GLOBAL_CLUSTER}-events"
DEAD_LETTER_QUEUE = f"{GLOBAL_CLUSTER}-events-dlq"
ACCOUNT = "000000000000"

MAX_RECEIVE_COUNT = 5  # the stack's default queueMaxReceiveCount (Pulumi.yaml)
VISIBILITY_TIMEOUT_MS = 2000
# Real seconds a received message stays invisible in moto: longer than any drill, so redelivery is the drill's to
# decide (after VISIBILITY_TIMEOUT_MS of the simulated clock).
MOTO_VISIBILITY_SECONDS = 3600
UNREACHABLE_RETRY_MS = 1000
AURORA_LAG_MS = (20, 80)
AURORA_METRIC_INTERVAL_MS = 5000  # at least one datapoint per drain poll (functions.runbook.steps.DRAIN_POLL_SECONDS)
READ_EVERY_TICKS = 4  # what the secondary clusters report as AuroraGlobalDBReplicationLag while the primary is up
# The simulated clock starts this far behind the real one: it runs ahead of it (a 15 s runbook wait costs
# milliseconds), and the API rejects event timestamps more than MAX_CLOCK_SKEW_MS (5 min) ahead of its real clock.
CLOCK_HEADSTART_MS = 120_000

# Against the local emulator: fail fast (one retry), short timeouts.
LOCAL_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})
# A region that is down: nothing listens, no retries.
DOWN_CLIENT_CONFIG = Config(connect_timeout=0.5, read_timeout=0.5, retries={"mode": "standard", "max_attempts": 1})
FAKE_CREDENTIALS = {"aws_access_key_id": "drill", "aws_secret_access_key": "drill"}


class SimClock:
    """The drill's clock: epoch milliseconds, advanced only by the drill."""

    def __init__(self, start_ms: int) -> None:
        self.start_ms = self.now = start_ms

    def now_ms(self) -> int:
        return self.now

    def seconds(self) -> float:
        """Monotonic seconds (what the state caches and circuit breakers measure with)."""
        return self.now / 1000

    def elapsed_ms(self) -> int:
        return self.now - self.start_ms


class MetricsSink(io.StringIO):
    """Where a function's ``Metrics`` flushes its EMF lines: summed into counters instead of printed."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith("{"):
                document = json.loads(line)
                self.counts.update({name: value for name, value in document.items() if isinstance(value, int)})
        return len(text)


class LogCapture(logging.Handler):
    """Every log record of the functions and the runbook, kept instead of printed: processor outcomes, warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: list[dict[str, Any]] = []
        self.warnings: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        fields: Mapping[str, Any] = record_fields(record)
        if record.name == processor_handler.logger.name and "kind" in fields and "message_id" in fields:
            self.outcomes.append(dict(fields))
        elif record.levelno >= logging.WARNING:
            self.warnings[f"{record.name.removeprefix('functions.')}: {record.getMessage()}"] += 1

    def take_outcomes(self) -> list[dict[str, Any]]:
        taken, self.outcomes = self.outcomes, []
        return taken


@contextmanager
def captured_logs() -> Iterator[LogCapture]:
    """The functions' JSON logs (stdout in Lambda) go to a :class:`LogCapture` while the drill runs."""
    capture = LogCapture()
    loggers = [
        logger
        for name, logger in logging.root.manager.loggerDict.items()
        if name.startswith("functions.") and isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers = [capture]
        logger.setLevel(logging.INFO)
        logger.propagate = False  # kept, not also printed by the functions' Powertools Logger
    try:
        yield capture
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers = handlers
            logger.setLevel(level)
            logger.propagate = propagate


def local_client(service: str, region: str, endpoint: str, config: Config = LOCAL_CLIENT_CONFIG) -> Any:
    return boto3.session.Session(**FAKE_CREDENTIALS).client(service, region_name=region, endpoint_url=endpoint, config=config)


def cluster_arn(region: str) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:cluster:{GLOBAL_CLUSTER}-{region}"


def resolve_failover(primary: str, secondary: str, healthy: Mapping[str, bool]) -> str:
    """Route53 failover routing: the primary when healthy, else the secondary when healthy, else the primary (pure)."""
    if healthy.get(primary, False):
        return primary
    if healthy.get(secondary, False):
        return secondary
    return primary


# ---- the regions ------------------------------------------------------------------------------------------------------


@dataclass
class Functions:
    """One container of each of a region's functions, built as the container would build them, on local clients."""

    api: Api
    processor: Processor
    stream: StreamHandler


@dataclass
class Region:
    """One region: its clients, its servers and its functions."""

    name: str
    dynamodb: Any
    sqs: Any
    cloudwatch: Any
    queue_url: str
    queue_arn: str
    dead_letter_url: str
    redis: RedisServer
    functions: Functions
    sinks: dict[str, MetricsSink]
    up: bool = True
    may_have_messages: bool = False
    redeliveries: list[tuple[int, str]] = field(default_factory=list)  # (visible again at, receipt handle)

    @property
    def table(self) -> ItemTable:
        return ItemTable(self.dynamodb, TABLE)


def build_functions(
    name: str,
    *,
    table: ItemTable,
    sqs: Any,
    queue_url: str,
    redis: RedisServer,
    sinks: Mapping[str, MetricsSink],
    clock: SimClock,
    cloudwatch: Any = None,
) -> Functions:
    """Fresh containers of a region's three functions (at the start, and when the region comes back); their metrics go
    to ``sinks`` (by function), their clocks are the drill's; the API reads replication latency from ``cloudwatch``."""
    settings = Settings(
        region=name,
        table_name=table.name,
        queue_url=queue_url,
        cache_host=redis.host,
        cache_port=redis.port,
        cache_tls=False,
        cache_cluster=False,
    )

    def cache(metrics: Metrics, *, breaker: bool = False) -> ItemCache:
        guard = cache_breaker(metrics, clock=clock.seconds) if breaker else None
        return ItemCache(redis_client(settings), settings.cache_ttl_seconds, metrics, breaker=guard)

    api_metrics = Metrics("api", PROJECT, stream=sinks["api"])
    processor_metrics = Metrics("processor", PROJECT, stream=sinks["processor"])
    stream_metrics = Metrics("stream", PROJECT, stream=sinks["stream"])
    return Functions(
        api=Api(
            settings,
            table,
            sqs,
            cache(api_metrics, breaker=True),
            api_metrics,
            clock=clock.seconds,
            state_cache_seconds=STATE_CACHE_SECONDS,
            cloudwatch=cloudwatch,
            wall_clock=clock.now_ms,
        ),
        processor=Processor(
            settings, table, StateCache(table, clock=clock.seconds), cache(processor_metrics), processor_metrics, clock.now_ms
        ),
        stream=StreamHandler(name, table, cache(stream_metrics), stream_metrics, clock.now_ms),
    )


# ---- the runbook's clients --------------------------------------------------------------------------------------------


class DrillClients:
    """:class:`functions.runbook.clients.RunbookClients` of the drill: moto for DynamoDB, Route53 and CloudWatch, the
    Aurora double for RDS, and clients of a closed port for any region that is down."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._down: dict[str, Any] = {}

    def dynamodb(self, region: str) -> Any:
        self.world.changed((region,))  # the runbook may write this region's table (its state record, a run record)
        return self._regional(region).dynamodb if self.world.regions[region].up else self._unreachable("dynamodb", region)

    def rds(self, region: str) -> Any:
        return self.world.aurora.client(region)

    def route53(self) -> Any:
        self.world.gates_changed = True  # the runbook may move a gate: Route53's view is read again
        return self.world.route53

    def cloudwatch(self, region: str) -> Any:
        return self._regional(region).cloudwatch if self.world.regions[region].up else self._unreachable("cloudwatch", region)

    def routing_control(self, endpoint_region: str, endpoint_url: str) -> Any:
        raise ValueError(
            f"the drill's topology uses {TRAFFIC_HEALTH_CHECK_GATE}: no Route53 ARC endpoint ({endpoint_region}, {endpoint_url})"
        )

    def _regional(self, region: str) -> Region:
        if region not in self.world.regions:
            raise ValueError(f"unknown region {region!r}; the drill has {', '.join(self.world.regions)}")
        return self.world.regions[region]

    def _unreachable(self, service: str, region: str) -> Any:
        self._regional(region)
        if service not in self._down:
            self._down[service] = local_client(service, region, f"http://127.0.0.1:{free_port()}", DOWN_CLIENT_CONFIG)
        return self._down[service]


# ---- the clients of the application -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentEvent:
    """An event a writer made: the body it sends (every time it sends it), and who made it when."""

    key: str
    item_id: str
    timestamp: int
    writer: str
    created_ms: int
    body: str


@dataclass
class PendingWrite:
    event: SentEvent
    duplicate: bool
    pinned: str | None = None  # a regional endpoint instead of the global name


@dataclass
class Writer:
    """A synchronous client: sends its writes one at a time, in order, each until it is accepted."""

    name: str
    home: str
    skew_ms: int
    outbox: deque[PendingWrite] = field(default_factory=deque)
    accepted: list[SentEvent] = field(default_factory=list)
    dns_answer: str | None = None
    dns_expires: int = 0
    wait_until: int = 0
    carry: float = 0.0
    sequence: int = 0


@dataclass
class Counters:
    """What happened, per region, since the last look (the timeline's buckets take and reset it)."""

    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    unreachable: Counter[str] = field(default_factory=Counter)
    pinned: Counter[str] = field(default_factory=Counter)
    reads: Counter[str] = field(default_factory=Counter)


# ---- the world ------------------------------------------------------------------------------------------------------


class World:
    """Both regions, the clients, the doubles and the simulated clock (see the module notes).

    Parameters
    ----------
    rng: every random choice of the drill (lags, writers, items).
    lag_ms: the longest replication lag; each copy takes ``lag_ms / 2 .. lag_ms``.
    tick_ms: the simulated time one tick advances.
    writers_per_region: writers homed in each region.
    items: how many item ids the writers share (fewer: more conflicts).
    duplicate_rate: the share of writes followed by a re-send of an earlier event.
    health_interval_ms, dns_ttl_ms: how often Route53 is evaluated, how long clients keep a DNS answer.
    logs: where the functions' logs go (:func:`captured_logs`): the processors' outcomes are read from it.
    cache_topology: ``regional`` (a Redis per region, a reader in each) or ``multiRegion`` (the cache replication
        double between the Redis servers; the readers read where DNS points, as the application's clients do).
    """

    def __init__(
        self,
        moto: MotoServer,
        rng: random.Random,
        *,
        lag_ms: int,
        tick_ms: int,
        writers_per_region: int = 2,
        items: int = 8,
        duplicate_rate: float = 0.15,
        health_interval_ms: int = 1000,
        dns_ttl_ms: int = 1000,
        logs: LogCapture | None = None,
        cache_topology: str = "regional",
    ) -> None:
        self.rng, self.lag_ms, self.tick_ms = rng, lag_ms, tick_ms
        self.items, self.duplicate_rate = items, duplicate_rate
        self.health_interval_ms, self.dns_ttl_ms = health_interval_ms, dns_ttl_ms
        self.clock = SimClock((wall_clock_ms() - CLOCK_HEADSTART_MS) // 1000 * 1000)
        self.endpoint = moto.endpoint
        self.redis_servers: list[RedisServer] = []
        self.regions: dict[str, Region] = {}
        self.route53 = local_client("route53", PRIMARY, self.endpoint)
        self.aurora = GlobalClusterDouble(GLOBAL_CLUSTER, {region: cluster_arn(region) for region in REGIONS}, PRIMARY)
        self._health_view()
        self._traffic(rng, writers_per_region)
        self.logs = logs
        self.outcomes: list[tuple[str, dict[str, Any]]] = []  # (region that processed it, the processor's outcome log)
        self.after_tick: list[Callable[[], None]] = []
        try:
            for region in REGIONS:
                self.regions[region] = self._build_region(region)
            self._build_gates()
            self.double = self._replication(rng, lag_ms)
            self.cache_double = self._cache_replication(rng, lag_ms) if cache_topology == "multiRegion" else None
        except BaseException:
            self.close()
            raise
        self.clients = DrillClients(self)
        self.evaluate_health()

    def _health_view(self) -> None:
        """What the world last saw of Route53, the states and DNS, and what may have changed since."""
        self.gates: dict[str, str] = {}
        self.healthy: dict[str, bool] = {}
        self.gate_open: dict[str, bool] = {}
        self.endpoint_ok: dict[str, bool] = {}
        self.states: dict[str, AppState | None] = {}
        self.dns_answer = PRIMARY
        self.next_health = self.next_metric = 0
        self.ticks = 0
        self.written: set[str] = set(REGIONS)  # regions that may have written since the double last read their streams
        self.health_changed: set[str] = set(REGIONS)  # regions whose health may have changed since last evaluated
        self.gates_changed = True

    def _traffic(self, rng: random.Random, writers_per_region: int) -> None:
        """The writers, the events they sent and what the APIs accepted, counted."""
        self.counters = Counters()
        self.message_keys: dict[str, str] = {}  # SQS message id -> idempotency key
        self.budget = 0  # new events the writers may still make
        self.rate_per_tick = 0.0
        self.writers = [
            Writer(f"{region.split('-')[1]}{index}", region, rng.randint(-400, 400))
            for region in REGIONS
            for index in range(1, writers_per_region + 1)
        ]
        self.events: dict[str, SentEvent] = {}
        self.duplicates_sent = 0
        self.accepted_at: list[tuple[int, str]] = []  # (when, where) of every write an API accepted
        self.read_log = ReadLog()
        self.item_reads_since_emptied: Counter[str] = Counter()  # item reads each region served since its Redis started

    def _replication(self, rng: random.Random, lag_ms: int) -> GlobalTableReplicationDouble:
        """The replication double between the regions' tables, lagging ``lag_ms / 2 .. lag_ms`` of the clock."""
        return GlobalTableReplicationDouble(
            {
                name: (region.dynamodb, local_client("dynamodbstreams", name, self.endpoint))
                for name, region in self.regions.items()
            },
            TABLE,
            rng,
            now_ms=self.clock.now_ms,
            min_lag_ms=lag_ms // 2,
            max_lag_ms=lag_ms,
        )

    def _cache_replication(self, rng: random.Random, lag_ms: int) -> CacheReplicationDouble:
        """MemoryDB Multi-Region's stand-in between the regions' Redis servers, lagging as the table's replication."""
        clients = {name: redis.Redis(host=r.redis.host, port=r.redis.port) for name, r in self.regions.items()}
        seeded = random.Random(rng.getrandbits(32))
        return CacheReplicationDouble(clients, seeded, now_ms=self.clock.now_ms, min_lag_ms=lag_ms // 2, max_lag_ms=lag_ms)

    def _build_region(self, name: str) -> Region:
        dynamodb = local_client("dynamodb", name, self.endpoint)
        sqs = local_client("sqs", name, self.endpoint)
        create_items_table(dynamodb, TABLE)
        # The first deploy writes the state record into the global table: every replica holds it.
        dynamodb.put_item(TableName=TABLE, Item=AppState(STATUS_ACTIVE, PRIMARY, 1, self.clock.now, "pulumi").to_item())
        dead_letter_url = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
        dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        redrive = json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
        queue_url = sqs.create_queue(
            QueueName=QUEUE, Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": str(MOTO_VISIBILITY_SECONDS)}
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redis = RedisServer().start()
        self.redis_servers.append(redis)
        sinks = {service: MetricsSink() for service in ("api", "processor", "stream")}
        cloudwatch = local_client("cloudwatch", name, self.endpoint)
        functions = build_functions(
            name,
            table=ItemTable(dynamodb, TABLE),
            sqs=sqs,
            queue_url=queue_url,
            redis=redis,
            sinks=sinks,
            clock=self.clock,
            cloudwatch=cloudwatch,
        )
        return Region(name, dynamodb, sqs, cloudwatch, queue_url, queue_arn, dead_letter_url, redis, functions, sinks)

    def _build_gates(self) -> None:
        """Per region an endpoint health check and its calculated gate, open, as the first deploy leaves them."""
        for region in REGIONS:
            endpoint = self.route53.create_health_check(
                CallerReference=f"drill-endpoint-{region}",
                HealthCheckConfig={
                    "Type": "HTTPS",
                    "FullyQualifiedDomainName": f"api.{region}.drill.invalid",
                    "ResourcePath": "/health",
                    "Port": 443,
                },
            )["HealthCheck"]["Id"]
            gate = self.route53.create_health_check(
                CallerReference=f"drill-gate-{region}",
                HealthCheckConfig={"Type": "CALCULATED", "ChildHealthChecks": [endpoint], "HealthThreshold": GATE_OPEN},
            )["HealthCheck"]["Id"]
            self.gates[region] = gate

    def topology(self, fence_settle_seconds: int, drain_timeout_seconds: int) -> Topology:
        return Topology(
            regions=REGIONS,
            table_name=TABLE,
            global_cluster_id=GLOBAL_CLUSTER,
            cluster_arns={region: cluster_arn(region) for region in REGIONS},
            traffic_control=TRAFFIC_HEALTH_CHECK_GATE,
            traffic_gates=dict(self.gates),
            drain_timeout_seconds=drain_timeout_seconds,
            fence_settle_seconds=fence_settle_seconds,
        )

    def close(self) -> None:
        for server in self.redis_servers:
            server.stop()

    # ---- outages ------------------------------------------------------------------------------------------------

    def take_down(self, name: str) -> None:
        region = self.regions[name]
        region.up = False
        self.changed((name,))
        region.redis.stop()
        self.double.hold(name)
        if self.cache_double is not None:
            self.cache_double.hold(name)
        self.aurora.set_down(name, True)

    def bring_up(self, name: str) -> int:
        """The region is back: its Redis (empty), new function containers, its Aurora member; replication resumes and
        its held backlog (both ways) is delivered from the next tick. The copies released."""
        region = self.regions[name]
        region.redis.start()
        self.item_reads_since_emptied[name] = 0
        if self.cache_double is not None:
            self.cache_double.release(name, emptied=True)
        region.functions = build_functions(
            name,
            table=region.table,
            sqs=region.sqs,
            queue_url=region.queue_url,
            redis=region.redis,
            sinks=region.sinks,
            clock=self.clock,
            cloudwatch=region.cloudwatch,
        )
        region.up = True
        region.may_have_messages = True
        self.changed()
        self.aurora.set_down(name, False)
        return self.double.release(name)

    # ---- one tick -----------------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Run the world for ``seconds`` of simulated time (the runbook's ``sleep``: whatever the runbook wrote before
        it, to a table or a state record, is read by the next tick)."""
        self.changed()
        for _ in range(max(1, math.ceil(seconds * 1000 / self.tick_ms))):
            self.tick()

    def changed(self, regions: tuple[str, ...] = REGIONS) -> None:
        """Something outside the functions (the runbook, an outage) may have written to these regions' tables."""
        self.written.update(regions)
        self.health_changed.update(regions)

    def tick(self) -> None:
        self.clock.now += self.tick_ms
        self.ticks += 1
        if self.clock.now >= self.next_health:
            self.evaluate_health()
        self.write()
        for region in self.regions.values():
            self.pump(region)
        if self.ticks % READ_EVERY_TICKS == 0:
            self.read()
        self.double.step(self.written)
        self.written = set()
        for region in self.regions.values():
            self.handle_stream(region)
        if self.cache_double is not None:
            self.cache_double.step()
        for hook in self.after_tick:
            hook()

    def take_outcomes(self) -> list[tuple[str, dict[str, Any]]]:
        """The processors' outcomes since the last call: (the region that processed the event, the outcome's fields)."""
        taken, self.outcomes = self.outcomes, []
        return taken

    def settled(self) -> bool:
        """Nothing left anywhere: no event still to make, no write waiting in a client, no message in a queue, nothing
        to replicate or handle."""
        if self.budget > 0 or not self.outboxes_empty():
            return False
        if any(region.redeliveries or region.may_have_messages for region in self.regions.values()):
            return False
        return self.double.quiescent() and (self.cache_double is None or self.cache_double.quiescent())

    def evaluate_health(self) -> None:
        """What Route53 sees (the gates in moto, each region's real ``GET /health``), the DNS answer, each region's
        state record, and the secondary clusters' Aurora replication lag metric.

        A region's health is a function of its state record, its table and its cache answering, and its gate: it is
        read again only when one of those may have changed since (the runbook ran, a state record replicated, an
        outage began or ended), which keeps an idle second of the drill free of requests.
        """
        self.next_health = self.clock.now + self.health_interval_ms
        if self.gates_changed:
            for name in self.regions:
                config = self.route53.get_health_check(HealthCheckId=self.gates[name])["HealthCheck"]["HealthCheckConfig"]
                self.gate_open[name] = config.get("HealthThreshold") == GATE_OPEN
            self.gates_changed = False
        for name in sorted(self.health_changed):
            region = self.regions[name]
            self.endpoint_ok[name] = region.up and self.call_api(region, "GET /health")["statusCode"] == 200
            self.states[name] = self._state(region)
        self.health_changed = set()
        self.healthy = {name: self.gate_open[name] and self.endpoint_ok[name] for name in self.regions}
        self.dns_answer = resolve_failover(PRIMARY, SECONDARY, self.healthy)
        if self.clock.now >= self.next_metric:
            self.next_metric = self.clock.now + AURORA_METRIC_INTERVAL_MS
            self._publish_aurora_lag()
            self._publish_table_lag()

    def _state(self, region: Region) -> AppState | None:
        if not region.up:
            return None
        try:
            return read_state(region.table)
        except StateUnavailableError:
            return None

    def _publish_aurora_lag(self) -> None:
        writer = self.aurora.writer_region
        if not self.regions[writer].up:
            return  # nothing replicates from a primary that is down, and RDS publishes no lag for it
        for name, region in self.regions.items():
            if name == writer or not region.up:
                continue
            region.cloudwatch.put_metric_data(
                Namespace="AWS/RDS",
                MetricData=[
                    {
                        "MetricName": "AuroraGlobalDBReplicationLag",
                        "Dimensions": [{"Name": "DBClusterIdentifier", "Value": cluster_identifier(cluster_arn(name))}],
                        "Timestamp": datetime.fromtimestamp(self.clock.now / 1000, tz=UTC),
                        "Value": float(self.rng.randint(*AURORA_LAG_MS)),
                        "Unit": "Milliseconds",
                    }
                ],
            )

    def _publish_table_lag(self) -> None:
        """What DynamoDB publishes as ReplicationLatency in each region that is up, towards each other region: here the
        age of the oldest copy still on its way there (0 when none is)."""
        for source, region in self.regions.items():
            if not region.up:
                continue
            for target in self.regions:
                if target == source:
                    continue
                waiting = [self.clock.now - copy.read_at for copy in self.double.backlog(source, target)]
                dimensions = [{"Name": "TableName", "Value": TABLE}, {"Name": "ReceivingRegion", "Value": target}]
                region.cloudwatch.put_metric_data(
                    Namespace="AWS/DynamoDB",
                    MetricData=[
                        {
                            "MetricName": "ReplicationLatency",
                            "Dimensions": dimensions,
                            "Timestamp": datetime.fromtimestamp(self.clock.now / 1000, tz=UTC),
                            "Value": float(max(waiting, default=0)),
                            "Unit": "Milliseconds",
                        }
                    ],
                )

    # ---- the API ------------------------------------------------------------------------------------------------

    def call_api(
        self,
        region: Region,
        route: str,
        *,
        body: str | None = None,
        item_id: str | None = None,
        path_parameters: dict[str, str] | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """One HTTP API request (payload format 2.0) to the region's real API handler; without ``request_id``, one
        drawn from the drill's seeded random numbers."""
        if request_id is None:
            request_id = f"drill-{self.clock.now}-{self.rng.getrandbits(32):08x}"
        request = http_api_event(route, item_id=item_id, body=body, request_id=request_id, path_parameters=path_parameters)
        return api_handler.handle(request, None, region.functions.api)

    # ---- writers ------------------------------------------------------------------------------------------------

    def allow(self, events: int, seconds: float) -> None:
        """Let the writers make ``events`` more new events, spread over about ``seconds`` (with what is left over)."""
        self.budget += events
        self.rate_per_tick = self.budget / (max(seconds * 1000 / self.tick_ms, 1) * len(self.writers))

    def write(self) -> None:
        for writer in self.writers:
            self._generate(writer)
            self._send(writer)

    def _generate(self, writer: Writer) -> None:
        """New events at the writer's rate, but only while it is not blocked: a synchronous client makes its next
        write once the previous one was accepted."""
        if writer.outbox or self.budget <= 0:
            writer.carry = 0.0
            return
        writer.carry += self.rate_per_tick * self.rng.uniform(0.5, 1.5)
        while writer.carry >= 1 and self.budget > 0:
            writer.carry -= 1
            self.budget -= 1
            writer.sequence += 1
            now = self.clock.now
            event = SentEvent(
                key=f"{writer.name}-{writer.sequence:05d}",
                item_id=f"item-{self.rng.randrange(self.items):03d}",
                timestamp=now + writer.skew_ms,
                writer=writer.name,
                created_ms=now,
                body="",
            )
            body = json.dumps(
                {
                    "id": event.item_id,
                    "data": {"writer": writer.name, "seq": writer.sequence},
                    "timestamp": event.timestamp,
                    "idempotencyKey": event.key,
                }
            )
            event = SentEvent(event.key, event.item_id, event.timestamp, event.writer, event.created_ms, body)
            self.events[event.key] = event
            writer.outbox.append(PendingWrite(event, duplicate=False))
            if writer.accepted and self.rng.random() < self.duplicate_rate:
                recent = writer.accepted[-8:] if self.rng.random() < 0.6 else writer.accepted
                original = self.rng.choice(recent)
                pinned = writer.home if self.rng.random() < 0.5 else None
                writer.outbox.append(PendingWrite(original, duplicate=True, pinned=pinned))
                self.duplicates_sent += 1

    def _send(self, writer: Writer) -> None:
        now = self.clock.now
        while writer.outbox and now >= writer.wait_until:
            pending = writer.outbox[0]
            if pending.pinned is not None:
                target = pending.pinned
                self.counters.pinned[target] += 1
            else:
                if writer.dns_answer is None or now >= writer.dns_expires:
                    writer.dns_answer, writer.dns_expires = self.dns_answer, now + self.dns_ttl_ms
                target = writer.dns_answer
            region = self.regions[target]
            if not region.up:
                self.counters.unreachable[target] += 1
                retry_ms = UNREACHABLE_RETRY_MS
                response: dict[str, Any] = {"statusCode": 0}
            else:
                response = self.call_api(region, "POST /events", body=pending.event.body)
                retry_ms = int(response.get("headers", {}).get("retry-after", "1")) * 1000
            if response["statusCode"] == 202:
                writer.outbox.popleft()
                self.counters.accepted[target] += 1
                self.accepted_at.append((now, target))
                self.message_keys[json.loads(response["body"])["messageId"]] = pending.event.key
                region.may_have_messages = True
                if not pending.duplicate:
                    writer.accepted.append(pending.event)
                continue
            if response["statusCode"] == 503:
                self.counters.refused[target] += 1
            elif response["statusCode"] != 0:
                raise RuntimeError(f"POST /events in {target} answered {response['statusCode']}: {response.get('body')}")
            if pending.pinned is not None:
                pending.pinned = None  # the pinned client falls back to the global name at once
                continue
            writer.dns_answer = None
            writer.wait_until = now + retry_ms

    def outboxes_empty(self) -> bool:
        return not any(writer.outbox for writer in self.writers)

    # ---- processors, readers, stream handlers ---------------------------------------------------------------

    def pump(self, region: Region) -> None:
        """The SQS event source mapping: batches of up to 10 to the processor; failed records come back later."""
        if not region.up:
            return
        now = self.clock.now
        due = [receipt for visible_at, receipt in region.redeliveries if visible_at <= now]
        region.redeliveries = [(visible_at, receipt) for visible_at, receipt in region.redeliveries if visible_at > now]
        for receipt in due:
            region.sqs.change_message_visibility(QueueUrl=region.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
        if not (region.may_have_messages or due):
            return
        while True:
            messages = region.sqs.receive_message(
                QueueUrl=region.queue_url,
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["All"],
                VisibilityTimeout=MOTO_VISIBILITY_SECONDS,
            ).get("Messages", [])
            if not messages:
                region.may_have_messages = False
                return
            records = [self._sqs_record(region, message) for message in messages]
            response = processor_handler.handle({"Records": records}, None, region.functions.processor)
            self.written.add(region.name)
            if self.logs is not None:
                self.outcomes += [(region.name, outcome) for outcome in self.logs.take_outcomes()]
            failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
            done = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(messages)
                if message["MessageId"] not in failed
            ]
            if done:
                region.sqs.delete_message_batch(QueueUrl=region.queue_url, Entries=done)
            region.redeliveries += [
                (now + VISIBILITY_TIMEOUT_MS, message["ReceiptHandle"]) for message in messages if message["MessageId"] in failed
            ]

    @staticmethod
    def _sqs_record(region: Region, message: Mapping[str, Any]) -> dict[str, Any]:
        """A received message in the shape Lambda's SQS event source gives the handler."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": region.queue_arn,
            "awsRegion": region.name,
        }

    def read(self) -> None:
        """One reader per region reads a random item: through its own region's API (reads are served in every state),
        or with a multi-region cache where DNS points, as clients do (fills then happen where the table is newest)."""
        for region in list(self.regions.values()):
            target = self.regions[self.dns_answer] if self.cache_double is not None else region
            if target.up:
                self.read_item(target, f"item-{self.rng.randrange(self.items):03d}")

    def read_item(self, region: Region, item_id: str) -> dict[str, Any]:
        """``GET /items/{id}`` in ``region``, its answer checked against the region's table at this moment."""
        response = self.call_api(region, "GET /items/{id}", item_id=item_id)
        if response["statusCode"] in (200, 404):
            self.counters.reads[region.name] += 1
            self.item_reads_since_emptied[region.name] += 1
            if response.get("headers", {}).get("x-cache") == "db":
                self.read_log.record(region.name, item_id, self.clock.now, SAME)  # this read was the table's
                return response
            body = json.loads(response["body"]) if response["statusCode"] == 200 else None
            record = self._table_record(region, item_id)
            self.read_log.record(region.name, item_id, self.clock.now, compare_read(body, record, PUBLIC_ATTRIBUTES))
        return response

    def _table_record(self, region: Region, item_id: str) -> dict[str, Any] | None:
        found = region.dynamodb.get_item(TableName=TABLE, Key={ATTR_ID: {"S": item_id}}, ConsistentRead=True).get("Item")
        return item_from_image(found) if found is not None else None

    def first_reads(self, run: str, name: str) -> FirstReads:
        """Every item read once in ``name`` just after ``run`` activated it, and what its cache held before."""
        region = self.regions[name]
        before = self.item_reads_since_emptied[name]
        ids = [f"item-{index:03d}" for index in range(self.items)]
        entries = redis.Redis(host=region.redis.host, port=region.redis.port).mget([item_key(i) for i in ids])
        with_copy = [i for i, entry in zip(ids, entries, strict=True) if entry is not None and b'"item":' in entry]
        double = self.cache_double
        replicated = [i for i in with_copy if double is not None and double.origin(name, item_key(i)) not in (None, name)]
        older_before = len(self.read_log.older)
        sources = [self.read_item(region, i).get("headers", {}).get("x-cache") for i in ids]
        found = FirstReads(
            run,
            name,
            reads=len(ids),
            hits=sum(1 for source in sources if source in SERVED_FROM_CACHE),
            copies_found=len(with_copy),
            replicated=len(replicated),
            item_reads_before=before,
            older=len(self.read_log.older) - older_before,
        )
        self.read_log.first.append(found)
        return found

    def handle_stream(self, region: Region) -> None:
        if not region.up:
            return
        records = self.double.take_records(region.name)
        if not records:
            return
        response = stream_handler.handle({"Records": records}, None, region.functions.stream)
        self.written.add(region.name)
        if any(record["dynamodb"]["Keys"][ATTR_ID]["S"] == STATE_ITEM_ID for record in records):
            self.health_changed.add(region.name)  # a state record replicated here: the region's health may change
        for failure in response["batchItemFailures"]:
            position = next(i for i, r in enumerate(records) if r["dynamodb"].get("SequenceNumber") == failure["itemIdentifier"])
            self.double.put_back(region.name, records[position:])

    def dead_letters(self) -> dict[str, list[str]]:
        """The idempotency keys of the events in each region's dead-letter queue."""
        found: dict[str, list[str]] = {}
        for name, region in self.regions.items():
            keys: list[str] = []
            while True:
                messages = region.sqs.receive_message(
                    QueueUrl=region.dead_letter_url, MaxNumberOfMessages=10, VisibilityTimeout=MOTO_VISIBILITY_SECONDS
                ).get("Messages", [])
                if not messages:
                    break
                keys += [json.loads(message["Body"])["idempotencyKey"] for message in messages]
            found[name] = sorted(keys)
        return found

    def public_reads(self, item_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Each item as each region's API serves it now: region -> item id -> body (None: 404)."""
        served: dict[str, dict[str, Any]] = {}
        for name, region in self.regions.items():
            served[name] = {}
            for item_id in item_ids:
                response = self.call_api(region, "GET /items/{id}", item_id=item_id)
                served[name][item_id] = json.loads(response["body"]) if response["statusCode"] == 200 else None
        return served

    def table_items(self, region: str) -> dict[str, dict[str, Any]]:
        """Every record of the region's table as plain JSON, by id."""
        return {item["Id"]: item for item in (item_from_image(image) for image in self.double.scan(region).values())}
