"""The stream handler against the moto server (and a real Redis for the cache): re-asserting the last-writer-wins
winner where replication kept the loser, recording the loser, and invalidating this region's cache."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from functions.shared.cache import ItemCache, invalidation_marker, item_key
from functions.shared.clients import aws_client
from functions.shared.codec import item_from_image
from functions.shared.events import Event
from functions.shared.metrics import Metrics
from functions.shared.schema import conflict_record_id, idempotency_record_id
from functions.shared.state import ItemTable
from functions.stream import handler
from functions.stream.handler import StreamHandler, handle
from simulation.local_servers import RedisServer
from tests.support.dynamo import WRITE_REGION, WRITE_TABLE

OTHER_REGION = "eu-west-1"
BASE = 1_700_000_000_000


class RecordingCache:
    def __init__(self) -> None:
        self.invalidated: Counter[str] = Counter()

    def invalidate(self, item_id: str, order_token: str = "") -> bool:
        self.invalidated[item_id] += 1
        return True


def image(event: Event, version: int, region: str) -> dict[str, Any]:
    """An item image as the processor writes it."""
    return {
        "Id": {"S": event.id},
        "Data": {"M": {key: {"N": str(value)} for key, value in event.data.items()}}
        if isinstance(event.data, dict)
        else {"S": event.data},
        "Timestamp": {"N": str(event.timestamp)},
        "IdempotencyKey": {"S": event.idempotency_key},
        "PayloadHash": {"S": event.payload_hash},
        "OrderToken": {"S": event.order_token},
        "Version": {"N": str(version)},
        "LastUpdatedRegion": {"S": region},
        "RecordType": {"S": "item"},
        "WriteEpoch": {"N": "1"},
    }


def stream_record(
    old: dict[str, Any] | None, new: dict[str, Any] | None, sequence: str = "100", key: str | None = None
) -> dict[str, Any]:
    """A DynamoDB stream record as Lambda delivers it."""
    item_id = key or (new or old or {})["Id"]["S"]
    change: dict[str, Any] = {"Keys": {"Id": {"S": item_id}}, "SequenceNumber": sequence, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    return {
        "eventID": f"event-{sequence}",
        "eventName": "MODIFY" if old and new else ("INSERT" if new else "REMOVE"),
        "eventSource": "aws:dynamodb",
        "awsRegion": WRITE_REGION,
        "eventSourceARN": f"arn:aws:dynamodb:{WRITE_REGION}:123456789012:table/{WRITE_TABLE}/stream/2026",
        "dynamodb": change,
    }


def put(table: ItemTable, item: dict[str, Any]) -> None:
    table.client.put_item(TableName=table.name, Item=item)


def get(table: ItemTable, record_id: str) -> dict[str, Any] | None:
    item = table.client.get_item(TableName=table.name, Key={"Id": {"S": record_id}}, ConsistentRead=True).get("Item")
    return item_from_image(item) if item else None


@pytest.fixture
def stream_handler(write_table: ItemTable) -> StreamHandler:
    return StreamHandler(WRITE_REGION, write_table, RecordingCache(), Metrics("stream", stream=io.StringIO()), lambda: BASE)


def invalidated(stream_handler: StreamHandler) -> Counter[str]:
    assert isinstance(stream_handler.cache, RecordingCache)
    return stream_handler.cache.invalidated


WINNER = Event("item-1", {"n": 2}, BASE + 10, "k-winner")
LOSER = Event("item-1", {"n": 1}, BASE, "k-loser")


def test_a_replicated_loser_is_replaced_by_the_winner_and_recorded(write_table: ItemTable, stream_handler: StreamHandler) -> None:
    winner, loser = image(WINNER, 3, WRITE_REGION), image(LOSER, 2, OTHER_REGION)
    put(write_table, loser)  # the service's rule kept the loser (a later service-side write)
    response = handle({"Records": [stream_record(winner, loser)]}, None, handler=stream_handler)
    assert response == {"batchItemFailures": []}
    assert get(write_table, "item-1") == item_from_image(winner)
    record = get(write_table, conflict_record_id("item-1", LOSER.order_token))
    assert record is not None
    assert {
        name: record[name] for name in ("LoserIdempotencyKey", "LoserRegion", "WinnerOrderToken", "DetectedBy", "DetectedIn")
    } == {
        "LoserIdempotencyKey": "k-loser",
        "LoserRegion": OTHER_REGION,
        "WinnerOrderToken": WINNER.order_token,
        "DetectedBy": "stream",
        "DetectedIn": WRITE_REGION,
    }
    assert invalidated(stream_handler) == Counter({"item-1": 1})
    assert isinstance(stream_handler.metrics.stream, io.StringIO)
    [document] = [json.loads(line) for line in stream_handler.metrics.stream.getvalue().splitlines()]
    assert {name: document[name] for name in ("ItemChanges", "Reasserted", "ReplicationConflicts")} == {
        "ItemChanges": 1,
        "Reasserted": 1,
        "ReplicationConflicts": 1,
    }


def test_repeated_and_concurrent_repairs_write_the_winner_once(write_table: ItemTable, stream_handler: StreamHandler) -> None:
    winner, loser = image(WINNER, 3, WRITE_REGION), image(LOSER, 2, OTHER_REGION)
    put(write_table, loser)
    record = stream_record(winner, loser)
    handle({"Records": [record, record]}, None, handler=stream_handler)
    handle({"Records": [record]}, None, handler=stream_handler)
    assert get(write_table, "item-1") == item_from_image(winner)
    assert isinstance(stream_handler.metrics.stream, io.StringIO)
    documents = [json.loads(line) for line in stream_handler.metrics.stream.getvalue().splitlines()]
    assert sum(document.get("Reasserted", 0) for document in documents) == 1
    assert sum(document.get("ReplicationConflicts", 0) for document in documents) == 1


def test_a_newer_write_is_never_overwritten_by_a_repair(write_table: ItemTable, stream_handler: StreamHandler) -> None:
    newest = Event("item-1", {"n": 9}, BASE + 99, "k-newest")
    put(write_table, image(newest, 4, WRITE_REGION))
    handle(
        {"Records": [stream_record(image(WINNER, 3, WRITE_REGION), image(LOSER, 2, OTHER_REGION))]}, None, handler=stream_handler
    )
    item = get(write_table, "item-1")
    assert item is not None
    assert item["IdempotencyKey"] == "k-newest"
    assert get(write_table, conflict_record_id("item-1", LOSER.order_token)) is not None


def test_a_change_up_the_order_only_invalidates_the_cache(write_table: ItemTable, stream_handler: StreamHandler) -> None:
    put(write_table, image(WINNER, 3, OTHER_REGION))
    handle(
        {"Records": [stream_record(image(LOSER, 2, WRITE_REGION), image(WINNER, 3, OTHER_REGION))]}, None, handler=stream_handler
    )
    handle({"Records": [stream_record(None, image(LOSER, 1, OTHER_REGION), key="item-2")]}, None, handler=stream_handler)
    assert get(write_table, "item-1") == item_from_image(image(WINNER, 3, OTHER_REGION))
    assert get(write_table, conflict_record_id("item-1", LOSER.order_token)) is None
    assert invalidated(stream_handler) == Counter({"item-1": 1, "item-2": 1})


def test_a_write_without_an_order_token_is_replaced_by_the_winner_without_a_conflict_record(
    write_table: ItemTable, stream_handler: StreamHandler
) -> None:
    bare = {"Id": {"S": "item-1"}}
    put(write_table, bare)
    handle({"Records": [stream_record(image(WINNER, 3, WRITE_REGION), bare)]}, None, handler=stream_handler)
    item = get(write_table, "item-1")
    assert item is not None
    assert item["IdempotencyKey"] == "k-winner"
    assert [
        record
        for record in write_table.client.scan(TableName=write_table.name)["Items"]
        if record["RecordType"]["S"] == "conflict"
    ] == []


def test_a_deleted_item_stays_deleted_and_leaves_the_cache(write_table: ItemTable, stream_handler: StreamHandler) -> None:
    handle({"Records": [stream_record(image(WINNER, 3, WRITE_REGION), None)]}, None, handler=stream_handler)
    assert get(write_table, "item-1") is None
    assert invalidated(stream_handler) == Counter({"item-1": 1})


def test_the_tables_own_records_are_skipped(write_table: ItemTable, stream_handler: StreamHandler) -> None:
    records = [
        stream_record(None, {"Id": {"S": record_id}, "OrderToken": {"S": "0"}}, key=record_id)
        for record_id in ("STATE#application", idempotency_record_id("k-1"), conflict_record_id("item-1", LOSER.order_token))
    ]
    assert handle({"Records": records}, None, handler=stream_handler) == {"batchItemFailures": []}
    assert invalidated(stream_handler) == Counter()
    assert isinstance(stream_handler.metrics.stream, io.StringIO)
    assert stream_handler.metrics.stream.getvalue() == ""  # nothing counted, nothing flushed


def test_an_empty_batch_has_no_failures(stream_handler: StreamHandler) -> None:
    assert handle({"Records": []}, None, handler=stream_handler) == {"batchItemFailures": []}
    assert isinstance(stream_handler.metrics.stream, io.StringIO)
    assert stream_handler.metrics.stream.getvalue() == ""


def test_the_first_failed_record_is_reported_and_the_rest_still_processed(write_table: ItemTable) -> None:
    """A record after a failed one is processed too: its repair must not wait for the cache (Lambda retries from the
    reported record, and every step is idempotent)."""

    class FailingOnItem2(RecordingCache):
        def invalidate(self, item_id: str, order_token: str = "") -> bool:
            if item_id == "item-2":
                raise RuntimeError("boom")
            return super().invalidate(item_id, order_token)

    cache = FailingOnItem2()
    failing = StreamHandler(WRITE_REGION, write_table, cache, Metrics("stream", stream=io.StringIO()))
    records = [
        stream_record(None, image(LOSER, 1, WRITE_REGION), sequence="1"),
        stream_record(None, image(LOSER, 1, WRITE_REGION), sequence="2", key="item-2"),
        stream_record(None, image(LOSER, 1, WRITE_REGION), sequence="3", key="item-3"),
    ]
    assert handle({"Records": records}, None, handler=failing) == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert cache.invalidated == Counter({"item-1": 1, "item-3": 1})


def test_a_replicated_change_removes_the_cached_copy_from_redis(write_table: ItemTable, redis_server: RedisServer) -> None:
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    client.set(item_key("item-1"), json.dumps({"Id": "item-1", "Version": 2}))
    metrics = Metrics("stream", stream=io.StringIO())
    stream_handler = StreamHandler(WRITE_REGION, write_table, ItemCache(client, 300, metrics), metrics)
    handle(
        {"Records": [stream_record(image(LOSER, 2, WRITE_REGION), image(WINNER, 3, OTHER_REGION))]}, None, handler=stream_handler
    )
    assert client.get(item_key("item-1")) == invalidation_marker(WINNER.order_token)  # a miss that refuses older fills
    client.close()


@pytest.fixture
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(handler, "_handler", None)
    aws_client.cache_clear()
    yield
    aws_client.cache_clear()


def test_the_handler_is_built_once_per_container_from_its_environment(
    write_table: ItemTable, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, fresh_container: None
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("AWS_REGION", WRITE_REGION)
    monkeypatch.setenv("TABLE_NAME", WRITE_TABLE)
    put(write_table, image(LOSER, 2, OTHER_REGION))
    assert handle({"Records": [stream_record(image(WINNER, 3, WRITE_REGION), image(LOSER, 2, OTHER_REGION))]}, None) == {
        "batchItemFailures": []
    }
    built = handler.current_handler()
    assert handler.current_handler() is built
    assert (built.region, built.table.name, built.cache) == (WRITE_REGION, WRITE_TABLE, None)
    item = get(write_table, "item-1")
    assert item is not None
    assert item["IdempotencyKey"] == "k-winner"


def test_a_cache_outage_never_holds_back_the_repair_of_a_later_record(write_table: ItemTable) -> None:
    """The cache refuses every invalidation; the loser that replication kept on a later record is still repaired."""

    class Down(RecordingCache):
        def invalidate(self, item_id: str, order_token: str = "") -> bool:
            return False

    write_table.client.put_item(TableName=write_table.name, Item=image(LOSER, 2, OTHER_REGION))
    handler = StreamHandler(WRITE_REGION, write_table, Down(), Metrics("stream", stream=io.StringIO()))
    records = [
        stream_record(None, image(LOSER, 1, WRITE_REGION), sequence="1", key="item-0"),
        stream_record(image(WINNER, 1, WRITE_REGION), image(LOSER, 2, OTHER_REGION), sequence="2"),
    ]
    assert handle({"Records": records}, None, handler=handler) == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert get(write_table, "item-1")["Timestamp"] == WINNER.timestamp
