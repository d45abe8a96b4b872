"""Plan: how the offline plan's time grows with the number of regions (2, 4 and 6), and what it registers.

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
REGION_COUNTS = (2, 4, 6)
TARGET_SIX_OVER_TWO = 3.5
PROBE_TIMEOUT_SECONDS = 300

PROBE = """
import gc, json, sys, time
marks = [(time.perf_counter(), time.process_time())]
import pulumi, pulumi_aws
from planning.harness import run_program
from planning.plan import render_plan
marks.append((time.perf_counter(), time.process_time()))
run = run_program(sys.argv[1], preview=True, overrides=json.loads(sys.argv[2]))
marks.append((time.perf_counter(), time.process_time()))
render_plan(run)
marks.append((time.perf_counter(), time.process_time()))
measured = {"resources": len(run.resources), "custom": len(run.custom())}
del run
gc.collect()
gc.freeze()
marks.append((time.perf_counter(), time.process_time()))
run_program(sys.argv[1], preview=True, overrides=json.loads(sys.argv[2]))
marks.append((time.perf_counter(), time.process_time()))
for step, (before, after) in zip(("import", "program", "render", "collect", "again"), zip(marks, marks[1:])):
    measured[step + " wall"] = after[0] - before[0]
    measured[step + " cpu"] = after[1] - before[1]
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


def run(quick: bool) -> Result:
    repeats = 1 if quick else 2
    runs: dict[int, list[dict[str, float]]] = {count: [] for count in REGION_COUNTS}
    for _ in range(repeats):
        for count in REGION_COUNTS:
            runs[count].append(probe(count))
    probes = Probes(runs)
    first, last = REGION_COUNTS[0], REGION_COUNTS[-1]
    span = f"{last} regions / {first} regions"
    return Result(
        name=NAME,
        title="Plan: offline plan time for 2, 4 and 6 regions",
        method=(
            f"The {STACK} stack with `regions` set to the first 2, 4 and 6 of {', '.join(REGIONS)} (primary "
            f"{PRIMARY_REGION}, VPC CIDRs 10.10.0.0/16, 10.20.0.0/16, ...), each plan in a fresh `python -c` "
            f"interpreter, {repeats} time(s) each, taking turns; the fastest of each. *program* is `run_program` in "
            "preview mode (the program under the mocks, including the lazy imports of the pulumi_aws modules it uses); "
            "*again* is a second `run_program` in the same interpreter, its modules loaded and the first run's "
            "objects collected (`gc.freeze`). Each step's CPU time "
            "(`time.process_time`, the probe's own) and wall time; the targets judge CPU time, which other work on "
            "a shared machine does not inflate."
        ),
        figures=[
            Figure(f"program CPU time, {span}", probes.ratio("program cpu"), TARGET_SIX_OVER_TWO),
            Figure(
                f"program CPU time run again, {span}",
                probes.ratio("again cpu"),
                reason="context: the program's own work, without the imports the first run pays",
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
            "The target is on the plan as an operator runs it, in a fresh interpreter. The program's own work (*again*) "
            "grows faster than its resource count; where that comes from is not analysed here.",
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
