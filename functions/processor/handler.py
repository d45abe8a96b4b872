"""The event processor: SQS-triggered, one event per message, partial batch responses.

Each record is parsed (:func:`functions.shared.events.parse_event`) and applied
(:func:`functions.shared.write_path.apply_event`) on its own; the response lists the failed records
(``batchItemFailures``), which SQS retries and then moves to the dead-letter queue. Validation errors and conflicts
fail too, so that they land in the DLQ rather than vanish. Which failures fail a record, and the metrics flushed once
per batch: ``docs/design/functions.md``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from functions.shared.errors import FencedError, RetryableError, ValidationError
from functions.shared.events import parse_event
from functions.shared.log import get_logger, now_ms, request_context
from functions.shared.metrics import Metrics
from functions.shared.settings import Settings
from functions.shared.state import ItemTable
from functions.shared.state_cache import StateCache, StateSource
from functions.shared.write_path import (
    APPLIED,
    DUPLICATE,
    STALE,
    InvalidatesCache,
    Outcome,
    PayloadConflictError,
    VersionConflictError,
    apply_event,
)

logger = get_logger("processor")

OUTCOME_METRICS = {APPLIED: "Applied", DUPLICATE: "Duplicates", STALE: "StaleEvents"}
# Failures we expect, most specific first: (exception, metric, log message).
EXPECTED_FAILURES: tuple[tuple[type[Exception], str, str], ...] = (
    (ValidationError, "ValidationErrors", "invalid event"),
    (PayloadConflictError, "Conflicts", "payload conflict"),
    (VersionConflictError, "VersionConflicts", "version conflict"),
    (FencedError, "Fenced", "writes refused"),
    (RetryableError, "Retryable", "retryable failure"),
)


@dataclass
class Processor:
    """What the processor works with, built once per container (:func:`current_processor`); tests build their own."""

    settings: Settings
    table: ItemTable
    state: StateSource
    cache: InvalidatesCache | None
    metrics: Metrics = field(default_factory=lambda: Metrics(service="processor"))
    clock_ms: Callable[[], int] = now_ms
    sleep: Callable[[float], None] = time.sleep


_processor: Processor | None = None
_processor_lock = threading.Lock()


def build_processor(settings: Settings) -> Processor:
    """The container's processor: a DynamoDB client with timeouts and retries, the state cache, the item cache."""
    from functions.shared.cache import ItemCache, cache_breaker
    from functions.shared.clients import aws_client, redis_client

    metrics = Metrics(service="processor")
    table = ItemTable(aws_client("dynamodb", settings.region), settings.table_name)
    redis = redis_client(settings)
    cache = None
    if redis is not None:
        cache = ItemCache(redis, settings.cache_ttl_seconds, metrics, breaker=cache_breaker(metrics))
    return Processor(settings, table, StateCache(table), cache, metrics)


def current_processor() -> Processor:
    global _processor  # noqa: PLW0603 - one per container, built on the first invocation
    with _processor_lock:
        if _processor is None:
            _processor = build_processor(Settings.from_env())
        return _processor


def handle(event: Mapping[str, Any], context: Any, processor: Processor | None = None) -> dict[str, list[dict[str, str]]]:
    """The Lambda entry point: process an SQS batch, answer the failed message ids."""
    processor = processor or current_processor()
    with request_context(str(getattr(context, "aws_request_id", ""))):
        try:
            failed = process_batch(event.get("Records", []), processor, invocation_deadline(context, processor.clock_ms))
        finally:
            processor.metrics.flush()
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def invocation_deadline(context: Any, clock_ms: Callable[[], int]) -> int | None:
    """When this invocation ends (epoch ms), from the Lambda context; None when the context does not say."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return clock_ms() + int(remaining()) if callable(remaining) else None


def process_batch(records: Sequence[Mapping[str, Any]], processor: Processor, deadline_ms: int | None = None) -> list[str]:
    """Process every record; the message ids of those that failed, in order."""
    return [str(record.get("messageId", "")) for record in records if process_record(record, processor, deadline_ms) is None]


def process_record(record: Mapping[str, Any], processor: Processor, deadline_ms: int | None = None) -> Outcome | None:
    """Parse and apply one SQS record: its outcome, or None when it failed (it is logged and counted)."""
    metrics = processor.metrics
    fields: dict[str, Any] = {
        "message_id": record.get("messageId", ""),
        "receive_count": record.get("attributes", {}).get("ApproximateReceiveCount"),
    }
    try:
        event = parse_event(record.get("body"), now_ms=processor.clock_ms(), max_skew_ms=processor.settings.max_clock_skew_ms)
        fields.update(id=event.id, idempotency_key=event.idempotency_key)
        outcome = apply_event(
            processor.table,
            event,
            region=processor.settings.region,
            state=processor.state,
            cache=processor.cache,
            clock_ms=processor.clock_ms,
            sleep=processor.sleep,
            deadline_ms=deadline_ms,
        )
    except Exception as error:
        _failed(metrics, error, fields)
        return None
    metrics.add(OUTCOME_METRICS[outcome.kind])
    logger.info(outcome.kind, extra={**fields, **outcome.as_dict()})
    return outcome


def _failed(metrics: Metrics, error: Exception, fields: dict[str, Any]) -> None:
    expected = next((entry for entry in EXPECTED_FAILURES if isinstance(error, entry[0])), None)
    if expected is None:
        metrics.add("Unexpected")
        logger.exception("unexpected failure", extra={**fields, "error": repr(error)})
    else:
        _, metric, message = expected
        metrics.add(metric)
        details = {"field": error.field, "error": error.message} if isinstance(error, ValidationError) else {"error": str(error)}
        logger.warning(message, extra={**fields, **details})
    metrics.add("Failed")
