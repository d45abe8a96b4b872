"""The fault matrix's scenario and invariants (the cells are in ``test_fault_matrix*.py``): the API, the processor and
the stream handler of two regions, each fault injected into one scenario, and after it every region checked.

``World.run`` posts five events and reads through both regions while they are processed, with a replication conflict
on item-9; ``World.finish`` lets the streams and replication settle; ``check`` asserts that no accepted write is lost
or applied twice, every request is answered within the call budget, and every region's table and cache agree.
The scenario in full: docs/design/testing.md.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from functions.shared.events import parse_event
from functions.shared.schema import idempotency_record_id, is_item_id
from functions.shared.write_path import PENDING
from tests.support.faults import UP, CacheProxy
from tests.support.world import BASE_MS, TABLE, CacheEndpoint, Clock, Region, replicate, settle

PRIMARY, SECONDARY = "us-east-1", "eu-west-1"
# Posted in this order, each path of the write path in turn: a new item, a later event over it, an earlier event that
# loses, then (below) a repeat of the first and the event that loses to the secondary's.
EVENTS = [
    ("item-1", "k-first", BASE_MS),
    ("item-1", "k-second", BASE_MS + 20),
    ("item-1", "k-late-loser", BASE_MS + 10),
    ("item-9", "k-replicated-loser", BASE_MS),
]
REPEAT_OF_FIRST = EVENTS[0]
# The secondary's own later event for item-9, written before the primary's reached it.
SECONDARY_WINNER = ("item-9", "k-secondary-winner", BASE_MS + 50)
# The processor's DynamoDB calls for the batch: the state read; the transaction (claim and apply) of the first and
# the second event; the late loser's transaction, conflict record and claim; the repeat's transaction (answered from
# the settled claim); the transaction of item-9's event. The matrix injects a fault at each of them.
WRITE_PATH_CALLS = 1 + 1 + 1 + 3 + 1 + 1
# The secondary's stream handler: the re-assertion of the winner and the conflict record.
STREAM_CALLS = 2


def body(item_id: str, key: str, timestamp: int) -> str:
    return json.dumps({"id": item_id, "data": {"key": key}, "timestamp": timestamp, "idempotencyKey": key})


def order_token(item_id: str, key: str, timestamp: int) -> str:
    return parse_event(body(item_id, key, timestamp), now_ms=timestamp, max_skew_ms=0).order_token


class World:
    """Two regions, the primary on the Redis Cluster (the deployed mode), the secondary on a single Redis server,
    each cache behind a proxy that the cache cells take down or hang."""

    def __init__(self, endpoint: str, primary_cache: CacheEndpoint, secondary_cache: CacheEndpoint) -> None:
        self.clock = Clock()
        self.proxies = [CacheProxy(primary_cache.port), CacheProxy(secondary_cache.port)]
        self.real = [primary_cache, secondary_cache]
        self.primary = Region(PRIMARY, endpoint, self._behind(0), self.clock, active=PRIMARY)
        self.secondary = Region(SECONDARY, endpoint, self._behind(1), self.clock, active=PRIMARY)
        replicate(self.primary, self.secondary)
        replicate(self.secondary, self.primary)
        self.regions = [self.primary, self.secondary]
        self.accepted: list[tuple[str, str, int]] = []
        self.applies: Counter[tuple[str, str]] = Counter()
        self.primary.pump.on_record.append(self._count_apply)

    def _behind(self, index: int) -> CacheEndpoint:
        real = self.real[index]
        return CacheEndpoint(real.host, self.proxies[index].port, real.cluster)

    def _count_apply(self, record: dict[str, Any]) -> None:
        """A write of the processor on the primary's stream: the item moved up the order, written here."""
        change = record["dynamodb"]
        new, old = change.get("NewImage") or {}, change.get("OldImage") or {}
        if not is_item_id(change["Keys"]["Id"]["S"]) or not new or new.get("LastUpdatedRegion", {}).get("S") != PRIMARY:
            return
        if new.get("OrderToken", {}).get("S", "") > old.get("OrderToken", {}).get("S", ""):
            self.applies[(change["Keys"]["Id"]["S"], new["IdempotencyKey"]["S"])] += 1

    def set_caches(self, mode: str) -> None:
        for proxy in self.proxies:
            proxy.set(mode)

    def close(self) -> None:
        for proxy in self.proxies:
            proxy.close()

    # ---- the scenario -------------------------------------------------------------------------------------------

    def post(self, event: tuple[str, str, int]) -> None:
        status, answer, _ = self.primary.request("POST /events", body=body(*event))
        if status == 503:  # a dependency failed: the client retries (the answer says so)
            status, answer, _ = self.primary.request("POST /events", body=body(*event))
        assert status == 202, answer
        self.accepted.append(event)

    def read_everywhere(self) -> None:
        for region in self.regions:
            for item_id in ("item-1", "item-9"):
                status, answer, _ = region.request("GET /items/{id}", item_id=item_id)
                assert status in (200, 404, 503), answer
                if status == 503:
                    assert answer["error"] == "unavailable"

    def run(self) -> None:
        self.secondary.admin.put_item(TableName=TABLE, Item=winner_image())
        for event in (*EVENTS[:3], REPEAT_OF_FIRST, EVENTS[3]):
            self.post(event)
        self.read_everywhere()
        self.primary.queue.drain(self.primary)

    def finish(self) -> None:
        """The faults are over: the streams and the replication settle."""
        self.set_caches(UP)
        for region in self.regions:
            for function in ("api", "processor", "stream"):
                region.faults[function].at = 0
        settle(self.regions)


def winner_image() -> dict[str, Any]:
    item_id, key, timestamp = SECONDARY_WINNER
    event = parse_event(body(item_id, key, timestamp), now_ms=timestamp, max_skew_ms=0)
    return {
        "Id": {"S": item_id},
        "Data": {"M": {"key": {"S": key}}},
        "Timestamp": {"N": str(timestamp)},
        "IdempotencyKey": {"S": key},
        "PayloadHash": {"S": event.payload_hash},
        "OrderToken": {"S": event.order_token},
        "Version": {"N": "1"},
        "LastUpdatedRegion": {"S": SECONDARY},
        "RecordType": {"S": "item"},
        "WriteEpoch": {"N": "1"},
    }


def check(world: World) -> None:
    """The invariants of every cell."""
    primary, secondary = world.primary, world.secondary
    assert primary.queue.dead_letters == [] and primary.queue.messages == []
    # No acknowledged write lost: each item holds the latest accepted event (or the secondary's later one).
    latest: dict[str, tuple[str, str, int]] = {}
    for event in [*world.accepted, SECONDARY_WINNER]:
        if event[0] not in latest or order_token(*event) > order_token(*latest[event[0]]):
            latest[event[0]] = event
    items = primary.items()
    assert {item_id: item["IdempotencyKey"] for item_id, item in items.items()} == {
        item_id: event[1] for item_id, event in latest.items()
    }
    # No event applied twice, and every write of the primary's processor is one of its events.
    assert all(count == 1 for count in world.applies.values()), world.applies
    assert {key for _, key in world.applies} <= {event[1] for event in EVENTS}
    applies_per_item = Counter(item_id for item_id, _ in world.applies)
    assert items["item-1"]["Version"] == applies_per_item["item-1"]
    records = primary.records()
    for item_id, key, timestamp in EVENTS:
        # Settled, or pending only if the event is in the item (its settle failed after the apply).
        claim = records[idempotency_record_id(key)]
        assert claim["Outcome"] != PENDING or world.applies[(item_id, key)] == 1
        assert order_token(item_id, key, timestamp) <= items[item_id]["OrderToken"]
    # Every region equal, table and cache.
    assert secondary.items() == items
    for region in world.regions:
        with region.cache_reader() as cached_of:
            for item_id, item in items.items():
                status, answer, _ = region.request("GET /items/{id}", item_id=item_id)
                assert (status, answer["IdempotencyKey"] if "IdempotencyKey" in answer else answer["Data"]["key"]) == (
                    200,
                    item["IdempotencyKey"],
                )
                cached = cached_of(item_id)
                if cached is not None and "item" in cached:
                    assert cached["token"] == item["OrderToken"]


def processor_cell(world: World, kind: str, at: int) -> None:
    """One processor cell: ``kind`` at the processor's ``at``-th DynamoDB call, then every invariant."""
    faults = world.primary.faults["processor"]
    faults.kind, faults.at = kind, at
    world.run()
    world.finish()
    check(world)
