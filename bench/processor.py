"""Event processor: DynamoDB requests per new event and per duplicate, and events per second against bare puts.

Events go through ``functions.processor.handler.process_record`` (parse, apply with claim / apply / settle, cache
invalidation, metrics) on a :class:`~functions.processor.handler.Processor` built by ``build_processor`` (the
container's real DynamoDB client, state cache and item cache) against the moto server and a Redis server. Its
requests are counted with botocore's ``before-call`` event on that client. The baseline is a bare ``put_item`` of a
similar item from a second client with the same configuration, on the same moto server, taking turns with the
processor (``bench.measure.interleaved``).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bench.local import REGION, SAMPLE_DATA, STATE_READ, Local, RequestCounter, item_record
from bench.measure import BARS, Figure, Plot, Result, Table, interleaved
from functions.processor.handler import Processor, build_processor, process_record
from functions.shared.clients import aws_client
from functions.shared.log import now_ms
from functions.shared.state_cache import STATE_CACHE_SECONDS
from functions.shared.write_path import APPLIED, DUPLICATE

NAME = "processor"
TARGET_REQUESTS_PER_EVENT = 1
NEW_EVENT_MISS_REASON = (
    "by design (functions/shared/write_path.py): claim, apply and settle are three conditional writes; the one "
    "TransactWriteItems of claim and apply that the write path considered could not check the fence, and moto copies the "
    "whole table per transaction and does not isolate concurrent ones"
)


def sqs_record(number: int, timestamp: int) -> SQSRecord:
    """An SQS message of the events queue, as the event source mapping delivers it to the record handler."""
    body = {"id": f"item-{number}", "data": SAMPLE_DATA, "timestamp": timestamp, "idempotencyKey": f"bench-{number}"}
    return SQSRecord({"messageId": f"message-{number}", "body": json.dumps(body), "attributes": {"ApproximateReceiveCount": "1"}})


def _processing(records: list[SQSRecord], processor: Processor, kinds: Counter[str]) -> Callable[[], None]:
    """A call that processes the next of ``records`` and counts its outcome's kind in ``kinds`` (a failed record
    raises)."""
    pending = iter(records)

    def process() -> None:
        kinds[process_record(next(pending), processor).kind] += 1

    return process


Phases = dict[str, tuple[list[int], list[int], Counter[str]]]


def run(local: Local, quick: bool) -> Result:
    events, warmup = (100, 10) if quick else (200, 20)
    return _result(_measure(local, events, warmup), events, warmup)


def _measure(local: Local, events: int, warmup: int) -> Phases:
    """Per phase (new events, duplicates): the processor's and the bare puts' nanoseconds, and the processor's
    DynamoDB requests by operation."""
    table = local.table("bench-processor")
    processor = build_processor(local.settings(table.name))
    client = processor.table.client
    # The baseline's own client, configured like the processor's, so that counting the processor's requests
    # counts nothing else.
    bare_client = boto3.session.Session().client(
        "dynamodb", region_name=REGION, config=aws_client("dynamodb", REGION).meta.config
    )
    timestamp = now_ms()
    records = [sqs_record(number, timestamp) for number in range(warmup + events)]
    for record in records[:warmup]:
        process_record(record, processor)
    measured = records[warmup:]
    bare_ids = itertools.count()

    def bare_put() -> None:
        bare_client.put_item(TableName=table.name, Item=item_record(f"bare-{next(bare_ids)}"))

    phases: Phases = {}
    for phase, expected in (("new events", APPLIED), ("duplicates", DUPLICATE)):
        kinds: Counter[str] = Counter()
        process = _processing(measured, processor, kinds)
        with RequestCounter(client) as counter:
            samples = interleaved({"processor": process, "bare put_item": bare_put}, events, warmup=0)
        if kinds != Counter({expected: events}):
            raise RuntimeError(f"{phase}: expected {events} {expected}, got {dict(kinds)}")
        phases[phase] = (samples["processor"], samples["bare put_item"], counter.snapshot())
    return phases


def _per_event(calls: Counter[str], events: int) -> float:
    return sum(count for name, count in calls.items() if name != STATE_READ) / events


def _rate(samples: list[int]) -> float:
    return len(samples) / (sum(samples) / 1e9)


def _result(phases: Phases, events: int, warmup: int) -> Result:
    new_processor, new_bare, new_calls = phases["new events"]
    dup_processor, dup_bare, dup_calls = phases["duplicates"]
    return Result(
        name=NAME,
        title="Event processor: DynamoDB requests per event, events per second",
        method=(
            f"{warmup} events to warm up, then {events} new events and the same {events} again (duplicates), each "
            f"through `process_record`, taking turns with {events} bare `put_item` calls of a similar item. Requests "
            "counted with botocore's `before-call.dynamodb.*` event on the processor's client; reads of the state "
            f"record (one per container every {STATE_CACHE_SECONDS:g} s, not one per event) counted apart."
        ),
        figures=[
            Figure(
                "DynamoDB requests per new event",
                _per_event(new_calls, events),
                TARGET_REQUESTS_PER_EVENT,
                unit="",
                reason=NEW_EVENT_MISS_REASON,
            ),
            Figure("DynamoDB requests per duplicate", _per_event(dup_calls, events), TARGET_REQUESTS_PER_EVENT, unit=""),
            Figure(
                "processor events/s / bare put_item/s (new events)",
                _rate(new_processor) / _rate(new_bare),
                reason="context: no target set; three conditional writes and a Redis DEL against one plain put",
            ),
            Figure("processor events/s / bare put_item/s (duplicates)", _rate(dup_processor) / _rate(dup_bare)),
        ],
        tables=_tables(phases, events),
        notes=[
            "Requests per event as `docs/design/write-path.md` states them: a new event 3 writes (claim, apply, "
            "settle), a duplicate 1 (the claim, refused, returns the original outcome), a stale event 4, a payload "
            "conflict 1.",
            "A new event also deletes the item's cache key in Redis (one DEL after the commit), which the events/s "
            "include; the processor's log lines are disabled while measuring.",
        ],
        plots=[
            Plot(
                name=NAME,
                title="Events per second on the moto server",
                ylabel="events/s",
                kind=BARS,
                series={
                    "bare put_item": [_rate(new_bare + dup_bare)],
                    "processor, new events": [_rate(new_processor)],
                    "processor, duplicates": [_rate(dup_processor)],
                },
            )
        ],
    )


def _tables(phases: Phases, events: int) -> list[Table]:
    operations = sorted({name for _, _, calls in phases.values() for name in calls})
    return [
        Table(
            ("phase", *operations, "per event (without state reads)"),
            tuple(
                (phase, *(str(calls.get(name, 0)) for name in operations), f"{_per_event(calls, events):.2f}")
                for phase, (_, _, calls) in phases.items()
            ),
        ),
        Table(
            ("phase", "processor events/s", "bare put_item/s"),
            tuple((phase, f"{_rate(processed):.0f}", f"{_rate(bare):.0f}") for phase, (processed, bare, _) in phases.items()),
        ),
    ]
