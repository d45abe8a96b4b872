"""The write path (ARCHITECTURE §3, event processor 1, 2 and 6): apply one event to the table, exactly once.

Records in the table (single-table design, one hash key ``Id``)
----------------------------------------------------------------
- the item, ``Id = <id>``: ``Data``, ``Timestamp``, ``IdempotencyKey``, ``PayloadHash``, ``Version``,
  ``LastUpdatedRegion``, ``RecordType = item``, plus ``OrderToken`` (the event's place in the total order, a sortable
  string: :func:`functions.shared.events.order_token`) and ``WriteEpoch`` (the fencing token it was written under);
- the idempotency record, ``Id = IDEMPOTENCY#<key>``: which item and payload the key belongs to, and the outcome
  (``pending`` until the write settles, then ``applied`` or ``stale``), kept ``IDEMPOTENCY_TTL_SECONDS``;
- the conflict record, ``Id = CONFLICT#<id>#<loser's order token>``: a loser of last-writer-wins, with the winner's
  token, who detected it and where, kept ``CONFLICT_TTL_SECONDS``. The id is deterministic, so recording the same
  loser twice (a retry, or two regions detecting it) writes one record.

How an event is applied: claim, apply, settle
---------------------------------------------
1. **Claim** the key: ``PutItem IDEMPOTENCY#<key>`` if it does not exist. When it exists (the condition fails, and
   DynamoDB returns the record with the failure, ``ReturnValuesOnConditionCheckFailure=ALL_OLD``): a different payload
   hash is a payload conflict (:class:`PayloadConflictError`, nothing written); a settled record is a duplicate,
   answered with the original outcome in this one request; a pending record is an event in flight elsewhere or an
   attempt that crashed, so this attempt carries on (step 2 is safe to repeat).
2. **Apply**: ``UpdateItem`` on the item, conditional on last-writer-wins (no item, or its ``OrderToken`` is below the
   event's), on the fencing token (the item was not written under a newer epoch) and on ``expectedVersion`` when given;
   ``Version`` goes up by one in the same expression. When the condition fails, the returned item says why, without
   another read: the item already holds this event (a concurrent or crashed attempt applied it: duplicate), a later
   event (stale: the loser is recorded), a newer epoch (fenced), or another version (:class:`VersionConflictError`).
   A write refused for its version or its epoch releases its claim (nothing of it remains). One case needs the
   claim's owner: an attempt that found the claim pending and then a later event in the item cannot tell whether the
   owner applied the event before that later one or found it stale; it waits for the owner to settle
   (``SETTLE_WAIT_SECONDS``), and else raises :class:`RetryableError` so the message comes back later. Every claim
   carries its owner's deadline (``OwnerDeadline``): the claim, the apply, the conflict record and the settle each
   take at most one call's budget (``CLAIM_OWNER_WINDOW_MS``), and never longer than the owner's invocation has left.
   A claim past its deadline has no owner left: the attempt that finds it settles it as stale. The queue redelivers
   after six function timeouts, so the next delivery already finds the deadline passed.
3. **Settle** the claim with the outcome (a conditional put of the whole claim, only while it is pending), so the
   next repeat is answered in step 1. A stale event's conflict record is written before the settle, so a failure in
   between leaves the claim pending and the next delivery records it again (one record, whatever the repeats).

Transient errors never cost an event: when the apply fails (a throttle, a 5xx, a timeout after the client's own
retries), the owner releases its claim before the message goes back to the queue, so the next delivery starts afresh;
when the settle fails after the apply committed, the event is applied and acknowledged (the claim stays pending
until a repeat settles it). Whatever failure leaves a claim pending, its deadline settles it on the next delivery.

Exactly one state change per event follows from the conditional writes alone: two deliveries of one event can both
reach step 2, and only one ``UpdateItem`` can move the item to the event's order token. A ``TransactWriteItems`` of
steps 1 and 2 would cost one request instead of three, but: the fence could not be checked in it (see Fencing), and
the local emulator copies the whole table and its stream on every transaction (moto 5.2: 110 ms per transaction at
500 writes, 650 ms at 1,500) and does not isolate concurrent ones, so the 1000-event concurrency test could not run
against it.

Requests per event: a new event 3 writes (claim, apply, settle); a duplicate 1; a stale event 4 (claim, apply, settle,
conflict record); a payload conflict 1; plus one state read per container every ``STATE_CACHE_SECONDS``.

Fencing
-------
Writes need ``active`` in this region (:meth:`AppState.may_write`). Checking the state record inside every write (a
``ConditionCheck`` in a transaction) would make every write of the region a transaction on that one record, and
DynamoDB cancels concurrent transactions that touch the same item (``TransactionConflict``): the region's writes would
be serialised. So the state is read at most once per ``STATE_CACHE_SECONDS`` per container (:class:`StateCache`), and
a fence takes effect in every container within ``STATE_CACHE_SECONDS``, plus the duration of a write already past the
check (the client's timeouts and retries bound it): ``FENCE_SETTLE_SECONDS`` in all, which the failover runbook waits
after fencing before it measures the replication backlog. The fencing token then guards the data itself: an item
written under a newer epoch refuses a write from a container that still holds an older state.

The cache
---------
After a write commits, the item's cache entry is invalidated at the event's order token (not overwritten): the marker
it leaves refuses any fill of an older copy (``functions.shared.cache``), and two writes of one item finishing out of
order cannot put the older back. An invalidation that fails here is not retried here: the stream handler sees the same
write and retries its record until its invalidation happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from functions.shared.clients import CALL_BUDGET_SECONDS
from functions.shared.errors import ConflictError, FencedError, RetryableError
from functions.shared.events import Event, EventData
from functions.shared.log import get_logger, now_ms
from functions.shared.schema import (
    ATTR_DATA,
    ATTR_EXPIRES_AT,
    ATTR_ID,
    ATTR_IDEMPOTENCY_KEY,
    ATTR_LAST_UPDATED_REGION,
    ATTR_ORDER_TOKEN,
    ATTR_PAYLOAD_HASH,
    ATTR_RECORD_TYPE,
    ATTR_TIMESTAMP,
    ATTR_VERSION,
)
from functions.shared.state import CONDITIONAL_CHECK_FAILED, AppState, ItemTable, error_code, read_state

logger = get_logger("store")

# Records of the single-table design besides the items and the state record.
IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"
CONFLICT_PREFIX = "CONFLICT#"
# Item ids never contain '#' (functions.shared.events.KEY_PATTERN); every other record's id does.
RECORD_ID_MARKER = "#"
RECORD_TYPE_ITEM = "item"
RECORD_TYPE_IDEMPOTENCY = "idempotency"
RECORD_TYPE_CONFLICT = "conflict"

ATTR_WRITE_EPOCH = "WriteEpoch"
ATTR_ITEM_ID = "ItemId"
ATTR_OUTCOME = "Outcome"
ATTR_WINNER_ORDER_TOKEN = "WinnerOrderToken"
ATTR_CLAIMED_AT = "ClaimedAt"
ATTR_OWNER_DEADLINE = "OwnerDeadline"
ATTR_LOSER_ORDER_TOKEN = "LoserOrderToken"
ATTR_LOSER_IDEMPOTENCY_KEY = "LoserIdempotencyKey"
ATTR_LOSER_REGION = "LoserRegion"
ATTR_DETECTED_BY = "DetectedBy"
ATTR_DETECTED_IN = "DetectedIn"
ATTR_DETECTED_AT = "DetectedAt"

# Outcomes.
APPLIED = "applied"
DUPLICATE = "duplicate"
STALE = "stale"
PENDING = "pending"

# An SQS message is kept at most 14 days: every redelivery of an event, from its queue or a redrive of its DLQ, finds
# the claim. After that a repeat is still never applied twice (the item's order token refuses it) but may be answered
# "stale" instead of "duplicate".
IDEMPOTENCY_TTL_SECONDS = 14 * 24 * 3600
CONFLICT_TTL_SECONDS = 30 * 24 * 3600
STATE_CACHE_SECONDS = 1.0
# A write past the state check lands within one call's budget (clients.py: 4 attempts of 1 s connect + 2 s read, and
# up to 7 s of throttling backoff); the runbook waits this long after the fence reaches the region.
FENCE_SETTLE_SECONDS = STATE_CACHE_SECONDS + CALL_BUDGET_SECONDS
# A claim found pending with the item already past the event: wait this long for its owner to settle it.
SETTLE_WAIT_SECONDS = 1.0
SETTLE_POLL_SECONDS = 0.02
# How long the owner of a claim can still act on it: the claim, the apply, the conflict record and the settle, each
# within one call's budget (76 s with clients.py's budget; the queue redelivers after 6 function timeouts, 180 s by
# default). A pending claim past it has no live owner.
CLAIM_OWNER_WINDOW_MS = int(4 * CALL_BUDGET_SECONDS * 1000)

_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "LimitExceededException",
    }
)
_TRANSIENT_ERROR_NAMES = frozenset(
    {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError", "ConnectionError"}
)


class PayloadConflictError(ConflictError):
    """The idempotency key was used before with a different payload: refused, nothing written."""

    def __init__(self, event: Event, item_id: str, payload_hash: str) -> None:
        self.event = event
        super().__init__(
            f"idempotency key {event.idempotency_key!r} was used for a different payload (item {item_id!r}, "
            f"payload hash {payload_hash[:12]}...); this event (item {event.id!r}, hash {event.payload_hash[:12]}...) "
            "is refused and nothing was written"
        )


class VersionConflictError(ConflictError):
    """``expectedVersion`` did not match the item's version: refused, nothing written."""

    def __init__(self, event: Event, current_version: int) -> None:
        self.event, self.current_version = event, current_version
        super().__init__(
            f"item {event.id!r} is at version {current_version}, the event expected {event.expected_version}; nothing was written"
        )


class InvalidatesCache(Protocol):
    """What the write path needs of the region's cache (``functions.shared.cache.ItemCache``)."""

    def invalidate(self, item_id: str, order_token: str = "") -> bool: ...


class StateSource(Protocol):
    """Where the write path learns the application state (a :class:`StateCache`, or a fixed state in tests)."""

    def get(self) -> AppState: ...

    def invalidate(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What became of an event.

    Parameters
    ----------
    kind: ``applied`` (this delivery changed the item), ``duplicate`` (an earlier delivery decided it) or ``stale``
        (a later event already held the item: recorded as a loser, not written).
    item_id, idempotency_key, order_token: the event's.
    original: for a duplicate, the original outcome (``applied`` or ``stale``).
    version: the item's version after an applied write (and for a duplicate of one, when known).
    winner_order_token: for a stale event (or a duplicate of one), the order token that beat it.
    region: where the (original) outcome was decided.
    """

    kind: str
    item_id: str
    idempotency_key: str
    order_token: str
    region: str
    original: str | None = None
    version: int | None = None
    winner_order_token: str | None = None

    @classmethod
    def of(cls, kind: str, event: Event, region: str, **details: Any) -> Outcome:
        """The outcome ``kind`` of ``event``, decided in ``region``."""
        return cls(kind, event.id, event.idempotency_key, event.order_token, region, **details)

    def as_dict(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if value is not None}


class StateCache:
    """The application state as this container last read it, for at most ``ttl_seconds`` (thread-safe).

    One thread reads while the others wait for its answer, so a burst of writes costs one read.
    """

    def __init__(
        self, table: ItemTable, ttl_seconds: float = STATE_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.table, self.ttl_seconds, self.clock = table, ttl_seconds, clock
        self._state: AppState | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> AppState:
        with self._lock:
            now = self.clock()
            if self._state is None or now - self._read_at >= self.ttl_seconds:
                # Aged from before the read: the copy is at most ttl_seconds old however long the read took.
                self._state = read_state(self.table, consistent=True)
                self._read_at = now
            return self._state

    def invalidate(self) -> None:
        with self._lock:
            self._state = None


# ---- DynamoDB JSON --------------------------------------------------------------------------------------------------


def to_attribute(value: object) -> dict[str, Any]:
    """A JSON value as a DynamoDB attribute value (numbers as their exact decimal text)."""
    if isinstance(value, bool):
        attribute: dict[str, Any] = {"BOOL": value}
    elif value is None:
        attribute = {"NULL": True}
    elif isinstance(value, str):
        attribute = {"S": value}
    elif isinstance(value, int):
        attribute = {"N": str(value)}
    elif isinstance(value, float):
        attribute = {"N": str(Decimal(repr(value)))}
    elif isinstance(value, list):
        attribute = {"L": [to_attribute(child) for child in value]}
    elif isinstance(value, Mapping):
        attribute = {"M": {str(key): to_attribute(child) for key, child in value.items()}}
    else:
        raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")
    return attribute


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as plain JSON (the inverse of :func:`to_attribute`)."""
    kind, value = next(iter(attribute.items()))
    if kind == "S":
        return value
    if kind == "N":
        number = float(value)
        return int(value) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "L":
        return [from_attribute(child) for child in value]
    if kind == "M":
        return {key: from_attribute(child) for key, child in value.items()}
    raise TypeError(f"unexpected DynamoDB type {kind}")


def item_from_image(image: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A record in DynamoDB JSON (an item, a stream image) as plain JSON."""
    return {name: from_attribute(value) for name, value in image.items()}


def _s(item: Mapping[str, Any] | None, name: str) -> str | None:
    value = item.get(name) if item is not None else None
    return str(value["S"]) if isinstance(value, Mapping) and "S" in value else None


def _n(item: Mapping[str, Any] | None, name: str) -> int | None:
    value = item.get(name) if item is not None else None
    return int(value["N"]) if isinstance(value, Mapping) and "N" in value else None


def idempotency_record_id(idempotency_key: str) -> str:
    return f"{IDEMPOTENCY_PREFIX}{idempotency_key}"


def conflict_record_id(item_id: str, loser_order_token: str) -> str:
    return f"{CONFLICT_PREFIX}{item_id}#{loser_order_token}"


def is_item_id(record_id: str) -> bool:
    """True for an application item, False for the table's own records (state, idempotency, conflict)."""
    return RECORD_ID_MARKER not in record_id


# ---- the write path -------------------------------------------------------------------------------------------------


def apply_event(
    table: ItemTable,
    event: Event,
    *,
    region: str,
    state: StateSource,
    cache: InvalidatesCache | None = None,
    clock_ms: Callable[[], int] = now_ms,
    sleep: Callable[[float], None] = time.sleep,
    deadline_ms: int | None = None,
) -> Outcome:
    """Apply ``event`` in ``region`` exactly once, last-writer-wins (see the module notes).

    ``deadline_ms`` is when the caller's invocation ends (epoch ms, e.g. from the Lambda context), if it knows: a
    claim made here is abandoned from then on at the latest.

    Raises
    ------
    FencedError
        The state does not allow writes in ``region`` (retryable).
    PayloadConflictError, VersionConflictError
        Refused; nothing was written.
    RetryableError
        Throttling or a transient failure after the client's own retries, or a concurrent delivery of the same event
        that has not settled yet: try again later.
    """
    current = state.get()
    if not current.may_write(region):
        raise FencedError(region, current.status, current.active_region, current.epoch)
    writer = _Writer(table, event, region, current.epoch, clock_ms, deadline_ms=deadline_ms)
    claim = writer.claim()
    if claim is not None:
        settled = _settled_outcome(event, claim, region)
        if settled is not None:
            return settled
    try:
        applied_version, holder = writer.apply()
    except Exception:
        if claim is None:
            writer.release_quietly()
        raise
    if applied_version is not None:
        # A settle that fails is retried with the event: the redelivery finds the item at this event's token and
        # settles the claim as applied, so a later repeat still answers "duplicate" (the token refuses a second apply).
        writer.settle(APPLIED, version=applied_version)
        if cache is not None:
            # A failed invalidation is retried by the stream handler, which sees this write too.
            cache.invalidate(event.id, event.order_token)
        return Outcome.of(APPLIED, event, region, version=applied_version)
    return _refused(writer, holder, claim=claim, state=state, sleep=sleep)


def _settled_outcome(event: Event, claim: Mapping[str, Any], region: str) -> Outcome | None:
    """The answer to a repeat from its claim, or None when the claim is still pending (raises on a payload conflict)."""
    if _s(claim, ATTR_PAYLOAD_HASH) != event.payload_hash:
        raise PayloadConflictError(event, _s(claim, ATTR_ITEM_ID) or "?", _s(claim, ATTR_PAYLOAD_HASH) or "?")
    original = _s(claim, ATTR_OUTCOME)
    if original not in (APPLIED, STALE):
        return None
    return Outcome.of(
        DUPLICATE,
        event,
        _s(claim, ATTR_LAST_UPDATED_REGION) or region,
        original=original,
        version=_n(claim, ATTR_VERSION),
        winner_order_token=_s(claim, ATTR_WINNER_ORDER_TOKEN),
    )


def _refused(
    writer: _Writer,
    holder: Mapping[str, Any] | None,
    *,
    claim: Mapping[str, Any] | None,
    state: StateSource,
    sleep: Callable[[float], None],
) -> Outcome:
    """The item refused the write: say why from the item it holds (``holder``, None when there is no item).

    ``claim`` is another delivery's pending claim of this event, None when this delivery made the claim.
    """
    event, region = writer.event, writer.region
    held_token = _s(holder, ATTR_ORDER_TOKEN)
    if held_token == event.order_token:
        # Another delivery of this event applied it (a concurrent one, or an attempt that crashed before settling).
        version = _n(holder, ATTR_VERSION)
        writer.settle(APPLIED, version=version)
        return Outcome.of(
            DUPLICATE,
            event,
            _s(holder, ATTR_LAST_UPDATED_REGION) or region,
            original=APPLIED,
            version=version,
        )
    if held_token is not None and held_token > event.order_token:
        if claim is not None:
            settled = _wait_for_settle(writer, claim, sleep)
            if settled is not None:
                return settled
        writer.record_conflict(held_token)
        writer.settle(STALE, winner=held_token)
        return Outcome.of(STALE, event, region, winner_order_token=held_token)
    held_epoch = _n(holder, ATTR_WRITE_EPOCH)
    if held_epoch is not None and held_epoch > writer.epoch:
        # The item was written under a newer epoch than the state this container holds: a failover happened.
        writer.release()
        state.invalidate()
        fresh = state.get()
        raise FencedError(region, fresh.status, fresh.active_region, max(fresh.epoch, held_epoch))
    writer.release()
    raise VersionConflictError(event, _n(holder, ATTR_VERSION) or 0)


def _wait_for_settle(writer: _Writer, claim: Mapping[str, Any], sleep: Callable[[float], None]) -> Outcome | None:
    """A pending claim of another delivery, and the item already past this event: its owner either applied it (and a
    later event followed) or found it stale; only the owner knows, so wait for it to settle. None: the claim was
    abandoned (its owner died), and this delivery decides."""
    if writer.clock_ms() >= owner_deadline(claim):
        return None
    waited = 0.0
    while waited < SETTLE_WAIT_SECONDS:
        sleep(SETTLE_POLL_SECONDS)
        waited += SETTLE_POLL_SECONDS
        record = writer.read_claim()
        if record is None:
            return None
        settled = _settled_outcome(writer.event, record, writer.region)
        if settled is not None:
            return settled
    if writer.clock_ms() >= owner_deadline(claim):
        return None
    raise RetryableError(f"event {writer.event.idempotency_key!r} is being processed by another delivery; retry later")


def owner_deadline(claim: Mapping[str, Any]) -> int:
    """When the owner of a pending claim can no longer act on it (epoch ms)."""
    deadline = _n(claim, ATTR_OWNER_DEADLINE)
    return deadline if deadline is not None else (_n(claim, ATTR_CLAIMED_AT) or 0) + CLAIM_OWNER_WINDOW_MS


class _Writer:
    """The requests of one event's write (each one conditional, each one counted)."""

    def __init__(
        self,
        table: ItemTable,
        event: Event,
        region: str,
        epoch: int,
        clock_ms: Callable[[], int],
        *,
        deadline_ms: int | None = None,
    ) -> None:
        self.table, self.event, self.region, self.epoch, self.clock_ms = table, event, region, epoch, clock_ms
        self.deadline_ms = deadline_ms
        self.claim_key = {ATTR_ID: {"S": idempotency_record_id(event.idempotency_key)}}
        self.claim_record: Mapping[str, Any] = {}

    def claim(self) -> Mapping[str, Any] | None:
        """Create the pending claim. None: created (this delivery owns it); else the existing claim."""
        now = self.clock_ms()
        deadline = now + CLAIM_OWNER_WINDOW_MS
        if self.deadline_ms is not None:
            deadline = min(deadline, self.deadline_ms)
        record = {
            **self.claim_key,
            ATTR_RECORD_TYPE: {"S": RECORD_TYPE_IDEMPOTENCY},
            ATTR_ITEM_ID: {"S": self.event.id},
            ATTR_PAYLOAD_HASH: {"S": self.event.payload_hash},
            ATTR_ORDER_TOKEN: {"S": self.event.order_token},
            ATTR_OUTCOME: {"S": PENDING},
            ATTR_LAST_UPDATED_REGION: {"S": self.region},
            ATTR_CLAIMED_AT: {"N": str(now)},
            ATTR_OWNER_DEADLINE: {"N": str(deadline)},
            ATTR_EXPIRES_AT: {"N": str(now // 1000 + IDEMPOTENCY_TTL_SECONDS)},
        }
        existing = _conditional(
            self.table.client.put_item,
            TableName=self.table.name,
            Item=record,
            ConditionExpression="attribute_not_exists(#id)",
            ExpressionAttributeNames={"#id": ATTR_ID},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ).old
        self.claim_record = existing if existing is not None else record
        return existing

    def apply(self) -> tuple[int | None, Mapping[str, Any] | None]:
        """The conditional item write: (the new version, None) when applied, else (None, the item that refused it)."""
        event = self.event
        names = {
            "#data": ATTR_DATA,
            "#ts": ATTR_TIMESTAMP,
            "#key": ATTR_IDEMPOTENCY_KEY,
            "#hash": ATTR_PAYLOAD_HASH,
            "#order": ATTR_ORDER_TOKEN,
            "#region": ATTR_LAST_UPDATED_REGION,
            "#type": ATTR_RECORD_TYPE,
            "#epoch": ATTR_WRITE_EPOCH,
            "#version": ATTR_VERSION,
        }
        values: dict[str, Any] = {
            ":data": _data_attribute(event.data),
            ":ts": {"N": str(event.timestamp)},
            ":key": {"S": event.idempotency_key},
            ":hash": {"S": event.payload_hash},
            ":order": {"S": event.order_token},
            ":region": {"S": self.region},
            ":type": {"S": RECORD_TYPE_ITEM},
            ":epoch": {"N": str(self.epoch)},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
        }
        condition = "(attribute_not_exists(#order) OR #order < :order) AND (attribute_not_exists(#epoch) OR #epoch <= :epoch)"
        if event.expected_version == 0:
            condition += " AND attribute_not_exists(#id)"
            names["#id"] = ATTR_ID
        elif event.expected_version is not None:
            condition += " AND #version = :expected"
            values[":expected"] = {"N": str(event.expected_version)}
        result = _conditional(
            self.table.client.update_item,
            TableName=self.table.name,
            Key={ATTR_ID: {"S": event.id}},
            UpdateExpression=(
                "SET #data = :data, #ts = :ts, #key = :key, #hash = :hash, #order = :order, #region = :region, "
                "#type = :type, #epoch = :epoch, #version = if_not_exists(#version, :zero) + :one"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="UPDATED_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        if result.failed:
            return None, result.old
        return _n(result.response.get("Attributes", {}), ATTR_VERSION), None

    def settle(self, outcome: str, *, version: int | None = None, winner: str | None = None) -> None:
        """Record the outcome in the claim, if still pending: the first to settle decides. (A conditional put of the
        whole claim rather than an update: the claim's content is known, and a put is the cheaper request.)"""
        record = {name: value for name, value in self.claim_record.items() if name not in (ATTR_VERSION, ATTR_WINNER_ORDER_TOKEN)}
        record[ATTR_OUTCOME] = {"S": outcome}
        if version is not None:
            record[ATTR_VERSION] = {"N": str(version)}
        if winner is not None:
            record[ATTR_WINNER_ORDER_TOKEN] = {"S": winner}
        _conditional(
            self.table.client.put_item,
            TableName=self.table.name,
            Item={**record, **self.claim_key},
            ConditionExpression="#outcome = :pending",
            ExpressionAttributeNames={"#outcome": ATTR_OUTCOME},
            ExpressionAttributeValues={":pending": {"S": PENDING}},
        )

    def release(self) -> None:
        """Delete this event's pending claim: the write was refused, and nothing of it must remain."""
        _conditional(
            self.table.client.delete_item,
            TableName=self.table.name,
            Key=self.claim_key,
            ConditionExpression="#outcome = :pending AND #hash = :hash",
            ExpressionAttributeNames={"#outcome": ATTR_OUTCOME, "#hash": ATTR_PAYLOAD_HASH},
            ExpressionAttributeValues={":pending": {"S": PENDING}, ":hash": {"S": self.event.payload_hash}},
        )

    def release_quietly(self) -> None:
        """Release after a failed apply, and leave the claim to its deadline if even that fails."""
        try:
            self.release()
        except Exception as error:
            logger.warning(
                "claim left pending",
                extra={"fields": {"idempotency_key": self.event.idempotency_key, "error": repr(error)}},
            )

    def read_claim(self) -> Mapping[str, Any] | None:
        response = _call(self.table.client.get_item, TableName=self.table.name, Key=self.claim_key, ConsistentRead=True)
        item: Mapping[str, Any] | None = response.get("Item")
        return item

    def record_conflict(self, winner: str) -> None:
        record_conflict(
            self.table,
            item_id=self.event.id,
            loser_order_token=self.event.order_token,
            loser_idempotency_key=self.event.idempotency_key,
            loser_region=self.region,
            winner_order_token=winner,
            detected_by="processor",
            detected_in=self.region,
            now=self.clock_ms(),
        )


def record_conflict(
    table: ItemTable,
    *,
    item_id: str,
    loser_order_token: str,
    loser_idempotency_key: str,
    loser_region: str,
    winner_order_token: str,
    detected_by: str,
    detected_in: str,
    now: int,
) -> bool:
    """Record a loser of last-writer-wins once (a repeat finds the record and writes nothing). True when written."""
    record = {
        ATTR_ID: {"S": conflict_record_id(item_id, loser_order_token)},
        ATTR_RECORD_TYPE: {"S": RECORD_TYPE_CONFLICT},
        ATTR_ITEM_ID: {"S": item_id},
        ATTR_LOSER_ORDER_TOKEN: {"S": loser_order_token},
        ATTR_LOSER_IDEMPOTENCY_KEY: {"S": loser_idempotency_key},
        ATTR_LOSER_REGION: {"S": loser_region},
        ATTR_WINNER_ORDER_TOKEN: {"S": winner_order_token},
        ATTR_DETECTED_BY: {"S": detected_by},
        ATTR_DETECTED_IN: {"S": detected_in},
        ATTR_DETECTED_AT: {"N": str(now)},
        ATTR_EXPIRES_AT: {"N": str(now // 1000 + CONFLICT_TTL_SECONDS)},
    }
    result = _conditional(
        table.client.put_item,
        TableName=table.name,
        Item=record,
        ConditionExpression="attribute_not_exists(#id)",
        ExpressionAttributeNames={"#id": ATTR_ID},
    )
    if not result.failed:
        logger.info(
            "conflict recorded",
            extra={
                "fields": {
                    "id": item_id,
                    "loser": loser_order_token,
                    "winner": winner_order_token,
                    "detected_by": detected_by,
                    "region": detected_in,
                }
            },
        )
    return not result.failed


def reassert_winner(table: ItemTable, winner: Mapping[str, Any]) -> bool:
    """Write ``winner`` (an item in DynamoDB JSON) back if the item now holds an event below it, or a write without an
    order token (which the order puts below every event, as the processor's condition does). True when written. A
    deleted item stays deleted.

    Idempotent and safe under concurrency: repeated or concurrent re-assertions of one winner write it at most once
    per downgrade, and a newer write is never overwritten.
    """
    token = _s(winner, ATTR_ORDER_TOKEN)
    if token is None:
        raise ValueError("the winner has no order token")
    result = _conditional(
        table.client.put_item,
        TableName=table.name,
        Item=dict(winner),
        ConditionExpression="attribute_exists(#id) AND (attribute_not_exists(#order) OR #order < :winner)",
        ExpressionAttributeNames={"#id": ATTR_ID, "#order": ATTR_ORDER_TOKEN},
        ExpressionAttributeValues={":winner": {"S": token}},
    )
    return not result.failed


# ---- requests -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    response: Mapping[str, Any]
    failed: bool = False
    old: Mapping[str, Any] | None = None


def _conditional(call: Callable[..., Any], **request: Any) -> _Result:
    """A conditional write: its response, or (failed, the item that failed the condition when DynamoDB returned it)."""
    try:
        return _Result(_call(call, **request))
    except _ConditionFailedError as failure:
        return _Result({}, failed=True, old=failure.item)


class _ConditionFailedError(Exception):
    def __init__(self, item: Mapping[str, Any] | None) -> None:
        self.item = item
        super().__init__("conditional check failed")


def _call(call: Callable[..., Any], **request: Any) -> Mapping[str, Any]:
    """One DynamoDB request; transient failures (after the client's own retries) become RetryableError."""
    try:
        response: Mapping[str, Any] = call(**request)
    except Exception as error:
        code = error_code(error)
        if code == CONDITIONAL_CHECK_FAILED:
            raise _ConditionFailedError(getattr(error, "response", {}).get("Item")) from None
        if is_transient(error):
            raise RetryableError(f"DynamoDB {code or type(error).__name__}: {error}") from error
        raise
    return response


def is_transient(error: BaseException) -> bool:
    """Throttling, a 5xx, a timeout or a lost connection: trying again later can succeed."""
    if error_code(error) in _RETRYABLE_CODES:
        return True
    status = getattr(error, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if isinstance(status, int) and status >= 500:
        return True
    return any(cls.__name__ in _TRANSIENT_ERROR_NAMES for cls in type(error).__mro__)


def _data_attribute(data: EventData) -> dict[str, Any]:
    return {"S": data} if isinstance(data, str) else to_attribute(data)
