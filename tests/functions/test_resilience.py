"""The cache never takes the application down and never hides a committed write; no event dies of one throttle.

Each defect of issue 13, reproduced against the real functions, the moto server and a real Redis, in the deployed
cache mode (a Redis Cluster, ``CACHE_CLUSTER=true``) beside the single-node one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from functions.api import handler as api_handler
from functions.api.handler import read_item
from functions.processor import handler as processor_handler
from functions.processor.handler import build_processor
from functions.shared.breaker import CLOSED
from functions.shared.cache import copy_entry, item_key
from functions.shared.clients import aws_client
from functions.shared.schema import idempotency_record_id
from functions.shared.settings import Settings
from functions.stream import handler as stream_handler
from functions.stream.handler import build_handler
from simulation.local_servers import RedisClusterServers, RedisServer
from tests.support.faults import DOWN, KILL, SERVER_ERROR, THROTTLE, UP, CacheProxy
from tests.support.world import BASE_MS, QUEUE_URL, TABLE, CacheEndpoint, Clock, Region, flushed

REGION = "us-east-1"
MODES = ("single", "cluster")


@pytest.fixture(params=MODES)
def endpoint(request: pytest.FixtureRequest) -> CacheEndpoint:
    if request.param == "cluster":
        cluster: RedisClusterServers = request.getfixturevalue("redis_cluster")
        return CacheEndpoint(cluster.host, cluster.port, cluster=True)
    server: RedisServer = request.getfixturevalue("redis_server")
    return CacheEndpoint(server.host, server.port, cluster=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def region(aws_endpoint: str, endpoint: CacheEndpoint, clock: Clock) -> Iterator[Region]:
    with flushed(endpoint):
        yield Region(REGION, aws_endpoint, endpoint, clock, active=REGION)


def event_body(item_id: str, key: str, timestamp: int, data: Any = None) -> str:
    return json.dumps({"id": item_id, "data": data or {"key": key}, "timestamp": timestamp, "idempotencyKey": key})


def post(region: Region, item_id: str, key: str, timestamp: int) -> None:
    status, body, _ = region.request("POST /events", body=event_body(item_id, key, timestamp))
    assert status == 202, body


# ---- 1. a container started while the cache is unreachable -------------------------------------------------------


@pytest.fixture
def container_env(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh container's environment: built from settings on the first invocation."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("QUEUE_URL", QUEUE_URL)
    monkeypatch.setenv("CACHE_TLS", "false")
    for module, name in ((api_handler, "_api"), (processor_handler, "_processor"), (stream_handler, "_handler")):
        monkeypatch.setattr(module, name, None)
    aws_client.cache_clear()
    yield
    aws_client.cache_clear()


def test_a_container_started_while_the_cache_is_unreachable_serves_every_route_and_uses_the_cache_once_back(
    region: Region, endpoint: CacheEndpoint, container_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = CacheProxy(endpoint.port)
    proxy.set(DOWN)
    monkeypatch.setenv("CACHE_HOST", endpoint.host)
    monkeypatch.setenv("CACHE_PORT", str(proxy.port))
    monkeypatch.setenv("CACHE_CLUSTER", str(endpoint.cluster).lower())
    region.admin.put_item(TableName=TABLE, Item={"Id": {"S": "item-1"}, "Data": {"S": "v1"}, "Version": {"N": "1"}})
    sqs = aws_client("sqs", REGION)
    monkeypatch.setenv("QUEUE_URL", sqs.create_queue(QueueName="events")["QueueUrl"])
    try:
        api = api_handler.current_api()  # the container, built with the cache down
        region.api = api
        status, body, source = region.request("GET /items/{id}", item_id="item-1")
        assert (status, body["Data"], source) == (200, "v1", "db-cache-error")
        assert region.request("POST /events", body=event_body("item-2", "k-1", BASE_MS))[0] == 202
        status, body, _ = region.request("GET /state")
        assert (status, body["writable"]) == (200, True)

        processor = build_processor(Settings.from_env())
        processor.clock_ms = region.clock.ms
        region.processor = processor
        region.queue.send_message(MessageBody=event_body("item-3", "k-3", BASE_MS))
        region.queue.deliver(region)
        assert region.queue.messages == []
        assert region.items()["item-3"]["Version"] == 1

        stream = build_handler(Settings.from_env())
        assert stream.cache is not None

        proxy.set(UP)
        assert api.cache.breaker is not None
        api.cache.breaker.clock = lambda: 1e9  # the open period is over
        assert region.request("GET /items/{id}", item_id="item-1")[2] == "db"
        assert region.request("GET /items/{id}", item_id="item-1")[2] == "cache"
    finally:
        proxy.close()
        api_client = api_handler._api
        if api_client is not None and api_client.cache.client is not None:
            api_client.cache.client.close()  # type: ignore[attr-defined]


# ---- 2. a transient failure of the claim and the apply -----------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["cluster"], indirect=True)
@pytest.mark.parametrize("fault", [THROTTLE, SERVER_ERROR, KILL])
def test_a_failure_between_claim_and_apply_never_costs_the_event_when_a_later_event_lands_meanwhile(
    region: Region, fault: str
) -> None:
    earlier, later = event_body("item-1", "k-early", BASE_MS), event_body("item-1", "k-late", BASE_MS + 5)
    # The processor's calls: the state read, then the transaction of claim and apply (the second): fail it.
    region.faults["processor"].kind, region.faults["processor"].at = fault, 2
    region.queue.send_message(MessageBody=earlier)
    region.queue.deliver(region)
    assert region.queue.messages[0].receives == 1
    region.queue.send_message(MessageBody=later)
    region.clock.advance(1)
    region.queue.deliver(region)  # only the later event is visible: applied
    region.queue.drain(region)
    assert region.queue.dead_letters == []
    records = region.records()
    assert records["item-1"]["IdempotencyKey"] == "k-late"
    assert records["item-1"]["Version"] == 1
    assert records[idempotency_record_id("k-early")]["Outcome"] == "stale"
    assert records[idempotency_record_id("k-late")]["Outcome"] == "applied"


# ---- 3. whatever is in the cache is a miss that gets repaired ------------------------------------------------------


def _not_json(client: Any, key: str) -> None:
    client.set(key, "{not json")


def _not_an_item(client: Any, key: str) -> None:
    client.set(key, json.dumps([1, 2, 3]))


def _an_item_of_the_old_format(client: Any, key: str) -> None:
    client.set(key, json.dumps({"Id": "item-1", "Data": "old", "Version": 9}))


def _another_items_copy(client: Any, key: str) -> None:
    client.set(key, copy_entry({"Id": "item-2", "Data": "other", "Version": 9}))


def _a_copy_that_cannot_be_shown(client: Any, key: str) -> None:
    client.set(key, copy_entry({"Id": "item-1", "Data": 5, "Version": "nine"}))


def _a_hash(client: Any, key: str) -> None:
    client.hset(key, "field", "value")


def _a_list(client: Any, key: str) -> None:
    client.rpush(key, "a", "b")


def _nested_deeper_than_the_parser_goes(client: Any, key: str) -> None:
    client.set(key, "[" * 100_000 + "]" * 100_000)


def _not_utf8(client: Any, key: str) -> None:
    client.set(key, b"\xff\xfe{\x80")


@pytest.mark.parametrize(
    "plant",
    [
        _not_json,
        _not_an_item,
        _an_item_of_the_old_format,
        _another_items_copy,
        _a_copy_that_cannot_be_shown,
        _a_hash,
        _a_list,
        _nested_deeper_than_the_parser_goes,
        _not_utf8,
    ],
)
def test_an_unusable_cache_value_is_a_miss_that_is_repaired_and_never_opens_the_breaker(region: Region, plant: Any) -> None:
    region.admin.put_item(
        TableName=TABLE,
        Item={"Id": {"S": "item-1"}, "Data": {"S": "v1"}, "Version": {"N": "1"}, "Timestamp": {"N": "5"}},
    )
    client = region.cache.raw()
    try:
        plant(client, item_key("item-1"))
        breaker = region.api.cache.breaker
        assert breaker is not None
        breaker.failure_threshold = 1  # one failure would open it
        expected = {"Id": "item-1", "Data": "v1", "Version": 1, "Timestamp": 5}
        assert region.request("GET /items/{id}", item_id="item-1") == (200, expected, "db")
        assert breaker.state == CLOSED
        assert region.request("GET /items/{id}", item_id="item-1") == (200, expected, "cache")  # repaired
        assert region.api.metrics.snapshot().get("CacheErrors") is None
    finally:
        client.close()


# ---- 4. a committed write is never hidden by an older copy ---------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["cluster"], indirect=True)
def test_a_stream_record_whose_invalidation_failed_is_retried_until_the_old_copy_is_gone(
    region: Region, endpoint: CacheEndpoint
) -> None:
    post(region, "item-1", "k-1", BASE_MS)
    region.queue.drain(region)
    assert region.request("GET /items/{id}", item_id="item-1")[2] == "db"  # cached at version 1
    region.pump.run()
    proxy = CacheProxy(endpoint.port)
    try:
        region.settings = region.settings.__class__(**{**region.settings.__dict__, "cache_port": proxy.port})
        region.replace_container("stream")
        region.replace_container("processor")
        proxy.set(DOWN)  # the stream's and the processor's cache fails at the moment of the write
        post(region, "item-1", "k-2", BASE_MS + 1)
        region.queue.drain(region)
        assert region.pump.run() is False  # not acknowledged: the invalidation did not happen
        assert region.request("GET /items/{id}", item_id="item-1")[1]["Version"] == 1  # the old copy, for now
        proxy.set(UP)
        region.clock.advance(30)  # the stream handler's breaker lets a probe through
        assert region.pump.run() is True
        assert region.request("GET /items/{id}", item_id="item-1")[1]["Version"] == 2
    finally:
        proxy.close()


@pytest.mark.parametrize("endpoint", ["cluster"], indirect=True)
def test_a_slow_read_cannot_fill_the_copy_it_read_before_a_write_whose_invalidations_ran(region: Region) -> None:
    post(region, "item-1", "k-1", BASE_MS)
    region.queue.drain(region)
    region.pump.run()
    loaded, release = threading.Event(), threading.Event()

    def slow_load() -> dict[str, Any] | None:
        item = read_item(region.api.table, "item-1")
        loaded.set()
        release.wait(10)
        return item

    result: list[Any] = []
    reader = threading.Thread(target=lambda: result.append(region.api.cache.get("item-1", slow_load)))
    reader.start()
    assert loaded.wait(10)
    post(region, "item-1", "k-2", BASE_MS + 1)
    region.queue.drain(region)  # the processor's invalidation
    assert region.pump.run() is True  # the stream handler's
    release.set()
    reader.join(10)
    assert result[0][0]["Version"] == 1  # the slow read answers what it read
    status, body, _ = region.request("GET /items/{id}", item_id="item-1")
    assert (status, body["Version"]) == (200, 2)  # but its copy was never cached


# ---- 5. input the functions cannot use is a validation error naming the field ---------------------------------------

DEEP = '{"a":' * 40 + "1" + "}" * 40
VERY_DEEP = "[" * 5000 + "]" * 5000


def _body(data: str, **extra: str) -> str:
    fields = "".join(f',"{name}":{value}' for name, value in extra.items())
    return f'{{"id":"item-1","data":{data},"timestamp":{BASE_MS},"idempotencyKey":"k-1"{fields}}}'


UNUSABLE = {
    "lone surrogate": (_body('"\\ud800"'), "data"),
    "lone surrogate in a key": (_body('{"\\udc00":1}'), "data"),
    "lone surrogate in a list": (_body('{"list":["ok","\\ud83d"]}'), "data"),
    "40 levels": (_body(DEEP), "data"),
    "5000 levels": (_body(VERY_DEEP), "data"),
    "infinite": (_body('{"n":1e400}'), "data"),
    "below 1e-130": (_body('{"n":1e-200}'), "data"),
    "39 digits": (_body('{"n":' + "9" * 39 + "}"), "data"),
    "expectedVersion of 40 digits": (_body('{"n":1}', expectedVersion="9" * 40), "expectedVersion"),
    "timestamp of 20 digits": (_body('{"n":1}', timestamp="9" * 20), "timestamp"),
}


@pytest.mark.parametrize("endpoint", ["single"], indirect=True)
@pytest.mark.parametrize(("body", "field"), UNUSABLE.values(), ids=UNUSABLE.keys())
def test_unusable_input_is_a_validation_error_naming_the_field(region: Region, body: str, field: str) -> None:
    status, answer, _ = region.request("POST /events", body=body)
    assert (status, answer["error"], answer["field"]) == (400, "validation", field)
    region.queue.send_message(MessageBody=body)
    region.queue.deliver(region)
    counts = region.counts("processor")
    assert counts.get("ValidationErrors") == 1
    assert "Unexpected" not in counts
    assert region.items() == {}


def test_an_event_at_the_limits_is_accepted_and_applied(region: Region) -> None:
    deepest = '{"a":' * 31 + "1" + "}" * 31
    body = _body('{"deep":' + deepest + ',"n":' + "9" * 38 + ',"s":"\\ud83d\\ude00"}', expectedVersion="0")
    assert region.request("POST /events", body=body)[0] == 202
    region.queue.drain(region)
    assert region.items()["item-1"]["Data"]["s"] == "\N{GRINNING FACE}"
