"""The fault matrix, the other cells: DynamoDB faults in the stream handler and the API, and the cache unreachable at
container start, hung, or dying mid-batch for every function (the scenario and the invariants checked after every
cell: ``tests/support/matrix.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.faults import DOWN, HUNG, KILL, SERVER_ERROR, THROTTLE, DynamoFaults
from tests.support.matrix import EVENTS, STREAM_CALLS, World, body, check
from tests.support.world import settle


@pytest.mark.parametrize("at", range(1, STREAM_CALLS + 1))
@pytest.mark.parametrize("kind", [THROTTLE, SERVER_ERROR, KILL])
def test_stream_handler_dynamodb_fault_at_each_call(world: World, kind: str, at: int) -> None:
    world.run()
    faults = world.secondary.faults["stream"]
    faults.kind, faults.at = kind, at
    settle(world.regions)
    assert faults.calls >= at  # the fault was reached
    world.finish()
    check(world)


@pytest.mark.parametrize("kind", [THROTTLE, SERVER_ERROR])
def test_api_dynamodb_fault_at_each_read_is_a_503_the_retry_answers(world: World, kind: str) -> None:
    world.primary.queue.send_message(MessageBody=body(*EVENTS[0]))
    world.accepted.append(EVENTS[0])
    world.primary.queue.drain(world.primary)
    faults = world.primary.faults["api"]
    for route in ("GET /items/{id}", "POST /events", "GET /state"):
        faults.kind, faults.at = kind, faults.calls + 1
        options: dict[str, Any] = {"item_id": "item-1"} if route.startswith("GET /items") else {}
        if route == "POST /events":
            options["body"] = body(*EVENTS[1])
        status, answer, _ = world.primary.request(route, **options)
        assert (status, answer["error"]) == (503, "unavailable")
        assert world.primary.request(route, **options)[0] in (200, 202)
    world.accepted.append(EVENTS[1])
    world.run()
    world.finish()
    check(world)


def _down_at_start(world: World) -> None:
    world.set_caches(DOWN)
    for region in world.regions:
        for function in ("api", "processor", "stream"):
            region.replace_container(function)


def _hung_at_start(world: World) -> None:
    world.set_caches(HUNG)
    for region in world.regions:
        for function in ("api", "processor", "stream"):
            region.replace_container(function)


def _dying_mid_batch(world: World) -> None:
    """The caches go down while the processor is in the middle of its batch (before its sixth DynamoDB call)."""

    def die(number: int) -> None:
        if number == 6:
            world.set_caches(DOWN)

    world.primary.faults["processor"].before = die


def _hung_mid_batch(world: World) -> None:
    world.primary.queue.send_message(MessageBody=body(*EVENTS[2]))
    world.primary.queue.drain(world.primary)
    world.accepted.append(EVENTS[2])
    world.set_caches(HUNG)


@pytest.mark.parametrize(
    ("world", "cache_fault"),
    [
        ("cluster primary", _down_at_start),
        ("single primary", _down_at_start),
        ("cluster primary", _hung_at_start),
        ("single primary", _dying_mid_batch),
        ("single primary", _hung_mid_batch),
    ],
    indirect=["world"],
)
def test_cache_faults_in_every_function(world: World, cache_fault: Any) -> None:
    cache_fault(world)
    world.run()
    world.finish()
    check(world)


def test_the_injector_counts_calls_of_its_own_client_only(world: World) -> None:
    other = DynamoFaults(world.primary.admin)
    world.primary.request("GET /state")
    assert other.calls == 0
    assert world.primary.faults["api"].calls == 1
