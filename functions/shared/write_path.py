"""The write path: apply one event to the table exactly once, last-writer-wins, refused while the region is fenced.

:func:`apply_event` writes the event's settled idempotency claim and the conditional item update in one
``TransactWriteItems``: one round trip for a new event. A refused transaction says why in its cancellation reasons (the
claim that exists, the item that refused), so a repeat, a stale event and every refusal are told apart without a read.
Every step, what each refusal costs, and why this design: ``docs/design/write-path.md``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from functions.shared.clients import CALL_BUDGET_SECONDS
from functions.shared.codec import number_of, string_of, to_item
from functions.shared.conditional import call_dynamodb, conditional
from functions.shared.conflicts import record_conflict
from functions.shared.errors import TRANSACTION_CONFLICT, ConflictError, FencedError, RetryableError, error_code
from functions.shared.events import Event
from functions.shared.log import now_ms
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

# Outcomes.
APPLIED = "applied"
DUPLICATE = "duplicate"
STALE = "stale"
PENDING = "pending"

# An SQS message is kept at most 14 days: every redelivery of an event, from its queue or a redrive of its DLQ, finds
# the claim. After that a repeat is still never applied twice (the item's order token refuses it) but may be answered
# "stale" instead of "duplicate".
IDEMPOTENCY_TTL_SECONDS = 14 * 24 * 3600
# A claim is written settled, in the transaction that applies its event. Claims left pending by the earlier
# claim-apply-settle path carry the deadline of their owner: the transaction overwrites one only after it. The window
# is that path's (four calls of one call's budget), kept for the claims it left.
CLAIM_OWNER_WINDOW_MS = int(4 * CALL_BUDGET_SECONDS * 1000)
# A transaction or a write that met an item another transaction holds (TransactionConflict) is tried again at once, a
# few times, after a random pause doubling from 5 ms (at most ~1.3 s in all); then the message goes back to the queue.
CONFLICT_ATTEMPTS = 8
CONFLICT_PAUSE_SECONDS = 0.005
TRANSACTION_CANCELED = "TransactionCanceledException"
CONDITION_FAILED_REASON = "ConditionalCheckFailed"
CONFLICT_REASON = "TransactionConflict"
# Cancellation reasons that say "try again later" (DynamoDB's TransactWriteItems reference).
TRANSIENT_REASONS = frozenset({CONFLICT_REASON, "ThrottlingError", "ProvisionedThroughputExceeded"})


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

    ``deadline_ms`` is when the caller's invocation ends (epoch ms, e.g. from the Lambda context), if it knows: the
    claim records it, and no conflict is waited out past it.

    Raises
    ------
    FencedError
        The state does not allow writes in ``region`` (retryable).
    PayloadConflictError, VersionConflictError
        Refused; nothing was written.
    RetryableError
        Throttling or a transient failure after the client's own retries, an item held by other transactions for
        longer than a few tries, or a delivery of the same event by the earlier write path still in flight.
    """
    current = state.get()
    if not current.may_write(region):
        raise FencedError(region, current.status, current.active_region, current.epoch)
    writer = _Writer(table, event, region, current.epoch, clock_ms, sleep=sleep, deadline_ms=deadline_ms)
    attempt = writer.transact()
    if attempt.applied:
        if cache is not None:
            # A failed invalidation is retried by the stream handler, which sees this write too.
            cache.invalidate(event.id, event.order_token)
        return Outcome.of(APPLIED, event, region, version=attempt.version)
    if attempt.claim is not None:
        return _answer_from_claim(writer, attempt.claim, attempt.holder)
    return _refused(writer, attempt.holder, state=state)


@dataclass(frozen=True)
class _Attempt:
    """What the transaction did: applied (with the new version when known), or refused with the claim that exists
    (None: none did) and the item that failed the condition (None: it did not fail, or there is no item)."""

    applied: bool
    version: int | None = None
    claim: Mapping[str, Any] | None = None
    holder: Mapping[str, Any] | None = None


def _answer_from_claim(writer: _Writer, claim: Mapping[str, Any], holder: Mapping[str, Any] | None) -> Outcome:
    """A claim of this key exists: a payload conflict, a duplicate, or (a claim of the earlier write path) in flight."""
    event, region = writer.event, writer.region
    settled = _settled_outcome(event, claim, region)
    if settled is not None:
        if settled.version is None and string_of(holder, ATTR_ORDER_TOKEN) == event.order_token:
            return replace(settled, version=number_of(holder, ATTR_VERSION))
        return settled
    if string_of(holder, ATTR_ORDER_TOKEN) == event.order_token:
        return _duplicate_in_item(writer, holder)
    raise RetryableError(f"event {event.idempotency_key!r} is being processed by another delivery; retry later")


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


def _duplicate_in_item(writer: _Writer, holder: Mapping[str, Any] | None) -> Outcome:
    """The item holds this event, and no settled claim says so (the claim has not replicated here yet, or a delivery of
    the earlier write path crashed before settling): write the claim, answer duplicate."""
    version = number_of(holder, ATTR_VERSION)
    existing = writer.put_claim(APPLIED, version=version)
    if existing is not None:
        settled = _settled_outcome(writer.event, existing, writer.region)
        if settled is not None:
            return settled
        # Else a pending claim of the earlier path whose owner is within its deadline: it applied this event.
    region = string_of(holder, ATTR_LAST_UPDATED_REGION) or writer.region
    return Outcome.of(DUPLICATE, writer.event, region, original=APPLIED, version=version)


def _refused(writer: _Writer, holder: Mapping[str, Any] | None, *, state: StateSource) -> Outcome:
    """No claim existed and the item refused the write: say why from the item it holds (``holder``)."""
    event, region = writer.event, writer.region
    held_token = string_of(holder, ATTR_ORDER_TOKEN)
    if held_token == event.order_token:
        return _duplicate_in_item(writer, holder)
    if held_token is not None and held_token > event.order_token:
        # The claim and the apply commit together, so no delivery applied this event here: it lost. The loser's record
        # first, then the claim; a crash in between leaves no claim, and the redelivery records it again (once).
        writer.record_conflict(held_token)
        existing = writer.put_claim(STALE, winner=held_token)
        if existing is not None:
            return _answer_from_claim(writer, existing, holder)
        return Outcome.of(STALE, event, region, winner_order_token=held_token)
    held_epoch = number_of(holder, ATTR_WRITE_EPOCH)
    if held_epoch is not None and held_epoch > writer.epoch:
        # The item was written under a newer epoch than the state this container holds: a failover happened.
        state.invalidate()
        fresh = state.get()
        raise FencedError(region, fresh.status, fresh.active_region, max(fresh.epoch, held_epoch))
    raise VersionConflictError(event, number_of(holder, ATTR_VERSION) or 0)


def cancellation_reasons(error: BaseException) -> list[Mapping[str, Any]] | None:
    """The per-action reasons of a cancelled transaction, in the order of its actions; None for any other error."""
    if error_code(error) != TRANSACTION_CANCELED:
        return None
    reasons: list[Mapping[str, Any]] = getattr(error, "response", {}).get("CancellationReasons") or []
    return reasons


def _refusing_item(reason: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The item a cancellation reason returns when its action's condition failed (``ALL_OLD``), else None."""
    item: Mapping[str, Any] | None = reason.get("Item") if reason.get("Code") == CONDITION_FAILED_REASON else None
    return item


class _Writer:
    """The requests of one event's write: the transaction, and the stale event's conflict record and claim."""

    def __init__(
        self,
        table: ItemTable,
        event: Event,
        region: str,
        epoch: int,
        clock_ms: Callable[[], int],
        *,
        sleep: Callable[[float], None] = time.sleep,
        deadline_ms: int | None = None,
    ) -> None:
        self.table, self.event, self.region, self.epoch, self.clock_ms = table, event, region, epoch, clock_ms
        self.sleep, self.deadline_ms = sleep, deadline_ms
        self.claim_key = to_item({ATTR_ID: idempotency_record_id(event.idempotency_key)})

    def transact(self) -> _Attempt:
        """The claim, settled as applied, and the conditional item update: one ``TransactWriteItems``."""
        version = None if self.event.expected_version is None else self.event.expected_version + 1
        claim_put, claim_condition = self._claim_put(APPLIED, version=version)
        actions = [{"Put": claim_put | claim_condition}, {"Update": self._item_update()}]
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                call_dynamodb(self.table.client.transact_write_items, TransactItems=actions)
            except Exception as error:
                reasons = cancellation_reasons(error)
                if reasons is None:
                    raise
                codes = [reason.get("Code") for reason in reasons]
                if any(code in TRANSIENT_REASONS for code in codes):
                    self._pause(f"transaction cancelled: {codes}", attempt)
                    continue
                item_failed = reasons[-1].get("Code") == CONDITION_FAILED_REASON
                claim, holder = (_refusing_item(reason) for reason in reasons)
                if claim is None and not item_failed:
                    raise
                return _Attempt(False, claim=claim, holder=holder)
            return _Attempt(True, version=version)
        raise RetryableError(f"item {self.event.id!r} stayed held by other transactions; retry later")

    def _claim_put(self, outcome: str, **settled: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The claim record, settled with ``outcome``, and the condition to write it: no claim, or a pending claim of the
        earlier write path whose owner's deadline passed."""
        now = self.clock_ms()
        deadline = now + CLAIM_OWNER_WINDOW_MS if self.deadline_ms is None else min(now + CLAIM_OWNER_WINDOW_MS, self.deadline_ms)
        fields = {
            ATTR_RECORD_TYPE: RECORD_TYPE_IDEMPOTENCY,
            ATTR_ITEM_ID: self.event.id,
            ATTR_PAYLOAD_HASH: self.event.payload_hash,
            ATTR_ORDER_TOKEN: self.event.order_token,
            ATTR_OUTCOME: outcome,
            ATTR_LAST_UPDATED_REGION: self.region,
            ATTR_CLAIMED_AT: now,
            ATTR_OWNER_DEADLINE: deadline,
            ATTR_EXPIRES_AT: now // 1000 + IDEMPOTENCY_TTL_SECONDS,
            ATTR_VERSION: settled.get("version"),
            ATTR_WINNER_ORDER_TOKEN: settled.get("winner"),
        }
        put = {"TableName": self.table.name, "Item": self.claim_key | to_item({k: v for k, v in fields.items() if v is not None})}
        condition = {
            "ConditionExpression": (
                "attribute_not_exists(#id) OR (#outcome = :pending AND (#deadline < :now OR "
                "(attribute_not_exists(#deadline) AND #claimed < :abandoned)))"
            ),
            "ExpressionAttributeNames": {
                "#id": ATTR_ID,
                "#outcome": ATTR_OUTCOME,
                "#deadline": ATTR_OWNER_DEADLINE,
                "#claimed": ATTR_CLAIMED_AT,
            },
            "ExpressionAttributeValues": to_item({":pending": PENDING, ":now": now, ":abandoned": now - CLAIM_OWNER_WINDOW_MS}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        return put, condition

    def _item_update(self) -> dict[str, Any]:
        """The conditional item write: last-writer-wins, the fencing token, and ``expectedVersion`` when given."""
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
        return {
            "TableName": self.table.name,
            "Key": to_item({ATTR_ID: event.id}),
            "UpdateExpression": (
                "SET #data = :data, #ts = :ts, #key = :key, #hash = :hash, #order = :order, #region = :region, "
                "#type = :type, #epoch = :epoch, #version = if_not_exists(#version, :zero) + :one"
            ),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def put_claim(self, outcome: str, *, version: int | None = None, winner: str | None = None) -> Mapping[str, Any] | None:
        """Write the claim settled with ``outcome`` on its own (a stale event, or an applied one found in the item).
        None: written; else the claim that exists."""
        put, condition = self._claim_put(outcome, version=version, winner=winner)
        result = self._held_retried(lambda: conditional(self.table.client.put_item, **put, **condition))
        return result.old if result.failed else None

    def record_conflict(self, winner: str) -> None:
        self._held_retried(
            lambda: record_conflict(
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
        )

    def _held_retried(self, write: Callable[[], Any]) -> Any:
        """A single-item write, tried again while a transaction holds its item (TransactionConflictException)."""
        for attempt in range(CONFLICT_ATTEMPTS - 1):
            try:
                return write()
            except RetryableError as error:
                if error.__cause__ is None or error_code(error.__cause__) != TRANSACTION_CONFLICT:
                    raise
                self._pause("item held by a transaction", attempt)
        return write()

    def _pause(self, why: str, attempt: int) -> None:
        """Wait a moment before trying again, unless the invocation's deadline is too close (then retry later)."""
        pause = CONFLICT_PAUSE_SECONDS * 2**attempt * (1 + random.random())
        if self.deadline_ms is not None and self.clock_ms() + pause * 1000 + CALL_BUDGET_SECONDS * 1000 > self.deadline_ms:
            raise RetryableError(f"event {self.event.idempotency_key!r}: {why}; no time left to try again")
        self.sleep(pause)
