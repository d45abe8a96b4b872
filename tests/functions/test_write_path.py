"""The write path (functions/shared/write_path.py) against the moto server: idempotency, payload conflicts, last-writer-wins,
expectedVersion, fencing, cache invalidation after commit, and the DynamoDB requests each kind of event costs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.shared.codec import from_attribute, item_from_image, to_attribute, to_item
from functions.shared.errors import FencedError, RetryableError
from functions.shared.events import Event, order_token
from functions.shared.schema import STATUS_ACTIVE, STATUS_FENCED, conflict_record_id, idempotency_record_id, is_item_id
from functions.shared.state import AppState, ItemTable, transition
from functions.shared.state_cache import StateCache
from functions.shared.write_path import (
    APPLIED,
    CLAIM_OWNER_WINDOW_MS,
    CONFLICT_ATTEMPTS,
    DUPLICATE,
    PENDING,
    STALE,
    Outcome,
    PayloadConflictError,
    VersionConflictError,
    _Writer,
    apply_event,
)
from tests.support.cache_doubles import FakeClock
from tests.support.dynamo import WRITE_REGION

NOW = 1_700_000_000_000
OTHER_REGION = "eu-west-1"


class FixedState:
    """A state source that always answers ``state`` (the state record's own behaviour is tested with StateCache)."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.invalidations = 0

    def get(self) -> AppState:
        return self.state

    def invalidate(self) -> None:
        self.invalidations += 1


ACTIVE_HERE = FixedState(AppState(STATUS_ACTIVE, WRITE_REGION, 1, 0, "test"))


def event(item_id: str = "item-1", key: str = "k-1", data: Any = None, timestamp: int = NOW, **extra: Any) -> Event:
    return Event(item_id, {"n": 1} if data is None else data, timestamp, key, extra.get("expected_version"))


def apply(table: ItemTable, ev: Event, **options: Any) -> Outcome:
    options.setdefault("state", ACTIVE_HERE)
    options.setdefault("clock_ms", lambda: NOW)
    return apply_event(table, ev, region=WRITE_REGION, **options)


def get(table: ItemTable, record_id: str) -> dict[str, Any] | None:
    item = table.client.get_item(TableName=table.name, Key={"Id": {"S": record_id}}, ConsistentRead=True).get("Item")
    return item_from_image(item) if item else None


def scan_ids(table: ItemTable) -> set[str]:
    return {item["Id"]["S"] for item in table.client.scan(TableName=table.name)["Items"]}


class RequestCounter:
    """Counts the DynamoDB requests a client sends (botocore's before-call event, once per API call)."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    @contextmanager
    def measure(self) -> Iterator[Counter[str]]:
        before = Counter(self.calls)
        measured: Counter[str] = Counter()
        yield measured
        measured.update(self.calls - before)


# ---- applied, duplicate, conflict ---------------------------------------------------------------------------------


def test_a_new_event_is_applied_at_version_1_with_its_order_token(write_table: ItemTable) -> None:
    ev = event(data={"name": "a", "price": 9.5, "tags": ["x", None, True]})
    outcome = apply(write_table, ev)
    # The version is the item's: one TransactWriteItems returns no attributes (docs/design/write-path.md).
    assert (outcome.kind, outcome.region) == (APPLIED, WRITE_REGION)
    assert get(write_table, "item-1") == {
        "Id": "item-1",
        "Data": {"name": "a", "price": 9.5, "tags": ["x", None, True]},
        "Timestamp": NOW,
        "IdempotencyKey": "k-1",
        "PayloadHash": ev.payload_hash,
        "OrderToken": ev.order_token,
        "Version": 1,
        "LastUpdatedRegion": WRITE_REGION,
        "RecordType": "item",
        "WriteEpoch": 1,
    }
    claim = get(write_table, idempotency_record_id("k-1"))
    assert claim is not None
    assert (claim["Outcome"], claim["ItemId"]) == (APPLIED, "item-1")
    assert claim["ExpiresAt"] == NOW // 1000 + 14 * 24 * 3600


def test_a_string_payload_is_stored_as_a_string(write_table: ItemTable) -> None:
    apply(write_table, event(data="plain text"))
    item = get(write_table, "item-1")
    assert item is not None
    assert item["Data"] == "plain text"


def test_a_repeat_answers_duplicate_with_the_original_outcome_and_changes_nothing(write_table: ItemTable) -> None:
    apply(write_table, event())
    before = get(write_table, "item-1")
    assert before is not None
    repeat = apply(write_table, event())
    assert (repeat.kind, repeat.original, repeat.version, repeat.region) == (DUPLICATE, APPLIED, before["Version"], WRITE_REGION)
    assert get(write_table, "item-1") == before


def test_the_same_key_with_another_payload_is_refused_and_nothing_is_written(write_table: ItemTable) -> None:
    apply(write_table, event(data={"n": 1}))
    before = {record_id: get(write_table, record_id) for record_id in scan_ids(write_table)}
    with pytest.raises(PayloadConflictError, match="idempotency key 'k-1' was used for a different payload"):
        apply(write_table, event(data={"n": 2}, timestamp=NOW + 1))
    with pytest.raises(PayloadConflictError):
        apply(write_table, event(item_id="item-2", data={"n": 1}))
    assert {record_id: get(write_table, record_id) for record_id in scan_ids(write_table)} == before


def test_a_later_event_overwrites_and_the_version_goes_up_by_one(write_table: ItemTable) -> None:
    apply(write_table, event(key="k-1", timestamp=NOW))
    outcome = apply(write_table, event(key="k-2", data={"n": 2}, timestamp=NOW + 5))
    assert outcome.kind == APPLIED
    item = get(write_table, "item-1")
    assert item is not None
    assert (item["Data"], item["IdempotencyKey"], item["Version"]) == ({"n": 2}, "k-2", 2)


def test_the_order_breaks_timestamp_ties_by_key_then_payload_hash(write_table: ItemTable) -> None:
    apply(write_table, event(key="k-b", timestamp=NOW))
    assert apply(write_table, event(key="k-a", data={"n": 0}, timestamp=NOW)).kind == STALE
    assert apply(write_table, event(key="k-c", data={"n": 3}, timestamp=NOW)).kind == APPLIED


def test_a_stale_event_is_not_written_and_is_recorded_as_the_loser(write_table: ItemTable) -> None:
    newer = event(key="k-new", data={"n": 2}, timestamp=NOW + 10)
    older = event(key="k-old", data={"n": 1}, timestamp=NOW)
    apply(write_table, newer)
    outcome = apply(write_table, older)
    assert (outcome.kind, outcome.winner_order_token) == (STALE, newer.order_token)
    item = get(write_table, "item-1")
    assert item is not None
    assert (item["IdempotencyKey"], item["Version"]) == ("k-new", 1)
    record = get(write_table, conflict_record_id("item-1", older.order_token))
    assert record is not None
    assert {name: record[name] for name in ("RecordType", "ItemId", "LoserIdempotencyKey", "WinnerOrderToken")} == {
        "RecordType": "conflict",
        "ItemId": "item-1",
        "LoserIdempotencyKey": "k-old",
        "WinnerOrderToken": newer.order_token,
    }
    assert (record["DetectedBy"], record["DetectedIn"], record["LoserRegion"]) == ("processor", WRITE_REGION, WRITE_REGION)
    repeat = apply(write_table, older)
    assert (repeat.kind, repeat.original, repeat.winner_order_token) == (DUPLICATE, STALE, newer.order_token)


# ---- expectedVersion ----------------------------------------------------------------------------------------------


def test_expected_version_applies_only_at_that_version(write_table: ItemTable) -> None:
    assert apply(write_table, event(key="k-1", expected_version=0)).version == 1
    assert apply(write_table, event(key="k-2", timestamp=NOW + 1, expected_version=1)).version == 2
    before = get(write_table, "item-1")
    with pytest.raises(VersionConflictError, match="item 'item-1' is at version 2, the event expected 1"):
        apply(write_table, event(key="k-3", timestamp=NOW + 2, expected_version=1))
    with pytest.raises(VersionConflictError, match="at version 2, the event expected 0"):
        apply(write_table, event(key="k-4", timestamp=NOW + 3, expected_version=0))
    assert get(write_table, "item-1") == before
    # Nothing of the refused events remains: their claims are released.
    assert get(write_table, idempotency_record_id("k-3")) is None
    assert get(write_table, idempotency_record_id("k-4")) is None


def test_expected_version_on_a_missing_item_is_a_version_conflict(write_table: ItemTable) -> None:
    with pytest.raises(VersionConflictError, match="is at version 0, the event expected 3"):
        apply(write_table, event(expected_version=3))
    assert get(write_table, "item-1") is None


# ---- fencing -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "active_region"),
    [(STATUS_FENCED, WRITE_REGION), ("failover", OTHER_REGION), (STATUS_ACTIVE, OTHER_REGION)],
)
def test_writes_are_refused_with_a_retryable_error_unless_active_here(
    write_table: ItemTable, status: str, active_region: str
) -> None:
    state = FixedState(AppState(status, active_region, 4, 0, "test"))
    with pytest.raises(FencedError, match=f"writes refused in {WRITE_REGION}: state {status}") as raised:
        apply(write_table, event(), state=state)
    assert isinstance(raised.value, RetryableError)
    assert scan_ids(write_table) == {"STATE#application"}


def test_the_state_record_fences_every_container_within_the_cache_period(write_table: ItemTable) -> None:
    clock = FakeClock()
    state = StateCache(write_table, ttl_seconds=1.0, clock=clock)
    assert apply(write_table, event(key="k-1"), state=state).kind == APPLIED
    transition(write_table, expected_epoch=1, to_status=STATUS_FENCED, active_region=WRITE_REGION, updated_by="test")
    clock.advance(1.0)
    with pytest.raises(FencedError, match="state fenced, active region us-east-1, epoch 2"):
        apply(write_table, event(key="k-2", timestamp=NOW + 1), state=state)
    transition(write_table, expected_epoch=2, to_status=STATUS_ACTIVE, active_region=WRITE_REGION, updated_by="test")
    clock.advance(1.0)
    assert apply(write_table, event(key="k-2", timestamp=NOW + 1), state=state).kind == APPLIED


def test_an_item_written_under_a_newer_epoch_refuses_a_writer_holding_an_older_state(write_table: ItemTable) -> None:
    newer = FixedState(AppState(STATUS_ACTIVE, WRITE_REGION, 5, 0, "test"))
    older = FixedState(AppState(STATUS_ACTIVE, WRITE_REGION, 1, 0, "test"))
    apply(write_table, event(key="k-1"), state=newer)
    with pytest.raises(FencedError):
        apply(write_table, event(key="k-2", timestamp=NOW + 1), state=older)
    assert older.invalidations == 1
    item = get(write_table, "item-1")
    assert item is not None
    assert (item["IdempotencyKey"], item["WriteEpoch"]) == ("k-1", 5)
    assert get(write_table, idempotency_record_id("k-2")) is None


# ---- crashes and concurrent deliveries ------------------------------------------------------------------------------


def pending_claim(table: ItemTable, ev: Event, deadline: int) -> None:
    """A claim the earlier claim-apply-settle path left pending (its owner may still be at work until ``deadline``)."""
    table.client.put_item(
        TableName=table.name,
        Item=to_item(
            {
                "Id": idempotency_record_id(ev.idempotency_key),
                "RecordType": "idempotency",
                "ItemId": ev.id,
                "PayloadHash": ev.payload_hash,
                "OrderToken": ev.order_token,
                "Outcome": PENDING,
                "LastUpdatedRegion": WRITE_REGION,
                "ClaimedAt": NOW,
                "OwnerDeadline": deadline,
            }
        ),
    )


def test_a_delivery_that_crashed_after_its_transaction_is_answered_by_the_next(write_table: ItemTable) -> None:
    ev = event()
    assert _Writer(write_table, ev, WRITE_REGION, 1, lambda: NOW).transact().applied
    outcome = apply(write_table, ev)
    assert (outcome.kind, outcome.original, outcome.version) == (DUPLICATE, APPLIED, 1)
    claim = get(write_table, idempotency_record_id("k-1"))
    assert claim is not None
    assert claim["Outcome"] == APPLIED
    item = get(write_table, "item-1")
    assert item is not None
    assert item["Version"] == 1


def test_a_stale_delivery_that_crashed_after_its_conflict_record_is_settled_by_the_next(write_table: ItemTable) -> None:
    newer, older = event(key="k-new", timestamp=NOW + 10), event(key="k-old")
    apply(write_table, newer)
    _Writer(write_table, older, WRITE_REGION, 1, lambda: NOW).record_conflict(newer.order_token)
    assert get(write_table, idempotency_record_id("k-old")) is None
    outcome = apply(write_table, older)
    assert (outcome.kind, outcome.winner_order_token) == (STALE, newer.order_token)
    claim = get(write_table, idempotency_record_id("k-old"))
    assert claim is not None
    assert (claim["Outcome"], claim["WinnerOrderToken"]) == (STALE, newer.order_token)
    assert sum(record_id.startswith("CONFLICT#") for record_id in scan_ids(write_table)) == 1


def test_a_pending_claim_of_the_earlier_path_behind_a_later_event_is_retried_until_its_deadline(
    write_table: ItemTable,
) -> None:
    ev = event(key="k-old")
    pending_claim(write_table, ev, deadline=NOW + CLAIM_OWNER_WINDOW_MS)
    apply(write_table, event(key="k-new", timestamp=NOW + 10))
    with pytest.raises(RetryableError, match="being processed by another delivery"):
        apply(write_table, ev)
    claim = get(write_table, idempotency_record_id("k-old"))
    assert claim is not None
    assert claim["Outcome"] == PENDING
    outcome = apply(write_table, ev, clock_ms=lambda: NOW + CLAIM_OWNER_WINDOW_MS + 1)
    assert outcome.kind == STALE
    assert get(write_table, conflict_record_id("item-1", ev.order_token)) is not None


def test_a_pending_claim_of_the_earlier_path_whose_event_is_in_the_item_is_settled_as_applied(
    write_table: ItemTable,
) -> None:
    ev = event()
    apply(write_table, ev)
    pending_claim(write_table, ev, deadline=NOW + CLAIM_OWNER_WINDOW_MS)
    outcome = apply(write_table, ev, clock_ms=lambda: NOW + CLAIM_OWNER_WINDOW_MS + 1)
    assert (outcome.kind, outcome.original, outcome.version) == (DUPLICATE, APPLIED, 1)
    claim = get(write_table, idempotency_record_id("k-1"))
    assert claim is not None
    assert (claim["Outcome"], claim["Version"]) == (APPLIED, 1)


def test_a_pending_claim_of_the_earlier_path_whose_owner_applied_the_event_is_answered_duplicate(
    write_table: ItemTable,
) -> None:
    """Its owner is within its deadline and has not settled yet: the item holds the event, so this is a duplicate; the
    claim stays the owner's to settle."""
    ev = event()
    apply(write_table, ev)
    pending_claim(write_table, ev, deadline=NOW + CLAIM_OWNER_WINDOW_MS)
    outcome = apply(write_table, ev)
    assert (outcome.kind, outcome.original, outcome.version) == (DUPLICATE, APPLIED, 1)
    claim = get(write_table, idempotency_record_id("k-1"))
    assert claim is not None
    assert claim["Outcome"] == PENDING


class ConflictingClient:
    """Cancels the first ``conflicts`` transactions with TransactionConflict, as DynamoDB does when another transaction
    holds the item; everything else goes to ``client``."""

    def __init__(self, client: Any, conflicts: int) -> None:
        self.client, self.conflicts = client, conflicts

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        if self.conflicts > 0:
            self.conflicts -= 1
            reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
            raise ClientError(
                {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}, "CancellationReasons": reasons},
                "TransactWriteItems",
            )
        response: dict[str, Any] = self.client.transact_write_items(**request)
        return response


def test_a_transaction_conflict_is_tried_again_a_few_times_then_retried_later(write_table: ItemTable) -> None:
    sleeps: list[float] = []
    table = ItemTable(ConflictingClient(write_table.client, CONFLICT_ATTEMPTS - 1), write_table.name)
    assert apply(table, event(), sleep=sleeps.append).kind == APPLIED
    assert len(sleeps) == CONFLICT_ATTEMPTS - 1
    held = ItemTable(ConflictingClient(write_table.client, CONFLICT_ATTEMPTS), write_table.name)
    with pytest.raises(RetryableError, match="held by other transactions"):
        apply(held, event(key="k-2", timestamp=NOW + 1), sleep=lambda _: None)
    assert get(write_table, idempotency_record_id("k-2")) is None


# ---- the cache ------------------------------------------------------------------------------------------------------


class CommitCheckingCache:
    """Records each invalidation with the version the table holds at that moment (after the commit, or not)."""

    def __init__(self, table: ItemTable) -> None:
        self.table = table
        self.seen: list[tuple[str, int | None]] = []

    def invalidate(self, item_id: str, order_token: str = "") -> bool:
        item = get(self.table, item_id)
        self.seen.append((item_id, item["Version"] if item else None))
        return True


def test_the_cache_is_invalidated_after_the_commit_and_only_for_applied_writes(write_table: ItemTable) -> None:
    cache = CommitCheckingCache(write_table)
    apply(write_table, event(key="k-1", timestamp=NOW + 5), cache=cache)
    apply(write_table, event(key="k-1", timestamp=NOW + 5), cache=cache)  # duplicate
    apply(write_table, event(key="k-0", timestamp=NOW), cache=cache)  # stale
    apply(write_table, event(key="k-2", timestamp=NOW + 9), cache=cache)
    assert cache.seen == [("item-1", 1), ("item-1", 2)]


# ---- requests per event -------------------------------------------------------------------------------------------


def test_dynamodb_requests_per_event(write_table: ItemTable) -> None:
    """The measured cost: a new event 1 request (the transaction), a duplicate 1, a stale event 3 (the transaction, the
    conflict record, the claim), a payload conflict 1; the state is read once per container per cache period."""
    counter = RequestCounter(write_table.client)
    state = StateCache(write_table, ttl_seconds=60)
    with counter.measure() as first:
        apply(write_table, event(key="k-1", timestamp=NOW + 5), state=state)
    with counter.measure() as new:
        apply(write_table, event(key="k-2", timestamp=NOW + 6), state=state)
    with counter.measure() as duplicate:
        apply(write_table, event(key="k-2", timestamp=NOW + 6), state=state)
    with counter.measure() as stale:
        apply(write_table, event(key="k-0", timestamp=NOW), state=state)
    with counter.measure() as conflict, pytest.raises(PayloadConflictError):
        apply(write_table, event(key="k-2", data={"other": True}), state=state)
    assert first == Counter({"GetItem": 1, "TransactWriteItems": 1})
    assert new == Counter({"TransactWriteItems": 1})
    assert duplicate == Counter({"TransactWriteItems": 1})
    assert stale == Counter({"TransactWriteItems": 1, "PutItem": 2})
    assert conflict == Counter({"TransactWriteItems": 1})


# ---- errors ---------------------------------------------------------------------------------------------------------


class ThrottledClient:
    """Answers every call with the error DynamoDB gives once the client's own retries are spent."""

    def __init__(self, code: str, status: int) -> None:
        self.code, self.status = code, status

    def _fail(self, **_: Any) -> dict[str, Any]:
        raise ClientError(
            {"Error": {"Code": self.code, "Message": "slow down"}, "ResponseMetadata": {"HTTPStatusCode": self.status}},
            "PutItem",
        )

    get_item = put_item = update_item = delete_item = transact_write_items = _fail


@pytest.mark.parametrize(
    ("code", "status"),
    [("ProvisionedThroughputExceededException", 400), ("ThrottlingException", 400), ("InternalServerError", 500)],
)
def test_throttling_and_server_errors_become_retryable(code: str, status: int) -> None:
    table = ItemTable(ThrottledClient(code, status), "t")
    with pytest.raises(RetryableError, match=code):
        apply(table, event())


def test_other_client_errors_are_not_retryable() -> None:
    table = ItemTable(ThrottledClient("ValidationException", 400), "t")
    with pytest.raises(ClientError) as raised:
        apply(table, event())
    assert not isinstance(raised.value, RetryableError)


# ---- pure helpers ---------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e20, max_value=1e20).filter(
        lambda value: value == 0 or abs(value) >= 1e-20
    )
    | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=3), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_json_values_round_trip_through_dynamodb_attributes(value: Any) -> None:
    assert from_attribute(to_attribute(value)) == value


def test_item_ids_never_collide_with_the_tables_own_records() -> None:
    assert is_item_id("item-1")
    assert not is_item_id("STATE#application")
    assert not is_item_id(idempotency_record_id("k"))
    assert not is_item_id(conflict_record_id("item-1", order_token(1, "k", "ab")))
