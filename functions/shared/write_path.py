"""The write path: apply one event to the table exactly once, last-writer-wins, refused while the region is fenced.

:func:`apply_event` claims the event's idempotency key, applies the event to the item with one conditional
``UpdateItem`` and settles the claim with the outcome; a repeat is answered from its claim. Every step, what each
refusal means, and what a transient failure costs: ``docs/design/write-path.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from functions.shared.clients import CALL_BUDGET_SECONDS
from functions.shared.codec import number_of, string_of, to_item
from functions.shared.conditional import call_dynamodb, conditional
from functions.shared.conflicts import record_conflict
from functions.shared.errors import ConflictError, FencedError, RetryableError
from functions.shared.events import Event
from functions.shared.log import get_logger, now_ms
from functions.shared.schema import (
    ATTR_CLAIMED_AT,
    ATTR_DATA,
    ATTR_EXPIRES_AT,
    ATTR_ID,
    ATTR_IDEMPOTENCY_KEY,
    ATTR_ITEM_ID,
    ATTR_LAST_UPDATED_REGION,
    ATTR_ORDER_TOKEN,
    ATTR_OUTCOME,
    ATTR_OWNER_DEADLINE,
    ATTR_PAYLOAD_HASH,
    ATTR_RECORD_TYPE,
    ATTR_TIMESTAMP,
    ATTR_VERSION,
    ATTR_WINNER_ORDER_TOKEN,
    ATTR_WRITE_EPOCH,
    RECORD_TYPE_IDEMPOTENCY,
    RECORD_TYPE_ITEM,
    idempotency_record_id,
)
from functions.shared.state import ItemTable
from functions.shared.state_cache import StateSource

logger = get_logger("write_path")

# Outcomes.
APPLIED = "applied"
DUPLICATE = "duplicate"
STALE = "stale"
PENDING = "pending"

# An SQS message is kept at most 14 days: every redelivery of an event, from its queue or a redrive of its DLQ, finds
# the claim. After that a repeat is still never applied twice (the item's order token refuses it) but may be answered
# "stale" instead of "duplicate".
IDEMPOTENCY_TTL_SECONDS = 14 * 24 * 3600
# A claim found pending with the item already past the event: wait this long for its owner to settle it.
SETTLE_WAIT_SECONDS = 1.0
SETTLE_POLL_SECONDS = 0.02
# How long the owner of a claim can still act on it: the claim, the apply, the conflict record and the settle, each
# within one call's budget (76 s with clients.py's budget; the queue redelivers after 6 function timeouts, 180 s by
# default). A pending claim past it has no live owner.
CLAIM_OWNER_WINDOW_MS = int(4 * CALL_BUDGET_SECONDS * 1000)


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
    """Apply ``event`` in ``region`` exactly once, last-writer-wins (``docs/design/write-path.md``).

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
            writer.release_claim_quietly()
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


def replicated_outcome(table: ItemTable, event: Event, region: str) -> Outcome | None:
    """The answer to a copy of ``event`` in a region that may not write, read from the event's claim: the active
    region's outcome as a duplicate once its settled claim has replicated here, else None (nothing is written).

    The global endpoint replicates every event to both its regions (docs/design/events.md): the passive region's copy
    is the same event, so it is answered from the claim the global table brings, never applied a second time.

    Raises
    ------
    PayloadConflictError
        The claim is of the same idempotency key with a different payload.
    """
    key = to_item({ATTR_ID: idempotency_record_id(event.idempotency_key)})
    claim = call_dynamodb(table.client.get_item, TableName=table.name, Key=key, ConsistentRead=True).get("Item")
    return _settled_outcome(event, claim, region) if claim else None


def _settled_outcome(event: Event, claim: Mapping[str, Any], region: str) -> Outcome | None:
    """The answer to a repeat from its claim, or None when the claim is still pending (raises on a payload conflict)."""
    if string_of(claim, ATTR_PAYLOAD_HASH) != event.payload_hash:
        raise PayloadConflictError(event, string_of(claim, ATTR_ITEM_ID) or "?", string_of(claim, ATTR_PAYLOAD_HASH) or "?")
    original = string_of(claim, ATTR_OUTCOME)
    if original not in (APPLIED, STALE):
        return None
    return Outcome.of(
        DUPLICATE,
        event,
        string_of(claim, ATTR_LAST_UPDATED_REGION) or region,
        original=original,
        version=number_of(claim, ATTR_VERSION),
        winner_order_token=string_of(claim, ATTR_WINNER_ORDER_TOKEN),
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
    held_token = string_of(holder, ATTR_ORDER_TOKEN)
    if held_token == event.order_token:
        # Another delivery of this event applied it (a concurrent one, or an attempt that crashed before settling).
        version = number_of(holder, ATTR_VERSION)
        writer.settle(APPLIED, version=version)
        return Outcome.of(
            DUPLICATE,
            event,
            string_of(holder, ATTR_LAST_UPDATED_REGION) or region,
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
    held_epoch = number_of(holder, ATTR_WRITE_EPOCH)
    if held_epoch is not None and held_epoch > writer.epoch:
        # The item was written under a newer epoch than the state this container holds: a failover happened.
        writer.release_claim()
        state.invalidate()
        fresh = state.get()
        raise FencedError(region, fresh.status, fresh.active_region, max(fresh.epoch, held_epoch))
    writer.release_claim()
    raise VersionConflictError(event, number_of(holder, ATTR_VERSION) or 0)


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
    deadline = number_of(claim, ATTR_OWNER_DEADLINE)
    return deadline if deadline is not None else (number_of(claim, ATTR_CLAIMED_AT) or 0) + CLAIM_OWNER_WINDOW_MS


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
        self.claim_key = to_item({ATTR_ID: idempotency_record_id(event.idempotency_key)})
        self.claim_record: Mapping[str, Any] = {}

    def claim(self) -> Mapping[str, Any] | None:
        """Create the pending claim. None: created (this delivery owns it); else the existing claim."""
        now = self.clock_ms()
        deadline = now + CLAIM_OWNER_WINDOW_MS
        if self.deadline_ms is not None:
            deadline = min(deadline, self.deadline_ms)
        record = self.claim_key | to_item(
            {
                ATTR_RECORD_TYPE: RECORD_TYPE_IDEMPOTENCY,
                ATTR_ITEM_ID: self.event.id,
                ATTR_PAYLOAD_HASH: self.event.payload_hash,
                ATTR_ORDER_TOKEN: self.event.order_token,
                ATTR_OUTCOME: PENDING,
                ATTR_LAST_UPDATED_REGION: self.region,
                ATTR_CLAIMED_AT: now,
                ATTR_OWNER_DEADLINE: deadline,
                ATTR_EXPIRES_AT: now // 1000 + IDEMPOTENCY_TTL_SECONDS,
            }
        )
        existing = conditional(
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
        values: dict[str, object] = {
            ":data": event.data,
            ":ts": event.timestamp,
            ":key": event.idempotency_key,
            ":hash": event.payload_hash,
            ":order": event.order_token,
            ":region": self.region,
            ":type": RECORD_TYPE_ITEM,
            ":epoch": self.epoch,
            ":zero": 0,
            ":one": 1,
        }
        condition = "(attribute_not_exists(#order) OR #order < :order) AND (attribute_not_exists(#epoch) OR #epoch <= :epoch)"
        if event.expected_version == 0:
            condition += " AND attribute_not_exists(#id)"
            names["#id"] = ATTR_ID
        elif event.expected_version is not None:
            condition += " AND #version = :expected"
            values[":expected"] = event.expected_version
        result = conditional(
            self.table.client.update_item,
            TableName=self.table.name,
            Key=to_item({ATTR_ID: event.id}),
            UpdateExpression=(
                "SET #data = :data, #ts = :ts, #key = :key, #hash = :hash, #order = :order, #region = :region, "
                "#type = :type, #epoch = :epoch, #version = if_not_exists(#version, :zero) + :one"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
            ReturnValues="UPDATED_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        if result.failed:
            return None, result.old
        return number_of(result.response.get("Attributes", {}), ATTR_VERSION), None

    def settle(self, outcome: str, *, version: int | None = None, winner: str | None = None) -> None:
        """Record the outcome in the claim, if still pending: the first to settle decides. (A conditional put of the
        whole claim rather than an update: the claim's content is known, and a put is the cheaper request.)"""
        record = {name: value for name, value in self.claim_record.items() if name not in (ATTR_VERSION, ATTR_WINNER_ORDER_TOKEN)}
        settled = {ATTR_OUTCOME: outcome, ATTR_VERSION: version, ATTR_WINNER_ORDER_TOKEN: winner}
        record |= to_item({name: value for name, value in settled.items() if value is not None})
        conditional(
            self.table.client.put_item,
            TableName=self.table.name,
            Item={**record, **self.claim_key},
            ConditionExpression="#outcome = :pending",
            ExpressionAttributeNames={"#outcome": ATTR_OUTCOME},
            ExpressionAttributeValues=to_item({":pending": PENDING}),
        )

    def release_claim(self) -> None:
        """Delete this event's pending claim: the write was refused, and nothing of it must remain."""
        conditional(
            self.table.client.delete_item,
            TableName=self.table.name,
            Key=self.claim_key,
            ConditionExpression="#outcome = :pending AND #hash = :hash",
            ExpressionAttributeNames={"#outcome": ATTR_OUTCOME, "#hash": ATTR_PAYLOAD_HASH},
            ExpressionAttributeValues=to_item({":pending": PENDING, ":hash": self.event.payload_hash}),
        )

    def release_claim_quietly(self) -> None:
        """Release after a failed apply, and leave the claim to its deadline if even that fails."""
        try:
            self.release_claim()
        except Exception as error:
            logger.warning(
                "claim left pending",
                extra={"idempotency_key": self.event.idempotency_key, "error": repr(error)},
            )

    def read_claim(self) -> Mapping[str, Any] | None:
        response = call_dynamodb(self.table.client.get_item, TableName=self.table.name, Key=self.claim_key, ConsistentRead=True)
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
