"""A small world for the fault tests: regions of the real functions (API, processor, stream handler, each its own
container with its own clients) over the moto server and real Redis, an SQS queue double with the deployed redelivery
rules, a stream pump that feeds a table's real stream (moto) to its handler, and a replication double between regions.

Time is a fake clock: the processor's clock, the state caches and the circuit breakers read it, so a redelivery after
the visibility timeout or a breaker's open period costs nothing.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from functions.api.handler import Api, servable_item
from functions.api.handler import handle as api_handle
from functions.processor.handler import Processor
from functions.processor.handler import handle as process
from functions.shared.cache import BREAKER_OPEN_SECONDS, ItemCache, cache_breaker, item_key
from functions.shared.clients import CALL_BUDGET_SECONDS, LazyRedis, redis_client
from functions.shared.codec import item_from_image
from functions.shared.metrics import Metrics
from functions.shared.schema import is_item_id
from functions.shared.settings import Settings
from functions.shared.state import ItemTable
from functions.shared.state_cache import StateCache
from functions.stream.handler import StreamHandler
from functions.stream.handler import handle as stream_handle
from simulation.http_api import http_api_event
from tests.support.dynamo import create_items_table, local_client
from tests.support.faults import ContainerKilled, DynamoFaults

TABLE = "multi-region-test-items"
QUEUE_URL = "https://sqs.local/events"
# The deployed queue: 5 receives, visibility 6 x the 30 s function timeout (components/app.py).
MAX_RECEIVE_COUNT = 5
FUNCTION_TIMEOUT = 30
VISIBILITY_SECONDS = 6 * FUNCTION_TIMEOUT
BASE_MS = 1_790_000_000_000


def within_budget(call: Callable[[], Any], budget_seconds: float = CALL_BUDGET_SECONDS) -> Any:
    """``call``'s answer; a call still running after the call budget (what a client is promised at most) fails the
    test instead of hanging it. A guard against a hang, not a measure of speed."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=budget_seconds)


class Clock:
    """Fake time: epoch milliseconds for the processor, monotonic seconds for the caches and breakers."""

    def __init__(self, now_ms: int = BASE_MS + 3_600_000) -> None:
        self.now_ms = now_ms

    def ms(self) -> int:
        return self.now_ms

    def seconds(self) -> float:
        return self.now_ms / 1000

    def advance(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)


@dataclass
class Context:
    """A Lambda context: the invocation has the function's whole timeout left."""

    aws_request_id: str = "request"

    def get_remaining_time_in_millis(self) -> int:
        return FUNCTION_TIMEOUT * 1000


@dataclass
class Message:
    message_id: str
    body: str
    receives: int = 0
    visible_at: int = 0


@dataclass
class Queue:
    """The events queue: a failed message (or every message of an invocation that died) comes back after the
    visibility timeout; after ``MAX_RECEIVE_COUNT`` receives it goes to the dead-letter queue."""

    clock: Clock
    messages: list[Message] = field(default_factory=list)
    dead_letters: list[Message] = field(default_factory=list)
    sent: int = 0

    def send_message(self, **request: Any) -> dict[str, Any]:
        self.sent += 1
        message_id = f"message-{self.sent}"
        self.messages.append(Message(message_id, request["MessageBody"], visible_at=self.clock.ms()))
        return {"MessageId": message_id}

    def deliver(self, region: Region) -> None:
        """One invocation of the processor with every visible message (at most 10)."""
        batch = [message for message in self.messages if message.visible_at <= self.clock.ms()][:10]
        for message in batch:
            message.receives += 1
        records = [_sqs_record(message, region.name) for message in batch]
        try:
            response = within_budget(lambda: process({"Records": records}, Context(), region.processor), FUNCTION_TIMEOUT)
        except ContainerKilled:
            region.replace_container("processor")
            failed = {message.message_id for message in batch}
        else:
            failed = {entry["itemIdentifier"] for entry in response["batchItemFailures"]}
        for message in batch:
            if message.message_id not in failed:
                self.messages.remove(message)
            elif message.receives >= MAX_RECEIVE_COUNT:
                self.messages.remove(message)
                self.dead_letters.append(message)
            else:
                message.visible_at = self.clock.ms() + VISIBILITY_SECONDS * 1000

    def drain(self, region: Region) -> None:
        """Deliver until the queue is empty, waiting out visibility timeouts (the fake clock)."""
        for _ in range(4 * MAX_RECEIVE_COUNT):
            if not self.messages:
                return
            if not any(message.visible_at <= self.clock.ms() for message in self.messages):
                self.clock.advance(VISIBILITY_SECONDS)
            self.deliver(region)
        raise AssertionError(f"the queue did not drain: {self.messages}")


def _sqs_record(message: Message, region: str) -> dict[str, Any]:
    return {
        "messageId": message.message_id,
        "body": message.body,
        "attributes": {"ApproximateReceiveCount": str(message.receives)},
        "eventSource": "aws:sqs",
        "awsRegion": region,
    }


@dataclass
class CacheEndpoint:
    """Where a region's cache is: host, port and whether it speaks the cluster protocol."""

    host: str
    port: int
    cluster: bool

    def raw(self) -> LazyRedis:
        client = redis_client(
            Settings(
                region="x",
                table_name="x",
                cache_host=self.host,
                cache_port=self.port,
                cache_tls=False,
                cache_cluster=self.cluster,
            )
        )
        assert client is not None
        return client


class Region:
    """One region: its table (moto), its cache endpoint, and a container of each function."""

    def __init__(self, name: str, endpoint: str, cache: CacheEndpoint, clock: Clock, *, active: str) -> None:
        self.name, self.endpoint, self.cache, self.clock = name, endpoint, cache, clock
        self.admin = local_client("dynamodb", name, endpoint)
        create_items_table(self.admin, TABLE, active_region=active)
        self.settings = Settings(
            region=name,
            table_name=TABLE,
            queue_url=QUEUE_URL,
            cache_host=cache.host,
            cache_port=cache.port,
            cache_tls=False,
            cache_cluster=cache.cluster,
        )
        self.queue = Queue(clock)
        self.replicated_in: list[tuple[str, str]] = []
        self.faults: dict[str, DynamoFaults] = {}
        self.api = self._api()
        self.processor = self._processor()
        self.stream = self._stream()
        self.pump = StreamPump(self)

    def replace_container(self, function: str) -> None:
        """A new container of ``function`` (after one died): new clients, caches and breakers."""
        build = {"api": self._api, "processor": self._processor, "stream": self._stream}[function]
        setattr(self, function, build())

    def table(self, function: str) -> ItemTable:
        client = local_client("dynamodb", self.name, self.endpoint)
        self.faults[function] = DynamoFaults(client)
        return ItemTable(client, TABLE)

    def item_cache(self, metrics: Metrics, **options: Any) -> ItemCache:
        breaker = cache_breaker(metrics, clock=self.clock.seconds)
        return ItemCache(redis_client(self.settings), self.settings.cache_ttl_seconds, metrics, breaker=breaker, **options)

    def _api(self) -> Api:
        metrics = Metrics("api", stream=io.StringIO())
        cache = self.item_cache(metrics, accept=servable_item)
        return Api(self.settings, self.table("api"), self.queue, cache, metrics, clock=self.clock.seconds)

    def _processor(self) -> Processor:
        metrics = Metrics("processor", stream=io.StringIO())
        table = self.table("processor")
        state = StateCache(table, clock=self.clock.seconds)
        return Processor(self.settings, table, state, self.item_cache(metrics), metrics, self.clock.ms, self.clock.advance)

    def _stream(self) -> StreamHandler:
        metrics = Metrics("stream", stream=io.StringIO())
        return StreamHandler(self.name, self.table("stream"), self.item_cache(metrics), metrics, self.clock.ms)

    # ---- requests ------------------------------------------------------------------------------------------------

    def request(self, route: str, *, item_id: str | None = None, body: Any = None) -> tuple[int, dict[str, Any], str]:
        event = http_api_event(route, item_id=item_id, body=body)
        response = within_budget(lambda: api_handle(event, None, self.api))
        return response["statusCode"], json.loads(response["body"]), response["headers"].get("x-cache", "")

    def counts(self, function: str) -> Counter[str]:
        """The metrics ``function``'s container emitted so far (every flush summed), plus what is not flushed yet."""
        metrics: Metrics = getattr(self, function).metrics
        assert isinstance(metrics.stream, io.StringIO)
        total: Counter[str] = Counter(metrics.snapshot())
        for line in metrics.stream.getvalue().splitlines():
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                total[definition["Name"]] += document[definition["Name"]]
        return total

    def items(self) -> dict[str, dict[str, Any]]:
        """Every item of the table (the write path's records left out), as plain JSON."""
        scanned = self.admin.scan(TableName=TABLE, ConsistentRead=True)["Items"]
        return {item["Id"]["S"]: item_from_image(item) for item in scanned if is_item_id(item["Id"]["S"])}

    def records(self) -> dict[str, dict[str, Any]]:
        """Every record of the table but the state record."""
        scanned = self.admin.scan(TableName=TABLE, ConsistentRead=True)["Items"]
        return {item["Id"]["S"]: item_from_image(item) for item in scanned if not item["Id"]["S"].startswith("STATE#")}

    @contextmanager
    def cache_reader(self) -> Iterator[Callable[[str], Any]]:
        """Reads of what the cache holds under an item's key (decoded JSON; None when nothing), over one client: a
        cluster client reads the cluster's whole command table when it connects (about 0.15 s of CPU)."""
        client = self.cache.raw()

        def read(item_id: str) -> Any:
            value = client.get(item_key(item_id))
            return json.loads(value) if value is not None else None

        try:
            yield read
        finally:
            client.close()


class StreamPump:
    """Feeds a region's table stream (moto's) to its stream handler, as the event source mapping does: a failed record
    and everything after it is delivered again; a dead container is replaced. ``on_record`` sees every new record once
    (the replication double)."""

    def __init__(self, region: Region) -> None:
        self.region = region
        streams = local_client("dynamodbstreams", region.name, region.endpoint)
        self.streams = streams
        arn = region.admin.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        self.pending: list[dict[str, Any]] = []
        self.on_record: list[Callable[[dict[str, Any]], None]] = []

    def fetch(self) -> int:
        response = self.streams.get_records(ShardIterator=self.iterator)
        self.iterator = response.get("NextShardIterator", self.iterator)
        # moto writes an UpdateItem that creates an item as two records, the first holding the key alone; DynamoDB
        # writes one. Only the second is the write.
        records = [record for record in response["Records"] if len(record["dynamodb"].get("NewImage") or {"": 0}) > 1]
        for record in records:
            for consumer in self.on_record:
                consumer(record)
        self.pending.extend(records)
        return len(records)

    def run(self) -> bool:
        """One delivery of what is pending: True when every pending record was acknowledged."""
        self.fetch()
        if not self.pending:
            return True
        try:
            response = within_budget(lambda: stream_handle({"Records": self.pending}, None, self.region.stream), FUNCTION_TIMEOUT)
        except ContainerKilled:
            self.region.replace_container("stream")
            return False
        failures = response["batchItemFailures"]
        if not failures:
            self.pending = []
            return True
        failed = failures[0]["itemIdentifier"]
        index = next(i for i, record in enumerate(self.pending) if record["dynamodb"]["SequenceNumber"] == failed)
        self.pending = self.pending[index:]
        return False


def replicate(source: Region, target: Region) -> None:
    """The global table's replication double: every write made in ``source`` (not one replication made there) is
    written to ``target`` as it is, the later service-side write winning."""

    def copy(record: dict[str, Any]) -> None:
        change = record["dynamodb"]
        key = change["Keys"]["Id"]["S"]
        new = change.get("NewImage")
        mark = (key, json.dumps(new, sort_keys=True))
        if mark in source.replicated_in:
            source.replicated_in.remove(mark)  # a replicated write: not replicated back
            return
        if key.startswith("STATE#"):
            return
        target.replicated_in.append(mark)
        if new is None:
            target.admin.delete_item(TableName=TABLE, Key={"Id": {"S": key}})
        else:
            target.admin.put_item(TableName=TABLE, Item=new)

    source.pump.on_record.append(copy)


def settle(regions: list[Region], rounds: int = 12) -> None:
    """Pump every region's stream (and so the replication) until nothing is pending anywhere."""
    for _ in range(rounds):
        done = all([region.pump.run() for region in regions])
        if done and not any(region.pump.fetch() for region in regions):
            return
        # The regions share one clock: wait out an open breaker's period before the retry.
        regions[0].clock.advance(BREAKER_OPEN_SECONDS)
    raise AssertionError("the streams did not settle")


@contextmanager
def flushed(endpoint: CacheEndpoint) -> Iterator[None]:
    client = endpoint.raw()
    client.flushall()
    try:
        yield
    finally:
        client.close()
