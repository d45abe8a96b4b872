"""The runbook's steps, one attempt at a time, against the moto server and the test doubles (runbook_doubles).

Each step: acts when its effect is missing, writes nothing when it is in place, refuses when someone else moved the
state. The clock is injected: no test waits for real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from botocore.stub import Stubber

from functions.runbook.model import (
    STEP_ACTIVATE,
    STEP_DRAIN,
    STEP_FENCE,
    STEP_PROMOTE,
    STEP_SHIFT_TRAFFIC,
    TRAFFIC_ROUTING_CONTROL,
    FailoverRequest,
    RunRecord,
    StepRefusedError,
    StepResult,
    StepRetryableError,
)
from functions.runbook.steps import (
    AURORA_NO_DATA_GRACE_SECONDS,
    DRAIN_POLL_SECONDS,
    FENCE_POLL_SECONDS,
    attempt,
    cluster_identifier,
    progress,
    run_updated_by,
)
from functions.shared.errors import ValidationError
from functions.shared.schema import STATUS_ACTIVE, STATUS_FAILOVER, STATUS_FENCED
from functions.shared.state import AppState
from tests.support.runbook_doubles import (
    GLOBAL_CLUSTER,
    SOURCE,
    START_EPOCH,
    TARGET,
    THIRD,
    Request,
    World,
    build_world,
    cluster_arn,
    endpoint_url,
    new_client,
    request,
    routing_control_arn,
    unreachable_client,
)

BY = run_updated_by("run-1")
SETTLE_MS = 13_000


@pytest.fixture
def world(aws_endpoint: str) -> World:
    return build_world(aws_endpoint)


def run_of(world: World, failover: FailoverRequest | None = None) -> RunRecord:
    return world.start(failover or request())


def step(world: World, name: str, run: RunRecord, failover: FailoverRequest | None = None) -> StepResult:
    """One attempt, given the detail of the run's previous attempt of the step (as run_step keeps it)."""
    failover = failover or request(planned=run.planned)
    previous = world.details.get((run.run_id, name))
    if previous is not None:
        run = replace(run, steps={**run.steps, name: replace(run.step(name), detail=previous)})
    result = attempt(name, failover, run, world.topology, world.clients, world.clock)
    world.details[(run.run_id, name)] = result.detail
    return result


def writes_of(world: World, call: Callable[[], Any]) -> tuple[Any, list[Request]]:
    """What ``call`` returned and the AWS writes it made (DynamoDB, Route53, CloudWatch; Aurora is counted apart)."""
    before = len(world.clients.requests)
    result = call()
    return result, [r for r in world.clients.requests[before:] if r.is_write]


def fenced(world: World, failover: FailoverRequest | None = None, *, replicated: bool = True) -> RunRecord:
    """The fence written; with ``replicated``, it has also reached the other regions' replicas."""
    run = run_of(world, failover)
    assert step(world, STEP_FENCE, run).done
    if replicated:
        world.replicate_state()
        if world.state(SOURCE).epoch > run.start_epoch:  # a drain attempt sees it at once: the settle counts from now
            assert step(world, STEP_DRAIN, run).detail["fenceSeenInSourceAt"] == world.clock()
    return run


def promoted(world: World, failover: FailoverRequest | None = None) -> RunRecord:
    run = fenced(world, failover)
    world.set_state(STATUS_FAILOVER, TARGET, START_EPOCH + 2, BY)
    world.aurora.writer_arn = cluster_arn(TARGET)
    return run


# ---- pure -----------------------------------------------------------------------------------------------------------


RUN = RunRecord("run-1", TARGET, SOURCE, START_EPOCH, planned=True, allow_data_loss=False, requested_by="test")


@pytest.mark.parametrize(
    ("status", "region", "epoch", "by", "expected"),
    [
        (STATUS_ACTIVE, SOURCE, START_EPOCH, "pulumi", 0),
        (STATUS_FENCED, SOURCE, START_EPOCH + 1, BY, 1),
        (STATUS_FAILOVER, TARGET, START_EPOCH + 2, BY, 2),
        (STATUS_ACTIVE, TARGET, START_EPOCH + 3, BY, 3),
        (STATUS_FENCED, SOURCE, START_EPOCH + 1, "runbook run-2", None),  # another run fenced
        (STATUS_ACTIVE, SOURCE, START_EPOCH + 2, BY, None),  # fenced and aborted
        (STATUS_FENCED, SOURCE, START_EPOCH, "pulumi", None),  # not active at the start
        (STATUS_ACTIVE, SOURCE, START_EPOCH - 1, "pulumi", None),  # an older epoch
        (STATUS_ACTIVE, TARGET, START_EPOCH + 4, BY, None),  # moved on after the run
    ],
)
def test_progress_counts_this_runs_transitions_only(status: str, region: str, epoch: int, by: str, expected: int | None) -> None:
    assert progress(AppState(status, region, epoch, 0, by), RUN) == expected


def test_the_cluster_identifier_is_the_last_part_of_the_arn() -> None:
    assert cluster_identifier(cluster_arn(TARGET)) == "multi-region-test-eu-west-1"


def test_an_unknown_step_is_a_validation_error_naming_the_field(world: World) -> None:
    with pytest.raises(ValidationError, match="step: got 'failback'; allowed: fence, drain, promote"):
        step(world, "failback", run_of(world))


# ---- fence ----------------------------------------------------------------------------------------------------------


def test_fence_fences_the_source_in_the_target_replica_and_then_writes_nothing(world: World) -> None:
    run = run_of(world)
    result, writes = writes_of(world, lambda: step(world, STEP_FENCE, run))
    assert result.done and result.detail["action"] == "fenced"
    assert world.state(TARGET) == AppState(STATUS_FENCED, SOURCE, START_EPOCH + 1, world.clock(), BY)
    assert [(w.region, w.operation) for w in writes] == [(TARGET, "UpdateItem")]
    assert world.state(SOURCE).status == STATUS_ACTIVE  # only the target's replica is written (replication does the rest)

    again, writes = writes_of(world, lambda: step(world, STEP_FENCE, run))
    assert again.done and again.detail["action"] == "none: already fenced"
    assert writes == []


@pytest.mark.parametrize(("status", "region", "ahead"), [(STATUS_FAILOVER, TARGET, 2), (STATUS_ACTIVE, TARGET, 3)])
def test_fence_is_done_when_the_run_is_further_along(world: World, status: str, region: str, ahead: int) -> None:
    run = run_of(world)
    world.set_state(status, region, START_EPOCH + ahead, BY)
    result, writes = writes_of(world, lambda: step(world, STEP_FENCE, run))
    assert result.done and writes == []


@pytest.mark.parametrize(
    ("status", "region", "epoch", "by"),
    [
        (STATUS_FENCED, SOURCE, START_EPOCH + 1, "ops operator"),  # someone else fenced
        (STATUS_ACTIVE, SOURCE, START_EPOCH + 2, "ops operator"),  # a stale start epoch: fenced and aborted since
        (STATUS_ACTIVE, SOURCE, START_EPOCH + 1, "ops operator"),
    ],
)
def test_fence_refuses_a_state_moved_by_someone_else_and_writes_nothing(
    world: World, status: str, region: str, epoch: int, by: str
) -> None:
    run = run_of(world)
    world.set_state(status, region, epoch, by)
    with pytest.raises(StepRefusedError, match=rf"the state is {status} in {region} at epoch {epoch} \(updated by {by}\)"):
        writes_of(world, lambda: step(world, STEP_FENCE, run))
    assert world.state().epoch == epoch
    assert world.state_updates() == []


def test_fence_refuses_when_the_state_is_not_active_at_the_start(world: World) -> None:
    world.set_state(STATUS_FENCED, SOURCE, START_EPOCH, "ops operator")
    run = run_of(world)
    with pytest.raises(StepRefusedError, match="fenced in us-east-1 at epoch 4"):
        step(world, STEP_FENCE, run)


def test_fence_refuses_when_the_target_is_already_active(world: World) -> None:
    world.set_state(STATUS_ACTIVE, TARGET, START_EPOCH, "pulumi")
    run = run_of(world)
    assert run.source_region == run.target_region == TARGET
    with pytest.raises(StepRefusedError, match="already active in eu-west-1"):
        step(world, STEP_FENCE, run)
    assert world.state_updates() == []


def test_fence_refuses_when_a_concurrent_transition_wins(world: World) -> None:
    """The state moves between the step's read and its conditional write: the write fails and nothing is written."""
    run = run_of(world)

    def operator_fences_first(r: Request) -> None:
        if r.operation == "UpdateItem" and not world.clients.faults.clear():
            world.set_state(STATUS_FENCED, SOURCE, START_EPOCH + 1, "ops operator")

    world.clients.faults.append(operator_fences_first)
    with pytest.raises(StepRefusedError, match="changed concurrently to fenced in us-east-1 at epoch 5"):
        step(world, STEP_FENCE, run)
    assert world.state().updated_by == "ops operator"


# ---- drain ----------------------------------------------------------------------------------------------------------


def test_drain_refuses_before_the_fence(world: World) -> None:
    with pytest.raises(StepRefusedError, match="fence must be done first"):
        step(world, STEP_DRAIN, run_of(world))


def test_drain_waits_for_the_fence_to_settle_without_writing(world: World) -> None:
    run = fenced(world)
    world.clock.advance(5)
    result, writes = writes_of(world, lambda: step(world, STEP_DRAIN, run))
    assert (result.done, result.wait_seconds) == (False, 8)
    assert writes == [] and world.marker(SOURCE) is None


def test_drain_counts_the_settle_from_when_the_fence_reached_the_source(world: World) -> None:
    """The source's writers read the fence in their own replica: until it is there, they may still write."""
    run = fenced(world, replicated=False)
    world.clock.advance(20)
    waiting, writes = writes_of(world, lambda: step(world, STEP_DRAIN, run))
    assert (waiting.done, waiting.wait_seconds) == (False, FENCE_POLL_SECONDS)
    assert "for the fence to replicate to the source region" in waiting.detail["waiting"] and writes == []

    world.replicate_state()
    seen_at = world.clock()
    settling = step(world, STEP_DRAIN, run)
    assert (settling.done, settling.wait_seconds) == (False, SETTLE_MS // 1000)  # not 13 s after the fence: after now
    assert settling.detail["fenceSeenInSourceAt"] == seen_at
    world.clock.advance(SETTLE_MS // 1000)
    assert "dynamodb" in step(world, STEP_DRAIN, run).detail  # settled: now measuring replication


def test_a_planned_drain_refuses_when_the_fence_never_reaches_the_source(world: World) -> None:
    run = fenced(world, replicated=False)
    world.clock.advance(world.topology.drain_timeout_seconds)
    with pytest.raises(StepRefusedError, match="the fence has not replicated to us-east-1"):
        step(world, STEP_DRAIN, run)
    assert world.marker(SOURCE) is None


def test_drain_writes_the_marker_once_and_is_done_when_it_replicated(world: World) -> None:
    run = fenced(world)
    fenced_at = world.clock()
    world.put_aurora_lag(40, fenced_at + SETTLE_MS + 1000)
    world.clock.advance(13)

    waiting, writes = writes_of(world, lambda: step(world, STEP_DRAIN, run))
    assert (waiting.done, waiting.wait_seconds) == (False, DRAIN_POLL_SECONDS)
    assert waiting.detail["waiting"] == ["dynamodb"] and waiting.detail["aurora"]["lagMs"] == 40
    assert [(w.region, w.operation) for w in writes] == [(SOURCE, "PutItem")]
    assert world.marker(SOURCE) is not None and world.marker(TARGET) is None

    world.clock.advance(5)
    still, writes = writes_of(world, lambda: step(world, STEP_DRAIN, run))
    assert not still.done and writes == []  # the marker is written once

    world.replicate_markers()
    world.clock.advance(5)
    done, writes = writes_of(world, lambda: step(world, STEP_DRAIN, run))
    assert done.done and writes == []
    assert done.detail["dynamodb"]["markerWrittenAt"] == fenced_at + SETTLE_MS
    assert done.detail["dynamodb"]["markerSeenAt"] == world.clock()
    assert done.detail["aurora"] == {"drained": True, "lagMs": 40.0, "cluster": "multi-region-test-eu-west-1"}


def test_drain_waits_for_the_aurora_lag_to_fall(world: World) -> None:
    run = fenced(world)
    fenced_at = world.clock()
    world.put_aurora_lag(4000, fenced_at + SETTLE_MS + 1000)
    world.clock.advance(20)
    step(world, STEP_DRAIN, run)
    world.replicate_markers()
    waiting = step(world, STEP_DRAIN, run)
    assert not waiting.done and waiting.detail["waiting"] == ["aurora"]
    world.put_aurora_lag(300, fenced_at + SETTLE_MS + 61_000)
    world.clock.advance(60)
    assert step(world, STEP_DRAIN, run).done


def test_drain_without_aurora_datapoints_waits_the_grace_period(world: World) -> None:
    run = fenced(world)
    world.clock.advance(13)
    step(world, STEP_DRAIN, run)
    world.replicate_markers()
    world.clock.advance(AURORA_NO_DATA_GRACE_SECONDS - 1)
    assert not step(world, STEP_DRAIN, run).done
    world.clock.advance(1)
    result = step(world, STEP_DRAIN, run)
    assert result.done and result.detail["aurora"]["lagMs"] is None


def test_a_planned_drain_out_of_time_refuses_and_the_state_stays_fenced(world: World) -> None:
    run = fenced(world)
    world.put_aurora_lag(40, world.clock() + SETTLE_MS + 1000)
    world.clock.advance(13)
    assert not step(world, STEP_DRAIN, run).done
    world.clock.advance(300 - 13)
    with pytest.raises(StepRefusedError) as refusal:
        step(world, STEP_DRAIN, run)
    message = str(refusal.value)
    assert "planned switchover out of time (300 s after the fence): DynamoDB: the marker has not replicated" in message
    assert "stays fenced in us-east-1 at epoch 5" in message
    assert "abort" in message and "python -m ops abort --region eu-west-1 --epoch 5" in message
    assert world.state().status == STATUS_FENCED


def test_an_unplanned_drain_out_of_time_proceeds_and_reports_the_lag(world: World) -> None:
    failover = request(planned=False)
    run = fenced(world, failover)
    fenced_at = world.clock()
    world.put_aurora_lag(4500, fenced_at + SETTLE_MS + 1000)
    world.put_replication_latency(2500, fenced_at + 2000)
    world.clock.advance(13)
    assert not step(world, STEP_DRAIN, run, failover).done
    world.clock.advance(300)
    result = step(world, STEP_DRAIN, run, failover)
    assert result.done
    assert result.detail["action"] == "out of time: proceeding"
    assert result.detail["notDrained"] == ["dynamodb", "aurora"]
    assert result.detail["aurora"]["lagMs"] == 4500
    assert result.detail["dynamodbReplicationLatencyMs"] == 2500


def test_an_unplanned_drain_does_not_wait_for_an_unreachable_source(aws_endpoint: str) -> None:
    world = build_world(aws_endpoint, unreachable_dynamodb=frozenset({SOURCE}))
    failover = request(planned=False)
    run = fenced(world, failover)
    world.put_replication_latency(1800, world.clock() - 30_000)
    world.clock.advance(13)
    result = step(world, STEP_DRAIN, run, failover)
    assert result.done
    assert result.detail["action"] == "source unreachable: not waiting"
    assert result.detail["dynamodb"]["sourceReachable"] is False
    assert result.detail["dynamodbReplicationLatencyMs"] == 1800


def test_a_planned_drain_waits_for_an_unreachable_source_then_refuses(aws_endpoint: str) -> None:
    world = build_world(aws_endpoint, unreachable_dynamodb=frozenset({SOURCE}))
    run = fenced(world)
    world.clock.advance(13)
    assert not step(world, STEP_DRAIN, run).done
    world.clock.advance(300)
    with pytest.raises(StepRefusedError, match="DynamoDB: the source region does not answer"):
        step(world, STEP_DRAIN, run)


def test_drain_is_done_once_promoted(world: World) -> None:
    run = promoted(world)
    result, writes = writes_of(world, lambda: step(world, STEP_DRAIN, run))
    assert result.done and writes == []


# ---- promote --------------------------------------------------------------------------------------------------------


def test_a_planned_promote_switches_over_exactly_once(world: World) -> None:
    run = fenced(world)
    world.aurora.describes_per_switch = 2
    first = step(world, STEP_PROMOTE, run)
    assert not first.done and first.wait_seconds > 0
    assert world.state() == AppState(STATUS_FAILOVER, TARGET, START_EPOCH + 2, world.clock(), BY)
    for _ in range(2):
        waiting, writes = writes_of(world, lambda: step(world, STEP_PROMOTE, run))
        assert not waiting.done and "switching-over" in waiting.detail["aurora"] and writes == []
    done, writes = writes_of(world, lambda: step(world, STEP_PROMOTE, run))
    assert done.done and writes == []
    assert done.detail["writer"] == cluster_arn(TARGET)
    assert world.aurora.count("SwitchoverGlobalCluster") == 1 and world.aurora.count("FailoverGlobalCluster") == 0
    assert [call.params for call in world.aurora.calls if call.operation == "SwitchoverGlobalCluster"] == [
        {"GlobalClusterIdentifier": GLOBAL_CLUSTER, "TargetDbClusterIdentifier": cluster_arn(TARGET)}
    ]
    assert set(world.clients.rds_regions) == {TARGET}
    assert world.state().epoch == START_EPOCH + 2  # the transition was made once


def test_an_unplanned_promote_fails_over_allowing_data_loss(world: World) -> None:
    failover = request(planned=False)
    run = fenced(world, failover)
    assert not step(world, STEP_PROMOTE, run, failover).done
    while not step(world, STEP_PROMOTE, run, failover).done:
        pass
    assert [call.params for call in world.aurora.calls if call.operation == "FailoverGlobalCluster"] == [
        {"GlobalClusterIdentifier": GLOBAL_CLUSTER, "TargetDbClusterIdentifier": cluster_arn(TARGET), "AllowDataLoss": True}
    ]
    assert world.aurora.count("SwitchoverGlobalCluster") == 0


def test_promote_waits_while_a_switchover_is_under_way(world: World) -> None:
    run = fenced(world)
    world.aurora.describes_per_switch = 5  # an operator's switchover, under way
    world.aurora.client(SOURCE).switchover_global_cluster(
        GlobalClusterIdentifier=GLOBAL_CLUSTER, TargetDbClusterIdentifier=cluster_arn(TARGET)
    )
    world.aurora.calls.clear()
    result = step(world, STEP_PROMOTE, run)
    assert not result.done and "switching-over" in result.detail["aurora"]
    assert world.aurora.count("SwitchoverGlobalCluster") == 0


def test_promote_refuses_a_target_cluster_outside_the_global_cluster(world: World) -> None:
    run = fenced(world)
    world.aurora.cluster_arns[TARGET] = "arn:aws:rds:eu-west-1:123456789012:cluster:another-global-cluster"
    with pytest.raises(StepRefusedError, match="is not a member of the global cluster multi-region-test"):
        step(world, STEP_PROMOTE, run)


def test_promote_refuses_before_the_fence(world: World) -> None:
    with pytest.raises(StepRefusedError, match="fence must be done first"):
        step(world, STEP_PROMOTE, run_of(world))
    assert world.aurora.calls == []


@pytest.mark.parametrize("planned", [True, False])
def test_promote_calls_match_the_rds_api_model(world: World, planned: bool) -> None:
    """The same attempts through a real boto3 RDS client under botocore's Stubber, which checks every parameter name
    and type against the service model."""
    failover = request(planned=planned)
    run = fenced(world, failover)
    rds = new_client("rds", TARGET, world.clients.endpoint)
    members = [{"DBClusterArn": cluster_arn(SOURCE), "IsWriter": True}, {"DBClusterArn": cluster_arn(TARGET), "IsWriter": False}]
    moved = [{**member, "IsWriter": not member["IsWriter"]} for member in members]
    before, after = (
        {"GlobalClusters": [{"GlobalClusterIdentifier": GLOBAL_CLUSTER, "GlobalClusterMembers": m}]} for m in (members, moved)
    )
    with Stubber(rds) as stub:
        stub.add_response("describe_global_clusters", before, {"GlobalClusterIdentifier": GLOBAL_CLUSTER})
        expected = {"GlobalClusterIdentifier": GLOBAL_CLUSTER, "TargetDbClusterIdentifier": cluster_arn(TARGET)}
        if planned:
            stub.add_response("switchover_global_cluster", {"GlobalCluster": {}}, expected)
        else:
            stub.add_response("failover_global_cluster", {"GlobalCluster": {}}, {**expected, "AllowDataLoss": True})
        stub.add_response("describe_global_clusters", after, {"GlobalClusterIdentifier": GLOBAL_CLUSTER})
        world.clients.aurora = rds
        assert not step(world, STEP_PROMOTE, run, failover).done
        assert step(world, STEP_PROMOTE, run, failover).done
        stub.assert_no_pending_responses()


# ---- shift traffic --------------------------------------------------------------------------------------------------


def test_shift_traffic_opens_the_target_gate_closes_the_others_and_then_writes_nothing(world: World) -> None:
    run = promoted(world)
    assert world.thresholds() == {SOURCE: 1, TARGET: 2}
    result, writes = writes_of(world, lambda: step(world, STEP_SHIFT_TRAFFIC, run))
    assert result.done and world.thresholds() == {SOURCE: 2, TARGET: 1}
    assert [w.params["HealthCheckId"] for w in writes] == [world.gates[TARGET], world.gates[SOURCE]]  # open first
    assert all(w.operation == "UpdateHealthCheck" and "HealthCheckVersion" in w.params for w in writes)
    again, writes = writes_of(world, lambda: step(world, STEP_SHIFT_TRAFFIC, run))
    assert again.done and again.detail["changed"] == {} and writes == []


def test_shift_traffic_changes_only_the_gates_that_differ(aws_endpoint: str) -> None:
    world = build_world(aws_endpoint, regions=(SOURCE, TARGET, THIRD), open_gates=(SOURCE,))
    run = promoted(world)
    result, writes = writes_of(world, lambda: step(world, STEP_SHIFT_TRAFFIC, run))
    assert result.done and world.thresholds() == {SOURCE: 2, TARGET: 1, THIRD: 2}
    assert sorted(w.params["HealthCheckId"] for w in writes) == sorted([world.gates[SOURCE], world.gates[TARGET]])
    assert set(result.detail["changed"]) == {SOURCE, TARGET}


def test_shift_traffic_refuses_before_promote(world: World) -> None:
    with pytest.raises(StepRefusedError, match="promote must be done first"):
        step(world, STEP_SHIFT_TRAFFIC, fenced(world))
    assert world.thresholds() == {SOURCE: 1, TARGET: 2}


def _routing_world(aws_endpoint: str) -> World:
    return build_world(aws_endpoint, traffic_control=TRAFFIC_ROUTING_CONTROL)


def _stubbed_endpoint(region: str) -> tuple[Any, Stubber]:
    client = new_client("route53-recovery-cluster", region, endpoint_url(region))
    return client, Stubber(client)


def _expect_state(stub: Stubber, region: str, state: str) -> None:
    arn = routing_control_arn(region)
    response = {"RoutingControlArn": arn, "RoutingControlState": state, "RoutingControlName": region}
    stub.add_response("get_routing_control_state", response, {"RoutingControlArn": arn})


def test_shift_traffic_sets_routing_controls_through_the_first_endpoint_that_answers(aws_endpoint: str) -> None:
    world = _routing_world(aws_endpoint)
    run = promoted(world)
    answering, stub = _stubbed_endpoint(SOURCE)
    world.clients.routing = {TARGET: unreachable_client("route53-recovery-cluster", TARGET), SOURCE: answering}
    with stub:
        _expect_state(stub, TARGET, "Off")
        _expect_state(stub, SOURCE, "On")
        entries = [
            {"RoutingControlArn": routing_control_arn(TARGET), "RoutingControlState": "On"},
            {"RoutingControlArn": routing_control_arn(SOURCE), "RoutingControlState": "Off"},
        ]
        stub.add_response("update_routing_control_states", {}, {"UpdateRoutingControlStateEntries": entries})
        result = step(world, STEP_SHIFT_TRAFFIC, run)
        stub.assert_no_pending_responses()
    assert result.done and result.detail["endpoint"] == SOURCE and set(result.detail["changed"]) == {SOURCE, TARGET}


def test_shift_traffic_changes_only_the_routing_controls_that_differ(aws_endpoint: str) -> None:
    world = _routing_world(aws_endpoint)
    run = promoted(world)
    client, stub = _stubbed_endpoint(TARGET)
    world.clients.routing = {TARGET: client}
    with stub:
        _expect_state(stub, TARGET, "On")
        _expect_state(stub, SOURCE, "On")
        only_source = [{"RoutingControlArn": routing_control_arn(SOURCE), "RoutingControlState": "Off"}]
        stub.add_response("update_routing_control_states", {}, {"UpdateRoutingControlStateEntries": only_source})
        assert step(world, STEP_SHIFT_TRAFFIC, run).done
        _expect_state(stub, TARGET, "On")
        _expect_state(stub, SOURCE, "Off")
        again = step(world, STEP_SHIFT_TRAFFIC, run)  # no update call: the Stubber would fail an unexpected one
        stub.assert_no_pending_responses()
    assert again.done and again.detail["changed"] == {}


def test_shift_traffic_is_retryable_when_no_endpoint_answers(aws_endpoint: str) -> None:
    world = _routing_world(aws_endpoint)
    run = promoted(world)
    busy, stub = _stubbed_endpoint(SOURCE)
    world.clients.routing = {TARGET: unreachable_client("route53-recovery-cluster", TARGET), SOURCE: busy}
    with stub:
        stub.add_client_error("get_routing_control_state", "EndpointTemporarilyUnavailableException", http_status_code=503)
        with pytest.raises(StepRetryableError, match="no Route53 ARC cluster endpoint answered"):
            step(world, STEP_SHIFT_TRAFFIC, run)


def test_shift_traffic_lets_a_refusal_by_arc_through(aws_endpoint: str) -> None:
    """A safety rule refusing the change is not an endpoint failure: the next endpoint would refuse it too."""
    world = _routing_world(aws_endpoint)
    run = promoted(world)
    client, stub = _stubbed_endpoint(TARGET)
    world.clients.routing = {TARGET: client, SOURCE: client}
    with stub:
        stub.add_client_error("get_routing_control_state", "AccessDeniedException", http_status_code=403)
        with pytest.raises(Exception, match="AccessDeniedException"):
            step(world, STEP_SHIFT_TRAFFIC, run)


# ---- activate -------------------------------------------------------------------------------------------------------


def test_activate_makes_the_target_active_and_then_writes_nothing(world: World) -> None:
    run = promoted(world)
    world.clock.advance(30)
    result = step(world, STEP_ACTIVATE, run)
    assert result.done and result.detail["action"] == "activated"
    assert world.state() == AppState(STATUS_ACTIVE, TARGET, START_EPOCH + 3, world.clock(), BY)
    again, writes = writes_of(world, lambda: step(world, STEP_ACTIVATE, run))
    assert again.done and writes == []


def test_activate_refuses_before_promote_and_a_state_moved_by_someone_else(world: World) -> None:
    run = fenced(world)
    with pytest.raises(StepRefusedError, match="promote must be done first"):
        step(world, STEP_ACTIVATE, run)
    world.set_state(STATUS_FAILOVER, THIRD, START_EPOCH + 2, "ops operator")
    with pytest.raises(StepRefusedError, match=r"failover in ap-southeast-2 at epoch 6 .*someone else moved it"):
        step(world, STEP_ACTIVATE, run)
