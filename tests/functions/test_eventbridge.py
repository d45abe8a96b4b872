"""Events through EventBridge: the processor's two message forms, and the global endpoint's replicated delivery.

Against the moto server: each region has the stack's bus, rule (``components.events.event_pattern``) and queue target,
``PutEvents`` on a bus reaches that region's queue as EventBridge's envelope, and the same event put on both regions'
buses (what the endpoint's replication does; moto does not replicate) is applied once: the passive region's copy is
answered from the active region's claim, before or after a failover.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from components.events import bus_name, event_pattern, queue_send_policy, rule_name
from components.runbook import health_check_arn
from functions.processor.handler import Processor
from functions.runbook.model import STEP_ACTIVATE, STEP_FENCE, STEP_SHIFT_TRAFFIC
from functions.runbook.steps import GATE_OPEN, attempt, run_updated_by
from functions.shared.errors import ValidationError
from functions.shared.events import EVENT_DETAIL_TYPE, VIA_EVENTBRIDGE, VIA_QUEUE, parse_message
from functions.shared.log import now_ms
from functions.shared.metrics import Metrics
from functions.shared.schema import STATUS_ACTIVE, STATUS_FAILOVER, STATUS_FENCED
from functions.shared.settings import Settings
from functions.shared.state import ItemTable, transition
from functions.shared.state_cache import StateCache
from tests.support.dynamo import WRITE_REGION, local_client
from tests.support.processor_queue import QueuePoller, emitted_metrics, get
from tests.support.runbook_doubles import SOURCE, START_EPOCH, TARGET, build_world, cluster_arn, request

PROJECT, PREFIX = "multi-region", "multi-region-test"
ACTIVE, PASSIVE = WRITE_REGION, "eu-west-1"
SKEW_MS = 300_000


def event_body(item_id: str, key: str, data: Any, timestamp: int | None = None) -> dict[str, Any]:
    return {"id": item_id, "data": data, "timestamp": now_ms() if timestamp is None else timestamp, "idempotencyKey": key}


def envelope(detail: Any, detail_type: str = EVENT_DETAIL_TYPE) -> str:
    """An SQS message body as an EventBridge rule delivers it."""
    return json.dumps(
        {
            "version": "0",
            "id": "0d4a5e1c-1b7a-4f3a-9f0e-3e0b1c2d3e4f",
            "detail-type": detail_type,
            "source": PROJECT,
            "account": "123456789012",
            "time": "2026-12-03T12:00:00Z",
            "region": ACTIVE,
            "resources": [],
            "detail": detail,
        }
    )


# ---- the two forms -------------------------------------------------------------------------------------------------


def test_a_message_is_the_event_itself_or_eventbridges_envelope_of_it() -> None:
    event = event_body("item-1", "k-1", {"n": 1}, timestamp=1_000)
    direct = parse_message(json.dumps(event), now_ms=2_000, max_skew_ms=SKEW_MS)
    wrapped = parse_message(envelope(event), now_ms=2_000, max_skew_ms=SKEW_MS)
    assert (direct.via, wrapped.via) == (VIA_QUEUE, VIA_EVENTBRIDGE)
    assert direct.event == wrapped.event
    assert wrapped.event.id == "item-1"  # the event's id, not the envelope's


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (envelope(event_body("item-1", "k-1", {}), detail_type="Other"), "detail-type", "must be 'ItemWrite'"),
        (json.dumps({"detail-type": EVENT_DETAIL_TYPE, "source": PROJECT}), "detail", "is required"),
        (envelope(["not", "an", "object"]), "detail", "must be a JSON object (the event), got an array"),
        (envelope({"id": "item-1", "data": {}, "idempotencyKey": "k-1"}), "detail.timestamp", "is required"),
        (envelope({**event_body("item-1", "k-1", {}), "extra": 1}), "detail.extra", "unknown field"),
    ],
    ids=["detail-type", "no-detail", "detail-not-object", "detail-missing-field", "detail-unknown-field"],
)
def test_a_bad_envelope_is_refused_naming_its_field(body: str, field: str, says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_message(body, now_ms=now_ms(), max_skew_ms=SKEW_MS)
    assert raised.value.field == field
    assert says in raised.value.message


# ---- the moto server: bus, rule, target, and the replicated delivery ----------------------------------------------


class Region:
    """One region's bus, rule, queue target with its DLQ and queue policies on the moto server, and its processor."""

    def __init__(self, name: str, endpoint: str, table: ItemTable) -> None:
        self.name = name
        self.events = local_client("events", name, endpoint)
        self.sqs = local_client("sqs", name, endpoint)
        dlq_url = self.sqs.create_queue(QueueName=f"{PREFIX}-events-dlq")["QueueUrl"]
        self.queue_url = self.sqs.create_queue(QueueName=f"{PREFIX}-events", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        queue_arn, dlq_arn = (self._arn(url) for url in (self.queue_url, dlq_url))
        self.events.create_event_bus(Name=bus_name(PREFIX))
        rule_arn = self.events.put_rule(
            Name=rule_name(PREFIX), EventBusName=bus_name(PREFIX), EventPattern=event_pattern(PROJECT)
        )["RuleArn"]
        for url, arn in ((self.queue_url, queue_arn), (dlq_url, dlq_arn)):
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(queue_send_policy(arn, rule_arn))})
        self.events.put_targets(
            Rule=rule_name(PREFIX),
            EventBusName=bus_name(PREFIX),
            Targets=[{"Id": "events-queue", "Arn": queue_arn, "DeadLetterConfig": {"Arn": dlq_arn}}],
        )
        settings = Settings(region=name, table_name=table.name)
        metrics = Metrics(service="processor", stream=io.StringIO())
        self.processor = Processor(settings, table, StateCache(table, ttl_seconds=0), None, metrics)
        self.poller = QueuePoller(self.sqs, self.queue_url, self.processor)

    def _arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def put(self, detail: dict[str, Any], source: str = PROJECT) -> None:
        entry = {
            "EventBusName": bus_name(PREFIX),
            "Source": source,
            "DetailType": EVENT_DETAIL_TYPE,
            "Detail": json.dumps(detail),
        }
        assert self.events.put_events(Entries=[entry])["FailedEntryCount"] == 0

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for document in emitted_metrics(self.processor):
            for name in ("Applied", "Duplicates", "Fenced"):
                totals[name] = totals.get(name, 0) + int(document.get(name, 0))
        return totals


@pytest.fixture
def two_regions(aws_endpoint: str, write_table: ItemTable) -> tuple[Region, Region]:
    """Both regions on one table: the global table once its replication has settled (moto does not replicate)."""
    return Region(ACTIVE, aws_endpoint, write_table), Region(PASSIVE, aws_endpoint, write_table)


def test_put_events_on_the_bus_reaches_the_queue_as_an_envelope_and_is_applied_once(
    two_regions: tuple[Region, Region], write_table: ItemTable
) -> None:
    active, _ = two_regions
    active.put(event_body("item-1", "k-1", {"n": 1}))
    active.put(event_body("item-2", "k-2", {"n": 2}), source="someone-else")  # not the application's: not matched
    [message] = active.sqs.receive_message(QueueUrl=active.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    body = json.loads(message["Body"])
    assert (body["detail-type"], body["source"], body["detail"]["idempotencyKey"]) == (EVENT_DETAIL_TYPE, PROJECT, "k-1")
    active.sqs.change_message_visibility(QueueUrl=active.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)

    active.poller.drain()
    item = get(write_table, "item-1")
    assert item is not None and (item["Data"], item["Version"]) == ({"n": 1}, 1)
    assert get(write_table, "item-2") is None
    assert active.totals() == {"Applied": 1, "Duplicates": 0, "Fenced": 0}


def test_the_replicated_copy_is_applied_once_whichever_region_sees_it_first(
    two_regions: tuple[Region, Region], write_table: ItemTable
) -> None:
    active, passive = two_regions
    event = event_body("item-1", "k-1", {"n": 1})
    for region in (active, passive):  # the endpoint's replication puts the one event on both buses
        region.put(event)

    assert passive.poller.poll_once() == 1  # before the active region's claim: refused, it waits in the queue
    assert get(write_table, "item-1") is None
    active.poller.drain()
    passive.poller.drain()  # now answered from the active region's claim: a duplicate, nothing written

    item = get(write_table, "item-1")
    assert item is not None and (item["Data"], item["Version"], item["LastUpdatedRegion"]) == ({"n": 1}, 1, ACTIVE)
    assert active.totals() == {"Applied": 1, "Duplicates": 0, "Fenced": 0}
    assert passive.totals() == {"Applied": 0, "Duplicates": 1, "Fenced": 1}


@pytest.fixture
def applied_in_active(two_regions: tuple[Region, Region]) -> tuple[Region, Region, dict[str, Any]]:
    """Both regions, and an event the active region has applied (put on its bus, its queue drained)."""
    active, passive = two_regions
    event = event_body("item-1", "k-1", {"n": 1})
    active.put(event)
    active.poller.drain()
    return active, passive, event


def test_after_a_failover_the_copy_of_an_event_the_old_region_applied_is_a_duplicate(
    applied_in_active: tuple[Region, Region, dict[str, Any]], write_table: ItemTable
) -> None:
    _, passive, event = applied_in_active
    transition(write_table, expected_epoch=1, to_status=STATUS_FENCED, active_region=ACTIVE, updated_by="test")
    transition(write_table, expected_epoch=2, to_status=STATUS_FAILOVER, active_region=PASSIVE, updated_by="test")
    transition(write_table, expected_epoch=3, to_status=STATUS_ACTIVE, active_region=PASSIVE, updated_by="test")
    passive.put(event)  # the replicated copy, still queued when the region became active
    passive.put(event_body("item-2", "k-2", {"n": 2}))  # routed here by the endpoint after the failover
    passive.poller.drain()

    assert get(write_table, "item-1")["Version"] == 1  # type: ignore[index]
    assert get(write_table, "item-2")["LastUpdatedRegion"] == PASSIVE  # type: ignore[index]
    assert passive.totals() == {"Applied": 1, "Duplicates": 1, "Fenced": 0}


def test_a_queued_event_in_a_passive_region_is_still_refused_without_an_envelope(
    applied_in_active: tuple[Region, Region, dict[str, Any]],
) -> None:
    _, passive, event = applied_in_active
    passive.sqs.send_message(QueueUrl=passive.queue_url, MessageBody=json.dumps(event))
    assert passive.poller.poll_once() == 1
    assert passive.totals() == {"Applied": 0, "Duplicates": 0, "Fenced": 1}


# ---- ops failover moves the endpoint -------------------------------------------------------------------------------


def endpoint_routes_to(route53: Any, check_arn: str, primary: str, secondary: str) -> str:
    """Where a global endpoint sends events: its primary while the health check it names is healthy, else its
    secondary. The check is a healthCheckGate gate: calculated over its one child, the region's endpoint check (which
    moto always reports healthy), so healthy exactly while the runbook holds its threshold at GATE_OPEN."""
    config = route53.get_health_check(HealthCheckId=check_arn.rsplit("/", 1)[-1])["HealthCheck"]["HealthCheckConfig"]
    return primary if config["HealthThreshold"] == GATE_OPEN else secondary


def test_ops_failover_moves_the_endpoint_with_the_traffic(aws_endpoint: str) -> None:
    """The endpoint's health check is the primary's gate (tests/test_events.py): the runbook's shift-traffic step that
    moves the API's traffic to the target moves the events there with it."""
    world = build_world(aws_endpoint)
    route53 = local_client("route53", "us-east-1", aws_endpoint)
    check = health_check_arn("aws", world.topology.traffic_gates[SOURCE])
    assert endpoint_routes_to(route53, check, SOURCE, TARGET) == SOURCE

    failover = request()
    run = world.start(failover)
    assert attempt(STEP_FENCE, failover, run, world.topology, world.clients, world.clock).done
    # Drained and promoted (the runbook's own tests prove those steps): the target named, its Aurora cluster the writer.
    world.set_state(STATUS_FAILOVER, TARGET, START_EPOCH + 2, run_updated_by(run.run_id))
    world.aurora.writer_arn = cluster_arn(TARGET)
    for name in (STEP_SHIFT_TRAFFIC, STEP_ACTIVATE):
        assert attempt(name, failover, run, world.topology, world.clients, world.clock).done
    assert endpoint_routes_to(route53, check, SOURCE, TARGET) == TARGET
