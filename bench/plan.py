"""Plan: how the offline plan's time grows with the number of regions (2, 3 and 6), and what it registers.

Each plan runs in a fresh interpreter (``python -c`` :data:`PROBE`), so no run profits from modules another one
imported: it imports the harness and Pulumi, runs the whole program of the prod stack under the mocks harness in
preview mode (``planning.harness.run_program``, what ``./run plan`` does) with the regions and VPC CIDRs overridden,
renders the plan, and runs the program once more (*again*: its modules loaded by then and the first run's objects
collected and frozen out of the garbage collector's way, so that run shows how the program's own work grows). The
probe reports each step's CPU and wall seconds and the resource counts as one JSON line. CPU time
(``time.process_time``) carries the target: on a machine shared with other work, wall time grows with the load, CPU
time hardly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.measure import BARS, Figure, Plot, Result, Table
from planning.harness import ROOT

NAME = "plan"
STACK = "prod"
PRIMARY_REGION = "us-east-1"
# Valid regions (components/config.py KNOWN_REGIONS), the primary first; one distinct /16 each.
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1", "ap-northeast-1")
REGION_COUNTS = (2, 3, 6)
TARGET_SIX_OVER_TWO = 3.5
# The plan's cost grows no faster than its resources: CPU time per resource at 6 regions at most that at 2.
TARGET_PER_RESOURCE = 1.0
COLLECTOR_NOTE = (
    "The garbage collector: a run allocates about 660 objects per resource and leaves a quarter of them in reference "
    "cycles, nine in ten of those the SDK's own (`pulumi.runtime.rpc.contains_unknowns` makes a self-referencing "
    "closure on every call, 27 calls per resource; the program's own types are a few hundred objects). The harness "
    "pauses the collector during a run, then collects once and freezes what survives (`planning/harness.py`, "
    "`_collector_paused`). The share above is that one traversal of the run's objects, which the SDK's cycles make "
    "necessary; the freeze does not shorten a single plan, it spares a process that runs the program many times (the "
    "test session) from traversing earlier runs again. Before the freeze (the same probe, 2026-12-03): the collector's "
    "CPU 0.27 / 0.36 / 0.55 s of the program's at 2 / 3 / 6 regions, run again per resource 1.09x."
)
PROBE_TIMEOUT_SECONDS = 300

PROBE = """
import gc, json, sys, time
collector = {"ns": 0, "started": 0}
def timed(phase, info):
    if phase == "start":
        collector["started"] = time.thread_time_ns()
    else:
        collector["ns"] += time.thread_time_ns() - collector["started"]
gc.callbacks.append(timed)
def mark():
    return time.perf_counter(), time.process_time(), collector["ns"] / 1e9
marks = [mark()]
import pulumi, pulumi_aws
from planning.harness import run_program
from planning.plan import render_plan
marks.append(mark())
run = run_program(sys.argv[1], preview=True, overrides=json.loads(sys.argv[2]))
marks.append(mark())
render_plan(run)
marks.append(mark())
measured = {"resources": len(run.resources), "custom": len(run.custom())}
del run
gc.collect()
gc.freeze()
marks.append(mark())
run_program(sys.argv[1], preview=True, overrides=json.loads(sys.argv[2]))
marks.append(mark())
for step, (before, after) in zip(("import", "program", "render", "collect", "again"), zip(marks, marks[1:])):
    measured[step + " wall"] = after[0] - before[0]
    measured[step + " cpu"] = after[1] - before[1]
    measured[step + " gc"] = after[2] - before[2]
print(json.dumps(measured))
"""


def overrides(count: int) -> dict[str, Any]:
    """The config of a stack over the first ``count`` of ``REGIONS``.

    Example:
        >>> overrides(2)["vpcCidrs"]
        ['10.10.0.0/16', '10.20.0.0/16']
    """
    if not 2 <= count <= len(REGIONS):
        raise ValueError(f"count must be 2 to {len(REGIONS)}, got {count}")
    regions = list(REGIONS[:count])
    return {
        "regions": regions,
        "vpcCidrs": [f"10.{10 * (index + 1)}.0.0/16" for index in range(count)],
        "primaryRegion": PRIMARY_REGION,
    }


def probe(count: int) -> dict[str, float]:
    """One plan of ``count`` regions in a fresh interpreter: its step times, resource counts and wall seconds."""
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, STACK, json.dumps(overrides(count))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS,
        check=False,
    )
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"the plan of {count} regions failed:\n{completed.stderr[-2000:]}")
    measured: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    measured["interpreter wall"] = wall
    return measured


@dataclass(frozen=True)
class Probes:
    """What the probes measured, for each region count (a list: one per repeat)."""

    runs: dict[int, list[dict[str, float]]]

    def seconds(self, count: int, step: str) -> float:
        # The fastest run: other work on the machine only ever adds time.
        return min(measured[step] for measured in self.runs[count])

    def ratio(self, step: str) -> float:
        return self.seconds(REGION_COUNTS[-1], step) / self.seconds(REGION_COUNTS[0], step)

    def resources(self, count: int, kind: str = "resources") -> int:
        return int(self.runs[count][0][kind])

    def per_resource(self, step: str) -> float:
        """How much faster than the resource count ``step``'s CPU time grows from the fewest regions to the most."""
        return self.ratio(step) / (self.resources(REGION_COUNTS[-1]) / self.resources(REGION_COUNTS[0]))

    def outside_collector(self, count: int, step: str) -> float:
        """``step``'s CPU seconds without the garbage collector's, in the run where that step took the least CPU."""
        fastest = min(self.runs[count], key=lambda measured: measured[step + " cpu"])
        return fastest[step + " cpu"] - fastest[step + " gc"]

    def collector_share(self, count: int, step: str) -> float:
        """The garbage collector's part of ``step``'s CPU time, in the run where that step took the least CPU."""
        fastest = min(self.runs[count], key=lambda measured: measured[step + " cpu"])
        return fastest[step + " gc"] / fastest[step + " cpu"]


def run(quick: bool) -> Result:
    repeats = 1 if quick else 2
    runs: dict[int, list[dict[str, float]]] = {count: [] for count in REGION_COUNTS}
    for _ in range(repeats):
        for count in REGION_COUNTS:
            runs[count].append(probe(count))
    probes = Probes(runs)
    first, last = REGION_COUNTS[0], REGION_COUNTS[-1]
    span = f"{last} regions / {first} regions"
    counts = ", ".join(str(count) for count in REGION_COUNTS[:-1]) + f" and {last}"
    return Result(
        name=NAME,
        title=f"Plan: offline plan time for {counts} regions",
        method=(
            f"The {STACK} stack with `regions` set to the first {counts} of {', '.join(REGIONS)} (primary "
            f"{PRIMARY_REGION}, VPC CIDRs 10.10.0.0/16, 10.20.0.0/16, ...), each plan in a fresh `python -c` "
            f"interpreter, {repeats} time(s) each, taking turns; the fastest of each. *program* is `run_program` in "
            "preview mode (the program under the mocks, including the lazy imports of the pulumi_aws modules it uses); "
            "*again* is a second `run_program` in the same interpreter, its modules loaded and the first run's "
            "objects collected (`gc.freeze`). Each step's CPU time (`time.process_time`, the probe's own) and wall "
            "time, and the garbage collector's CPU time in it (`gc.callbacks`, `time.thread_time` from each "
            "collection's start to its stop); the targets judge CPU time, which other work on a shared machine does "
            "not inflate. *per resource* divides a step's growth by the resource count's."
        ),
        figures=[
            Figure(f"program CPU time, {span}", probes.ratio("program cpu"), TARGET_SIX_OVER_TWO),
            Figure(f"program CPU time per resource, {span}", probes.per_resource("program cpu"), TARGET_PER_RESOURCE),
            Figure(
                f"program CPU time run again per resource, {span}",
                probes.per_resource("again cpu"),
                TARGET_PER_RESOURCE,
                reason="the program's own work, without the imports the first run pays",
            ),
            Figure(
                f"program CPU time run again without the collector's, per resource, {span}",
                (probes.outside_collector(last, "again") / probes.outside_collector(first, "again"))
                / (probes.resources(last) / probes.resources(first)),
                reason="context: the program's own work, without the one collection at the end of the run",
            ),
            Figure(
                f"garbage collector's share of the program's CPU time, {last} regions",
                probes.collector_share(last, "program"),
                unit="",
                reason=f"run again: {probes.collector_share(last, 'again'):.2f}",
            ),
            Figure(f"program wall time, {span}", probes.ratio("program wall"), reason="context: the machine's load shows here"),
            Figure(
                f"resources, {span}",
                probes.resources(last) / probes.resources(first),
                reason="context: what the program registers",
            ),
        ],
        tables=[_table(probes)],
        notes=[
            "Custom resources are the ones AWS would hold (providers excluded); the rest are component resources and providers.",
            "*interpreter wall* is the probe from start to exit, as the parent saw it (both program runs included).",
            COLLECTOR_NOTE,
        ],
        plots=[_plot(probes)],
    )


def _table(probes: Probes) -> Table:
    columns = ("import", "program", "render", "again")
    return Table(
        (
            "regions",
            "resources",
            "custom resources",
            *(f"{column} CPU / wall (s)" for column in columns),
            "program / again GC CPU (s)",
            "again CPU per resource (ms)",
            "interpreter wall (s)",
        ),
        tuple(
            (
                str(count),
                str(probes.resources(count)),
                str(probes.resources(count, "custom")),
                *(
                    f"{probes.seconds(count, column + ' cpu'):.2f} / {probes.seconds(count, column + ' wall'):.2f}"
                    for column in columns
                ),
                f"{probes.seconds(count, 'program gc'):.2f} / {probes.seconds(count, 'again gc'):.2f}",
                f"{1000 * probes.seconds(count, 'again cpu') / probes.resources(count):.2f}",
                f"{probes.seconds(count, 'interpreter wall'):.2f}",
            )
            for count in REGION_COUNTS
        ),
    )


def _plot(probes: Probes) -> Plot:
    return Plot(
        name=NAME,
        title="Offline plan: program CPU time (first run in a fresh interpreter, and run again)",
        ylabel="CPU seconds",
        kind=BARS,
        series={
            **{
                f"{count} regions ({probes.resources(count)} resources)": [probes.seconds(count, "program cpu")]
                for count in REGION_COUNTS
            },
            **{f"{count} regions, again": [probes.seconds(count, "again cpu")] for count in REGION_COUNTS},
        },
    )
