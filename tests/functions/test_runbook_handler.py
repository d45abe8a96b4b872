"""The runbook function: event parsing (errors name the field), the topology from the environment, and a whole
failover driven through handle() step by step, as the state machine drives it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from functions.runbook import handler
from functions.runbook.model import STEPS, StepRefusedError, StepRetryableError
from functions.shared.schema import STATUS_ACTIVE
from tests.support.runbook_doubles import START_EPOCH, TARGET, World, build_world, client_error, request

CONTEXT = SimpleNamespace(aws_request_id="req-1")


@pytest.fixture
def world(aws_endpoint: str) -> World:
    world = build_world(aws_endpoint)
    world.aurora.describes_per_switch = 0
    world.put_aurora_lag(40, world.clock() + 14_000)
    return world


def handle(world: World, event: Any) -> dict[str, Any]:
    return handler.handle(event, CONTEXT, topology=world.topology, clients=world.clients, clock_ms=world.clock)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (["fence"], "event: got list; allowed: an object with step and request"),
        ({"request": request().to_dict()}, "step: got None; allowed: fence, drain, promote, shift_traffic, activate"),
        ({"step": "failback", "request": request().to_dict()}, "step: got 'failback'"),
        ({"step": "fence"}, "request: got None; allowed: an object"),
        (
            {"step": "fence", "request": {"targetRegion": TARGET, "planned": True}},
            "request.runId: missing from the failover request",
        ),
        (
            {"step": "fence", "request": {**request().to_dict(), "planned": "yes"}},
            "request.planned: got 'yes'; allowed: true or false",
        ),
        ({"step": "fence", "request": {**request().to_dict(), "targetRegion": "mars-1"}}, "targetRegion: got 'mars-1'; allowed"),
    ],
)
def test_a_malformed_event_is_refused_naming_the_field(world: World, event: Any, message: str) -> None:
    with pytest.raises(StepRefusedError) as refusal:
        handle(world, event)
    assert message in str(refusal.value)
    assert world.clients.writes() == []


def test_a_whole_failover_through_the_handler(world: World) -> None:
    """Each step called until done, waiting what it says, as the state machine's Wait and Choice states do."""
    event = {"request": request().to_dict()}
    calls = 0
    for step in STEPS:
        while True:
            calls += 1
            answer = handle(world, {**event, "step": step})
            assert set(answer) == {"step", "done", "waitSeconds", "detail"} and answer["step"] == step
            if answer["done"]:
                break
            world.clock.advance(answer["waitSeconds"])
            world.replicate()
    state = world.state()
    assert (state.status, state.active_region, state.epoch) == (STATUS_ACTIVE, TARGET, START_EPOCH + 3)
    assert calls == len(STEPS) + 4  # drain: the fence reaching the source, settle, marker; promote: the switchover
    assert handle(world, {**event, "step": "activate"}) == {
        "step": "activate",
        "done": True,
        "waitSeconds": 0,
        "detail": {"state": f"active in {TARGET} at epoch {START_EPOCH + 3}", "action": "none: already active"},
    }


def test_a_retryable_failure_raises_the_class_the_state_machine_retries(world: World) -> None:
    handle(world, {"step": "fence", "request": request().to_dict()})

    def throttled(**_: Any) -> dict[str, Any]:
        raise client_error("ThrottlingException", "DescribeGlobalClusters")

    world.clients.aurora = SimpleNamespace(describe_global_clusters=throttled)  # this test's outage
    with pytest.raises(StepRetryableError) as failure:
        handle(world, {"step": "promote", "request": request().to_dict()})
    assert type(failure.value).__name__ == "StepRetryableError"


def test_the_topology_comes_from_the_environment_once_per_container(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "_topology", None)
    monkeypatch.setenv(handler.TOPOLOGY_VARIABLE, world.topology.to_json())
    answer = handler.handle(
        {"step": "fence", "request": request().to_dict()}, CONTEXT, clients=world.clients, clock_ms=world.clock
    )
    assert answer["done"]
    assert handler.current_topology() == world.topology
    monkeypatch.setenv(handler.TOPOLOGY_VARIABLE, "{}")
    assert handler.current_topology() == world.topology  # built once


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "RUNBOOK_TOPOLOGY: not set"),
        ("{not json", "RUNBOOK_TOPOLOGY: not JSON"),
        ('{"regions": ["us-east-1", "eu-west-1"]}', "tableName: missing from the runbook topology"),
    ],
)
def test_a_bad_topology_is_refused_naming_it(world: World, monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setattr(handler, "_topology", None)
    monkeypatch.setenv(handler.TOPOLOGY_VARIABLE, value)
    with pytest.raises(StepRefusedError, match=message):
        handler.handle({"step": "fence", "request": request().to_dict()}, CONTEXT, clients=world.clients)
