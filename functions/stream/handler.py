"""The stream handler: one per region, on that region's table stream (``NEW_AND_OLD_IMAGES``).

For every changed item, local or replicated: re-assert the winner when the change moved the item down the total order
(:func:`functions.shared.conflicts.reassert_winner`), record the loser (:func:`functions.shared.conflicts.record_conflict`),
and invalidate the region's cache entry at the new order token, failing the record until that happened. The table's
own records are skipped. The first failed record is reported and the rest of the batch retried from it, so a shard
stays in order. Why the service's replication needs this, and the metrics: ``docs/design/functions.md``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from functions.shared.codec import string_of
from functions.shared.conflicts import reassert_winner, record_conflict
from functions.shared.errors import RetryableError
from functions.shared.log import get_logger, now_ms, request_context
from functions.shared.metrics import Metrics
from functions.shared.schema import ATTR_ID, ATTR_IDEMPOTENCY_KEY, ATTR_LAST_UPDATED_REGION, ATTR_ORDER_TOKEN, is_item_id
from functions.shared.settings import Settings
from functions.shared.state import ItemTable
from functions.shared.write_path import InvalidatesCache

logger = get_logger("stream")


@dataclass
class StreamHandler:
    """What the handler works with, built once per container (:func:`current_handler`); tests build their own."""

    region: str
    table: ItemTable
    cache: InvalidatesCache | None
    metrics: Metrics = field(default_factory=lambda: Metrics(service="stream"))
    clock_ms: Callable[[], int] = now_ms


_handler: StreamHandler | None = None
_handler_lock = threading.Lock()


def build_handler(settings: Settings) -> StreamHandler:
    from functions.shared.cache import ItemCache, cache_breaker
    from functions.shared.clients import aws_client, redis_client

    metrics = Metrics(service="stream")
    table = ItemTable(aws_client("dynamodb", settings.region), settings.table_name)
    redis = redis_client(settings)
    cache = None
    if redis is not None:
        cache = ItemCache(redis, settings.cache_ttl_seconds, metrics, breaker=cache_breaker(metrics))
    return StreamHandler(settings.region, table, cache, metrics)


def current_handler() -> StreamHandler:
    global _handler  # noqa: PLW0603 - one per container, built on the first invocation
    with _handler_lock:
        if _handler is None:
            _handler = build_handler(Settings.from_env())
        return _handler


def handle(event: Mapping[str, Any], context: Any, handler: StreamHandler | None = None) -> dict[str, list[dict[str, str]]]:
    """The Lambda entry point: process a batch of stream records; answer the first failed one."""
    handler = handler or current_handler()
    with request_context(str(getattr(context, "aws_request_id", ""))):
        try:
            failed = process_batch(event.get("Records", []), handler)
        finally:
            handler.metrics.flush()
    return {"batchItemFailures": [{"itemIdentifier": failed}] if failed is not None else []}


def process_batch(records: Sequence[Mapping[str, Any]], handler: StreamHandler) -> str | None:
    """Process every record in order; the sequence number of the first that failed, or None. Records after a failed
    one are processed too (their repairs must not wait for the cache to come back), and again on the retry, which
    Lambda starts at the reported one: every step is idempotent."""
    first_failed: str | None = None
    for record in records:
        change = record.get("dynamodb", {})
        try:
            process_record(record, handler)
        except Exception as error:
            sequence_number = str(change.get("SequenceNumber", ""))
            handler.metrics.add("Failed")
            logger.exception(
                "stream record failed",
                extra={"sequence_number": sequence_number, "event_id": record.get("eventID"), "error": repr(error)},
            )
            first_failed = first_failed or sequence_number
    return first_failed


def process_record(record: Mapping[str, Any], handler: StreamHandler) -> None:
    change = record.get("dynamodb", {})
    item_id = str(change.get("Keys", {}).get(ATTR_ID, {}).get("S", ""))
    if not item_id or not is_item_id(item_id):
        return
    handler.metrics.add("ItemChanges")
    old: Mapping[str, Any] = change.get("OldImage") or {}
    new: Mapping[str, Any] = change.get("NewImage") or {}
    winner, loser = _token(old), _token(new)
    if winner is not None and new and (loser is None or loser < winner):
        _repair(handler, item_id, old, new, winner=winner, loser=loser)
    if handler.cache is not None and not handler.cache.invalidate(item_id, _written_at(old, new)):
        raise RetryableError(f"the cache entry of {item_id!r} could not be invalidated; the record is retried")


def _repair(
    handler: StreamHandler, item_id: str, old: Mapping[str, Any], new: Mapping[str, Any], *, winner: str, loser: str | None
) -> None:
    """The service kept the loser: put the winner back and record the loser (a write without an order token is not an
    event of the write path: it is logged, and the winner restored, but there is no loser to record)."""
    reasserted = reassert_winner(handler.table, old)
    if reasserted:
        handler.metrics.add("Reasserted")
    if loser is None:
        logger.warning("item replaced by a write without an order token", extra={"id": item_id, "reasserted": reasserted})
        return
    recorded = record_conflict(
        handler.table,
        item_id=item_id,
        loser_order_token=loser,
        loser_idempotency_key=string_of(new, ATTR_IDEMPOTENCY_KEY) or "",
        loser_region=string_of(new, ATTR_LAST_UPDATED_REGION) or "",
        winner_order_token=winner,
        detected_by="stream",
        detected_in=handler.region,
        now=handler.clock_ms(),
    )
    if recorded:
        handler.metrics.add("ReplicationConflicts")
    logger.info(
        "replication kept the loser",
        extra={"id": item_id, "winner": winner, "loser": loser, "reasserted": reasserted},
    )


def _written_at(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """The order token the cache is invalidated at: the new image's; for a removed item, just above the old image's
    (``~`` sorts above every character of a token), so the copy of the removed item goes too."""
    if new:
        return _token(new) or ""
    return (_token(old) or "") + "~"


def _token(image: Mapping[str, Any]) -> str | None:
    return string_of(image, ATTR_ORDER_TOKEN) or None
