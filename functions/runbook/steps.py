"""One idempotent attempt at each runbook step, and the dry-run line saying what an attempt would do now.

Every attempt looks at the world first, acts only where the step's effect is missing and answers ``done`` when it is
in place. Progress is judged against the run record: from ``start_epoch`` this run's transitions take the state
along one path (fenced, failover, active in the target, each ``UpdatedBy = runbook <run id>``); a state anywhere else
is refused, naming it. Every state read and transition goes to the target region's replica. The epoch path, what
"drained" means and how promote and traffic stay single: ``docs/design/runbook-steps.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions.runbook.clients import RunbookClients, is_unreachable
from functions.runbook.model import (
    STEP_ACTIVATE,
    STEP_DRAIN,
    STEP_FENCE,
    STEP_PROMOTE,
    STEP_SHIFT_TRAFFIC,
    STEPS,
    TRAFFIC_HEALTH_CHECK_GATE,
    FailoverRequest,
    RunRecord,
    StepRefusedError,
    StepResult,
    StepRetryableError,
    Topology,
)
from functions.shared.codec import number_of, to_item
from functions.shared.errors import ValidationError, error_code
from functions.shared.schema import ATTR_EXPIRES_AT, ATTR_ID, ATTR_RECORD_TYPE, STATUS_ACTIVE, STATUS_FAILOVER, STATUS_FENCED
from functions.shared.state import (
    AppState,
    ItemTable,
    StateUnavailableError,
    TransitionError,
    read_state,
    transition,
)

Clock = Callable[[], int]

DRAIN_MARKER_PREFIX = "DRAIN#"
RECORD_TYPE_DRAIN_MARKER = "drain-marker"
ATTR_RUN_ID = "RunId"
ATTR_WRITTEN_AT = "WrittenAt"
DRAIN_MARKER_TTL_SECONDS = 7 * 24 * 3600
DRAIN_POLL_SECONDS = 5
# How often the drain looks for the fence in the source region's replica (replication is usually sub-second).
FENCE_POLL_SECONDS = 1
# AuroraGlobalDBReplicationLag is normally well under a second; at or below this, after writers stopped, the target
# cluster holds every committed transaction.
AURORA_DRAINED_LAG_MS = 1000.0
AURORA_NO_DATA_GRACE_SECONDS = 120
AURORA_POLL_SECONDS = 15
# Global cluster states in which a switchover or failover is under way: wait, never start another.
AURORA_BUSY_STATUSES = frozenset({"switching-over", "failing-over"})
AURORA_BUSY_FAILOVER_STATES = frozenset({"pending", "failing-over", "switching-over", "cancelling"})
METRIC_PERIOD_SECONDS = 60
REPLICATION_LATENCY_LOOKBACK_SECONDS = 900
GATE_OPEN = 1  # the gate follows its only child, the region's endpoint check (healthCheckGate)
GATE_CLOSED = 2  # above the number of children: Route53 treats the gate as unhealthy
ROUTING_ON = "On"
ROUTING_OFF = "Off"
# ARC endpoint failures after which the next endpoint of the cluster is tried.
ROUTING_ENDPOINT_ERRORS = frozenset({"EndpointTemporarilyUnavailableException", "InternalServerException", "ThrottlingException"})


# The step that writes transition number n of a run's path (docs/design/runbook-steps.md: the epoch path).
_TRANSITION_STEPS = ("", STEP_FENCE, STEP_PROMOTE, STEP_ACTIVATE)


def run_updated_by(run_id: str) -> str:
    """``UpdatedBy`` of this run's transitions: how a resumed run recognises its own progress."""
    return f"runbook {run_id}"


def cluster_identifier(cluster_arn: str) -> str:
    """The DB cluster identifier in an ARN (``arn:aws:rds:<region>:<account>:cluster:<id>``), CloudWatch's dimension."""
    return cluster_arn.rsplit(":", 1)[-1]


def path_of(run: RunRecord) -> tuple[tuple[str, str], ...]:
    """(status, active region) at start_epoch + 0..3 along this run's path."""
    source, target = run.source_region, run.target_region
    return ((STATUS_ACTIVE, source), (STATUS_FENCED, source), (STATUS_FAILOVER, target), (STATUS_ACTIVE, target))


def progress(state: AppState, run: RunRecord) -> int | None:
    """How many of this run's transitions the state shows (0..3), or None when it is off this run's path (pure)."""
    done = state.epoch - run.start_epoch
    path = path_of(run)
    if not 0 <= done < len(path) or (state.status, state.active_region) != path[done]:
        return None
    if done >= 1 and state.updated_by != run_updated_by(run.run_id):
        return None
    return done


@dataclass(frozen=True)
class StepContext:
    """What one attempt works with."""

    request: FailoverRequest
    run: RunRecord
    topology: Topology
    clients: RunbookClients
    now_ms: Clock

    @property
    def source(self) -> str:
        return self.run.source_region

    @property
    def target(self) -> str:
        return self.run.target_region

    def table(self, region: str) -> ItemTable:
        return ItemTable(self.clients.dynamodb(region), self.topology.table_name)

    def state(self) -> AppState:
        """The state record in the target's replica (consistent read)."""
        return read_state(self.table(self.target))


def attempt(  # noqa: PLR0917 - the library's contract (ops, the drill and the handler call it positionally)
    step: str, request: FailoverRequest, run: RunRecord, topology: Topology, clients: RunbookClients, now_ms: Clock
) -> StepResult:
    """One idempotent attempt of ``step``: done, or not yet (call again after ``wait_seconds``).

    Raises StepRefusedError when the step cannot go on (the state was moved by someone else, a planned drain ran out
    of time), and lets client errors through (the runner decides whether they are retryable).
    """
    return _ATTEMPTS[_known(step)](StepContext(request, run, topology, clients, now_ms))


def plan(
    step: str, request: FailoverRequest, run: RunRecord, topology: Topology, clients: RunbookClients, *, now_ms: Clock
) -> str:
    """What an attempt of ``step`` would do now, as one line (reads only): what it would refuse, or what it would do
    given how far along the run's path the state is."""
    plan_step = _PLANS[_known(step)]
    ctx = StepContext(request, run, topology, clients, now_ms)
    state = ctx.state()
    try:
        done = _on_path(step, ctx, state, needs=0)
    except StepRefusedError as refusal:
        return f"{step}: would refuse: {str(refusal).removeprefix(step + ': ')}"
    return f"{step}: " + plan_step(ctx, state, done)


def _known(step: str) -> str:
    if step not in STEPS:
        raise ValidationError("step", f"got {step!r}; allowed: {', '.join(STEPS)}")
    return step


# ---- the state ------------------------------------------------------------------------------------------------------


def _on_path(step: str, ctx: StepContext, state: AppState, *, needs: int) -> int:
    """This run's progress in ``state``; refuses when the state is off the path or ``needs`` transitions are missing."""
    run = ctx.run
    if run.source_region == run.target_region:
        raise StepRefusedError(
            f"{step}: already active in {run.target_region} when run {run.run_id} started (epoch {run.start_epoch}): "
            f"nothing to fail over; the state is now {state.describe()}"
        )
    done = progress(state, run)
    expected = " -> ".join(f"{status} in {region}" for status, region in path_of(run))
    if done is None:
        raise StepRefusedError(
            f"{step}: the state is {state.describe()} (updated by {state.updated_by or 'unknown'}), off run {run.run_id}'s "
            f"path ({expected} from epoch {run.start_epoch}): someone else moved it; nothing written"
        )
    if done < needs:
        raise StepRefusedError(f"{step}: the state is {state.describe()}: {_TRANSITION_STEPS[needs]} must be done first")
    return done


def _advance(step: str, ctx: StepContext, to: int) -> AppState:
    """Write this run's transition number ``to`` (1..3); a concurrent attempt of this run having written it is fine."""
    status, region = path_of(ctx.run)[to]
    try:
        return transition(
            ctx.table(ctx.target),
            expected_epoch=ctx.run.start_epoch + to - 1,
            to_status=status,
            active_region=region,
            updated_by=run_updated_by(ctx.run.run_id),
            updated_at=ctx.now_ms(),
        )
    except TransitionError as error:
        done = progress(error.current, ctx.run)
        if done is not None and done >= to:
            return error.current
        raise StepRefusedError(f"{step}: {error}") from None


def _planned_state(ctx: StepContext, at: int) -> str:
    status, region = path_of(ctx.run)[at]
    return f"{status} in {region} (epoch {ctx.run.start_epoch + at})"


# ---- fence ----------------------------------------------------------------------------------------------------------


def _fence(ctx: StepContext) -> StepResult:
    state = ctx.state()
    if _on_path(STEP_FENCE, ctx, state, needs=0) >= 1:
        return StepResult(STEP_FENCE, True, detail={"state": state.describe(), "action": "none: already fenced"})
    fenced = _advance(STEP_FENCE, ctx, 1)
    return StepResult(STEP_FENCE, True, detail={"state": fenced.describe(), "action": "fenced", "fencedAt": fenced.updated_at})


def _plan_fence(ctx: StepContext, state: AppState, done: int) -> str:
    if done >= 1:
        return f"done ({state.describe()})"
    return f"{state.status} in {state.active_region} at epoch {state.epoch} -> fenced (epoch {state.epoch + 1})"


# ---- drain ----------------------------------------------------------------------------------------------------------


def _drain(ctx: StepContext) -> StepResult:
    state = ctx.state()
    if _on_path(STEP_DRAIN, ctx, state, needs=1) >= 2:
        return StepResult(STEP_DRAIN, True, detail={"state": state.describe(), "action": "none: promoted already"})
    topology, now = ctx.topology, ctx.now_ms()
    fenced_at = state.updated_at
    deadline = fenced_at + topology.drain_timeout_seconds * 1000
    seen_at, source_answers = _fence_seen_in_source(ctx, now)
    seen: dict[str, Any] = {"fenceSeenInSourceAt": seen_at}
    settled_at = (seen_at or fenced_at) + topology.fence_settle_seconds * 1000
    settling = _settling(seen, settled_at, deadline, now, fence_pending=seen_at is None and source_answers)
    if settling is not None:
        return settling
    if seen_at is None and source_answers and ctx.run.planned:
        raise StepRefusedError(
            f"drain: planned switchover out of time ({topology.drain_timeout_seconds} s after the fence): the fence has "
            f"not replicated to {ctx.source}, whose writers may still be writing. The state stays fenced at epoch "
            f"{state.epoch}; find out why replication into {ctx.source} stalls before anything else"
        )
    dynamodb = _dynamodb_drained(ctx, now)
    aurora = _aurora_drained(ctx, settled_at, now)
    detail: dict[str, Any] = {**seen, "dynamodb": dynamodb, "aurora": aurora, "fencedAt": fenced_at, "deadline": deadline}
    if dynamodb["drained"] and aurora["drained"]:
        return StepResult(STEP_DRAIN, True, detail={**detail, "action": "drained"})
    undrained = [name for name, part in (("dynamodb", dynamodb), ("aurora", aurora)) if not part["drained"]]
    if not ctx.run.planned and not dynamodb["sourceReachable"]:
        detail["dynamodbReplicationLatencyMs"] = _replication_latency(ctx, now)
        detail.update(action="source unreachable: not waiting", notDrained=undrained)
        return StepResult(STEP_DRAIN, True, detail=detail)
    if now >= deadline:
        if ctx.run.planned:
            raise StepRefusedError(_planned_timeout(ctx, state, dynamodb, aurora))
        detail["dynamodbReplicationLatencyMs"] = _replication_latency(ctx, now)
        detail.update(action="out of time: proceeding", notDrained=undrained)
        return StepResult(STEP_DRAIN, True, detail=detail)
    return StepResult(STEP_DRAIN, False, min(DRAIN_POLL_SECONDS, _seconds(deadline - now)), {**detail, "waiting": undrained})


def _settling(seen: dict[str, Any], settled_at: int, deadline: int, now: int, *, fence_pending: bool) -> StepResult | None:
    """The attempt's answer while the fence is still replicating to the source or its writers settling; else None."""
    if now >= deadline:
        return None
    if fence_pending:
        waiting = {**seen, "waiting": "for the fence to replicate to the source region, whose writers read it there"}
        return StepResult(STEP_DRAIN, False, min(FENCE_POLL_SECONDS, _seconds(deadline - now)), waiting)
    if now < settled_at:
        waiting = {**seen, "waiting": "for writers to stop after the fence", "settledAt": settled_at}
        return StepResult(STEP_DRAIN, False, _seconds(min(settled_at, deadline) - now), waiting)
    return None


def _fence_seen_in_source(ctx: StepContext, now: int) -> tuple[int | None, bool]:
    """When the source region's replica first showed the fence (None: not yet), and whether the source answers.

    The fence is written in the target's replica, and the source's writers read the state in their own: they stop
    only once the fence has replicated there, so the settle time counts from then. The first sighting is kept in the
    step's detail in the run record, so later attempts (and a resumed run) count from the same moment.
    """
    earlier = ctx.run.step(STEP_DRAIN).detail.get("fenceSeenInSourceAt")
    if isinstance(earlier, int):
        return earlier, True
    try:
        in_source = read_state(ctx.table(ctx.source))
    except StateUnavailableError:
        return None, False
    return (now if in_source.epoch > ctx.run.start_epoch else None), True


def _planned_timeout(ctx: StepContext, state: AppState, dynamodb: Mapping[str, Any], aurora: Mapping[str, Any]) -> str:
    source, epoch = ctx.source, state.epoch
    why = []
    if not dynamodb["drained"]:
        reachable = dynamodb["sourceReachable"]
        why.append("DynamoDB: " + ("the marker has not replicated" if reachable else "the source region does not answer"))
    if not aurora["drained"]:
        why.append(f"Aurora: replication lag {aurora['lagMs']} ms (at most {AURORA_DRAINED_LAG_MS:.0f} ms wanted)")
    return (
        f"drain: planned switchover out of time ({ctx.topology.drain_timeout_seconds} s after the fence): "
        f"{'; '.join(why)}. The state stays fenced in {source} at epoch {epoch}: nobody writes. Either abort "
        f"(`python -m ops abort --region {ctx.target} --epoch {epoch}`: fenced -> active in {source}) and retry later, "
        f"or abort and start an unplanned failover (--unplanned --allow-data-loss), which does not wait for a full drain"
    )


def _dynamodb_drained(ctx: StepContext, now: int) -> dict[str, Any]:
    """Whether the marker written in the source is readable in the target; writes the marker when it is missing."""
    key = to_item({ATTR_ID: DRAIN_MARKER_PREFIX + ctx.run.run_id})
    name = ctx.topology.table_name
    seen = ctx.clients.dynamodb(ctx.target).get_item(TableName=name, Key=key, ConsistentRead=True).get("Item")
    if seen is not None:
        written_at = number_of(seen, ATTR_WRITTEN_AT)
        return {"drained": True, "sourceReachable": True, "markerWrittenAt": written_at, "markerSeenAt": now}
    source = ctx.clients.dynamodb(ctx.source)
    try:
        held = source.get_item(TableName=name, Key=key, ConsistentRead=True).get("Item")
        if held is None:
            held = key | to_item(
                {
                    ATTR_RECORD_TYPE: RECORD_TYPE_DRAIN_MARKER,
                    ATTR_RUN_ID: ctx.run.run_id,
                    ATTR_WRITTEN_AT: now,
                    ATTR_EXPIRES_AT: now // 1000 + DRAIN_MARKER_TTL_SECONDS,
                }
            )
            source.put_item(TableName=name, Item=held)
    except Exception as error:
        if not is_unreachable(error):
            raise
        return {"drained": False, "sourceReachable": False, "error": repr(error)}
    return {"drained": False, "sourceReachable": True, "markerWrittenAt": number_of(held, ATTR_WRITTEN_AT)}


def _aurora_drained(ctx: StepContext, settled_at: int, now: int) -> dict[str, Any]:
    cluster = cluster_identifier(ctx.topology.cluster_arns[ctx.target])
    lag = _latest_metric(
        ctx.clients.cloudwatch(ctx.target),
        ("AWS/RDS", "AuroraGlobalDBReplicationLag", {"DBClusterIdentifier": cluster}),
        start=settled_at,
        end=now,
    )
    if lag is None:
        quiet = now - settled_at >= AURORA_NO_DATA_GRACE_SECONDS * 1000
        return {"drained": quiet, "lagMs": None, "cluster": cluster, "note": "no lag datapoint since the fence settled"}
    return {"drained": lag <= AURORA_DRAINED_LAG_MS, "lagMs": lag, "cluster": cluster}


def _replication_latency(ctx: StepContext, now: int) -> float | None:
    """The source's last DynamoDB ReplicationLatency towards the target, or None (none, or CloudWatch not answering).

    DynamoDB publishes it in the sending region, with the receiving region as a dimension. Only a report: it never
    decides anything, so a failure to read it is not an error.
    """
    try:
        return _latest_metric(
            ctx.clients.cloudwatch(ctx.source),
            ("AWS/DynamoDB", "ReplicationLatency", {"TableName": ctx.topology.table_name, "ReceivingRegion": ctx.target}),
            start=now - REPLICATION_LATENCY_LOOKBACK_SECONDS * 1000,
            end=now,
        )
    except Exception:
        return None


def _latest_metric(cloudwatch: Any, metric: tuple[str, str, Mapping[str, str]], *, start: int, end: int) -> float | None:
    """The latest per-minute Maximum of ``metric`` (namespace, name, dimensions) between ``start`` and ``end`` (epoch
    ms), or None without datapoints."""
    namespace, name, dimensions = metric
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "latest",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": name,
                        "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
                    },
                    "Period": METRIC_PERIOD_SECONDS,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=_datetime(start),
        EndTime=_datetime(end + METRIC_PERIOD_SECONDS * 1000),
        ScanBy="TimestampDescending",
    )
    for result in response.get("MetricDataResults", []):
        points = sorted(zip(result.get("Timestamps", []), result.get("Values", []), strict=False), reverse=True)
        if points:
            return float(points[0][1])
    return None


def _plan_drain(ctx: StepContext, state: AppState, done: int) -> str:
    if done >= 2:
        return f"done ({state.describe()})"
    topology = ctx.topology
    cluster = cluster_identifier(topology.cluster_arns[ctx.target])
    when = "after the fence"
    if done == 1:
        settle_left = max(0, _seconds(state.updated_at + topology.fence_settle_seconds * 1000 - ctx.now_ms()))
        when = f"after the fence ({settle_left} s left)"
    out_of_time = "refuse (the state stays fenced)" if ctx.run.planned else "proceed, recording the lag (data-loss window)"
    return (
        f"wait {topology.fence_settle_seconds} s {when}, then until {DRAIN_MARKER_PREFIX}{ctx.run.run_id} written in "
        f"{ctx.source} is readable in {ctx.target} and Aurora {cluster}'s replication lag is at most "
        f"{AURORA_DRAINED_LAG_MS:.0f} ms; out of time ({topology.drain_timeout_seconds} s after the fence): {out_of_time}"
    )


# ---- promote --------------------------------------------------------------------------------------------------------


def _promote(ctx: StepContext) -> StepResult:
    state = ctx.state()
    if _on_path(STEP_PROMOTE, ctx, state, needs=1) == 1:
        state = _advance(STEP_PROMOTE, ctx, 2)
    detail: dict[str, Any] = {"state": state.describe()}
    global_cluster, member = _aurora_target(ctx)
    cluster_id, target_arn = ctx.topology.global_cluster_id, member["DBClusterArn"]
    if member.get("IsWriter"):
        return StepResult(STEP_PROMOTE, True, detail={**detail, "aurora": f"writer in {ctx.target}", "writer": target_arn})
    busy = _aurora_busy(global_cluster)
    if busy:
        return StepResult(STEP_PROMOTE, False, AURORA_POLL_SECONDS, {**detail, "aurora": busy})
    rds = ctx.clients.rds(ctx.target)
    if ctx.run.planned:
        rds.switchover_global_cluster(GlobalClusterIdentifier=cluster_id, TargetDbClusterIdentifier=target_arn)
        action = "SwitchoverGlobalCluster"
    else:
        if not ctx.run.allow_data_loss:
            raise StepRefusedError("promote: an unplanned failover needs allowDataLoss=true; nothing done to Aurora")
        rds.failover_global_cluster(GlobalClusterIdentifier=cluster_id, TargetDbClusterIdentifier=target_arn, AllowDataLoss=True)
        action = "FailoverGlobalCluster with AllowDataLoss"
    return StepResult(STEP_PROMOTE, False, AURORA_POLL_SECONDS, {**detail, "aurora": f"{action} started", "target": target_arn})


def _aurora_target(ctx: StepContext) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The global cluster and the target's member of it (refuses when the target cluster is not a member)."""
    cluster_id, target_arn = ctx.topology.global_cluster_id, ctx.topology.cluster_arns[ctx.target]
    clusters = ctx.clients.rds(ctx.target).describe_global_clusters(GlobalClusterIdentifier=cluster_id).get("GlobalClusters", [])
    if not clusters:
        raise StepRefusedError(f"promote: no Aurora global cluster {cluster_id}")
    global_cluster = clusters[0]
    members = global_cluster.get("GlobalClusterMembers", [])
    member = next((m for m in members if m.get("DBClusterArn") == target_arn), None)
    if member is None:
        arns = ", ".join(str(m.get("DBClusterArn")) for m in members) or "none"
        raise StepRefusedError(f"promote: {target_arn} is not a member of the global cluster {cluster_id} (members: {arns})")
    return global_cluster, member


def _aurora_busy(global_cluster: Mapping[str, Any]) -> str | None:
    status = str(global_cluster.get("Status", ""))
    failover = str((global_cluster.get("FailoverState") or {}).get("Status", ""))
    if status in AURORA_BUSY_STATUSES or failover in AURORA_BUSY_FAILOVER_STATES:
        return f"{status or 'busy'} (failover state {failover or 'none'}): waiting for the writer to move"
    return None


def _plan_promote(ctx: StepContext, state: AppState, done: int) -> str:
    line = f"already {state.describe()}" if done >= 2 else f"{_planned_state(ctx, 1)} -> {_planned_state(ctx, 2)}"
    return f"{line}; {_plan_aurora(ctx)}"


def _plan_aurora(ctx: StepContext) -> str:
    try:
        global_cluster, member = _aurora_target(ctx)
    except StepRefusedError as refusal:
        return f"would refuse: {str(refusal).removeprefix('promote: ')}"
    except Exception as error:
        return f"Aurora not readable now ({error!r})"
    cluster_id, target_arn = ctx.topology.global_cluster_id, member["DBClusterArn"]
    if member.get("IsWriter"):
        return f"Aurora writer already in {ctx.target} ({target_arn})"
    busy = _aurora_busy(global_cluster)
    if busy:
        return f"Aurora {busy}"
    if ctx.run.planned:
        return f"SwitchoverGlobalCluster {cluster_id} to {target_arn}"
    return f"FailoverGlobalCluster {cluster_id} to {target_arn} with AllowDataLoss"


# ---- shift traffic --------------------------------------------------------------------------------------------------


def _shift_traffic(ctx: StepContext) -> StepResult:
    state = ctx.state()
    _on_path(STEP_SHIFT_TRAFFIC, ctx, state, needs=2)
    return StepResult(STEP_SHIFT_TRAFFIC, True, detail=_shift(ctx, write=True))


def _shift(ctx: StepContext, *, write: bool) -> dict[str, Any]:
    """Read the traffic controls and (``write``) set them: the target open, the others closed; what changed."""
    if ctx.topology.traffic_control == TRAFFIC_HEALTH_CHECK_GATE:
        return _shift_gates(ctx, write=write)
    return _shift_routing_controls(ctx, write=write)


def _wanted_gates(ctx: StepContext) -> list[tuple[str, int]]:
    """Region -> threshold, the target first: its gate opens before the others close, so some region stays open."""
    regions = [ctx.target, *(region for region in ctx.topology.regions if region != ctx.target)]
    return [(region, GATE_OPEN if region == ctx.target else GATE_CLOSED) for region in regions]


def _shift_gates(ctx: StepContext, *, write: bool) -> dict[str, Any]:
    route53 = ctx.clients.route53()
    changed: dict[str, str] = {}
    for region, wanted in _wanted_gates(ctx):
        gate = ctx.topology.traffic_gates[region]
        check = route53.get_health_check(HealthCheckId=gate)["HealthCheck"]
        threshold = check["HealthCheckConfig"].get("HealthThreshold")
        if threshold == wanted:
            continue
        changed[region] = f"gate {gate} threshold {threshold} -> {wanted} ({'open' if wanted == GATE_OPEN else 'closed'})"
        if write:
            version = check["HealthCheckVersion"]  # conditional: a concurrent change of the check fails this update
            route53.update_health_check(HealthCheckId=gate, HealthCheckVersion=version, HealthThreshold=wanted)
    return {"trafficControl": ctx.topology.traffic_control, "changed": changed, "open": ctx.target}


def _shift_routing_controls(ctx: StepContext, *, write: bool) -> dict[str, Any]:
    """Through the first ARC cluster endpoint that answers (the target region's first), read and set the controls."""
    endpoints = dict(ctx.topology.routing_control_endpoints)
    order = sorted(endpoints, key=lambda region: region != ctx.target)
    failures: list[str] = []
    for endpoint_region in order:
        client = ctx.clients.routing_control(endpoint_region, endpoints[endpoint_region])
        try:
            return _set_routing_controls(ctx, client, endpoint_region, write=write)
        except Exception as error:
            if not (is_unreachable(error) or error_code(error) in ROUTING_ENDPOINT_ERRORS):
                raise
            failures.append(f"{endpoint_region}: {error!r}")
    raise StepRetryableError(f"shift_traffic: no Route53 ARC cluster endpoint answered ({'; '.join(failures)})")


def _set_routing_controls(ctx: StepContext, client: Any, endpoint_region: str, *, write: bool) -> dict[str, Any]:
    changes: dict[str, str] = {}
    entries = []
    for region, _ in _wanted_gates(ctx):
        arn = ctx.topology.routing_controls[region]
        wanted = ROUTING_ON if region == ctx.target else ROUTING_OFF
        current = client.get_routing_control_state(RoutingControlArn=arn)["RoutingControlState"]
        if current != wanted:
            changes[region] = f"routing control {arn} {current} -> {wanted}"
            entries.append({"RoutingControlArn": arn, "RoutingControlState": wanted})
    if entries and write:
        # One call for every control: ARC applies them together, so a safety rule such as "at least one On" holds.
        client.update_routing_control_states(UpdateRoutingControlStateEntries=entries)
    return {"trafficControl": ctx.topology.traffic_control, "changed": changes, "open": ctx.target, "endpoint": endpoint_region}


def _plan_shift_traffic(ctx: StepContext, state: AppState, done: int) -> str:
    try:
        changes = _shift(ctx, write=False)["changed"]
    except Exception as error:
        return f"open {ctx.target}, close the others ({ctx.topology.traffic_control}); not readable now ({error!r})"
    if not changes:
        return f"done (only {ctx.target} open)"
    return "; ".join(f"{region}: {change}" for region, change in changes.items())


# ---- activate -------------------------------------------------------------------------------------------------------


def _activate(ctx: StepContext) -> StepResult:
    state = ctx.state()
    if _on_path(STEP_ACTIVATE, ctx, state, needs=2) == 3:
        return StepResult(STEP_ACTIVATE, True, detail={"state": state.describe(), "action": "none: already active"})
    active = _advance(STEP_ACTIVATE, ctx, 3)
    return StepResult(STEP_ACTIVATE, True, detail={"state": active.describe(), "action": "activated"})


def _plan_activate(ctx: StepContext, state: AppState, done: int) -> str:
    if done == 3:
        return f"done ({state.describe()})"
    return f"{_planned_state(ctx, 2)} -> {_planned_state(ctx, 3)}"


# ---- helpers --------------------------------------------------------------------------------------------------------


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


_ATTEMPTS: Mapping[str, Callable[[StepContext], StepResult]] = {
    STEP_FENCE: _fence,
    STEP_DRAIN: _drain,
    STEP_PROMOTE: _promote,
    STEP_SHIFT_TRAFFIC: _shift_traffic,
    STEP_ACTIVATE: _activate,
}
# A step's plan, given the state and how far along the run's path it is (plan() answers a refusal itself).
_PLANS: Mapping[str, Callable[[StepContext, AppState, int], str]] = {
    STEP_FENCE: _plan_fence,
    STEP_DRAIN: _plan_drain,
    STEP_PROMOTE: _plan_promote,
    STEP_SHIFT_TRAFFIC: _plan_shift_traffic,
    STEP_ACTIVATE: _plan_activate,
}
