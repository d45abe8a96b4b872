"""``python -m ops drill``: a regional outage, a planned switchover and an unplanned failover, run locally.

Two regions on this machine (:mod:`simulation.drill_world`) run the real function code; the real failover runbook
moves the application while writers send events through DNS (some twice) and readers read through each region's API.
The scenario: steady writes, an outage of the passive region, a planned switchover, an unplanned failover, healing.
The verdict (:mod:`simulation.drill_verdict`) prints with the timeline (also as HTML with ``--html``); exit status 0
when every check holds, else 1. The scenario's steps and the choices behind them: docs/design/drill.md.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.config import CACHE_TOPOLOGIES  # the stack's cacheTopology values
from functions.runbook.model import (
    STEP_ACTIVATE,
    STEP_PROMOTE,
    FailoverRequest,
    RunRecord,
    StepRefusedError,
    StepResult,
    StepRetryableError,
)
from functions.runbook.runner import run_failover
from functions.shared.errors import ValidationError
from functions.shared.state_cache import STATE_CACHE_SECONDS
from simulation.drill_verdict import APPLIED, STALE, Ack, Activation, Check, History, item_tokens, passed, verdict
from simulation.drill_world import PRIMARY, REGIONS, SECONDARY, World, captured_logs
from simulation.local_servers import MotoServer

if TYPE_CHECKING:
    from simulation.browser import Browser

DEFAULT_HTML = Path(".build/drill/timeline.html")
DEFAULT_EVENTS = 600
QUICK_EVENTS = 80
DEFAULT_LAG_MS = 1500
TICK_MS = 250
BUCKET_MS = 1000
TEXT_ROW_MS = 5000
DRAIN_TIMEOUT_SECONDS = 30
SETTLE_LIMIT_MS = 60_000
PLANNED, UNPLANNED = "planned switchover", "unplanned failover"

# Simulated seconds of each stretch in which the writers make new events (full, quick); the events are shared out in
# proportion. The runbooks' stretches ("switchover", "failover") last a fence settle: the writers keep making events
# while the runbook runs, those refused are retried until the target is active.
PHASE_SECONDS: Mapping[bool, Mapping[str, float]] = {
    False: {
        "steady": 6,
        "outage": 4,
        "catch-up": 1,
        "before switchover": 2,
        "after switchover": 3,
        "before failover": 3,
        "after failover": 3,
        "healed": 3,
    },
    True: {
        "steady": 3,
        "outage": 2,
        "catch-up": 1,
        "before switchover": 1,
        "after switchover": 2,
        "before failover": 2,
        "after failover": 2,
        "healed": 2,
    },
}


@dataclass(frozen=True)
class DrillOptions:
    """``python -m ops drill``'s options (see ``--help``)."""

    seed: int = 7
    events: int | None = None
    lag_ms: int = DEFAULT_LAG_MS
    html: Path = DEFAULT_HTML
    quick: bool = False
    cache_topology: str = "regional"

    @property
    def event_count(self) -> int:
        return self.events if self.events is not None else (QUICK_EVENTS if self.quick else DEFAULT_EVENTS)

    def validate(self) -> None:
        if not 20 <= self.event_count <= 20_000:
            raise ValidationError("events", f"got {self.event_count}; allowed: 20 to 20000")
        if not 0 <= self.lag_ms <= 10_000:
            raise ValidationError("lag-ms", f"got {self.lag_ms}; allowed: 0 to 10000")
        if self.cache_topology not in CACHE_TOPOLOGIES:
            raise ValidationError("cache-topology", f"got {self.cache_topology!r}; allowed: {', '.join(CACHE_TOPOLOGIES)}")


def fence_settle_seconds(tick_ms: int = TICK_MS) -> int:
    """The drill's fence settle, counted once the source's replica shows the fence: a tick and the processors' state
    cache (module notes)."""
    return math.ceil(tick_ms / 1000 + STATE_CACHE_SECONDS)


def replication_window_ms(lag_ms: int, tick_ms: int = TICK_MS) -> int:
    """How long before an outage a write can have been acknowledged and not yet replicated."""
    return lag_ms + tick_ms


# ---- the record of a run ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """Something that happened, at ``at_ms`` after the start: a phase, an outage, a runbook step, a state change."""

    at_ms: int
    phase: str
    kind: str
    text: str


@dataclass
class Bucket:
    """One second of simulated time: what each region did, and how things stood at its end."""

    start_ms: int
    phase: str
    regions: dict[str, Counter[str]]
    states: dict[str, str]
    dns: str
    backlog: dict[str, int]


@dataclass
class RunSummary:
    name: str
    status: str
    steps: list[dict[str, Any]]
    write_downtime_ms: int | None = None


@dataclass
class DrillReport:
    options: DrillOptions
    buckets: list[Bucket]
    moments: list[Moment]
    checks: list[Check]
    totals: dict[str, Any]
    runs: list[RunSummary]
    simulated_ms: int
    elapsed_seconds: float
    window_ms: int
    fence_settle_seconds: int
    page: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return passed(self.checks)

    def to_json(self) -> dict[str, Any]:
        """Everything the HTML page draws (plain JSON)."""
        return {
            "options": {
                "seed": self.options.seed,
                "events": self.options.event_count,
                "lagMs": self.options.lag_ms,
                "quick": self.options.quick,
                "cacheTopology": self.options.cache_topology,
            },
            "regions": list(REGIONS),
            "passed": self.passed,
            "simulatedMs": self.simulated_ms,
            "elapsedSeconds": round(self.elapsed_seconds, 2),
            "windowMs": self.window_ms,
            "fenceSettleSeconds": self.fence_settle_seconds,
            "buckets": [
                {
                    "t": bucket.start_ms,
                    "phase": bucket.phase,
                    "regions": {name: dict(counts) for name, counts in bucket.regions.items()},
                    "states": bucket.states,
                    "dns": bucket.dns,
                    "backlog": bucket.backlog,
                }
                for bucket in self.buckets
            ],
            "moments": [{"t": m.at_ms, "phase": m.phase, "kind": m.kind, "text": m.text} for m in self.moments],
            "checks": [check.as_dict() for check in self.checks],
            "totals": self.totals,
            "runs": [
                {"name": r.name, "status": r.status, "steps": r.steps, "writeDowntimeMs": r.write_downtime_ms} for r in self.runs
            ],
            "page": self.page,
        }


class Recorder:
    """Samples the world every simulated second into :class:`Bucket`\\ s and keeps the :class:`Moment`\\ s and acks."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.phase = "start"
        self.buckets: list[Bucket] = []
        self.moments: list[Moment] = []
        self.acks: list[Ack] = []
        self.outcomes: Counter[str] = Counter()
        self.next_sample = world.clock.now + BUCKET_MS
        self._last: dict[str, Counter[str]] = {region: Counter() for region in REGIONS}
        self._states = {name: self._describe(name) for name in REGIONS}
        self._bucket_phase = self.phase
        self._dns = world.dns_answer
        self._first_accept_after: dict[str, int | None] = {}
        world.after_tick.append(self.tick)

    def now(self) -> int:
        return self.world.clock.elapsed_ms()

    def start_phase(self, name: str, text: str) -> None:
        """A new phase; the second under way belongs to it when nothing of it has run yet (a bucket's phase is the one
        it started in)."""
        if self.world.clock.now <= self.next_sample - BUCKET_MS or self._bucket_phase == "start":
            self._bucket_phase = name
        self.phase = name
        self.moment("phase", text)

    def moment(self, kind: str, text: str) -> None:
        self.moments.append(Moment(self.now(), self.phase, kind, text))

    def tick(self) -> None:
        for region, fields in self.world.take_outcomes():
            self._outcome(region, fields)
        if self.world.clock.now >= self.next_sample:
            self.next_sample += BUCKET_MS
            self.sample()

    def _outcome(self, region: str, fields: Mapping[str, Any]) -> None:
        kind = str(fields["kind"])
        key = str(fields["idempotency_key"])
        if key not in self.world.events:
            return  # an event the status page sent (simulation/drill_page.py), not one of the writers'
        if kind in (APPLIED, STALE):
            self.acks.append(Ack(key, str(fields["item_id"]), str(fields["order_token"]), region, self.world.clock.now, kind))
        elif str(fields.get("region")) != region:
            self.outcomes["duplicates absorbed across regions"] += 1

    def sample(self) -> None:
        world = self.world
        regions: dict[str, Counter[str]] = {}
        for name, region in world.regions.items():
            now = Counter(
                {
                    "applied": region.sinks["processor"].counts["Applied"],
                    "duplicates": region.sinks["processor"].counts["Duplicates"],
                    "stale": region.sinks["processor"].counts["StaleEvents"],
                    "fenced": region.sinks["processor"].counts["Fenced"],
                    "repaired": region.sinks["stream"].counts["Reasserted"],
                    "conflicts": region.sinks["stream"].counts["ReplicationConflicts"],
                    "replicated": world.double.applied_into[name],
                    "accepted": world.counters.accepted[name],
                    "refused": world.counters.refused[name],
                    "unreachable": world.counters.unreachable[name],
                    "reads": world.counters.reads[name],
                }
            )
            delta = Counter(now)
            delta.subtract(self._last[name])
            regions[name] = +delta
            self._last[name] = now
        states = {name: self._describe(name) for name in REGIONS}
        for name in REGIONS:
            if states[name] != self._states[name]:
                self.moment("state", f"{name} now reads: {states[name]}")
        self._states = states
        if world.dns_answer != self._dns:
            self.moment("dns", f"DNS now answers {world.dns_answer}")
            self._dns = world.dns_answer
        backlog = {
            f"{source}>{target}": len(world.double.backlog(source, target))
            for source in REGIONS
            for target in REGIONS
            if source != target
        }
        self.buckets.append(Bucket(self.now() - BUCKET_MS, self._bucket_phase, regions, states, world.dns_answer, backlog))
        self._bucket_phase = self.phase

    def _describe(self, name: str) -> str:
        if not self.world.regions[name].up:
            return "down"
        state = self.world.states.get(name)
        return f"{state.status} in {state.active_region} (epoch {state.epoch})" if state is not None else "unreadable"


# ---- the scenario ---------------------------------------------------------------------------------------------------


def run_drill(
    options: DrillOptions, progress: Callable[[str], None] | None = None, *, browser: Browser | None = None
) -> DrillReport:
    """Run the whole scenario on fresh local servers; the report (the servers are stopped when it returns). With a
    ``browser``, the status page is opened in it at each phase (:mod:`simulation.drill_page`) and its screenshots
    written beside ``options.html``."""
    options.validate()
    started = time.monotonic()
    moto = MotoServer().start()
    try:
        with captured_logs() as logs:
            world = World(
                moto,
                random.Random(options.seed),
                lag_ms=options.lag_ms,
                tick_ms=TICK_MS,
                logs=logs,
                cache_topology=options.cache_topology,
            )
            camera = None
            try:
                if browser is not None:
                    from simulation.drill_page import PageCamera

                    camera = PageCamera(world, options.html.parent, browser)
                scenario = Scenario(world, options, progress or (lambda _: None), camera.capture if camera else None)
                report = scenario.run(started)
                seen = scenario.photographed
                shots = camera.shots if camera else []
                report.page = [{**s.as_dict(), "t": seen[s.phase].at_ms, "drillPhase": seen[s.phase].phase} for s in shots]
                return report
            finally:
                if camera is not None:
                    camera.close()
                world.close()
    finally:
        moto.stop()


class Scenario:
    """The five phases of the module notes, on one world."""

    def __init__(
        self,
        world: World,
        options: DrillOptions,
        progress: Callable[[str], None],
        on_phase: Callable[[str], object] | None = None,
    ) -> None:
        self.world, self.options, self.progress = world, options, progress
        self._on_phase = on_phase
        self.photographed: dict[str, Moment] = {}
        self.recorder = Recorder(world)
        self.settle = fence_settle_seconds()
        self.seconds = {**PHASE_SECONDS[options.quick], "switchover": float(self.settle), "failover": float(self.settle)}
        total = sum(self.seconds.values())
        self.shares = {name: int(options.event_count * seconds / total) for name, seconds in self.seconds.items()}
        self.shares["healed"] += options.event_count - sum(self.shares.values())
        self.topology = world.topology(self.settle, DRAIN_TIMEOUT_SECONDS)
        self.activations: list[Activation] = []
        self.runs: list[RunSummary] = []

    def run(self, started: float) -> DrillReport:
        world, recorder, seed = self.world, self.recorder, self.options.seed

        self.phase("1 steady", "phase 1: steady writes from writers in both regions (us-east-1 active at epoch 1)")
        self.write_for("steady")
        self.on_phase("steady")

        self.phase("2 outage", f"phase 2: outage of the passive region {SECONDARY}")
        world.take_down(SECONDARY)
        recorder.moment("outage", f"{SECONDARY} down: its functions and Redis stop, replication to and from it is held")
        self.write_for("outage")
        self.on_phase("outage")
        held = len(world.double.backlog(PRIMARY, SECONDARY))
        released = world.bring_up(SECONDARY)
        recorder.moment("heal", f"{SECONDARY} back: {released} held copies replicate ({held} writes of {PRIMARY} it missed)")
        self.allow("catch-up")
        self.run_until(lambda: not world.double.backlog(PRIMARY, SECONDARY), 10_000)
        recorder.moment("heal", f"{SECONDARY} caught up: nothing left to replicate into it")

        self.phase("3 switchover", f"phase 3: planned switchover {PRIMARY} -> {SECONDARY} while the writers keep writing")
        self.write_for("before switchover")
        self.allow("switchover")
        self.failover(PLANNED, FailoverRequest(f"drill-{seed}-switchover", SECONDARY, planned=True, requested_by="drill"))
        self.write_for("after switchover")

        self.phase("4 failover", f"phase 4: unplanned failover: {SECONDARY} (active) goes down with replication in flight")
        self.write_for("before failover")
        outage_ms = world.clock.now
        in_flight = len(world.double.backlog(SECONDARY, PRIMARY))
        world.take_down(SECONDARY)
        recorder.moment("outage", f"{SECONDARY} down with {in_flight} copies not yet replicated to {PRIMARY}")
        request = FailoverRequest(f"drill-{seed}-failover", PRIMARY, planned=False, allow_data_loss=True, requested_by="drill")
        self.allow("failover")
        self.failover(UNPLANNED, request, outage_ms=outage_ms)
        self.write_for("after failover")

        self.phase("5 healing", f"phase 5: {SECONDARY} comes back; its held backlog replicates and last-writer-wins settles")
        released = world.bring_up(SECONDARY)
        recorder.moment("heal", f"{SECONDARY} back: {released} held copies replicate, both ways")
        self.write_for("healed")
        settled = self.run_until(world.settled, SETTLE_LIMIT_MS)
        recorder.moment(
            "settled" if settled else "note", "everything replicated and handled" if settled else "did not settle in time"
        )
        self.on_phase("healed")
        self.run_until(world.settled, SETTLE_LIMIT_MS)  # what the page sent replicates too
        recorder.sample()
        return self.report(started)

    def on_phase(self, name: str) -> None:
        """The status page's moment at this phase (``name``: one of ``simulation.drill_page.PHASE_ACTIONS``)."""
        if self._on_phase is None:
            return
        self.recorder.moment("page", f"status page opened ({name})")
        self.photographed[name] = self.recorder.moments[-1]
        self._on_phase(name)

    def phase(self, name: str, text: str) -> None:
        self.recorder.start_phase(name, text)
        self.progress(text)

    def allow(self, stretch: str) -> None:
        self.world.allow(self.shares[stretch], self.seconds[stretch])

    def write_for(self, stretch: str) -> None:
        """Let the writers make this stretch's share of the events, and run the world for its seconds."""
        self.allow(stretch)
        self.world.advance(self.seconds[stretch])

    def run_until(self, done: Callable[[], bool], limit_ms: int) -> bool:
        deadline = self.world.clock.now + limit_ms
        while not done():
            if self.world.clock.now >= deadline:
                return False
            self.world.tick()
        return True

    def failover(self, name: str, request: FailoverRequest, *, outage_ms: int | None = None) -> None:
        world, recorder = self.world, self.recorder

        def on_step(step: str, result: StepResult) -> None:
            wait = "" if result.done else f", again in {result.wait_seconds} s"
            recorder.moment("runbook", f"{name}: {step} {'done' if result.done else 'not yet'}{wait} ({_brief(result.detail)})")
            if step == STEP_PROMOTE and result.done:
                # The page while the fence holds, after the fence settle: every API's copy of the state shows it.
                self.on_phase("switchover" if request.planned else "failover")
            if step == STEP_ACTIVATE and result.done:
                tokens = item_tokens(world.table_items(request.target_region))
                source = _source_of(self.topology.regions, request.target_region)
                self.activations.append(
                    Activation(name, request.planned, source, request.target_region, world.clock.now, tokens, outage_ms)
                )
                first = world.first_reads(name, request.target_region)
                recorder.moment(
                    "runbook",
                    f"{name}: first reads in {first.region}: {first.hits} of {first.reads} from its cache ({first.replicated} "
                    f"of its {first.copies_found} copies came by replication), {first.older} older than its table",
                )

        self.progress(f"  runbook: {name} to {request.target_region}")
        try:
            run = run_failover(
                request, self.topology, world.clients, sleep=world.advance, now_ms=world.clock.now_ms, on_step=on_step
            )
        except (StepRefusedError, StepRetryableError, ValidationError) as error:
            recorder.moment("runbook", f"{name} failed: {error}")
            self.runs.append(RunSummary(name, "failed", []))
            return
        self.runs.append(RunSummary(name, run.status, _steps(run)))

    def report(self, started: float) -> DrillReport:
        world, recorder = self.world, self.recorder
        records = {region: world.table_items(region) for region in REGIONS}
        item_ids = sorted(
            {record_id for region_records in records.values() for record_id in region_records if "#" not in record_id}
        )
        history = History(
            acks=recorder.acks,
            activations=self.activations,
            expected_activations=[(PLANNED, True), (UNPLANNED, False)],
            final_records=records,
            served=world.public_reads(item_ids),
            window_ms=replication_window_ms(self.options.lag_ms),
            reads_checked=world.read_log.checked,
            older_reads=world.read_log.older,
        )
        checks = verdict(history)
        for run in self.runs:
            run.write_downtime_ms = self.write_downtime(run.name)
        return DrillReport(
            options=self.options,
            buckets=recorder.buckets,
            moments=recorder.moments,
            checks=checks,
            totals=self.totals(history),
            runs=self.runs,
            simulated_ms=world.clock.elapsed_ms(),
            elapsed_seconds=time.monotonic() - started,
            window_ms=history.window_ms,
            fence_settle_seconds=self.settle,
        )

    def write_downtime(self, name: str) -> int | None:
        """The longest time no write was accepted around a run: from the last write accepted before its target was
        activated to the first the target accepted after."""
        activation = next((a for a in self.activations if a.name == name), None)
        if activation is None:
            return None
        accepted = self.world.accepted_at
        before = max((at for at, _ in accepted if at <= activation.at_ms), default=None)
        after = min((at for at, region in accepted if at > activation.at_ms and region == activation.target), default=None)
        return after - before if before is not None and after is not None else None

    def totals(self, history: History) -> dict[str, Any]:
        world, recorder = self.world, self.recorder
        sums: Counter[str] = Counter()
        per_region: dict[str, Counter[str]] = {region: Counter() for region in REGIONS}
        for bucket in recorder.buckets:
            for region, counts in bucket.regions.items():
                per_region[region].update(counts)
                sums.update(counts)
        decided = {ack.key for ack in history.acks}
        accepted_keys = set(world.message_keys.values())
        dead = world.dead_letters()
        return {
            "events": len(world.events),
            "duplicatesSent": world.duplicates_sent,
            "perRegion": {region: dict(counts) for region, counts in per_region.items()},
            "acknowledged": len(decided),
            "duplicatesAbsorbed": sums["duplicates"],
            "duplicatesAbsorbedAcrossRegions": recorder.outcomes["duplicates absorbed across regions"],
            "conflictsResolved": sums["stale"] + sums["conflicts"],
            "staleEvents": sums["stale"],
            "replicationConflicts": sums["conflicts"],
            "winnersReasserted": sums["repaired"],
            "copiesApplied": world.double.applied,
            "copiesDroppedByTheServiceRule": world.double.dropped,
            "refused503": sums["refused"],
            "unreachable": sums["unreachable"],
            "acceptedNeverDecided": sorted(accepted_keys - decided),
            "deadLetters": dead,
            "readsChecked": world.read_log.checked,
            "readsNewerThanTheirTable": world.read_log.newer,
            "firstReads": [first.as_dict() for first in world.read_log.first],
            "cacheCopiesReplicated": world.cache_double.applied if world.cache_double is not None else 0,
            "warnings": dict(world.logs.warnings) if world.logs is not None else {},
        }


def _source_of(regions: tuple[str, ...], target: str) -> str:
    return next(region for region in regions if region != target)


def _steps(run: RunRecord) -> list[dict[str, Any]]:
    return [
        {"step": name, "status": record.status, "attempts": record.attempts, "durationMs": record.duration_ms}
        for name, record in run.steps.items()
    ]


def _brief(detail: Mapping[str, Any]) -> str:
    """A runbook step's detail in one short line."""
    if "changed" in detail:
        return f"traffic to {detail.get('open')}: {len(detail['changed'])} gate(s) changed"
    if "action" in detail:
        return str(detail["action"])
    waiting = detail.get("waiting")
    if isinstance(waiting, list):
        return "waiting for " + " and ".join(map(str, waiting)) + " to drain"
    if waiting is not None:
        return f"waiting {waiting}"
    if isinstance(detail.get("aurora"), str):
        return f"Aurora: {detail['aurora']}"
    return json.dumps(dict(detail), default=str)[:100]


# ---- output ---------------------------------------------------------------------------------------------------------


def render_text(report: DrillReport) -> str:
    """The timeline and the verdict: what happened (the moments), each stretch of at most 5 s of simulated time summed
    up in a row after its moments (counts per region, and the DNS answer and states at its end)."""
    lines = [*_timeline_text(report), "", *_totals_text(report.totals)]
    for run in report.runs:
        steps = ", ".join(f"{s['step']} {s['attempts']}x {(s['durationMs'] or 0) / 1000:.1f}s" for s in run.steps)
        downtime = f"; writes blocked {run.write_downtime_ms / 1000:.1f} s" if run.write_downtime_ms is not None else ""
        lines.append(f"Runbook {run.name}: {run.status} ({steps}){downtime}")
    lines += [
        f"Simulated {report.simulated_ms / 1000:.0f} s in {report.elapsed_seconds:.1f} s.",
        "",
        "Verdict",
    ]
    lines += [
        f"  {'PASS' if check.passed else 'FAIL'}  {check.name}: {check.value}  ({check.summary})" for check in report.checks
    ]
    for check in report.checks:
        if not check.passed and check.examples:
            lines.append(f"        {check.name}: e.g. {', '.join(check.examples)}")
    lines.append(f"  {'every check holds' if report.passed else 'SOME CHECKS FAIL'}")
    return "\n".join(lines)


def _timeline_text(report: DrillReport) -> list[str]:
    """The heading and the timeline: each stretch's row after its moments."""
    us, eu = REGIONS
    lines = [
        f"Drill: {len(REGIONS)} regions on this machine, seed {report.options.seed}, ~{report.options.event_count} events, "
        f"replication lag {report.options.lag_ms // 2}-{report.options.lag_ms} ms, fence settle {report.fence_settle_seconds} s",
        "",
        f"{'time (s)':>11}  {'phase':<13} {'applied':>8} {'dup':>6} {'stale':>6} {'repl in':>8} {'503s':>6} {'unreach':>7} "
        f"{'confl':>5}  {'DNS':<10} state at the end: us-east-1 | eu-west-1",
        f"{'':>11}  {'':<13} {'us/eu':>8} {'us/eu':>6} {'us/eu':>6} {'us/eu':>8} {'us/eu':>6} {'us/eu':>7}",
    ]
    moments = sorted(report.moments, key=lambda m: m.at_ms)
    for row in _rows(report.buckets):
        while moments and moments[0].at_ms < row.end_ms:
            lines.append(_moment_line(moments.pop(0)))
        r = row.regions

        def pair(name: str, regions: Mapping[str, Counter[str]] = r) -> str:
            return f"{regions[us][name]}/{regions[eu][name]}"

        conflicts = sum(r[region]["stale"] + r[region]["conflicts"] for region in REGIONS)
        span = f"{row.start_ms // 1000}-{row.end_ms // 1000}"
        lines.append(
            f"{span:>11}  {row.phase:<13} {pair('applied'):>8} {pair('duplicates'):>6} {pair('stale'):>6} "
            f"{pair('replicated'):>8} {pair('refused'):>6} {pair('unreachable'):>7} {conflicts:>5}  {row.dns:<10} "
            f"{row.states[us]} | {row.states[eu]}"
        )
    return lines + [_moment_line(moment) for moment in moments]


def _totals_text(totals: Mapping[str, Any]) -> list[str]:
    """What the whole drill counted, what was accepted but never decided, and the warnings the functions logged."""
    lines = [
        f"Totals: {totals['events']} events and {totals['duplicatesSent']} re-sent duplicates; "
        f"{totals['acknowledged']} acknowledged; "
        f"{totals['duplicatesAbsorbed']} duplicates absorbed ({totals['duplicatesAbsorbedAcrossRegions']} across regions); "
        f"{totals['conflictsResolved']} conflicts resolved ({totals['staleEvents']} stale events, "
        f"{totals['replicationConflicts']} replication conflicts, {totals['winnersReasserted']} winners re-asserted); "
        f"{totals['copiesApplied']} copies replicated, {totals['copiesDroppedByTheServiceRule']} dropped by the service rule; "
        f"{totals['refused503']} writes refused (503) and {totals['unreachable']} unreachable, all retried.",
        f"Accepted (202) but never decided: {len(totals['acceptedNeverDecided'])}"
        + (f" ({', '.join(totals['acceptedNeverDecided'][:5])})" if totals["acceptedNeverDecided"] else "")
        + "; dead letters: "
        + ", ".join(f"{region} {len(keys)}" for region, keys in totals["deadLetters"].items()),
    ]
    lines += [
        f"First reads after {first['run']} in {first['region']}: {first['cacheHits']} of {first['reads']} from its cache "
        f"({first['copiesReplicated']} of {first['copiesFound']} copies there came by cache replication; "
        f"{first['itemReadsBefore']} item reads served there before), {first['olderThanTable']} older than its table"
        for first in totals["firstReads"]
    ]
    if totals["warnings"]:
        logged = sorted(totals["warnings"].items(), key=lambda item: -item[1])
        lines.append("Warnings the functions logged: " + "; ".join(f"{message} ({count}x)" for message, count in logged[:5]))
    return lines


@dataclass
class _Row:
    start_ms: int
    end_ms: int
    phase: str
    regions: dict[str, Counter[str]] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    dns: str = ""


def _rows(buckets: list[Bucket]) -> list[_Row]:
    """Buckets merged into rows of at most TEXT_ROW_MS, never across a phase."""
    rows: list[_Row] = []
    for bucket in buckets:
        if not rows or rows[-1].phase != bucket.phase or bucket.start_ms - rows[-1].start_ms >= TEXT_ROW_MS:
            rows.append(_Row(bucket.start_ms, bucket.start_ms, bucket.phase, {region: Counter() for region in REGIONS}))
        row = rows[-1]
        row.end_ms = bucket.start_ms + BUCKET_MS
        for region, counts in bucket.regions.items():
            row.regions[region].update(counts)
        row.states, row.dns = bucket.states, bucket.dns
    return rows


def _moment_line(moment: Moment) -> str:
    marker = {"phase": "==", "outage": "!!", "heal": "++", "runbook": "->", "state": " *", "dns": " @", "page": " #"}.get(
        moment.kind, "  "
    )
    return f"{moment.at_ms / 1000:>10.1f}s  {marker} {moment.text}"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``drill``'s arguments, on the operator CLI's subcommands."""
    drill = commands.add_parser(
        "drill",
        help="run a regional outage, a planned switchover and an unplanned failover on this machine (moto, Redis, the "
        "real function code and runbook) and check that no acknowledged write is lost or applied twice",
        description="Two regions on this machine; see simulation/drill.py for the scenario. Exit status 0 when every check of "
        "the verdict holds, 1 when one fails, 2 for invalid options.",
    )
    drill.add_argument("--seed", type=int, default=DrillOptions.seed, help="seed of every random choice (default: 7)")
    drill.add_argument(
        "--events",
        type=int,
        help=f"how many new events the writers make (default: {DEFAULT_EVENTS}, {QUICK_EVENTS} with --quick)",
    )
    drill.add_argument(
        "--lag-ms",
        type=int,
        default=DEFAULT_LAG_MS,
        help=f"the longest replication lag; each copy takes half of it to all of it (default: {DEFAULT_LAG_MS})",
    )
    drill.add_argument(
        "--html", type=Path, default=DEFAULT_HTML, help=f"where to write the timeline page (default: {DEFAULT_HTML})"
    )
    drill.add_argument("--quick", action="store_true", help="shorter phases and fewer events (what the tests run)")
    drill.add_argument(
        "--cache-topology",
        default=DrillOptions.cache_topology,
        help="regional (a Redis per region) or multiRegion (their keys replicated as MemoryDB Multi-Region does; "
        "readers read where DNS points) (default: regional)",
    )
    drill.add_argument(
        "--no-page",
        action="store_true",
        help="do not open the status page in headless Chromium at each phase (by default its screenshots go beside "
        "the timeline page when Chromium is installed)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the drill, print the timeline and the verdict, write the HTML page; 0 when every check holds, else 1."""
    from simulation.drill_html import render_html

    options = DrillOptions(
        seed=args.seed,
        events=args.events,
        lag_ms=args.lag_ms,
        html=args.html,
        quick=args.quick,
        cache_topology=args.cache_topology,
    )
    try:
        options.validate()
    except ValidationError as error:
        print(f"error: --{error.field}: {error.message}", file=sys.stderr)
        return 2
    report = _run_with_page(options, with_page=not args.no_page)
    print()
    print(render_text(report))
    options.html.parent.mkdir(parents=True, exist_ok=True)
    options.html.write_text(render_html(report), encoding="utf-8")
    print(f"\nTimeline page: {options.html}")
    return 0 if report.passed else 1


def _run_with_page(options: DrillOptions, *, with_page: bool) -> DrillReport:
    """The drill, with the status page opened in Chromium at each phase when asked for and Chromium is installed."""
    from simulation.browser import Browser, chromium_binary

    def progress(line: str) -> None:
        print(line, flush=True)

    binary = chromium_binary() if with_page else None
    if binary is None:
        if with_page:
            print("Chromium is not installed: no screenshots of the status page (apt-get install chromium)", flush=True)
        return run_drill(options, progress=progress)
    with Browser(binary) as browser:
        return run_drill(options, progress=progress, browser=browser)
