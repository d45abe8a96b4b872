"""The stream handler: one per region, on that region's table stream (``NEW_AND_OLD_IMAGES``).

For every changed item, local or replicated: re-assert the winner when the change moved the item down the total order
(:func:`functions.shared.conflicts.reassert_winner`), record the loser (:func:`functions.shared.conflicts.record_conflict`),
and invalidate the region's cache entry at the new order token, failing the record until that happened. The table's
own records are skipped. Powertools' ``BatchProcessor`` runs :func:`process_record` on every record of the batch, in
order, also after a failed one; the first failed record alone is reported, and Lambda retries the shard from it (as
it would from the lowest of several), so a shard stays in order. Why, and the metrics: ``docs/design/functions.md``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from functions.shared.app_config import AppConfigSource, refresh, source_from_env
from functions.shared.batch import DYNAMODB_STREAMS, process_partial_batch
from functions.shared.codec import string_of
from functions.shared.conflicts import reassert_winner, record_conflict
from functions.shared.errors import RetryableError
from functions.shared.log import get_logger, lambda_entry, now_ms
from functions.shared.metrics import Metrics
from functions.shared.schema import ATTR_ID, ATTR_IDEMPOTENCY_KEY, ATTR_LAST_UPDATED_REGION, ATTR_ORDER_TOKEN, is_item_id
from functions.shared.settings import Settings
from functions.shared.state import ItemTable
from functions.shared.tracing import trace_entry
from functions.shared.write_path import InvalidatesCache

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

logger = get_logger("stream")


@dataclass
class StreamHandler:
    """What the handler works with, built once per container (:func:`current_handler`); tests build their own."""

    region: str
    table: ItemTable
    cache: InvalidatesCache | None
    metrics: Metrics = field(default_factory=lambda: Metrics(service="stream"))
    clock_ms: Callable[[], int] = now_ms
    app_config: AppConfigSource | None = None


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
    return StreamHandler(settings.region, table, cache, metrics, app_config=source_from_env(settings, os.environ))


def current_handler() -> StreamHandler:
    global _handler  # noqa: PLW0603 - one per container, built on the first invocation
    with _handler_lock:
        if _handler is None:
            _handler = build_handler(Settings.from_env())
        return _handler


@lambda_entry()
@trace_entry
def handle(event: Mapping[str, Any], context: Any, handler: StreamHandler | None = None) -> PartialItemFailureResponse:
    """The Lambda entry point: process a batch of stream records; answer the first failed one."""
    records = event.get("Records") or []
    handler = handler or current_handler()
    refresh(handler.app_config, handler.cache)  # the TTL of its invalidation markers
    try:
        failed = process_batch(records, handler)
    finally:
        handler.metrics.flush()
    return {"batchItemFailures": [{"itemIdentifier": failed}] if failed is not None else []}


def process_batch(records: Sequence[Mapping[str, Any]], handler: StreamHandler) -> str | None:
    """Process every record in order; the sequence number of the first that failed, or None. Records after a failed
    one are processed too (their repairs must not wait for the cache to come back), and again on the retry, which
    Lambda starts at the reported one: every step is idempotent."""
    response = process_partial_batch(records, DYNAMODB_STREAMS, partial(process_record, handler=handler))
    return next((failure["itemIdentifier"] for failure in response["batchItemFailures"]), None)


def process_record(record: DynamoDBRecord, handler: StreamHandler) -> None:
    """Repair and invalidate for one stream record; a failure is counted, logged and raised (the batch reports it)."""
    try:
        _process_change(record, handler)
    except Exception as error:
        handler.metrics.add("Failed")
        logger.exception(
            "stream record failed",
            extra={
                "sequence_number": record.dynamodb.sequence_number if record.dynamodb else None,
                "event_id": record.event_id,
                "error": repr(error),
            },
        )
        raise


def _process_change(record: DynamoDBRecord, handler: StreamHandler) -> None:
    change = record.dynamodb
    item_id = change.keys.get(ATTR_ID) if change is not None else None
    if change is None or not isinstance(item_id, str) or not is_item_id(item_id):
        return
    handler.metrics.add("ItemChanges")
    # The images as the stream has them (attribute values): the winner is written back as it was.
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
