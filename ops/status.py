"""``python -m ops status``: what an operator looks at before, during and after a failover, read from AWS.

For every region: the application-state record as *that region's* replica holds it, the traffic gate and endpoint
health check, DynamoDB and Aurora replication lag, Aurora's writer, the runbook run that last moved the state, and
the runtime-settings parameter against the stack file (drift: a region whose value is not what the config says).
Every call runs at once with short timeouts, each failure reported in place (``unreachable: ...``): a dead region
must not hide the others. Exit status 0: every region answered, they agree, the state is ``active``, no drift; else 1.
Where each reading comes from (and why gates are read from config and CloudWatch): docs/design/operations.md.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from functions.runbook.model import STEPS, TRAFFIC_ROUTING_CONTROL, RunRecord, Topology
from functions.shared.errors import ValidationError
from functions.shared.schema import STATUS_ACTIVE
from functions.shared.state import AppState, ItemTable, read_state
from ops.arns import cluster_identifier, region_of_arn
from ops.context import OpsContext, default_context
from ops.credentials import EXIT_CREDENTIALS, CredentialsError, credentials_problem, describe_error, print_credentials_error
from ops.runs import run_of_state
from ops.stack import (
    StackRef,
    TopologyFileError,
    TopologyUnavailableError,
    add_stack_argument,
    add_topology_argument,
    load_topology,
    stack_ref,
)

if TYPE_CHECKING:
    from functions.runbook.clients import RunbookClients

PARALLEL_CALLS = 16
METRIC_WINDOW_MINUTES = 15
# Route53 publishes health-check metrics in us-east-1 only, and its control plane lives there.
ROUTE53_REGION = "us-east-1"
# Health-check types Route53 probes itself (the endpoint checks); CALCULATED and RECOVERY_CONTROL are not probed.
PROBING_TYPES = frozenset({"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"})


def find_run(topology: Topology, clients: RunbookClients, state: AppState, regions: Iterable[str]) -> RunRecord | None:
    """The record of the run that last moved ``state``, read from the first of ``regions`` holding it (the record
    is written in the run's target region and replicates with the table); None when no run moved the state."""
    from functions.runbook.runner import read_run

    run_id = run_of_state(state)
    if run_id is None:
        return None
    for region in regions:
        run = read_run(topology, clients, region, run_id)
        if run is not None:
            return run
    return None


# ---- pure helpers over API responses -------------------------------------------------------------------------


def gate_position(config: Mapping[str, Any]) -> str:
    """``open`` when a calculated check's threshold can be met by its children, ``closed`` when it cannot."""
    children = config.get("ChildHealthChecks") or []
    threshold = int(config.get("HealthThreshold", 0))
    return "closed" if threshold > len(children) else "open"


def checkers_healthy(observations: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(checkers reporting success, checkers reporting) from GetHealthCheckStatus observations."""
    ok = sum(1 for o in observations if str(o.get("StatusReport", {}).get("Status", "")).startswith("Success"))
    return ok, len(observations)


def latest_datapoint(datapoints: Sequence[Mapping[str, Any]], statistic: str) -> tuple[float, datetime] | None:
    """The most recent value of ``statistic`` in a GetMetricStatistics answer, with its time; None when empty."""
    if not datapoints:
        return None
    newest = max(datapoints, key=lambda point: point["Timestamp"])
    return float(newest[statistic]), newest["Timestamp"]


def writer_region(global_cluster: Mapping[str, Any]) -> str | None:
    writers = [m for m in global_cluster.get("GlobalClusterMembers", []) if m.get("IsWriter")]
    return region_of_arn(str(writers[0]["DBClusterArn"])) if writers else None


def _flat(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON object's leaves by dotted path (``featureFlags.cacheReads``)."""
    leaves: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, Mapping):
            leaves |= _flat(value, f"{prefix}{key}.")
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


def config_drift(expected: str, values: Mapping[str, str | None], errors: Mapping[str, str]) -> dict[str, list[str]]:
    """How each region's runtime-settings parameter differs from the stack's config (``expected``), field by field; a
    region that could not be read is named with its error. Regions that hold what the config says are left out.

    Example:
        >>> config_drift('{"a":1,"f":{"x":true}}', {"r1": '{"a":1,"f":{"x":true}}', "r2": '{"a":2,"f":{"x":true}}'}, {})
        {'r2': ['a is 2, the config says 1']}
    """
    want = _flat(json.loads(expected))
    drift: dict[str, list[str]] = {region: [f"unreadable: {error}"] for region, error in errors.items()}
    for region, value in values.items():
        if value is None:
            continue
        try:
            have = _flat(json.loads(value))
        except (ValueError, AttributeError):
            drift[region] = [f"not a JSON object: {value[:80]!r}"]
            continue
        differences = [
            f"{name} is {json.dumps(have.get(name))}, the config says {json.dumps(want.get(name))}"
            for name in sorted(want.keys() | have.keys())
            if have.get(name) != want.get(name)
        ]
        if differences:
            drift[region] = differences
    return drift


def agreement(states: Mapping[str, AppState | None]) -> bool:
    """Every region answered and holds the same status, active region and epoch."""
    seen = {(s.status, s.active_region, s.epoch) if s else None for s in states.values()}
    return None not in seen and len(seen) == 1


# ---- gathering ---------------------------------------------------------------------------------------------------


@dataclass
class StackStatus:
    """Everything ``ops status`` found, as JSON-ready dictionaries (``--json`` prints :meth:`to_dict`)."""

    ref: StackRef
    topology: Topology
    topology_source: str
    states: dict[str, AppState | None]
    state_errors: dict[str, str]
    traffic: dict[str, dict[str, Any]]
    dynamodb_lag: list[dict[str, Any]]
    aurora_lag: list[dict[str, Any]]
    aurora: dict[str, Any]
    run: dict[str, Any]
    checked_at: int = field(default=0)
    # The runtime-settings parameter's drift from the stack's config, by region (``config_drift``; empty: none).
    app_config_drift: dict[str, list[str]] = field(default_factory=dict)

    @property
    def agree(self) -> bool:
        return agreement(self.states)

    @property
    def state(self) -> AppState | None:
        """The state all regions agree on, else None."""
        return next(iter(self.states.values())) if self.agree else None

    @property
    def ok(self) -> bool:
        state = self.state
        return state is not None and state.status == STATUS_ACTIVE and not self.app_config_drift

    def problems(self) -> list[str]:
        """Why the exit status is 1, in words (empty when it is 0)."""
        found = [f"{region} did not answer: {error}" for region, error in self.state_errors.items()]
        answered = {r: s for r, s in self.states.items() if s is not None}
        if len({(s.status, s.active_region, s.epoch) for s in answered.values()}) > 1:
            found.append("the regions disagree: " + "; ".join(f"{r} says {s.describe()}" for r, s in answered.items()))
        state = self.state
        if state is not None and state.status != STATUS_ACTIVE:
            found.append(f"the state is {state.describe()}: no region writes")
        parameter = self.ref.app_config_parameter
        found += [
            f"{region}'s {parameter} differs from Pulumi.{self.ref.stack}.yaml: {'; '.join(lines)}"
            for region, lines in self.app_config_drift.items()
        ]
        return found

    def to_dict(self) -> dict[str, Any]:
        state = self.state
        return {
            "project": self.ref.project,
            "stack": self.ref.stack,
            "topologySource": self.topology_source,
            "trafficControl": self.topology.traffic_control,
            "checkedAt": _iso(self.checked_at),
            "ok": self.ok,
            "agree": self.agree,
            "state": _state_dict(state) if state else None,
            "problems": self.problems(),
            "regions": [
                {
                    "region": region,
                    "state": _state_dict(s) if (s := self.states.get(region)) else None,
                    "error": self.state_errors.get(region),
                    "traffic": self.traffic.get(region, {}),
                }
                for region in self.topology.regions
            ],
            "replication": {"dynamodb": self.dynamodb_lag, "aurora": self.aurora_lag},
            "aurora": self.aurora,
            "run": self.run,
            "appConfig": {"parameter": self.ref.app_config_parameter, "drift": self.app_config_drift},
        }


def gather_status(ref: StackRef, topology: Topology, topology_source: str, ctx: OpsContext) -> StackStatus:
    """Read everything at once (a thread per call, each failure kept as its message)."""
    now = datetime.fromtimestamp(ctx.now_ms() / 1000, tz=UTC)
    window = (now - timedelta(minutes=METRIC_WINDOW_MINUTES), now)
    clients = ctx.runbook
    with ThreadPoolExecutor(max_workers=PARALLEL_CALLS) as pool:
        state_jobs = {r: pool.submit(read_state, ItemTable(clients.dynamodb(r), topology.table_name)) for r in topology.regions}
        traffic_jobs = {r: pool.submit(_traffic, topology, r, clients, window) for r in topology.regions}
        dynamodb_jobs = _dynamodb_lag_jobs(pool, topology, clients, window)
        aurora_jobs = _aurora_lag_jobs(pool, topology, clients, window)
        aurora_job = pool.submit(_aurora, topology, clients)
        config_jobs = {r: pool.submit(_app_config, ctx, r, ref.app_config_parameter) for r in topology.regions}
        states, state_errors = _states(state_jobs)
        traffic = {r: _result(job, {}) for r, job in traffic_jobs.items()}
        dynamodb_lag = [{"from": s, "to": d, **_lag(job)} for (s, d), job in dynamodb_jobs.items()]
        aurora = _result(aurora_job, {"globalCluster": topology.global_cluster_id})
        aurora_lag = [
            {
                "region": r,
                "cluster": cluster_identifier(topology.cluster_arns[r]),
                "writer": aurora.get("writerRegion") == r,
                **_lag(job),
            }
            for r, job in aurora_jobs.items()
        ]
        config_values, config_errors = _app_config_values(config_jobs)
    run = _latest_run(topology, ctx, states)
    return StackStatus(
        ref,
        topology,
        topology_source,
        states,
        state_errors,
        traffic,
        dynamodb_lag,
        aurora_lag,
        aurora,
        run,
        checked_at=ctx.now_ms(),
        app_config_drift=config_drift(ref.app_config, config_values, config_errors),
    )


def _app_config(ctx: OpsContext, region: str, name: str) -> str:
    return str(ctx.aws("ssm", region).get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


Answer = TypeVar("Answer")


def _answers(jobs: Mapping[str, Future[Answer]]) -> tuple[dict[str, Answer | None], dict[str, Exception]]:
    """Each region's answer (None when it did not answer) and the error of each region that did not."""
    values: dict[str, Answer | None] = {}
    failures: dict[str, Exception] = {}
    for region, job in jobs.items():
        try:
            values[region] = job.result()
        except Exception as error:
            values[region] = None
            failures[region] = error
    return values, failures


def _app_config_values(jobs: Mapping[str, Future[str]]) -> tuple[dict[str, str | None], dict[str, str]]:
    values, failures = _answers(jobs)
    return values, {region: describe_error(error) for region, error in failures.items()}


LagJob = Future[tuple[float, datetime] | None]


def _dynamodb_lag_jobs(
    pool: ThreadPoolExecutor, topology: Topology, clients: RunbookClients, window: tuple[datetime, datetime]
) -> dict[tuple[str, str], LagJob]:
    """DynamoDB replication latency of each ordered pair of regions, read in the sending region."""
    regions = topology.regions
    return {
        (source, receiver): pool.submit(
            _latest,
            clients.cloudwatch(source),
            MetricQuery("AWS/DynamoDB", "ReplicationLatency", {"TableName": topology.table_name, "ReceivingRegion": receiver}),
            window,
        )
        for source in regions
        for receiver in regions
        if source != receiver
    }


def _aurora_lag_jobs(
    pool: ThreadPoolExecutor, topology: Topology, clients: RunbookClients, window: tuple[datetime, datetime]
) -> dict[str, LagJob]:
    """Aurora global replication lag of each region's cluster, read in its own region."""
    return {
        r: pool.submit(
            _latest,
            clients.cloudwatch(r),
            MetricQuery(
                "AWS/RDS",
                "AuroraGlobalDBReplicationLag",
                {"DBClusterIdentifier": cluster_identifier(topology.cluster_arns[r])},
            ),
            window,
        )
        for r in topology.regions
    }


def _states(jobs: Mapping[str, Future[AppState]]) -> tuple[dict[str, AppState | None], dict[str, str]]:
    """Each region's state (None with its error when it did not answer); raises the credentials problem when every
    region refused the credentials (it is not a region that did not answer)."""
    states, failures = _answers(jobs)
    refused = [problem for error in failures.values() if (problem := credentials_problem(error))]
    if refused and len(refused) == len(jobs):
        raise refused[0]
    return states, {region: describe_error(error) for region, error in failures.items()}


def _result(job: Future[dict[str, Any]], fallback: dict[str, Any]) -> dict[str, Any]:
    """A probe's answer; an error it did not expect becomes its message (one broken probe must not hide the rest)."""
    try:
        return job.result()
    except Exception as error:
        return {**fallback, "error": describe_error(error), "errors": [describe_error(error)]}


def _lag(job: LagJob) -> dict[str, Any]:
    try:
        point = job.result()
    except Exception as error:
        return {"lagMs": None, "at": None, "error": describe_error(error)}
    if point is None:
        return {"lagMs": None, "at": None, "error": None}
    value, at = point
    return {"lagMs": value, "at": at.astimezone(UTC).isoformat(), "error": None}


@dataclass(frozen=True)
class MetricQuery:
    """One CloudWatch metric: its namespace, name, dimensions and the statistic read (the worst of each minute)."""

    namespace: str
    name: str
    dimensions: Mapping[str, str]
    statistic: str = "Maximum"


def _latest(cloudwatch: Any, query: MetricQuery, window: tuple[datetime, datetime]) -> tuple[float, datetime] | None:
    answer = cloudwatch.get_metric_statistics(
        Namespace=query.namespace,
        MetricName=query.name,
        Dimensions=[{"Name": k, "Value": v} for k, v in query.dimensions.items()],
        StartTime=window[0],
        EndTime=window[1],
        Period=60,
        Statistics=[query.statistic],
    )
    return latest_datapoint(answer.get("Datapoints", []), query.statistic)


def _traffic(topology: Topology, region: str, clients: RunbookClients, window: tuple[datetime, datetime]) -> dict[str, Any]:
    """The region's gate (position, threshold, status), its endpoint check, and its routing control if any."""
    found: dict[str, Any] = {"errors": []}
    gate_id = topology.traffic_gates.get(region)
    route53 = clients.route53()
    if gate_id:
        found["gate"] = gate_id
        try:
            config = route53.get_health_check(HealthCheckId=gate_id)["HealthCheck"]["HealthCheckConfig"]
            children = list(config.get("ChildHealthChecks") or [])
            found.update(position=gate_position(config), threshold=config.get("HealthThreshold"), children=children)
            found.update(_endpoint(route53, children))
        except Exception as error:
            found["errors"].append(f"gate {gate_id}: {describe_error(error)}")
        try:
            query = MetricQuery("AWS/Route53", "HealthCheckStatus", {"HealthCheckId": gate_id}, "Minimum")
            point = _latest(clients.cloudwatch(ROUTE53_REGION), query, window)
            found["gateHealthy"] = None if point is None else point[0] >= 1
        except Exception as error:
            found["errors"].append(f"gate status: {describe_error(error)}")
    if topology.traffic_control == TRAFFIC_ROUTING_CONTROL:
        found["routingControl"] = routing_control_state(topology, region, clients, found["errors"])
    return found


def _endpoint(route53: Any, children: Sequence[str]) -> dict[str, Any]:
    for child in children:
        config = route53.get_health_check(HealthCheckId=child)["HealthCheck"]["HealthCheckConfig"]
        if config.get("Type") in PROBING_TYPES:
            observations = route53.get_health_check_status(HealthCheckId=child)["HealthCheckObservations"]
            ok, total = checkers_healthy(observations)
            return {"endpoint": child, "endpointCheckers": total, "endpointHealthy": ok}
    return {}


def routing_control_state(topology: Topology, region: str, clients: RunbookClients, errors: list[str]) -> str | None:
    """The routing control's state through the first ARC cluster endpoint that answers (ARC's own guidance)."""
    arn = topology.routing_controls.get(region)
    if not arn:
        return None
    for endpoint_region, url in topology.routing_control_endpoints.items():
        try:
            client = clients.routing_control(endpoint_region, url)
            return str(client.get_routing_control_state(RoutingControlArn=arn)["RoutingControlState"])
        except Exception as error:
            errors.append(f"routing control via {endpoint_region}: {describe_error(error)}")
    return None


def _aurora(topology: Topology, clients: RunbookClients) -> dict[str, Any]:
    """The global cluster as the first region that answers describes it."""
    failures: list[str] = []
    for region in topology.regions:
        try:
            clusters = clients.rds(region).describe_global_clusters(GlobalClusterIdentifier=topology.global_cluster_id)
        except Exception as error:
            failures.append(f"{region}: {describe_error(error)}")
            continue
        if not clusters.get("GlobalClusters"):
            failures.append(f"{region}: no global cluster {topology.global_cluster_id}")
            continue
        cluster = clusters["GlobalClusters"][0]
        found: dict[str, Any] = {
            "globalCluster": topology.global_cluster_id,
            "status": cluster.get("Status"),
            "writerRegion": writer_region(cluster),
            "from": region,
        }
        if cluster.get("FailoverState"):
            state = cluster["FailoverState"]
            found["failoverState"] = {
                "status": state.get("Status"),
                "from": region_of_arn(state["FromDbClusterArn"]) if state.get("FromDbClusterArn") else None,
                "to": region_of_arn(state["ToDbClusterArn"]) if state.get("ToDbClusterArn") else None,
                "dataLossAllowed": state.get("IsDataLossAllowed"),
            }
        return found
    return {"globalCluster": topology.global_cluster_id, "error": "; ".join(failures)}


def _latest_run(topology: Topology, ctx: OpsContext, states: Mapping[str, AppState | None]) -> dict[str, Any]:
    """The run behind the newest state any region holds (see :func:`find_run`), as a dict, or a note."""
    answered = [s for s in states.values() if s is not None]
    if not answered:
        return {"note": "no region answered: the run records could not be read"}
    newest = max(answered, key=lambda s: s.epoch)
    if run_of_state(newest) is None:
        return {
            "note": f"the state (epoch {newest.epoch}) was last written by {newest.updated_by or 'unknown'}, not by a runbook run"
        }
    reachable = [r for r, s in states.items() if s is not None]
    try:
        run = find_run(topology, ctx.runbook, newest, reachable)
    except Exception as error:
        return {"note": f"the run records could not be read: {describe_error(error)}"}
    if run is None:
        return {"note": f"the record of run {run_of_state(newest)} is in no region that answered"}
    return run_dict(run)


def run_dict(run: RunRecord) -> dict[str, Any]:
    """A run record for printing and ``--json``: steps in runbook order, durations in seconds."""
    return {
        "runId": run.run_id,
        "status": run.status,
        "source": run.source_region,
        "target": run.target_region,
        "startEpoch": run.start_epoch,
        "planned": run.planned,
        "requestedBy": run.requested_by,
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.finished_at) if run.finished_at else None,
        "error": run.error,
        "steps": [
            {
                "step": name,
                "status": run.step(name).status,
                "attempts": run.step(name).attempts,
                "seconds": _seconds(run.step(name).duration_ms),
            }
            for name in STEPS
        ],
    }


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 1)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _state_dict(state: AppState) -> dict[str, Any]:
    return {
        "status": state.status,
        "activeRegion": state.active_region,
        "epoch": state.epoch,
        "updatedBy": state.updated_by,
        "updatedAt": _iso(state.updated_at),
    }


# ---- rendering -------------------------------------------------------------------------------------------------


def render_status(found: Mapping[str, Any]) -> str:
    """The human-readable report of :meth:`StackStatus.to_dict`."""
    lines = [
        f"Stack {found['project']}/{found['stack']} at {found['checkedAt']} (topology from {found['topologySource']})",
        "",
        "Application state, as each region's replica holds it",
        *_states_text(found),
        "",
        f"Traffic ({found['trafficControl']})",
        *_traffic_text(found),
        "",
        f"Replication lag (latest in the last {METRIC_WINDOW_MINUTES} min)",
        *_replication_text(found["replication"]),
        "",
        "Aurora global cluster",
        "  " + _aurora_text(found["aurora"]),
        "",
        "Latest runbook run",
        *_run_text(found["run"]),
        "",
        f"Runtime settings ({found['appConfig']['parameter']}, against Pulumi.{found['stack']}.yaml)",
        *_app_config_text(found),
        "",
    ]
    if found["ok"]:
        state = found["state"]
        lines.append(f"OK: active in {state['activeRegion']} at epoch {state['epoch']}, every region agrees")
    else:
        lines += ["NOT OK:", *(f"  {problem}" for problem in found["problems"])]
    return "\n".join(lines)


def _states_text(found: Mapping[str, Any]) -> list[str]:
    rows = [["region", "status", "active region", "epoch", "updated by", "updated at"]]
    for entry in found["regions"]:
        state = entry["state"]
        if state is None:
            rows.append([entry["region"], f"unreachable: {entry['error']}", "", "", "", ""])
        else:
            rows.append(
                [
                    entry["region"],
                    state["status"],
                    state["activeRegion"],
                    str(state["epoch"]),
                    state["updatedBy"],
                    state["updatedAt"],
                ]
            )
    return [*_table(rows), f"  regions agree: {'yes' if found['agree'] else 'NO'}"]


def _traffic_text(found: Mapping[str, Any]) -> list[str]:
    routing_control = found["trafficControl"] == TRAFFIC_ROUTING_CONTROL
    rows = [["region", "gate", "position", "gate status", "endpoint check"]]
    if routing_control:
        rows[0].append("routing control")
    notes: list[str] = []
    for entry in found["regions"]:
        traffic = entry["traffic"]
        row = [
            entry["region"],
            str(traffic.get("gate", "-")),
            _position(traffic),
            {True: "healthy", False: "UNHEALTHY", None: "no data"}[traffic.get("gateHealthy")],
            _endpoint_text(traffic),
        ]
        if routing_control:
            row.append(str(traffic.get("routingControl") or "unknown"))
        rows.append(row)
        notes += [f"  {entry['region']}: {error}" for error in traffic.get("errors", [])]
    return _table(rows) + notes


def _replication_text(replication: Mapping[str, Any]) -> list[str]:
    rows = [["path", "lag", "at"]]
    for lag in replication["dynamodb"]:
        rows.append([f"DynamoDB {lag['from']} -> {lag['to']}", *_lag_text(lag)])
    for lag in replication["aurora"]:
        label = f"Aurora into {lag['region']} ({lag['cluster']})"
        rows.append([label, "writer", ""] if lag["writer"] else [label, *_lag_text(lag)])
    return _table(rows)


def _position(traffic: Mapping[str, Any]) -> str:
    if "position" not in traffic:
        return "unknown"
    return f"{traffic['position']} (threshold {traffic['threshold']} of {len(traffic['children'])})"


def _endpoint_text(traffic: Mapping[str, Any]) -> str:
    if "endpoint" not in traffic:
        return "unknown"
    return f"{traffic['endpoint']}: {traffic['endpointHealthy']}/{traffic['endpointCheckers']} checkers healthy"


def _lag_text(lag: Mapping[str, Any]) -> list[str]:
    if lag.get("error"):
        return [f"unreadable: {lag['error']}", ""]
    if lag["lagMs"] is None:
        return ["no data", ""]
    return [f"{lag['lagMs']:.0f} ms", str(lag["at"])]


def _aurora_text(aurora: Mapping[str, Any]) -> str:
    if aurora.get("error"):
        return f"{aurora['globalCluster']}: unreadable ({aurora['error']})"
    text = f"{aurora['globalCluster']}: writer in {aurora['writerRegion'] or 'no region'}, status {aurora['status']}"
    failover = aurora.get("failoverState")
    if failover:
        text += f"; {failover['status']} from {failover['from']} to {failover['to']}"
        text += f" (data loss allowed: {failover['dataLossAllowed']})"
    return text


def _run_text(run: Mapping[str, Any]) -> list[str]:
    if "note" in run:
        return [f"  {run['note']}"]
    kind = "planned" if run["planned"] else "unplanned"
    lines = [
        f"  {run['runId']}: {run['status']}, {kind}, {run['source']} -> {run['target']}, "
        f"from epoch {run['startEpoch']}, by {run['requestedBy']}, started {run['startedAt']}"
    ]
    for step in run["steps"]:
        took = "" if step["seconds"] is None else f" in {step['seconds']} s"
        tries = f"{step['attempts']} attempt{'' if step['attempts'] == 1 else 's'}"
        lines.append(f"    {step['step']:<14} {step['status']}{took} ({tries})")
    if run["error"]:
        lines.append(f"    error: {run['error']}")
    return lines


def _app_config_text(found: Mapping[str, Any]) -> list[str]:
    drift = found["appConfig"]["drift"]
    lines = []
    for entry in found["regions"]:
        differences = drift.get(entry["region"])
        lines.append(f"  {entry['region']}: " + ("; ".join(differences) if differences else "as configured"))
    return lines


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


# ---- the command -----------------------------------------------------------------------------------------------

EXIT_STATUS_HELP = (
    "exit status: 0 when every region answers, they agree, the state is active and every region's runtime settings "
    "are the stack's; 1 otherwise (a region unreachable, the regions disagree, the state is fenced or failing over, "
    "or a region's app-config parameter differs from the stack file); 2 on bad arguments; "
    f"{EXIT_CREDENTIALS} when the AWS credentials are missing or refused"
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "status",
        help="show the application state in every region, traffic, replication lag and the latest runbook run",
        description="Read the stack's failover-relevant state from AWS, region by region.",
        epilog=EXIT_STATUS_HELP,
    )
    add_stack_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of the report")
    add_topology_argument(parser)


def run(args: argparse.Namespace, ctx: OpsContext | None = None) -> int:
    """``python -m ops status``; see :data:`EXIT_STATUS_HELP`."""
    import sys

    try:
        ref = stack_ref(args.stack)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: --stack: {error}", file=sys.stderr)
        return 2
    ctx = ctx or default_context()
    try:
        topology, source = load_topology(ref, ctx.aws, path=args.topology)
        found = gather_status(ref, topology, source, ctx)
    except TopologyFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except CredentialsError as problem:
        return print_credentials_error(problem)
    except (TopologyUnavailableError, ValidationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(found.to_dict(), indent=2) if args.json else render_status(found.to_dict()))
    return 0 if found.ok else 1
