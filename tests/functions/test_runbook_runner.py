"""The runner: whole runs (planned, unplanned, with routing controls), resuming after a crash at every step boundary
and in the middle of every step, the run record's bookkeeping, error classification, and the dry run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from functions.runbook.model import (
    RUN_FAILED,
    RUN_RUNNING,
    RUN_SUCCEEDED,
    STEP_ACTIVATE,
    STEP_DONE,
    STEP_DRAIN,
    STEP_FAILED,
    STEP_FENCE,
    STEP_PROMOTE,
    STEP_RUNNING,
    STEPS,
    TRAFFIC_ROUTING_CONTROL,
    FailoverRequest,
    RunRecord,
    StepRecord,
    StepRefusedError,
    StepResult,
    StepRetryableError,
    run_record_id,
)
from functions.runbook.runner import (
    RETRY_DELAYS_SECONDS,
    RunRecordConflictError,
    classify,
    plan_failover,
    read_run,
    run_failover,
    run_from_item,
    run_step,
    run_to_item,
)
from functions.runbook.steps import run_updated_by
from functions.shared.errors import ConflictError, RetryableError, ValidationError
from functions.shared.schema import STATUS_ACTIVE, STATUS_FENCED
from functions.shared.state import AppState, StateUnavailableError, TransitionError
from tests.support.runbook_doubles import (
    GLOBAL_CLUSTER,
    SOURCE,
    START_EPOCH,
    TABLE,
    TARGET,
    Request,
    World,
    build_world,
    client_error,
    cluster_arn,
    request,
    routing_control_arn,
)

BY = run_updated_by("run-1")


class SimulatedCrashError(Exception):
    """The runner's process dies here (a Lambda timeout, an operator's Ctrl-C)."""


@pytest.fixture
def world(aws_endpoint: str) -> World:
    return ready(build_world(aws_endpoint))


def ready(world: World) -> World:
    """Replication happens while the runner sleeps, Aurora reports a small lag after the fence settles, and a
    switchover shows the new writer at the first describe after it (the step tests cover longer ones)."""
    world.clock.on_sleep.append(world.replicate)
    world.aurora.describes_per_switch = 0
    world.put_aurora_lag(40, world.clock() + 14_000)
    return world


def run_all(world: World, failover: FailoverRequest, on_step: Callable[[str, StepResult], None] | None = None) -> RunRecord:
    return run_failover(failover, world.topology, world.clients, sleep=world.clock.sleep, now_ms=world.clock, on_step=on_step)


def record(world: World, run_id: str = "run-1") -> RunRecord:
    run = read_run(world.topology, world.clients, TARGET, run_id)
    assert run is not None
    return run


def assert_finished(world: World, failover: FailoverRequest, run: RunRecord) -> None:
    """Active in the target at start+3 after exactly three transitions, Aurora moved once, only the target's gate open."""
    state = world.state()
    assert (state.status, state.active_region, state.epoch, state.updated_by) == (STATUS_ACTIVE, TARGET, START_EPOCH + 3, BY)
    assert len(world.state_updates()) == 3
    moved = world.aurora.count("SwitchoverGlobalCluster") + world.aurora.count("FailoverGlobalCluster")
    assert moved == 1 and world.aurora.writer_region == TARGET
    assert world.aurora.count("SwitchoverGlobalCluster" if failover.planned else "FailoverGlobalCluster") == 1
    if world.topology.traffic_control == TRAFFIC_ROUTING_CONTROL:
        assert world.routing_states == {routing_control_arn(SOURCE): "Off", routing_control_arn(TARGET): "On"}
    else:
        assert world.thresholds() == {SOURCE: 2, TARGET: 1}
    assert run.status == RUN_SUCCEEDED and run.error is None and run.finished_at is not None
    assert (run.source_region, run.start_epoch) == (SOURCE, START_EPOCH)
    for name in STEPS:
        step = run.step(name)
        assert step.status == STEP_DONE and step.attempts >= 1, name
        assert step.duration_ms is not None and step.duration_ms >= 0, name


# ---- whole runs -----------------------------------------------------------------------------------------------------


def test_a_planned_run_ends_active_in_the_target(world: World) -> None:
    seen: list[tuple[str, bool]] = []
    failover = request()
    run = run_all(world, failover, on_step=lambda step, result: seen.append((step, result.done)))
    assert_finished(world, failover, run)
    assert [step for step, done in seen if done] == list(STEPS)
    assert run.step(STEP_DRAIN).attempts == 4  # waits for the fence in the source, the settle, the marker
    assert run.step(STEP_DRAIN).duration_ms == 19_000  # 1 s for the fence to reach the source, 13 s settle, 5 s poll
    assert world.clock.slept[:2] == [1, 13]
    assert run.step(STEP_ACTIVATE).finished_at == run.finished_at


def test_an_unplanned_run_ends_active_in_the_target(world: World) -> None:
    failover = request(planned=False)
    run = run_all(world, failover)
    assert_finished(world, failover, run)
    assert [call.params["AllowDataLoss"] for call in world.aurora.calls if call.operation == "FailoverGlobalCluster"] == [True]


def test_an_unplanned_run_with_the_source_table_unreachable_ends_active_in_the_target(aws_endpoint: str) -> None:
    world = ready(build_world(aws_endpoint, unreachable_dynamodb=frozenset({SOURCE})))
    failover = request(planned=False)
    run = run_all(world, failover)
    assert_finished(world, failover, run)
    assert run.step(STEP_DRAIN).detail["action"] == "source unreachable: not waiting"


def test_a_run_with_routing_controls_ends_active_in_the_target(aws_endpoint: str) -> None:
    world = ready(build_world(aws_endpoint, traffic_control=TRAFFIC_ROUTING_CONTROL))
    failover = request()
    assert_finished(world, failover, run_all(world, failover))


def test_running_a_finished_run_again_changes_nothing_and_its_dry_run_says_done(world: World) -> None:
    failover = request()
    first = run_all(world, failover)
    before = len(world.clients.requests)
    assert run_all(world, failover) == first
    lines = plan_failover(request(), world.topology, world.clients, now_ms=world.clock)
    assert [r for r in world.clients.requests[before:] if r.is_write] == []
    assert lines[0].startswith("fence: done") and lines[1].startswith("drain: done") and lines[4].startswith("activate: done")
    assert "Aurora writer already in eu-west-1" in lines[2]
    assert lines[3] == "shift_traffic: done (only eu-west-1 open)"


# ---- crashes --------------------------------------------------------------------------------------------------------


def crash_once_when(world: World, crashes: Callable[[Request], bool]) -> None:
    def fault(request: Request) -> None:
        if crashes(request):
            world.clients.faults.remove(fault)
            raise SimulatedCrashError(f"crashed at {request.operation}")

    world.clients.faults.append(fault)


def records_step_done(step: str) -> Callable[[Request], bool]:
    """The run-record write that would record ``step`` done: the step's effect is in place, its bookkeeping not."""

    def matches(request: Request) -> bool:
        item: dict[str, Any] = dict(request.params.get("Item", {}))
        if request.operation != "PutItem" or item.get("Id") != {"S": run_record_id("run-1")}:
            return False
        return bool(item["Steps"]["M"].get(step, {}).get("M", {}).get("Status") == {"S": STEP_DONE})

    return matches


@pytest.mark.parametrize("after", STEPS[:-1])
def test_a_run_crashed_between_two_steps_finishes_when_run_again(world: World, after: str) -> None:
    failover = request()

    def crash_after(step: str, result: StepResult) -> None:
        if step == after and result.done:
            raise SimulatedCrashError(after)

    with pytest.raises(SimulatedCrashError):
        run_all(world, failover, on_step=crash_after)
    assert_finished(world, failover, run_all(world, failover))


@pytest.mark.parametrize("step", STEPS)
def test_a_run_crashed_between_a_steps_effect_and_its_bookkeeping_finishes_when_run_again(world: World, step: str) -> None:
    failover = request()
    crash_once_when(world, records_step_done(step))
    with pytest.raises(SimulatedCrashError):
        run_all(world, failover)
    assert record(world).step(step).status != STEP_DONE  # the effect is in place, the record does not know it
    assert_finished(world, failover, run_all(world, failover))


def test_a_run_crashed_right_after_starting_the_switchover_finishes_without_a_second_one(world: World) -> None:
    failover = request()
    world.clients.aurora = CrashAfterSwitchover(world.aurora.client(TARGET))
    with pytest.raises(SimulatedCrashError):
        run_all(world, failover)
    crashed = record(world)
    assert crashed.status == RUN_FAILED and crashed.step(STEP_PROMOTE).status == STEP_FAILED
    assert "the runner died" in (crashed.error or "")
    run = run_all(world, failover)
    assert_finished(world, failover, run)
    assert run.step(STEP_PROMOTE).attempts > crashed.step(STEP_PROMOTE).attempts


# ---- one step and its bookkeeping -----------------------------------------------------------------------------------


def test_run_step_records_attempts_times_and_details(world: World) -> None:
    failover = request()
    fence = run_step(STEP_FENCE, failover, world.topology, world.clients, now_ms=world.clock)
    assert fence.done
    run = record(world)
    assert run.status == RUN_RUNNING and (run.source_region, run.start_epoch, run.started_at) == (
        SOURCE,
        START_EPOCH,
        world.clock(),
    )
    assert run.step(STEP_FENCE) == StepRecord(STEP_DONE, world.clock(), world.clock(), 1, fence.detail)

    started = world.clock()
    world.clock.advance(5)
    assert not run_step(STEP_DRAIN, failover, world.topology, world.clients, now_ms=world.clock).done
    world.clock.advance(8)
    waiting = run_step(STEP_DRAIN, failover, world.topology, world.clients, now_ms=world.clock)
    drain = record(world).step(STEP_DRAIN)
    assert (drain.status, drain.attempts, drain.started_at, drain.finished_at) == (STEP_RUNNING, 2, started + 5000, None)
    assert drain.detail == waiting.detail


def test_a_refusal_fails_the_run_and_is_raised(world: World) -> None:
    failover = request()
    run_step(STEP_FENCE, failover, world.topology, world.clients, now_ms=world.clock)
    world.set_state(STATUS_ACTIVE, SOURCE, START_EPOCH + 2, "ops operator")  # an operator aborted the fence
    with pytest.raises(StepRefusedError, match="someone else moved it"):
        run_step(STEP_DRAIN, failover, world.topology, world.clients, now_ms=world.clock)
    run = record(world)
    assert run.status == RUN_FAILED and (run.error or "").startswith("drain: drain: the state is active in us-east-1")
    assert run.step(STEP_DRAIN).status == STEP_FAILED and run.finished_at == world.clock()


def test_a_retryable_failure_is_recorded_as_an_attempt_and_raised(world: World) -> None:
    failover = request()
    run_step(STEP_FENCE, failover, world.topology, world.clients, now_ms=world.clock)
    world.clients.aurora = Throttled(world.aurora.client(TARGET), times=1)
    with pytest.raises(StepRetryableError, match="ThrottlingException"):
        run_step(STEP_PROMOTE, failover, world.topology, world.clients, now_ms=world.clock)
    run = record(world)
    assert run.status == RUN_RUNNING and run.error is None
    assert run.step(STEP_PROMOTE).status == STEP_RUNNING and run.step(STEP_PROMOTE).attempts == 1
    assert "ThrottlingException" in run.step(STEP_PROMOTE).detail["error"]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (("fence", request(target="mars-1")), "targetRegion: got 'mars-1'; allowed: us-east-1, eu-west-1"),
        (("failback", request()), "step: got 'failback'; allowed: fence, drain"),
        (("fence", FailoverRequest("run 1", TARGET, planned=True)), "runId: got 'run 1'"),
        (("fence", FailoverRequest("run-1", TARGET, planned=False)), "allowDataLoss: got false for an unplanned failover"),
    ],
)
def test_run_step_refuses_an_invalid_request_naming_the_field(
    world: World, event: tuple[str, FailoverRequest], field: str
) -> None:
    step, failover = event
    with pytest.raises(StepRefusedError, match=field.replace("(", r"\(")):
        run_step(step, failover, world.topology, world.clients, now_ms=world.clock)
    assert world.clients.writes() == []


def test_a_run_keeps_its_start_and_refuses_another_mode_under_its_id(world: World) -> None:
    run_step(STEP_FENCE, request(), world.topology, world.clients, now_ms=world.clock)
    assert world.start(request()).start_epoch == START_EPOCH  # read back, not re-read from the fenced state
    with pytest.raises(StepRefusedError, match="runId: run run-1 exists as a planned switchover"):
        run_step(STEP_DRAIN, request(planned=False), world.topology, world.clients, now_ms=world.clock)


def test_a_replicated_record_of_the_same_id_for_another_target_is_refused(world: World) -> None:
    """Run records live in the global table: a failback reusing an id meets the earlier run's replicated record."""
    world.start(request(target=SOURCE))
    record = world.table(SOURCE).client.get_item(TableName=TABLE, Key={"Id": {"S": "RUNBOOK#run-1"}})["Item"]
    world.table(TARGET).client.put_item(TableName=TABLE, Item=record)
    with pytest.raises(StepRefusedError, match="runId: run run-1 exists with target us-east-1, the request asks for eu-west-1"):
        run_step(STEP_FENCE, request(), world.topology, world.clients, now_ms=world.clock)
    assert world.state().epoch == START_EPOCH


def test_a_concurrent_runner_makes_the_record_write_retryable(world: World) -> None:
    failover = request()
    run_step(STEP_FENCE, failover, world.topology, world.clients, now_ms=world.clock)

    def other_runner_writes_first(r: Request) -> None:
        if r.operation == "PutItem" and r.params["Item"]["Id"] == {"S": run_record_id("run-1")}:
            world.clients.faults.clear()
            table = world.table(TARGET)
            item = table.client.get_item(TableName=TABLE, Key={"Id": {"S": run_record_id("run-1")}})["Item"]
            table.client.put_item(TableName=TABLE, Item={**item, "Revision": {"N": str(int(item["Revision"]["N"]) + 1)}})

    world.clients.faults.append(other_runner_writes_first)
    with pytest.raises(RunRecordConflictError, match="changed concurrently"):
        run_step(STEP_DRAIN, failover, world.topology, world.clients, now_ms=world.clock)


def test_run_failover_retries_a_retryable_failure(world: World) -> None:
    world.clients.aurora = Throttled(world.aurora.client(TARGET), times=2)
    failover = request()
    assert_finished(world, failover, run_all(world, failover))
    assert world.clock.slept.count(RETRY_DELAYS_SECONDS[0]) >= 1 and RETRY_DELAYS_SECONDS[1] in world.clock.slept


def test_run_failover_gives_up_when_the_retries_are_spent(world: World) -> None:
    world.clients.aurora = Throttled(world.aurora.client(TARGET), times=len(RETRY_DELAYS_SECONDS) + 1)
    with pytest.raises(StepRetryableError):
        run_all(world, request())
    assert record(world).step(STEP_PROMOTE).attempts == len(RETRY_DELAYS_SECONDS) + 1


class Throttled:
    """The Aurora double's client, throttling the first ``times`` describe calls."""

    def __init__(self, rds: Any, times: int) -> None:
        self.rds, self.times = rds, times

    def describe_global_clusters(self, **kwargs: Any) -> dict[str, Any]:
        if self.times > 0:
            self.times -= 1
            raise client_error("ThrottlingException", "DescribeGlobalClusters")
        result: dict[str, Any] = self.rds.describe_global_clusters(**kwargs)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rds, name)


class CrashAfterSwitchover:
    """The Aurora double's client, whose first switchover RDS accepts and the runner dies right after asking."""

    def __init__(self, rds: Any) -> None:
        self.rds, self.crashed = rds, False

    def switchover_global_cluster(self, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.rds.switchover_global_cluster(**kwargs)
        if not self.crashed:
            self.crashed = True
            raise SimulatedCrashError("the runner died while RDS switched over")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rds, name)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ValidationError("targetRegion", "bad"), StepRefusedError),
        (TransitionError("stale epoch", AppState(STATUS_FENCED, SOURCE, 5, 0, "x")), StepRefusedError),
        (ConflictError("conflict"), StepRefusedError),
        (StateUnavailableError("no state"), StepRetryableError),
        (RetryableError("later"), StepRetryableError),
        (EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"), StepRetryableError),
        (client_error("ThrottlingException", "GetItem"), StepRetryableError),
        (client_error("InvalidGlobalClusterStateFault", "SwitchoverGlobalCluster"), StepRetryableError),
        (client_error("InternalError", "GetItem", status=500), StepRetryableError),
        (client_error("AccessDeniedException", "GetItem", status=403), ClientError),
        (KeyError("bug"), KeyError),
    ],
)
def test_errors_are_classified_for_the_state_machine(error: Exception, kind: type[Exception]) -> None:
    classified = classify(error)
    assert isinstance(classified, kind)
    if kind in (ClientError, KeyError):
        assert classified is error  # unexpected: raised as it is


def test_the_run_record_round_trips_through_its_item() -> None:
    run = RunRecord(
        "run-1",
        TARGET,
        SOURCE,
        START_EPOCH,
        planned=False,
        allow_data_loss=True,
        requested_by="ops",
        status=RUN_FAILED,
        started_at=10,
        finished_at=20,
        steps={STEP_FENCE: StepRecord(STEP_DONE, 10, 12, 1, {"state": "x", "lag": 1.5, "nested": {"a": [1, None]}})},
        error="drain: out of time",
    )
    item = run_to_item(run, revision=7)
    assert item["Id"] == {"S": "RUNBOOK#run-1"} and item["RecordType"] == {"S": "runbook"}
    assert run_from_item(item) == (run, 7)
    bare = RunRecord("run-2", TARGET, SOURCE, 1, planned=True, allow_data_loss=False, requested_by="ops")
    assert run_from_item(run_to_item(bare, 1)) == (bare, 1)


# ---- the dry run ----------------------------------------------------------------------------------------------------


def test_the_dry_run_says_what_each_step_would_do_and_writes_nothing(world: World) -> None:
    lines = plan_failover(request(), world.topology, world.clients, now_ms=world.clock)
    assert [line.split(":", 1)[0] for line in lines] == list(STEPS)
    assert lines[0] == "fence: active in us-east-1 at epoch 4 -> fenced (epoch 5)"
    assert lines[1].startswith("drain: wait 13 s after the fence, then until DRAIN#run-1 written in us-east-1 is readable")
    assert lines[1].endswith("refuse (the state stays fenced)")
    assert lines[2] == (
        f"promote: fenced in us-east-1 (epoch 5) -> failover in eu-west-1 (epoch 6); "
        f"SwitchoverGlobalCluster {GLOBAL_CLUSTER} to {cluster_arn(TARGET)}"
    )
    assert lines[3] == (
        f"shift_traffic: eu-west-1: gate {world.gates[TARGET]} threshold 2 -> 1 (open); "
        f"us-east-1: gate {world.gates[SOURCE]} threshold 1 -> 2 (closed)"
    )
    assert lines[4] == "activate: failover in eu-west-1 (epoch 6) -> active in eu-west-1 (epoch 7)"
    assert world.clients.writes() == []
    assert {call.operation for call in world.aurora.calls} == {"DescribeGlobalClusters"}


def test_the_dry_run_of_an_unplanned_failover_names_the_failover(world: World) -> None:
    lines = plan_failover(request(planned=False), world.topology, world.clients, now_ms=world.clock)
    assert lines[1].endswith("proceed, recording the lag (data-loss window)")
    assert lines[2].endswith(f"FailoverGlobalCluster {GLOBAL_CLUSTER} to {cluster_arn(TARGET)} with AllowDataLoss")


def test_the_dry_run_says_when_a_step_would_refuse(world: World) -> None:
    world.set_state(STATUS_FENCED, SOURCE, START_EPOCH, "ops operator")
    lines = plan_failover(request(), world.topology, world.clients, now_ms=world.clock)
    assert lines[0].startswith("fence: would refuse: the state is fenced in us-east-1 at epoch 4")


def test_the_dry_run_of_routing_controls_lists_the_changes(aws_endpoint: str) -> None:
    world = build_world(aws_endpoint, traffic_control=TRAFFIC_ROUTING_CONTROL)
    lines = plan_failover(request(), world.topology, world.clients, now_ms=world.clock)
    assert lines[3] == (
        f"shift_traffic: eu-west-1: routing control {routing_control_arn(TARGET)} Off -> On; "
        f"us-east-1: routing control {routing_control_arn(SOURCE)} On -> Off"
    )
    assert world.routing_states[routing_control_arn(TARGET)] == "Off"


@pytest.mark.parametrize(
    ("failover", "field"),
    [
        (request(target="mars-1"), "targetRegion"),
        (FailoverRequest("run-1", TARGET, planned=True, allow_data_loss=True), "allowDataLoss"),
    ],
)
def test_the_dry_run_of_a_bad_request_is_a_validation_error(world: World, failover: FailoverRequest, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        plan_failover(failover, world.topology, world.clients, now_ms=world.clock)
    assert error.value.field == field


def test_the_dry_run_refuses_another_mode_under_an_existing_run_id(world: World) -> None:
    run_step(STEP_FENCE, request(), world.topology, world.clients, now_ms=world.clock)
    with pytest.raises(ValidationError, match="runId: run run-1 exists as a planned switchover"):
        plan_failover(request(planned=False), world.topology, world.clients, now_ms=world.clock)
