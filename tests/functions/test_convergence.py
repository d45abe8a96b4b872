"""Test 7 of the application-layer issue: property-based convergence over 2 and 3 regions.

Random events with colliding ids (and colliding keys: the same event delivered to several regions, or one key reused
with another payload) are applied in random regions, while ``GlobalTableReplicationDouble`` replicates every write
with the service's own rule (the later service-side write wins) with random lag and reordering, and each region's
stream handler runs on that region's stream at random moments. Then everything runs until quiescent. Every region
must end equal, every item must hold the maximum of the total order among the events that were accepted, and every
loser must be recorded.
"""

from __future__ import annotations

import io
import itertools
import os
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.shared.codec import item_from_image
from functions.shared.errors import ConflictError, RetryableError
from functions.shared.events import Event
from functions.shared.metrics import Metrics
from functions.shared.schema import STATUS_ACTIVE, conflict_record_id, is_item_id
from functions.shared.state import AppState, ItemTable
from functions.shared.write_path import STALE, apply_event
from functions.stream.handler import StreamHandler, process_batch
from simulation.replication_double import GlobalTableReplicationDouble
from tests.support.dynamo import create_items_table, local_client

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
BASE = 1_700_000_000_000
MAX_ROUNDS = 200
# Few examples in CI (each replicates through the moto server: ~1.5 s); CONVERGENCE_EXAMPLES=500 for a deeper run.
EXAMPLES = int(os.environ.get("CONVERGENCE_EXAMPLES", "10"))
_tables = itertools.count()


class ActiveHere:
    """Each region believes it is the active one: the split-brain window around a failover, which is exactly when
    two regions write one item concurrently (the state record's own fencing is tested in test_write_path)."""

    def __init__(self, region: str) -> None:
        self.state = AppState(STATUS_ACTIVE, region, 1, 0, "test")

    def get(self) -> AppState:
        return self.state

    def invalidate(self) -> None:
        pass


class RecordingCache:
    def __init__(self) -> None:
        self.invalidated: Counter[str] = Counter()

    def invalidate(self, item_id: str, order_token: str = "") -> bool:
        self.invalidated[item_id] += 1
        return True


@dataclass(frozen=True)
class Delivery:
    event: Event
    region: str
    replication_steps: int  # copies delivered after this event
    run_handlers: bool  # whether the stream handlers run after it


def events_strategy() -> st.SearchStrategy[list[Event]]:
    event = st.builds(
        Event,
        id=st.sampled_from(["a", "b"]),
        data=st.one_of(st.fixed_dictionaries({"n": st.integers(0, 3)}), st.sampled_from(["x", "y"])),
        timestamp=st.integers(BASE, BASE + 3),
        idempotency_key=st.sampled_from(["k1", "k2", "k3", "k4", "k5", "k6"]),
        expected_version=st.none(),
    )
    return st.lists(event, min_size=3, max_size=7)


@st.composite
def scenarios(draw: st.DrawFn, region_count: int) -> tuple[list[Delivery], int]:
    regions = REGIONS[:region_count]
    events = draw(events_strategy())
    deliveries: list[Delivery] = []
    for event in events:
        # Every event reaches one region, some reach a second (the same event inside the replication window).
        targets = draw(st.lists(st.sampled_from(regions), min_size=1, max_size=2))
        deliveries.extend(
            Delivery(event, region, draw(st.sampled_from((0, 0, 0, 1, 2))), draw(st.booleans())) for region in targets
        )
    order = draw(st.permutations(deliveries))
    return list(order), draw(st.integers(0, 2**32 - 1))


@pytest.mark.parametrize("region_count", [2, 3])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_every_region_converges_to_the_maximum_of_the_total_order(
    aws_endpoint: str, region_count: int, data: st.DataObject
) -> None:
    deliveries, seed = data.draw(scenarios(region_count))
    regions = REGIONS[:region_count]
    name = f"items-{next(_tables)}"
    tables = {region: create_items_table(local_client("dynamodb", region, aws_endpoint), name) for region in regions}
    streams = {region: local_client("dynamodbstreams", region, aws_endpoint) for region in regions}
    double = GlobalTableReplicationDouble(
        {region: (tables[region].client, streams[region]) for region in regions}, name, random.Random(seed)
    )
    caches = {region: RecordingCache() for region in regions}
    handlers = {
        region: StreamHandler(region, tables[region], caches[region], Metrics("stream", stream=io.StringIO()), lambda: BASE)
        for region in regions
    }
    try:
        play = Play(tables, double, handlers)
        play.play(deliveries)
        rounds = play.settle()
        check(double, caches, play.accepted, play.stale, regions)
        count(TOTALS[region_count], deliveries, play, double, handlers)
    finally:
        for table in tables.values():
            table.client.delete_table(TableName=name)
    assert rounds < MAX_ROUNDS


TOTALS: dict[int, Counter[str]] = defaultdict(Counter)


@pytest.fixture(scope="module", autouse=True)
def report_totals() -> Iterator[None]:
    """Print what the examples exercised (``pytest -s`` shows it): conflicts, re-assertions, retries."""
    yield
    for region_count, totals in sorted(TOTALS.items()):
        print(f"\ntest 7, {region_count} regions: {dict(totals)}")


def count(
    totals: Counter[str],
    deliveries: list[Delivery],
    play: Play,
    double: GlobalTableReplicationDouble,
    handlers: dict[str, StreamHandler],
) -> None:
    totals.update(examples=1, deliveries=len(deliveries), accepted=len(play.accepted), stale=len(play.stale))
    totals.update(retried=play.retries, replication_losers=sum(is_item_id(d.item_id) for d in double.downgrades))
    for handler in handlers.values():
        snapshot = handler.metrics.snapshot()  # process_batch counts; only handle() flushes
        totals.update({name: snapshot.get(name, 0) for name in ("Reasserted", "ReplicationConflicts")})


class Play:
    """Deliveries applied in their regions, with replication steps and stream-handler passes between them. A delivery
    refused with a retryable error (another region's delivery of the same event has not settled here yet) is tried
    again later, as SQS would."""

    def __init__(
        self, tables: dict[str, ItemTable], double: GlobalTableReplicationDouble, handlers: dict[str, StreamHandler]
    ) -> None:
        self.tables, self.double, self.handlers = tables, double, handlers
        self.accepted: list[Event] = []
        self.stale: list[Event] = []
        self.deferred: list[Delivery] = []
        self.retries = 0

    def deliver(self, delivery: Delivery) -> None:
        try:
            outcome = apply_event(
                self.tables[delivery.region],
                delivery.event,
                region=delivery.region,
                state=ActiveHere(delivery.region),
                clock_ms=lambda: BASE,
                sleep=lambda _: None,
            )
        except ConflictError:
            return  # the key was used with another payload in this region: refused, nothing written
        except RetryableError:
            self.deferred.append(delivery)
            return
        self.accepted.append(delivery.event)
        if outcome.kind == STALE:
            self.stale.append(delivery.event)

    def play(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self.deliver(delivery)
            for _ in range(delivery.replication_steps):
                self.double.step()
            if delivery.run_handlers:
                self.run_handlers()

    def run_handlers(self) -> None:
        self.double.capture()
        for region, handler in self.handlers.items():
            assert process_batch(self.double.take_records(region), handler) is None

    def settle(self) -> int:
        """Retry, replicate and handle until nothing is left; the rounds it took."""
        for rounds in range(MAX_ROUNDS):
            retry, self.deferred = self.deferred, []
            for delivery in retry:
                self.retries += 1
                self.deliver(delivery)
            if not self.deferred and self.double.quiescent():
                return rounds
            self.double.step()
            self.run_handlers()
        return MAX_ROUNDS


def check(
    double: GlobalTableReplicationDouble,
    caches: dict[str, RecordingCache],
    accepted: list[Event],
    stale: list[Event],
    regions: tuple[str, ...],
) -> None:
    contents = {region: double.scan(region) for region in regions}
    # Every region ends equal: items, idempotency records and conflict records alike.
    first = contents[regions[0]]
    for region in regions[1:]:
        assert contents[region] == first, f"{region} differs from {regions[0]}"
    # Every item holds the maximum of the total order among the accepted events.
    winners: dict[str, Event] = {}
    for event in accepted:
        if event.id not in winners or event.order_key > winners[event.id].order_key:
            winners[event.id] = event
    items = {record["Id"]["S"]: item_from_image(record) for record in first.values() if record["RecordType"]["S"] == "item"}
    assert set(items) == set(winners)
    for item_id, winner in winners.items():
        item = items[item_id]
        assert (item["IdempotencyKey"], item["Data"], item["Timestamp"], item["OrderToken"]) == (
            winner.idempotency_key,
            winner.data,
            winner.timestamp,
            winner.order_token,
        )
    # Losers are recorded: every stale event, and every loser the service kept somewhere.
    recorded = {record["Id"]["S"] for record in first.values() if record["RecordType"]["S"] == "conflict"}
    for event in stale:
        assert conflict_record_id(event.id, event.order_token) in recorded
    for downgrade in (downgrade for downgrade in double.downgrades if is_item_id(downgrade.item_id)):
        assert conflict_record_id(downgrade.item_id, downgrade.loser_token) in recorded
    # Every region's cache was invalidated for every item that changed there.
    for region in regions:
        assert set(caches[region].invalidated) == set(items)


def test_the_double_keeps_the_later_service_write_whatever_the_client_timestamp(aws_endpoint: str) -> None:
    """The double itself: two regions write one item concurrently; the later write (service time) wins in both,
    although its client timestamp is lower, and the region that held the other one sees a downgrade."""
    regions = REGIONS[:2]
    tables = {region: create_items_table(local_client("dynamodb", region, aws_endpoint), "items") for region in regions}
    streams = {region: local_client("dynamodbstreams", region, aws_endpoint) for region in regions}
    double = GlobalTableReplicationDouble(
        {region: (tables[region].client, streams[region]) for region in regions}, "items", random.Random(1), max_lag_steps=0
    )
    apply_event(tables[regions[0]], Event("a", {"n": 0}, BASE - 10, "k0"), region=regions[0], state=ActiveHere(regions[0]))
    double.step()  # the item exists in both regions: the writes below are updates
    newer = Event("a", {"n": 1}, BASE + 10, "k1")
    older = Event("a", {"n": 2}, BASE, "k2")
    apply_event(tables[regions[0]], newer, region=regions[0], state=ActiveHere(regions[0]))
    double.capture()
    apply_event(tables[regions[1]], older, region=regions[1], state=ActiveHere(regions[1]))
    double.step()
    for region in regions:
        item = tables[region].client.get_item(TableName="items", Key={"Id": {"S": "a"}})["Item"]
        assert item["IdempotencyKey"]["S"] == "k2", region
    assert [(d.region, d.loser_token, d.winner_token) for d in double.downgrades] == [
        (regions[0], older.order_token, newer.order_token)
    ]
    assert double.dropped >= 1
