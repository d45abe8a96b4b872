"""The replication double's clock mode and outages (the drill's needs), against the moto server: lag in milliseconds,
holding a region's replication both ways, releasing or dropping the backlog, and a step that reads only the regions
said to have written (test_convergence covers the conflict rule and the step mode)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from simulation.drill_world import local_client
from simulation.local_tables import create_items_table
from simulation.replication_double import GlobalTableReplicationDouble

US, EU = "us-east-1", "eu-west-1"
TABLE = "items"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clients(aws_endpoint: str) -> dict[str, Any]:
    made = {region: local_client("dynamodb", region, aws_endpoint) for region in (US, EU)}
    for client in made.values():
        create_items_table(client, TABLE)
    return made


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def double(clients: dict[str, Any], clock: Clock, aws_endpoint: str) -> GlobalTableReplicationDouble:
    streams = {region: local_client("dynamodbstreams", region, aws_endpoint) for region in (US, EU)}
    return GlobalTableReplicationDouble(
        {region: (clients[region], streams[region]) for region in (US, EU)},
        TABLE,
        random.Random(1),
        now_ms=clock,
        min_lag_ms=100,
        max_lag_ms=100,
    )


def put(clients: dict[str, Any], region: str, item_id: str) -> None:
    clients[region].put_item(TableName=TABLE, Item={"Id": {"S": item_id}, "Region": {"S": region}})


def has(clients: dict[str, Any], region: str, item_id: str) -> bool:
    return "Item" in clients[region].get_item(TableName=TABLE, Key={"Id": {"S": item_id}}, ConsistentRead=True)


def test_a_copy_arrives_after_its_lag_in_milliseconds(
    clients: dict[str, Any], clock: Clock, double: GlobalTableReplicationDouble
) -> None:
    put(clients, US, "a")
    double.capture()
    clock.now += 60
    assert double.step() == 0 and not has(clients, EU, "a")
    assert double.lag_ms(EU) == 60 and double.lag_ms(US) == 0
    clock.now += 40
    assert double.step() == 1 and has(clients, EU, "a")
    assert double.lag_ms(EU) == 0 and double.applied_into == {EU: 1}


def test_an_outage_holds_both_ways_and_the_backlog_is_released(
    clients: dict[str, Any], clock: Clock, double: GlobalTableReplicationDouble
) -> None:
    put(clients, US, "written-before")
    double.capture()
    double.hold(EU)
    put(clients, US, "written-during")
    put(clients, EU, "stuck-in-eu")
    clock.now += 10_000
    double.step()
    assert not has(clients, EU, "written-before") and not has(clients, US, "stuck-in-eu")
    assert [r.key["Id"]["S"] for r in double.backlog(US, EU)] == ["written-before", "written-during"]
    assert [r.key["Id"]["S"] for r in double.backlog(EU, US)] == ["stuck-in-eu"]
    assert double.lag_ms(EU) == 10_000 and not double.quiescent()
    assert double.release(EU) == 3
    clock.now += 100  # the writes made during the outage were read at its end: their lag runs from then
    double.step()
    assert all(has(clients, region, item) for region in (US, EU) for item in ("written-before", "written-during", "stuck-in-eu"))
    assert double.backlog(US, EU) == [] and double.backlog(EU, US) == []


def test_a_region_gone_for_good_loses_its_unreplicated_writes(
    clients: dict[str, Any], clock: Clock, double: GlobalTableReplicationDouble
) -> None:
    put(clients, EU, "never-replicated")
    double.capture()
    double.hold(EU)
    dropped = double.drop(EU)
    assert [(r.source, r.target, r.key["Id"]["S"]) for r in dropped] == [(EU, US, "never-replicated")]
    clock.now += 10_000
    double.step()
    assert not has(clients, US, "never-replicated") and double.discarded == 1 and EU not in double.held
    put(clients, US, "after")  # replication to the region works again
    double.capture()
    clock.now += 100
    double.step()
    assert has(clients, EU, "after")


def test_a_step_told_who_wrote_still_reads_a_target_before_writing_into_it(
    clients: dict[str, Any], clock: Clock, double: GlobalTableReplicationDouble
) -> None:
    """eu-west-1 wrote too, but the step is told only of us-east-1: eu-west-1's write must still be read as its own
    (and replicated), not taken for a copy, before a copy is put into eu-west-1."""
    put(clients, US, "from-us")
    double.capture([US])
    put(clients, EU, "from-eu")
    clock.now += 100
    assert double.step(written=[]) == 1 and has(clients, EU, "from-us")
    clock.now += 100
    double.step(written=[])
    assert has(clients, US, "from-eu")


def test_records_a_handler_failed_on_are_handed_out_again_first(
    clients: dict[str, Any], double: GlobalTableReplicationDouble
) -> None:
    put(clients, US, "a")
    put(clients, US, "b")
    double.capture()
    records = double.take_records(US)
    assert [r["dynamodb"]["Keys"]["Id"]["S"] for r in records] == ["a", "b"]
    double.put_back(US, records[1:])
    put(clients, US, "c")
    double.capture()
    assert [r["dynamodb"]["Keys"]["Id"]["S"] for r in double.take_records(US)] == ["b", "c"]


def test_bad_uses_are_refused(clients: dict[str, Any], double: GlobalTableReplicationDouble, aws_endpoint: str) -> None:
    with pytest.raises(ValueError, match="unknown region 'ap-southeast-2'"):
        double.hold("ap-southeast-2")
    streams = {region: local_client("dynamodbstreams", region, aws_endpoint) for region in (US, EU)}
    regions = {region: (clients[region], streams[region]) for region in (US, EU)}
    with pytest.raises(ValueError, match="min_lag_ms <= max_lag_ms"):
        GlobalTableReplicationDouble(regions, TABLE, random.Random(1), now_ms=Clock(), min_lag_ms=5, max_lag_ms=1)
    with pytest.raises(ValueError, match="lag_ms needs a clock"):
        GlobalTableReplicationDouble(regions, TABLE, random.Random(1)).lag_ms(EU)
