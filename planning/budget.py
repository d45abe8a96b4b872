"""The resilience budget: how long a failover takes (RTO) and how much data it can lose (RPO), against the targets
``rtoSeconds`` and ``rpoSeconds`` of the stack config. RTO is a sum of terms per scenario (detection, fence settle,
drain, promotion, traffic shift, activation, DNS caches); RPO is read per data store from the replication the run
would create. The constants below are the assumptions, each citing its AWS page; the terms: docs/design/plan-tooling.md.

Example:
    >>> budget = budget_of(run_program("prod", preview=True))
    >>> [round(s.total) for s in budget.rto], budget.overruns()
    ([734, 764], [])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.app_config import parameter_name
from components.config import StackConfig
from functions.shared.state_cache import FENCE_SETTLE_SECONDS, STATE_CACHE_SECONDS
from planning.harness import ProgramRun

ROUTE53_PROPAGATION_SECONDS = 60
"""How long a Route53 change takes to reach its name servers. Amazon Route 53 Developer Guide, "Editing records":
changes generally propagate to all Route 53 name servers within 60 seconds. Assumed to hold for the gate's threshold
and for a routing control's state as for a record."""

AURORA_PROMOTION_SECONDS = 300
"""How long Aurora takes to move the writer of a global database to another region (``SwitchoverGlobalCluster``
when planned, ``FailoverGlobalCluster`` when not). Amazon Aurora User Guide, "Using switchover or failover in Amazon
Aurora Global Database": RTO can be in the order of minutes. No figure is documented; five minutes is this budget's
assumption (AWS material elsewhere quotes under a minute for the promotion itself)."""

AURORA_REPLICATION_LAG_SECONDS = 1.0
"""Aurora global database replication lag, the data an unplanned failover can lose. Amazon Aurora User Guide, "Using
Amazon Aurora Global Database": Aurora replicates to the secondary regions with a typical latency of under a second
("Using switchover or failover ...": RPO is typically measured in seconds). A switchover synchronises the
secondaries first and loses nothing. The observability alarm fires above 5 s of lag."""

DYNAMODB_REPLICATION_SECONDS = 1.0
"""DynamoDB global table (MREC) replication latency. Amazon DynamoDB Developer Guide, "How DynamoDB global tables
work": changes are typically replicated to all other replicas within one second or less; AWS Prescriptive Guidance,
"Overview of global tables": there is no SLA for this latency. The observability alarm fires above 60 s."""

S3_RTC_SLA_SECONDS = 15 * 60
"""S3 Replication Time Control. Amazon S3 User Guide, "Meeting compliance requirements using S3 Replication Time
Control (S3 RTC)": most objects replicate in seconds and 99.99 percent of them within 15 minutes (the SLA); 15 minutes is also
the only ``ReplicationTime.Time.Minutes`` value S3 accepts. The rules' own minutes are used when they are set."""

EVENTBRIDGE_REPLICATION_SECONDS = 420.0
"""EventBridge global endpoint with event replication. Amazon EventBridge User Guide, "Making applications
Regional-fault tolerant with global endpoints": replication to the secondary region is asynchronous, and with AWS's
guidance for the health check's alarm the RTO and RPO are 360 seconds, at most 420 seconds; events not yet replicated
stay in the primary region until it recovers."""

T_REPLICATION_CONFIG = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
T_TABLE = "aws:dynamodb/table:Table"
T_DB_CLUSTER = "aws:rds/cluster:Cluster"
T_SECRET = "aws:secretsmanager/secret:Secret"
T_MEMORYDB = "aws:memorydb/cluster:Cluster"
T_EVENT_ENDPOINT = "aws:cloudwatch/eventEndpoint:EventEndpoint"
T_PARAMETER = "aws:ssm/parameter:Parameter"

MEMORYDB_MULTI_REGION_SECONDS = 1.0
"""MemoryDB Multi-Region replication latency. MemoryDB developer guide, "MemoryDB Multi-Region": data is typically
propagated within a second, asynchronously; "Prerequisites and limitations": no RPO/RTO SLA. The runbook does not drain
the cache: what a failover leaves behind are misses, refilled from the global table (docs/design/cache.md)."""

PLANNED, UNPLANNED = "planned switchover", "unplanned failover"


@dataclass(frozen=True)
class Term:
    """One term of an RTO sum: its value and where the value comes from."""

    name: str
    seconds: float
    source: str


@dataclass(frozen=True)
class RtoScenario:
    """The RTO of one scenario (``PLANNED`` or ``UNPLANNED``) as the sum of its terms."""

    scenario: str
    terms: tuple[Term, ...]

    @property
    def total(self) -> float:
        return sum(term.seconds for term in self.terms)


@dataclass(frozen=True)
class StoreRpo:
    """One data store's RPO when planned and unplanned: ``None`` = no RPO (not a store of record), ``math.inf`` =
    unbounded; ``basis`` says why."""

    store: str
    planned: float | None
    unplanned: float | None
    basis: str


@dataclass(frozen=True)
class Overrun:
    """A budget over its target: the config key, the target, the budget and what it is the budget of."""

    key: str
    target: float
    budget: float
    subject: str

    def message(self) -> str:
        return f"{self.key}: the {self.subject} budget is {_seconds(self.budget)}, over the target of {_seconds(self.target)}"


@dataclass(frozen=True)
class Budget:
    """The RTO scenarios and store RPOs of a stack against its targets."""

    rto_target: int
    rpo_target: int
    rto: tuple[RtoScenario, ...]
    rpo: tuple[StoreRpo, ...]

    def overruns(self) -> list[Overrun]:
        """Every scenario over ``rtoSeconds`` and every store (planned or unplanned) over ``rpoSeconds``."""
        found = [
            Overrun("rtoSeconds", self.rto_target, s.total, f"{s.scenario} RTO") for s in self.rto if s.total > self.rto_target
        ]
        for store in self.rpo:
            for scenario, value in ((PLANNED, store.planned), (UNPLANNED, store.unplanned)):
                if value is not None and value > self.rpo_target:
                    found.append(Overrun("rpoSeconds", self.rpo_target, value, f"{store.store} {scenario} RPO"))
        return found


@dataclass(frozen=True)
class TrafficSettings:
    """What the traffic RTO depends on, from the stack config."""

    health_checks_enabled: bool
    interval_seconds: int
    failure_threshold: int
    dns_ttl_seconds: int
    drain_timeout_seconds: int
    traffic_control: str

    @classmethod
    def of(cls, config: StackConfig) -> TrafficSettings:
        return cls(
            health_checks_enabled=config.routing.health_checks_enabled,
            interval_seconds=config.edge.health_check_interval_seconds,
            failure_threshold=config.edge.health_check_failure_threshold,
            dns_ttl_seconds=config.routing.dns_ttl_seconds,
            drain_timeout_seconds=config.failover.drain_timeout_seconds,
            traffic_control=config.failover.traffic_control,
        )


@dataclass(frozen=True)
class StoreFacts:
    """The replication of each data store, as the run would create it.

    ``s3_rules``: the replication time (seconds) of every S3 replication rule, ``None`` for a rule without
    replication time control; ``s3_buckets_replicated``: whether any bucket replicates at all. ``table_replicas``,
    ``aurora_members``, ``secret_replicas``: replicas beyond the first copy (0: not replicated). ``memorydb``:
    whether the stack has MemoryDB clusters; ``memorydb_members``: how many join a MemoryDB Multi-Region cluster.
    ``event_replication``: the events endpoint's replication is enabled (``None``: the stack has no events endpoint).
    ``app_config_copies``: regions holding the runtime-settings parameter beyond the first (``None``: none).
    """

    s3_rules: tuple[float | None, ...]
    table_replicas: int
    aurora_members: int
    secret_replicas: int
    memorydb: bool
    event_replication: bool | None = None
    app_config_copies: int | None = None
    memorydb_members: int = 0


# ---- the arithmetic ------------------------------------------------------------------------------


def detection_seconds(interval_seconds: int, failure_threshold: int) -> int:
    """How long Route53 takes to call a failed endpoint unhealthy: ``failure_threshold`` probes ``interval_seconds``
    apart."""
    return interval_seconds * failure_threshold


def rto_scenarios(traffic: TrafficSettings) -> tuple[RtoScenario, RtoScenario]:
    """The planned switchover and the unplanned failover, term by term (module docstring)."""
    shared = (
        Term("fence settle", FENCE_SETTLE_SECONDS, "functions.shared.state_cache.FENCE_SETTLE_SECONDS"),
        Term("drain (bound)", traffic.drain_timeout_seconds, "failoverDrainTimeoutSeconds"),
        Term("Aurora promotion", AURORA_PROMOTION_SECONDS, 'AURORA_PROMOTION_SECONDS ("order of minutes", Aurora User Guide)'),
        Term(
            "traffic shift",
            ROUTE53_PROPAGATION_SECONDS,
            f"ROUTE53_PROPAGATION_SECONDS ({traffic.traffic_control}; Route 53 changes propagate within 60 s)",
        ),
        Term("activation", STATE_CACHE_SECONDS, "functions.shared.state_cache.STATE_CACHE_SECONDS"),
        Term("DNS caches", traffic.dns_ttl_seconds, "dnsTtlSeconds"),
    )
    if traffic.health_checks_enabled:
        detection = Term(
            "detection",
            detection_seconds(traffic.interval_seconds, traffic.failure_threshold),
            f"healthCheckIntervalSeconds {traffic.interval_seconds} x healthCheckFailureThreshold {traffic.failure_threshold}",
        )
    else:
        detection = Term("detection", math.inf, "healthChecksEnabled is false: no health check detects the outage")
    return RtoScenario(PLANNED, shared), RtoScenario(UNPLANNED, (detection, *shared))


def store_rpos(facts: StoreFacts) -> tuple[StoreRpo, ...]:
    """Each data store's RPO (module docstring), in a fixed order."""
    rows = [
        _replicated(
            "DynamoDB global table",
            facts.table_replicas,
            0.0,
            DYNAMODB_REPLICATION_SECONDS,
            "planned: the runbook fences, then drains until the target's replica has caught up (or stops); "
            "unplanned: asynchronous replication, typically under a second, no SLA",
        ),
        _replicated(
            "Aurora global database",
            facts.aurora_members - 1,
            0.0,
            AURORA_REPLICATION_LAG_SECONDS,
            "planned: switchover synchronises the secondaries first; unplanned: typical lag under a second",
        ),
        _s3(facts.s3_rules),
        _replicated(
            "Secrets Manager replicas",
            facts.secret_replicas,
            None,
            None,
            "configuration, not application data: the Aurora master secret changes only when a deploy sets a new value "
            "(no rotation), and Secrets Manager copies it to the replicas asynchronously (AWS documents no latency); "
            "after such a change, check that every replica's status is InSync",
        ),
    ]
    if facts.event_replication is not None:
        rows.append(_events(replicated=facts.event_replication))
    if facts.app_config_copies is not None:
        rows.append(
            _replicated(
                "SSM runtime settings",
                facts.app_config_copies,
                None,
                None,
                "configuration, not application data: every pulumi up writes the same document to every region's "
                "parameter, so a region's copy is as old as the last deploy (its RPO) and a failover loses none of it; "
                "a change made outside the stack is drift, which ops status reports",
            )
        )
    if facts.memorydb and facts.memorydb_members > 1:
        rows.append(
            StoreRpo(
                "MemoryDB Multi-Region",
                MEMORYDB_MULTI_REGION_SECONDS,
                MEMORYDB_MULTI_REGION_SECONDS,
                "a cache, not a store of record: typically within a second, no SLA, not drained by the runbook; a fill "
                "or invalidation it did not carry is a miss the new region refills from the global table",
            )
        )
    elif facts.memorydb:
        rows.append(
            StoreRpo("MemoryDB", None, None, "a cache: not replicated, refilled from the global table on a miss, so no RPO")
        )
    return tuple(rows)


def _replicated(store: str, replicas: int, planned: float | None, unplanned: float | None, basis: str) -> StoreRpo:
    if replicas < 1:
        return StoreRpo(store, math.inf, math.inf, "not replicated to another region: a regional outage takes its data")
    return StoreRpo(store, planned, unplanned, basis)


def _events(*, replicated: bool) -> StoreRpo:
    """Events through the global endpoint: a planned switchover loses none (every event reached the secondary's queue
    by replication and is applied there once it is active); an unplanned one leaves in the failed region what had not
    replicated, bounded by EventBridge's documented RPO."""
    if not replicated:
        return StoreRpo(
            "EventBridge events", math.inf, math.inf, "endpoint replication disabled: queued events stay in the failed region"
        )
    return StoreRpo(
        "EventBridge events",
        0.0,
        EVENTBRIDGE_REPLICATION_SECONDS,
        "global endpoint replication, asynchronous: RPO 360 s, at most 420 s (EventBridge User Guide); a replicated copy "
        "is applied once (the active region's claim answers it)",
    )


def _s3(rules: Sequence[float | None]) -> StoreRpo:
    """Two-way replication keeps every bucket: a planned switchover loses nothing (the source keeps replicating); an
    unplanned one loses what was not replicated yet, bounded by replication time control."""
    if not rules:
        return StoreRpo("S3 buckets", math.inf, math.inf, "no replication rule: a regional outage takes the bucket")
    if any(seconds is None for seconds in rules):
        return StoreRpo("S3 buckets", 0.0, math.inf, "a replication rule without replication time control: no bound on its lag")
    slowest = max(seconds for seconds in rules if seconds is not None)
    return StoreRpo(
        "S3 buckets",
        0.0,
        slowest,
        f"replication time control on all {len(rules)} rules: 99.99% of objects within {_seconds(slowest)} (SLA); "
        "planned: the source bucket keeps replicating",
    )


# ---- reading the run -----------------------------------------------------------------------------


def store_facts(run: ProgramRun) -> StoreFacts:
    """The replication the run would create, read from the resources' inputs."""
    rules: list[float | None] = []
    for config in run.of_type(T_REPLICATION_CONFIG):
        for rule in config.inputs.get("rules") or []:
            rules.append(_rtc_seconds(rule.get("destination") or {}))
    tables = run.of_type(T_TABLE)
    secrets = [s for s in run.of_type(T_SECRET) if s.inputs.get("replicas")]
    name = parameter_name(run.config.project, run.config.stack) if run.config else None
    app_config = [p for p in run.of_type(T_PARAMETER) if p.inputs.get("name") == name]
    return StoreFacts(
        s3_rules=tuple(rules),
        table_replicas=min((len(t.inputs.get("replicas") or []) for t in tables), default=0),
        aurora_members=sum(1 for c in run.of_type(T_DB_CLUSTER) if c.inputs.get("globalClusterIdentifier")),
        secret_replicas=min((len(s.inputs.get("replicas") or []) for s in secrets), default=0),
        memorydb=bool(run.of_type(T_MEMORYDB)),
        event_replication=next(
            (_text_state(e.inputs.get("replicationConfig")) == "ENABLED" for e in run.of_type(T_EVENT_ENDPOINT)), None
        ),
        app_config_copies=len({p.region for p in app_config}) - 1 if app_config else None,
        memorydb_members=sum(1 for c in run.of_type(T_MEMORYDB) if c.inputs.get("multiRegionClusterName")),
    )


def _text_state(config: object) -> str | None:
    return str(config.get("state")) if isinstance(config, Mapping) and config.get("state") else None


def _rtc_seconds(destination: Mapping[str, Any]) -> float | None:
    rtc = destination.get("replicationTime") or {}
    if rtc.get("status") != "Enabled":
        return None
    minutes = (rtc.get("time") or {}).get("minutes")
    return float(minutes) * 60 if isinstance(minutes, (int, float)) else float(S3_RTC_SLA_SECONDS)


def budget_of(run: ProgramRun) -> Budget:
    """The budget of ``run``: traffic settings and targets from its config, store replication from its resources.

    Raises
    ------
    ValueError
        The run has no typed config (the program failed before it was read).
    """
    if run.config is None:
        raise ValueError("the run has no stack config: the program failed before reading it")
    config = run.config
    return Budget(
        rto_target=config.failover.rto_seconds,
        rpo_target=config.failover.rpo_seconds,
        rto=rto_scenarios(TrafficSettings.of(config)),
        rpo=store_rpos(store_facts(run)),
    )


# ---- rendering -----------------------------------------------------------------------------------


def render_budget(budget: Budget) -> list[str]:
    """The plan's section: the RTO terms per scenario, the RPO per store, then every overrun (or none)."""
    lines = [f"Resilience budget (targets: rtoSeconds {budget.rto_target}, rpoSeconds {budget.rpo_target})"]
    names = [term.name for term in budget.rto[-1].terms]
    rows = [["RTO term", *(s.scenario for s in budget.rto), "source"]]
    for name in names:
        found = [next((t for t in s.terms if t.name == name), None) for s in budget.rto]
        source = next(t.source for t in found if t is not None)
        rows.append([name, *(_seconds(t.seconds) if t else "-" for t in found), source])
    rows.append(["total", *(_verdict(s.total, budget.rto_target) for s in budget.rto), ""])
    lines += _table(rows)
    lines.append("")
    rows = [["RPO by data store", PLANNED, UNPLANNED, "basis"]]
    rows += [
        [s.store, _rpo_cell(s.planned, budget.rpo_target), _rpo_cell(s.unplanned, budget.rpo_target), s.basis] for s in budget.rpo
    ]
    lines += _table(rows)
    overruns = budget.overruns()
    lines.append("")
    lines += [f"  OVER: {o.message()}" for o in overruns] or ["  every budget is within its target"]
    return lines


def budget_markdown(budget: Budget) -> list[str]:
    """The same section as Markdown tables, for ``report.md``."""
    lines = [
        "## Resilience budget",
        "",
        f"Targets: `rtoSeconds` {budget.rto_target}, `rpoSeconds` {budget.rpo_target}.",
        "",
        "| RTO term | " + " | ".join(s.scenario for s in budget.rto) + " | source |",
        "|---" * (len(budget.rto) + 2) + "|",
    ]
    for name in [term.name for term in budget.rto[-1].terms]:
        found = [next((t for t in s.terms if t.name == name), None) for s in budget.rto]
        source = next(t.source for t in found if t is not None)
        lines.append(f"| {name} | " + " | ".join(_seconds(t.seconds) if t else "-" for t in found) + f" | {source} |")
    lines.append("| **total** | " + " | ".join(f"**{_verdict(s.total, budget.rto_target)}**" for s in budget.rto) + " | |")
    lines += ["", f"| data store | {PLANNED} RPO | {UNPLANNED} RPO | basis |", "|---|---|---|---|"]
    for store in budget.rpo:
        planned, unplanned = _rpo_cell(store.planned, budget.rpo_target), _rpo_cell(store.unplanned, budget.rpo_target)
        lines.append(f"| {store.store} | {planned} | {unplanned} | {store.basis} |")
    lines.append("")
    lines += [f"- **over**: {o.message()}" for o in budget.overruns()] or ["Every budget is within its target."]
    return lines


def _table(rows: list[list[str]]) -> list[str]:
    """Rows as aligned columns under a two-space indent; the last column is left as it is."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows
    ]


def _verdict(seconds: float, target: float) -> str:
    return f"{_seconds(seconds)} {'OVER' if seconds > target else 'ok'}"


def _rpo_cell(seconds: float | None, target: float) -> str:
    return "no RPO" if seconds is None else _verdict(seconds, target)


def _seconds(value: float) -> str:
    """``13 s``, ``1.5 s``, ``unbounded``."""
    if math.isinf(value):
        return "unbounded"
    return f"{int(value)} s" if float(value).is_integer() else f"{value:g} s"
