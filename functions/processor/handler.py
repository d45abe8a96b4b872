"""The event processor: SQS-triggered, one event per message, partial batch responses.

Powertools' ``BatchProcessor`` (``process_partial_response``) runs :func:`process_record` on each record: it parses
(:func:`functions.shared.events.parse_message`: the event or EventBridge's envelope of it) and applies
(:func:`functions.shared.write_path.apply_event`) one event, and a record that raises is reported by its message id
(``batchItemFailures``), which SQS retries and then moves to the dead-letter queue; the rest proceed. Validation errors
and conflicts fail too, so that they land in the DLQ rather than vanish. Which failures fail a record, the metrics
flushed once per batch, and how the library is used: ``docs/design/functions.md``; EventBridge: docs/design/events.md.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from functions.shared.app_config import AppConfigSource, refresh, source_from_env
from functions.shared.batch import SQS, process_partial_batch
from functions.shared.errors import FencedError, RetryableError, ValidationError
from functions.shared.events import VIA_EVENTBRIDGE, Delivery, parse_message
from functions.shared.log import get_logger, lambda_entry, now_ms
from functions.shared.metrics import Metrics
from functions.shared.settings import Settings
from functions.shared.state import ItemTable
from functions.shared.state_cache import StateCache, StateSource
from functions.shared.tracing import trace_entry
from functions.shared.write_path import (
    APPLIED,
    DUPLICATE,
    STALE,
    InvalidatesCache,
    Outcome,
    PayloadConflictError,
    VersionConflictError,
    apply_event,
    replicated_outcome,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

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
    app_config: AppConfigSource | None = None


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
    return Processor(settings, table, StateCache(table), cache, metrics, app_config=source_from_env(settings, os.environ))


def current_processor() -> Processor:
    global _processor  # noqa: PLW0603 - one per container, built on the first invocation
    with _processor_lock:
        if _processor is None:
            _processor = build_processor(Settings.from_env())
        return _processor


@lambda_entry()
@trace_entry
def handle(event: Mapping[str, Any], context: Any, processor: Processor | None = None) -> PartialItemFailureResponse:
    """The Lambda entry point: process an SQS batch, answer the failed message ids."""
    records = event.get("Records") or []
    processor = processor or current_processor()
    runtime = refresh(processor.app_config, processor.cache)
    if runtime is not None:
        processor.settings = runtime.applied_to(processor.settings)
    record_handler = partial(process_record, processor=processor, deadline_ms=invocation_deadline(context, processor.clock_ms))
    try:
        return process_partial_batch(records, SQS, record_handler)
    finally:
        processor.metrics.flush()


def invocation_deadline(context: Any, clock_ms: Callable[[], int]) -> int | None:
    """When this invocation ends (epoch ms), from the Lambda context; None when the context does not say."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return clock_ms() + int(remaining()) if callable(remaining) else None


def process_record(record: SQSRecord, processor: Processor, deadline_ms: int | None = None) -> Outcome:
    """Parse and apply one SQS record: its outcome; a failure is logged, counted and raised (the record is reported)."""
    metrics = processor.metrics
    fields: dict[str, Any] = {"message_id": record.message_id, "receive_count": record.attributes.approximate_receive_count}
    try:
        delivery = parse_message(record.body, now_ms=processor.clock_ms(), max_skew_ms=processor.settings.max_clock_skew_ms)
        event = delivery.event
        fields.update(id=event.id, idempotency_key=event.idempotency_key, via=delivery.via)
        outcome = _apply(processor, delivery, deadline_ms)
    except Exception as error:
        _failed(metrics, error, fields)
        raise
    metrics.add(OUTCOME_METRICS[outcome.kind])
    logger.info(outcome.kind, extra={**fields, **outcome.as_dict()})
    return outcome


def _apply(processor: Processor, delivery: Delivery, deadline_ms: int | None) -> Outcome:
    """Apply the delivered event; a copy the global endpoint replicated to a region that may not write is answered from
    the active region's claim once that is here, and until then fails and waits in the queue like any fenced write."""
    region = processor.settings.region
    try:
        return apply_event(
            processor.table,
            delivery.event,
            region=region,
            state=processor.state,
            cache=processor.cache,
            clock_ms=processor.clock_ms,
            sleep=processor.sleep,
            deadline_ms=deadline_ms,
        )
    except FencedError:
        replicated = replicated_outcome(processor.table, delivery.event, region) if delivery.via == VIA_EVENTBRIDGE else None
        if replicated is None:
            raise
        return replicated


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
