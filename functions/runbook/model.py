"""What the failover runbook works on: the deployed topology, one operator request, and the run's durable record.

The runbook moves the application from the active region (the *source*) to a *target* region in five idempotent
steps, :data:`STEPS`: ``fence``, ``drain``, ``promote``, ``shift_traffic``, ``activate``; a run that stops anywhere
is resumed by running it again. :class:`Topology` comes from the deployment, :class:`FailoverRequest` from an
operator, and :class:`RunRecord` (item ``RUNBOOK#<run id>`` in the target's table) remembers the run. What each step
does: ``docs/design/runbook-steps.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from functions.shared.errors import ConflictError, RetryableError, ValidationError

STEP_FENCE = "fence"
STEP_DRAIN = "drain"
STEP_PROMOTE = "promote"
STEP_SHIFT_TRAFFIC = "shift_traffic"
STEP_ACTIVATE = "activate"
STEPS: tuple[str, ...] = (STEP_FENCE, STEP_DRAIN, STEP_PROMOTE, STEP_SHIFT_TRAFFIC, STEP_ACTIVATE)

TRAFFIC_HEALTH_CHECK_GATE = "healthCheckGate"
TRAFFIC_ROUTING_CONTROL = "routingControl"
TRAFFIC_CONTROLS = (TRAFFIC_HEALTH_CHECK_GATE, TRAFFIC_ROUTING_CONTROL)

RUN_RECORD_PREFIX = "RUNBOOK#"
RUN_RUNNING = "running"
RUN_SUCCEEDED = "succeeded"
RUN_FAILED = "failed"

STEP_PENDING = "pending"
STEP_RUNNING = "running"
STEP_DONE = "done"
STEP_FAILED = "failed"

# A run id names the Step Functions execution too: letters, digits, - and _, at most 80 characters.
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


class StepRetryableError(RetryableError):
    """A step failed in a way that trying again can fix (throttling, a region not answering yet).

    The runbook function raises exactly this class for such failures, so the state machine's ``Retry`` names it
    (``"StepRetryableError"``), and retries it with backoff.
    """


class StepRefusedError(ConflictError):
    """A step refuses to go on: the state was moved by someone else, a planned drain ran out of time, the request is
    invalid. Retrying cannot help; the state machine fails the execution (``"StepRefusedError"``) with this message, and an
    operator decides."""


@dataclass(frozen=True)
class Topology:
    """The deployed stack as the runbook needs it, the same in every region.

    Parameters
    ----------
    regions: every region of the stack.
    table_name: the global table (the same name in every region).
    global_cluster_id: the Aurora global cluster identifier.
    cluster_arns: region -> ARN of the Aurora member cluster there.
    traffic_control: ``healthCheckGate`` or ``routingControl``.
    traffic_gates: region -> id of the Route53 calculated health check gating that region's records.
    routing_controls: region -> Route53 ARC routing control ARN (``routingControl`` only).
    routing_control_endpoints: region -> the ARC cluster's endpoint URL there (``routingControl`` only).
    drain_timeout_seconds: how long ``drain`` may wait for replication.
    fence_settle_seconds: how long after the fence every writer has stopped (functions.shared.state_cache).
    """

    regions: tuple[str, ...]
    table_name: str
    global_cluster_id: str
    cluster_arns: Mapping[str, str]
    traffic_control: str
    traffic_gates: Mapping[str, str] = field(default_factory=dict)
    routing_controls: Mapping[str, str] = field(default_factory=dict)
    routing_control_endpoints: Mapping[str, str] = field(default_factory=dict)
    drain_timeout_seconds: int = 300
    fence_settle_seconds: int = 13

    def __post_init__(self) -> None:
        if self.traffic_control not in TRAFFIC_CONTROLS:
            raise ValidationError("trafficControl", f"got {self.traffic_control!r}; allowed: {', '.join(TRAFFIC_CONTROLS)}")
        if len(self.regions) < 2:
            raise ValidationError("regions", f"got {list(self.regions)}; allowed: two or more regions")
        missing = sorted(set(self.regions) - set(self.cluster_arns))
        if missing:
            raise ValidationError("clusterArns", f"no Aurora cluster for {', '.join(missing)}; allowed: one per region")
        controls = self.traffic_gates if self.traffic_control == TRAFFIC_HEALTH_CHECK_GATE else self.routing_controls
        missing = sorted(set(self.regions) - set(controls))
        if missing:
            key = "trafficGates" if self.traffic_control == TRAFFIC_HEALTH_CHECK_GATE else "routingControls"
            raise ValidationError(key, f"nothing for {', '.join(missing)}; allowed: one per region")
        if self.traffic_control == TRAFFIC_ROUTING_CONTROL and not self.routing_control_endpoints:
            raise ValidationError("routingControlEndpoints", "got none; allowed: the ARC cluster's endpoints by region")

    def to_json(self) -> str:
        return json.dumps(_camel(asdict(self)), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> Topology:
        """From the JSON the program writes (``RUNBOOK_TOPOLOGY``); raises ValidationError naming a bad field."""
        raw = json.loads(text) if isinstance(text, str) else dict(text)
        try:
            return cls(
                regions=tuple(raw["regions"]),
                table_name=str(raw["tableName"]),
                global_cluster_id=str(raw["globalClusterId"]),
                cluster_arns=dict(raw["clusterArns"]),
                traffic_control=str(raw["trafficControl"]),
                traffic_gates=dict(raw.get("trafficGates") or {}),
                routing_controls=dict(raw.get("routingControls") or {}),
                routing_control_endpoints=dict(raw.get("routingControlEndpoints") or {}),
                drain_timeout_seconds=int(raw.get("drainTimeoutSeconds", 300)),
                fence_settle_seconds=int(raw.get("fenceSettleSeconds", 13)),
            )
        except KeyError as missing:
            raise ValidationError(str(missing.args[0]), "missing from the runbook topology") from None


@dataclass(frozen=True)
class FailoverRequest:
    """What an operator asks for (the Step Functions execution input, or ``ops failover``'s flags).

    ``allow_data_loss`` is only meaningful for an unplanned failover, and an unplanned failover needs it: promoting a
    secondary while the primary is unreachable can lose the writes that had not replicated, and that is only done when
    asked for in so many words.
    """

    run_id: str
    target_region: str
    planned: bool
    allow_data_loss: bool = False
    requested_by: str = "runbook"

    def validate(self, topology: Topology) -> None:
        """Raise ValidationError naming the field and the allowed values."""
        if not RUN_ID.fullmatch(self.run_id):
            raise ValidationError("runId", f"got {self.run_id!r}; allowed: 1 to 80 letters, digits, - or _")
        if self.target_region not in topology.regions:
            raise ValidationError("targetRegion", f"got {self.target_region!r}; allowed: {', '.join(topology.regions)}")
        if self.planned and self.allow_data_loss:
            raise ValidationError("allowDataLoss", "got true for a planned switchover; allowed: false (switchover loses nothing)")
        if not self.planned and not self.allow_data_loss:
            raise ValidationError(
                "allowDataLoss",
                "got false for an unplanned failover; allowed: true, confirming that writes not yet replicated may be lost",
            )

    def to_dict(self) -> dict[str, Any]:
        return dict(_camel(asdict(self)))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FailoverRequest:
        try:
            return cls(
                run_id=str(raw["runId"]),
                target_region=str(raw["targetRegion"]),
                planned=_flag(raw, "planned"),
                allow_data_loss=_flag(raw, "allowDataLoss", default=False),
                requested_by=str(raw.get("requestedBy", "runbook")),
            )
        except KeyError as missing:
            raise ValidationError(str(missing.args[0]), "missing from the failover request") from None


@dataclass(frozen=True)
class StepResult:
    """One attempt at a step: ``done``, or call again after ``wait_seconds``; ``detail`` says what it found and did."""

    step: str
    done: bool
    wait_seconds: int = 0
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "done": self.done, "waitSeconds": self.wait_seconds, "detail": dict(self.detail)}


@dataclass(frozen=True)
class StepRecord:
    """A step's history in the run record: times in epoch ms, the number of attempts, the last detail."""

    status: str = STEP_PENDING
    started_at: int | None = None
    finished_at: int | None = None
    attempts: int = 0
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass(frozen=True)
class RunRecord:
    """The durable record of one run, item ``RUNBOOK#<run id>`` in the target region's table.

    ``source_region`` and ``start_epoch`` are fixed when the run is first recorded; a resumed run reads them back, so
    every step judges the state against the same starting point however often it runs.
    """

    run_id: str
    target_region: str
    source_region: str
    start_epoch: int
    planned: bool
    allow_data_loss: bool
    requested_by: str
    status: str = RUN_RUNNING
    started_at: int = 0
    finished_at: int | None = None
    steps: Mapping[str, StepRecord] = field(default_factory=dict)
    error: str | None = None

    def step(self, name: str) -> StepRecord:
        return self.steps.get(name, StepRecord())


def run_record_id(run_id: str) -> str:
    return RUN_RECORD_PREFIX + run_id


def _flag(raw: Mapping[str, Any], key: str, default: bool | None = None) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ValidationError(key, f"got {value!r}; allowed: true or false")
    return value


def _camel(value: Any) -> Any:
    """snake_case keys to camelCase, at every depth (the JSON the state machine and the program speak)."""
    if isinstance(value, Mapping):
        return {_camel_key(str(k)): _camel(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_camel(v) for v in value]
    return value


def _camel_key(key: str) -> str:
    if "-" in key or key[:1].isupper():
        return key  # region names and other data used as keys stay as they are
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)
