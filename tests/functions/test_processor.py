"""The event processor (SQS-triggered, partial batch responses), called in-process against the moto server.

Test 6 (16 threads, the same 1000 events in random order with duplicates), test 10 (malformed and poisoned records
fail alone, and land in the dead-letter queue through a real moto SQS redrive) and test 11 (a fenced region refuses
writes with a retryable error; the retry applies once the region is active again) of the application-layer issue.
"""

from __future__ import annotations

import io
import json
import logging
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.processor import handler
from functions.processor.handler import Processor, handle, process_record
from functions.shared.clients import aws_client
from functions.shared.codec import item_from_image
from functions.shared.events import Event
from functions.shared.log import JsonFormatter, now_ms
from functions.shared.metrics import Metrics
from functions.shared.schema import STATUS_ACTIVE, STATUS_FENCED, conflict_record_id, idempotency_record_id
from functions.shared.settings import Settings
from functions.shared.state import ItemTable, read_state, transition
from functions.shared.state_cache import StateCache
from functions.shared.write_path import APPLIED, DUPLICATE, STALE, Outcome
from simulation.transactions_double import TransactionalClient
from tests.support.cache_doubles import FakeClock
from tests.support.dynamo import WRITE_REGION, WRITE_TABLE, DynamoDBFactory, create_items_table, local_client
from tests.support.processor_queue import Context, QueuePoller, emitted_metrics, get, record

MAX_RECEIVE_COUNT = 2


def make_processor(table: ItemTable, state: Any = None) -> Processor:
    settings = Settings(region=WRITE_REGION, table_name=table.name)
    metrics = Metrics(service="processor", stream=io.StringIO())
    return Processor(settings, table, state or StateCache(table, ttl_seconds=0), None, metrics)


def body(item_id: str, key: str, data: Any, timestamp: int | None = None, **extra: Any) -> str:
    return json.dumps(
        {"id": item_id, "data": data, "timestamp": now_ms() if timestamp is None else timestamp, "idempotencyKey": key, **extra}
    )


# ---- test 10, part 1: a mixed batch -------------------------------------------------------------------------------


def test_only_the_malformed_and_poisoned_records_of_a_mixed_batch_fail(write_table: ItemTable) -> None:
    processor = make_processor(write_table)
    records = [
        record("good-1", body("item-1", "k-1", {"n": 1})),
        record("not-json", "{not json"),
        record("good-2", body("item-2", "k-2", "text")),
        record("no-id", json.dumps({"data": {}, "timestamp": now_ms(), "idempotencyKey": "k-x"})),
        record("future", body("item-3", "k-3", {"n": 3}, timestamp=now_ms() + 3_600_000)),
        record("payload-conflict", body("item-9", "k-1", {"n": 666})),
        record("good-3", body("item-4", "k-4", {"n": 4})),
    ]
    response = handle({"Records": records}, Context(), processor=processor)
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": "not-json"},
            {"itemIdentifier": "no-id"},
            {"itemIdentifier": "future"},
            {"itemIdentifier": "payload-conflict"},
        ]
    }
    for item_id in ("item-1", "item-2", "item-4"):
        assert get(write_table, item_id) is not None
    assert get(write_table, "item-3") is None
    assert get(write_table, "item-9") is None
    [document] = emitted_metrics(processor)  # one EMF document per batch
    assert {name: document[name] for name in ("Applied", "ValidationErrors", "Conflicts", "Failed")} == {
        "Applied": 3,
        "ValidationErrors": 3,
        "Conflicts": 1,
        "Failed": 4,
    }
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "multi-region"


@pytest.fixture
def processor_log() -> Iterator[io.StringIO]:
    """The processor's JSON log lines (its logger writes to the stdout of the moment it was built)."""
    lines = io.StringIO()
    log_handler = logging.StreamHandler(lines)
    log_handler.setFormatter(JsonFormatter())
    handler.logger.addHandler(log_handler)
    yield lines
    handler.logger.removeHandler(log_handler)


def test_a_validation_failure_is_logged_with_its_field(write_table: ItemTable, processor_log: io.StringIO) -> None:
    processor = make_processor(write_table)
    handle({"Records": [record("bad", body("item-1", "k 1", {}))]}, Context("req-9"), processor=processor)
    lines = [json.loads(line) for line in processor_log.getvalue().splitlines()]
    [warning] = [line for line in lines if line["message"] == "invalid event"]
    assert (warning["field"], warning["message_id"], warning["request_id"], warning["level"]) == (
        "idempotencyKey",
        "bad",
        "req-9",
        "WARNING",
    )
    assert "may contain only letters" in warning["error"]


def test_an_unexpected_error_fails_its_record_only(write_table: ItemTable) -> None:
    class BrokenState:
        def get(self) -> Any:
            raise KeyError("boom")

        def invalidate(self) -> None:
            pass

    processor = make_processor(write_table, state=BrokenState())
    response = handle({"Records": [record("m-1", body("item-1", "k-1", {}))]}, Context(), processor=processor)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert emitted_metrics(processor)[0]["Unexpected"] == 1


def test_a_batch_whose_every_record_fails_reports_every_one(write_table: ItemTable) -> None:
    """Not an error of the invocation (which would retry the whole batch): each failed record is reported."""
    processor = make_processor(write_table)
    response = handle({"Records": [record("bad-1", "{not json"), record("bad-2", "[]")]}, Context(), processor=processor)
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}, {"itemIdentifier": "bad-2"}]}
    assert emitted_metrics(processor)[0]["Failed"] == 2


def test_an_empty_batch_has_no_failures(write_table: ItemTable) -> None:
    processor = make_processor(write_table)
    assert handle({"Records": []}, Context(), processor=processor) == {"batchItemFailures": []}
    assert emitted_metrics(processor) == []


@dataclass
class ContextWithDeadline(Context):
    remaining_ms: int = 1_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_claim_is_owned_no_longer_than_the_invocation_runs(write_table: ItemTable) -> None:
    """The deadline of the Lambda context reaches the write path: the claim's owner deadline is the invocation's end."""
    start = now_ms()
    processor = replace(make_processor(write_table), clock_ms=lambda: start)
    batch = {"Records": [record("m-1", body("item-1", "k-1", {"n": 1}, timestamp=start))]}
    assert handle(batch, ContextWithDeadline(remaining_ms=1_000), processor=processor) == {"batchItemFailures": []}
    claim = get(write_table, idempotency_record_id("k-1"))
    assert claim is not None
    assert claim["OwnerDeadline"] == start + 1_000


# ---- test 10, part 2 and test 11: a real queue with a redrive policy ------------------------------------------------


@pytest.fixture
def queues(aws_endpoint: str) -> tuple[Any, str, str]:
    """The events queue and its dead-letter queue (redrive after MAX_RECEIVE_COUNT receives)."""
    sqs = local_client("sqs", WRITE_REGION, aws_endpoint)
    dlq_url = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="events",
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
        },
    )["QueueUrl"]
    return sqs, queue_url, dlq_url


def dead_letters(sqs: Any, dlq_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages"):
        messages.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def test_malformed_and_poisoned_records_end_in_the_dead_letter_queue_and_nothing_else_is_lost(
    write_table: ItemTable, queues: tuple[Any, str, str]
) -> None:
    sqs, queue_url, dlq_url = queues
    good = [body(f"item-{index}", f"k-{index}", {"n": index}) for index in range(12)]
    bad = [
        "{not json",
        json.dumps({"id": "item-x", "timestamp": now_ms(), "idempotencyKey": "k-x"}),
        body("item-poison", "k-0", {"n": "not the payload k-0 was used for"}),
    ]
    for message_body in good[:1]:
        sqs.send_message(QueueUrl=queue_url, MessageBody=message_body)
    QueuePoller(sqs, queue_url, make_processor(write_table)).drain()  # k-0 is applied first: the poison is a conflict
    messages = good[1:] + bad
    random.Random(10).shuffle(messages)
    for message_body in messages:
        sqs.send_message(QueueUrl=queue_url, MessageBody=message_body)

    processor = make_processor(write_table)
    QueuePoller(sqs, queue_url, processor).drain()

    in_dlq = dead_letters(sqs, dlq_url)
    assert sorted(message["Body"] for message in in_dlq) == sorted(bad)
    assert {message["Attributes"]["ApproximateReceiveCount"] for message in in_dlq} == {str(MAX_RECEIVE_COUNT + 1)}
    for index in range(12):
        item = get(write_table, f"item-{index}")
        assert item is not None
        assert item["Data"] == {"n": index}
    assert get(write_table, "item-poison") is None
    totals: Counter[str] = Counter()
    for document in emitted_metrics(processor):
        totals.update({name: value for name, value in document.items() if isinstance(value, int)})
    assert (totals["Applied"], totals["ValidationErrors"], totals["Conflicts"]) == (11, 2 * MAX_RECEIVE_COUNT, MAX_RECEIVE_COUNT)


def test_a_fenced_region_refuses_writes_with_a_retryable_error_and_applies_them_once_active(
    write_table: ItemTable, queues: tuple[Any, str, str]
) -> None:
    sqs, queue_url, dlq_url = queues
    clock = FakeClock()
    processor = make_processor(write_table, state=StateCache(write_table, ttl_seconds=1.0, clock=clock))
    poller = QueuePoller(sqs, queue_url, processor)
    transition(write_table, expected_epoch=1, to_status=STATUS_FENCED, active_region=WRITE_REGION, updated_by="test")
    sqs.send_message(QueueUrl=queue_url, MessageBody=body("item-1", "k-1", {"n": 1}))

    assert poller.poll_once() == 1  # refused: the record failed, and is visible again
    assert get(write_table, "item-1") is None
    assert get(write_table, idempotency_record_id("k-1")) is None
    assert emitted_metrics(processor)[-1]["Fenced"] == 1
    assert read_state(write_table).may_serve_reads(WRITE_REGION)

    transition(write_table, expected_epoch=2, to_status=STATUS_ACTIVE, active_region=WRITE_REGION, updated_by="test")
    clock.advance(1.0)
    poller.drain()
    item = get(write_table, "item-1")
    assert item is not None
    assert (item["Data"], item["Version"]) == ({"n": 1}, 1)
    assert dead_letters(sqs, dlq_url) == []


# ---- the container ------------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(handler, "_processor", None)
    aws_client.cache_clear()
    yield
    aws_client.cache_clear()


def test_the_processor_is_built_once_per_container_from_its_environment(
    write_table: ItemTable, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, fresh_container: None
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("AWS_REGION", WRITE_REGION)
    monkeypatch.setenv("TABLE_NAME", WRITE_TABLE)
    response = handle({"Records": [record("m-1", body("item-1", "k-1", {"n": 1}))]}, Context())
    assert response == {"batchItemFailures": []}
    built = handler.current_processor()
    handle({"Records": [record("m-2", body("item-2", "k-2", {"n": 2}))]}, Context())
    assert handler.current_processor() is built
    assert (built.settings.region, built.table.name, built.cache) == (WRITE_REGION, WRITE_TABLE, None)
    assert get(write_table, "item-2") is not None


# ---- test 6: concurrent duplicates ----------------------------------------------------------------------------------

EVENTS = 1000
ITEMS = 200
THREADS = 16
TRANSACTION_PATIENCE_SECONDS = 0.5


def test_sixteen_threads_delivering_the_same_1000_events_change_each_key_exactly_once(
    serial_dynamodb_factory: DynamoDBFactory,
) -> None:
    # The moto server does not isolate transactions: the double gives DynamoDB's documented isolation (and waits for a
    # held item as long as the emulator's slowness stretches a transaction: simulation/transactions_double.py).
    created = create_items_table(serial_dynamodb_factory(WRITE_REGION), WRITE_TABLE, active_region=WRITE_REGION)
    table = ItemTable(TransactionalClient(created.client, patience=TRANSACTION_PATIENCE_SECONDS, sole_writer=True), created.name)
    processor = make_processor(table, state=StateCache(table))
    rng = random.Random(6)
    base = now_ms() - 1_000_000
    events = [
        Event(
            f"item-{rng.randrange(ITEMS)}",
            {"n": index, "pad": "x" * rng.randrange(50)},
            base + rng.randrange(2_000),
            f"key-{index}",
        )
        for index in range(EVENTS)
    ]
    # Random order; half of the repeats land within a few positions of the first delivery (so 16 threads process
    # them concurrently), the other half anywhere.
    placed: list[tuple[float, Event]] = []
    for ev in events:
        first_at = rng.random()
        placed.append((first_at, ev))
        for _ in range(rng.choice((0, 0, 1, 2))):
            placed.append((first_at + rng.random() * 0.005 if rng.random() < 0.5 else rng.random(), ev))
    deliveries = [ev for _, ev in sorted(placed, key=lambda entry: entry[0])]
    bodies = [json.dumps(ev.as_body()) for ev in deliveries]

    outcomes: dict[str, list[Outcome | None]] = defaultdict(list)
    lock = threading.Lock()

    def deliver(index: int) -> None:
        outcome = process_record(SQSRecord(record(f"m-{index}", bodies[index])), processor)
        with lock:
            outcomes[deliveries[index].idempotency_key].append(outcome)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(deliver, range(len(deliveries))))

    # No errors: every delivery has an outcome.
    assert sum(len(answers) for answers in outcomes.values()) == len(deliveries)
    assert all(outcome is not None for answers in outcomes.values() for outcome in answers)
    # Exactly one deciding outcome per key; every other delivery answers duplicate with that original outcome.
    first: dict[str, str] = {}
    for key, answers in outcomes.items():
        decided = [outcome for outcome in answers if outcome is not None and outcome.kind != DUPLICATE]
        assert len(decided) == 1, (key, answers)
        first[key] = decided[0].kind
        assert {outcome.original for outcome in answers if outcome is not None and outcome.kind == DUPLICATE} <= {first[key]}
    # One scan reads back every record (items, claims, conflict records).
    pages = table.client.get_paginator("scan").paginate(TableName=table.name, ConsistentRead=True)
    records = {item["Id"]["S"]: item_from_image(item) for page in pages for item in page["Items"]}
    # Exactly one state change per applied key: each item's version counts the events applied to it.
    applied_per_item = Counter(ev.id for ev in events if first[ev.idempotency_key] == APPLIED)
    for item_id, applied in applied_per_item.items():
        winner = max((ev for ev in events if ev.id == item_id), key=lambda ev: ev.order_key)
        item = records[item_id]
        assert (item["Version"], item["IdempotencyKey"], item["Data"]) == (applied, winner.idempotency_key, winner.data)
    # Every key settled with its outcome; every stale event recorded once as a loser.
    assert {ev.idempotency_key: records[idempotency_record_id(ev.idempotency_key)]["Outcome"] for ev in events} == first
    stale = [ev for ev in events if first[ev.idempotency_key] == STALE]
    conflicts = sorted(record_id for record_id, item in records.items() if item["RecordType"] == "conflict")
    assert conflicts == sorted(conflict_record_id(ev.id, ev.order_token) for ev in stale)
    totals = processor.metrics.snapshot()
    assert totals == {
        "Applied": sum(applied_per_item.values()),
        "StaleEvents": len(stale),
        "Duplicates": len(deliveries) - EVENTS,
    }
    print(f"\ntest 6: {EVENTS} events, {len(deliveries)} deliveries, counters {totals}, conflicts {table.client.conflicts}")
