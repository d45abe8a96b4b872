"""Event processor: round trips per new event, duplicate and stale event, write units per event, events per second.

Events go through ``functions.processor.handler.process_record`` (parse, the write path's one transaction, cache
invalidation, metrics) on the container's processor (``build_processor``) against the moto server and a Redis server;
its requests are counted with botocore's ``before-call`` event. Taking turns with it (``bench.measure.interleaved``):
a bare ``put_item`` of a similar item, and the same put behind Powertools' idempotency (``idempotent_function`` on a
``DynamoDBPersistenceLayer``), each with its own client. Write units come from the records' sizes and DynamoDB's
billing rules (``bench/write_units.py``), for 2 and 3 regions.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bench.local import REGION, SAMPLE_DATA, STATE_READ, Local, RequestCounter, item_record
from bench.measure import BARS, Figure, Plot, Result, Table, interleaved
from bench.write_units import item_bytes, write_request
from functions.processor.handler import build_processor, process_record
from functions.shared.clients import aws_client
from functions.shared.events import parse_event
from functions.shared.log import now_ms
from functions.shared.schema import conflict_record_id, idempotency_record_id
from functions.shared.state import ItemTable
from functions.shared.state_cache import STATE_CACHE_SECONDS
from functions.shared.write_path import APPLIED, DUPLICATE, STALE, _Writer

NAME = "processor"
REGION_COUNTS = (2, 3)
TARGET_ROUND_TRIPS = 1
# Throughput at least half a bare put's: the bare put's rate over the processor's at most 2.
TARGET_BARE_OVER_PROCESSOR = 2.0
STALE_BEHIND_MS = 1_000
REPLICATED_MISS_REASON = (
    "cannot be met with one round trip and the payload-conflict guarantee: refusing a key reused on another item needs a "
    "record keyed by the key besides the item, two items in one round trip take a transaction, and a transaction bills "
    "2 units per item in the region written, so a new event costs at least 2 + 2 + 2 x (regions - 1) "
    "(docs/design/write-path.md)"
)
BARE, PROCESSOR, POWERTOOLS = "bare put_item", "processor", "Powertools idempotency"
BARE_UPDATE = "bare update_item (the write path's item update)"
RATES = (PROCESSOR, BARE, BARE_UPDATE, POWERTOOLS)
PHASES = (("new events", APPLIED), ("duplicates", DUPLICATE), ("stale events", STALE))

Samples = dict[str, list[int]]


def sqs_record(number: int, timestamp: int, key: str = "bench") -> SQSRecord:
    """An SQS message of the events queue, as the event source mapping delivers it to the record handler."""
    body = {"id": f"item-{number}", "data": SAMPLE_DATA, "timestamp": timestamp, "idempotencyKey": f"{key}-{number}"}
    return SQSRecord({"messageId": f"message-{number}", "body": json.dumps(body), "attributes": {"ApproximateReceiveCount": "1"}})


def run(local: Local, quick: bool) -> Result:
    events, warmup = (100, 10) if quick else (200, 20)
    return _Run(local, events, warmup).result()


class _Run:
    """One run: the processor, the baseline and Powertools on their own tables, the phases measured in turn."""

    def __init__(self, local: Local, events: int, warmup: int) -> None:
        self.events, self.warmup = events, warmup
        self.table = local.table("bench-processor")
        self.processor = build_processor(local.settings(self.table.name))
        config = aws_client("dynamodb", REGION).meta.config
        self.bare_client = boto3.session.Session().client("dynamodb", region_name=REGION, config=config)
        self.powertools_table = local.table("bench-powertools")
        self.powertools_client = boto3.session.Session().client("dynamodb", region_name=REGION, config=config)
        self.timestamp = now_ms()
        self.calls: dict[str, dict[str, Counter[str]]] = {}
        self.samples: dict[str, Samples] = {}
        self.powertools_keys: list[str] = []

    def result(self) -> Result:
        records = [sqs_record(number, self.timestamp) for number in range(self.warmup + self.events)]
        stale = [sqs_record(number, self.timestamp - STALE_BEHIND_MS, "stale") for number in range(self.warmup + self.events)]
        powertools = self._powertools()
        bare_ids = itertools.count()

        def bare_put() -> None:
            self.bare_client.put_item(TableName=self.table.name, Item=item_record(f"bare-{next(bare_ids)}"))

        def bare_update() -> None:
            self.bare_client.update_item(**_item_update(self.table, f"update-{next(bare_ids)}", self.timestamp))

        for record in records[: self.warmup]:
            process_record(record, self.processor)
        for (phase, expected), batch in zip(PHASES, (records, records, stale), strict=True):
            calls = {PROCESSOR: self._processing(batch[self.warmup :], expected, phase), BARE: bare_put}
            if phase != "stale events":
                calls[POWERTOOLS] = _powertools_calls(powertools, phase, self.warmup, self.events)
            if phase == "new events":
                calls[BARE_UPDATE] = bare_update
            self._measure(phase, calls)
        return _result(self, *self._units())

    def _processing(self, records: list[SQSRecord], expected: str, phase: str) -> Callable[[], None]:
        pending = iter(records)

        def process() -> None:
            kind = process_record(next(pending), self.processor).kind
            if kind != expected:
                raise RuntimeError(f"{phase}: expected {expected}, got {kind}")

        return process

    def _powertools(self) -> Callable[[int], object]:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

        # Outside Lambda it cannot bound an in-progress record by the invocation's remaining time, and says so per call.
        warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")

        store = DynamoDBPersistenceLayer(self.powertools_table.name, key_attr="Id", boto3_client=self.powertools_client)
        # The key of the record Powertools completes last, to read its size back.
        self.powertools_client.meta.events.register(
            "provide-client-params.dynamodb.UpdateItem", lambda params, **_: self.powertools_keys.append(params["Key"]["Id"]["S"])
        )

        @idempotent_function(data_keyword_argument="event", persistence_store=store)  # type: ignore[untyped-decorator]
        def handle(event: dict[str, Any]) -> dict[str, str]:
            self.powertools_client.put_item(TableName=self.powertools_table.name, Item=item_record(event["id"]))
            return {"id": event["id"]}

        return lambda number: handle(event={"id": f"item-{number}", "idempotencyKey": f"bench-{number}"})

    def _measure(self, phase: str, calls: dict[str, Callable[[], None]]) -> None:
        clients = {PROCESSOR: self.processor.table.client, POWERTOOLS: self.powertools_client}
        with ExitStack() as counting:
            counters = {name: counting.enter_context(RequestCounter(client)) for name, client in clients.items() if name in calls}
            self.samples[phase] = interleaved(calls, self.events, warmup=0)
        self.calls[phase] = {name: counter.snapshot() for name, counter in counters.items()}

    def _units(self) -> tuple[dict[str, dict[int, int]], dict[str, int]]:
        """Replicated write units per event by kind and region count (1: the region written, on any table), and the
        records' sizes they come from."""
        number = self.warmup
        event = parse_event(sqs_record(number, self.timestamp).body, now_ms=self.timestamp, max_skew_ms=0)
        stale_body = sqs_record(number, self.timestamp - STALE_BEHIND_MS, "stale").body
        stale = parse_event(stale_body, now_ms=self.timestamp, max_skew_ms=0)
        size = {
            "claim": _size(self.table, idempotency_record_id(event.idempotency_key)),
            "item": _size(self.table, event.id),
            "stale claim": _size(self.table, idempotency_record_id(stale.idempotency_key)),
            "conflict": _size(self.table, conflict_record_id(event.id, stale.order_token)),
            "powertools record": _size(self.powertools_table, self.powertools_keys[-1]),
            "bare item": item_bytes(item_record("bare-0")),
        }
        units = {kind: {regions: _event_units(kind, size, regions) for regions in (1, *REGION_COUNTS)} for kind in UNIT_KINDS}
        return units, size


UNIT_KINDS = (
    "processor, new event",
    "processor, duplicate",
    "processor, stale event",
    "Powertools, new event",
    "Powertools, duplicate",
    "bare put_item",
)


def _event_units(kind: str, size: Mapping[str, int], regions: int) -> int:
    """The writes each kind of event makes (a refused transaction or conditional put is billed, never replicated)."""
    transaction: dict[str, Any] = {"transactional": True, "regions": regions}
    writes = {
        "processor, new event": [write_request(size["claim"], **transaction), write_request(size["item"], **transaction)],
        "processor, duplicate": [
            write_request(size["claim"], **transaction, committed=False),
            write_request(size["item"], **transaction, committed=False),
        ],
        "processor, stale event": [
            write_request(size["stale claim"], **transaction, committed=False),
            write_request(size["item"], **transaction, committed=False),
            write_request(size["conflict"], regions=regions),
            write_request(size["stale claim"], regions=regions),
        ],
        "Powertools, new event": [
            write_request(size["powertools record"], regions=regions),
            write_request(size["bare item"], regions=regions),
            write_request(size["powertools record"], regions=regions),
        ],
        "Powertools, duplicate": [write_request(size["powertools record"], regions=regions, committed=False)],
        "bare put_item": [write_request(size["bare item"], regions=regions)],
    }
    return sum(writes[kind])


def _item_update(table: ItemTable, item_id: str, timestamp: int) -> dict[str, Any]:
    """The write path's conditional item update of a new item, alone (its ``Update`` action as an ``UpdateItem``)."""
    event = parse_event(
        json.dumps({"id": item_id, "data": SAMPLE_DATA, "timestamp": timestamp, "idempotencyKey": item_id}),
        now_ms=timestamp,
        max_skew_ms=0,
    )
    return _Writer(table, event, REGION, 1, now_ms)._item_update()


def _size(table: ItemTable, record_id: str) -> int:
    item = table.client.get_item(TableName=table.name, Key={"Id": {"S": record_id}}, ConsistentRead=True).get("Item")
    if item is None:
        raise RuntimeError(f"record {record_id!r} not found in {table.name}")
    return item_bytes(item)


def _powertools_calls(handle: Callable[[int], object], phase: str, warmup: int, events: int) -> Callable[[], None]:
    """Powertools on the same numbers as the processor: new keys, then the same keys again."""
    numbers = iter(range(warmup, warmup + events))
    if phase == "new events":
        for number in range(warmup):
            handle(number)

    def call() -> None:
        handle(next(numbers))

    return call


def _per_event(calls: Counter[str], events: int) -> float:
    return sum(count for name, count in calls.items() if name != STATE_READ) / events


def _rate(samples: list[int]) -> float:
    return len(samples) / (sum(samples) / 1e9)


def _figures(run: _Run, units: dict[str, dict[int, int]]) -> list[Figure]:
    trips = {phase: _per_event(run.calls[phase][PROCESSOR], run.events) for phase, _ in PHASES}
    new, dup = run.samples["new events"], run.samples["duplicates"]
    figures = [
        Figure("round trips per new event", trips["new events"], TARGET_ROUND_TRIPS, unit=""),
        Figure("round trips per duplicate", trips["duplicates"], TARGET_ROUND_TRIPS, unit=""),
        Figure(
            "round trips per stale event",
            trips["stale events"],
            unit="",
            reason="context: the refused transaction, the loser's record, its claim",
        ),
    ]
    figures += [
        Figure(
            f"replicated write units per new event, {regions} regions",
            units["processor, new event"][regions],
            regions + 1,
            unit="",
            reason=REPLICATED_MISS_REASON,
        )
        for regions in REGION_COUNTS
    ]
    figures += [
        Figure(
            "bare put_item/s / processor events/s (new events)",
            _rate(new[BARE]) / _rate(new[PROCESSOR]),
            TARGET_BARE_OVER_PROCESSOR,
            reason=(
                "target: at least half a bare put's rate; on the moto server the processor runs at the rate of its item "
                "update alone (below), whose nine-clause expression moto parses in milliseconds (docs/design/write-path.md)"
            ),
        ),
        Figure(
            "processor events/s / Powertools idempotency events/s (new events)", _rate(new[PROCESSOR]) / _rate(new[POWERTOOLS])
        ),
        Figure(
            "bare update_item/s (the write path's item update alone) / processor events/s (new events)",
            _rate(new[BARE_UPDATE]) / _rate(new[PROCESSOR]),
            reason="context: the emulator's cost of the item update's expression, the floor of any design that updates the item",
        ),
        Figure("processor events/s / bare put_item/s (duplicates)", _rate(dup[PROCESSOR]) / _rate(dup[BARE])),
    ]
    return figures


def _result(run: _Run, units: dict[str, dict[int, int]], sizes: dict[str, int]) -> Result:
    figures = _figures(run, units)
    new = run.samples["new events"]
    return Result(
        name=NAME,
        title="Event processor: round trips and write units per event, events per second",
        method=(
            f"{run.warmup} events to warm up, then {run.events} new events (new items), the same {run.events} again "
            f"(duplicates) and {run.events} events older than the items (stale), each through `process_record`, taking "
            f"turns with {run.events} bare `put_item` calls of a similar item and (new events, duplicates) the same put "
            "behind Powertools' `idempotent_function`. Requests counted with botocore's `before-call.dynamodb.*` event "
            f"on the processor's client; reads of the state record (one per container every {STATE_CACHE_SECONDS:g} s, "
            "not one per event) counted apart. Write units from the sizes of the records written (`bench/write_units.py`)."
        ),
        figures=figures,
        tables=_tables(run, units),
        notes=[
            "A round trip is one DynamoDB request; the processor's are listed by operation above. A new event is one "
            "`TransactWriteItems` (the settled claim and the conditional item update); a duplicate the same request, "
            "refused with the claim and the item in its cancellation reasons; a stale event the refused transaction, "
            "the loser's conflict record and its claim.",
            "Write units: a transaction bills 2 units per started KB of each item in the region written, and its items "
            "reach the other replicas as standard writes (1 unit per KB each); a refused write is counted as billed in "
            "the region written (an upper bound for a cancelled transaction) and replicated nowhere.",
            "The records' sizes (bytes, DynamoDB's rules): " + ", ".join(f"{name} {size}" for name, size in sizes.items()) + ".",
            "A new event also deletes the item's cache key in Redis (one DEL after the commit), which the events/s "
            "include; the processor's log lines are disabled while measuring.",
        ],
        plots=[
            Plot(
                name=NAME,
                title="Events per second on the moto server (new events)",
                ylabel="events/s",
                kind=BARS,
                series={name: [_rate(new[name])] for name in (BARE, BARE_UPDATE, PROCESSOR, POWERTOOLS)},
            )
        ],
    )


def _tables(run: _Run, units: dict[str, dict[int, int]]) -> list[Table]:
    operations = sorted({name for phase in run.calls.values() for name in phase[PROCESSOR]})
    return [
        Table(
            ("phase", *operations, "round trips per event (without state reads)"),
            tuple(
                (
                    phase,
                    *(str(calls[PROCESSOR].get(name, 0)) for name in operations),
                    f"{_per_event(calls[PROCESSOR], run.events):.2f}",
                )
                for phase, calls in run.calls.items()
            ),
        ),
        Table(
            (
                "event",
                "write units (region written)",
                *(f"replicated write units, {regions} regions" for regions in REGION_COUNTS),
            ),
            tuple((kind, *(str(units[kind][regions]) for regions in (1, *REGION_COUNTS))) for kind in UNIT_KINDS),
        ),
        Table(
            ("phase", *(f"{name}/s" for name in RATES)),
            tuple(
                (phase, *(f"{_rate(samples[name]):.0f}" if name in samples else "-" for name in RATES))
                for phase, samples in run.samples.items()
            ),
        ),
    ]
