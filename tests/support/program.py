"""Whole-program runs under the mocks harness, one per config for the test session (each run takes about 1 s), and
runs of one component per region (a tenth of that) for tests that assert only that component's resources."""

from __future__ import annotations

import fcntl
import hashlib
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi

from components.config import AZ_COUNT, RegionConfig, StackConfig
from components.network_plan import Zone, choose_zones
from components.providers import region_provider
from planning.harness import ProgramRun, mock_zones, run_component, run_program, stack_config

# The committed stacks, the ones most tests run.
STACKS = ("prod", "dev")
# Config overrides of a third region (the 3-region configs build on it).
THREE_REGIONS: dict[str, Any] = {
    "regions": ["us-east-1", "eu-west-1", "ap-southeast-2"],
    "vpcCidrs": ["10.10.0.0/16", "10.20.0.0/16", "10.30.0.0/16"],
}
THREE_REGIONS_LATENCY: dict[str, Any] = {**THREE_REGIONS, "routingMode": "latency"}
# The committed dev stack has no domain; what a domain adds is tested on prod (a looked-up zone) and on dev with this
# (a zone the stack creates).
DEV_DOMAIN: dict[str, Any] = {"domainName": "dev.app.example.com", "createHostedZone": True}

_runs: dict[str, ProgramRun] = {}
# Where the test workers of one session share their runs (pytest-xdist: one process per worker); None: not shared.
_shared: list[Path] = []

ProgramRunner = Callable[..., ProgramRun]
# Builds one component in a region: (the stack's config, the region, options carrying the region's provider).
ComponentBuild = Callable[[StackConfig, RegionConfig, pulumi.ResourceOptions], object]


def share_runs_in(directory: Path) -> None:
    """Share the runs between the processes of one test session through ``directory``: the first to ask for a config
    runs it and leaves it there pickled, the others load it."""
    directory.mkdir(parents=True, exist_ok=True)
    _shared[:] = [directory]


def program(stack: str, *, preview: bool = False, **overrides: Any) -> ProgramRun:
    """Run the whole program for ``stack`` (update mode unless ``preview``), with config ``overrides``;
    identical calls share one run for the session."""
    key = json.dumps([stack, preview, overrides], sort_keys=True)
    if key not in _runs:
        _runs[key] = (
            _shared_run(key, stack, preview, overrides) if _shared else run_program(stack, preview=preview, overrides=overrides)
        )
    return _runs[key]


def _shared_run(key: str, stack: str, preview: bool, overrides: dict[str, Any]) -> ProgramRun:
    """The run of ``key`` from the shared directory, made there first (under a lock, so one process makes it) from the
    caller's own values (the key only names the file)."""
    path = _shared[0] / hashlib.sha256(key.encode()).hexdigest()[:24]
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            run: ProgramRun = pickle.loads(path.read_bytes())
            return run
        run = run_program(stack, preview=preview, overrides=overrides)
        path.with_suffix(".tmp").write_bytes(pickle.dumps(run))
        path.with_suffix(".tmp").rename(path)
        return run


def chosen_zones(region: str) -> list[Zone]:
    """The zones the network should choose from what the mocks harness offers in ``region``."""
    return choose_zones(*mock_zones(region), AZ_COUNT)


def component_in_regions(stack: str, build: ComponentBuild, *, preview: bool = False, **overrides: Any) -> ProgramRun:
    """``build`` alone in each region of ``stack`` (with config ``overrides``), under that region's provider as the
    program makes it, instead of the whole program: for tests that assert one leaf component's resources."""
    config = stack_config(stack, overrides)

    def main() -> None:
        for region in config.regions:
            build(config, region, pulumi.ResourceOptions(provider=region_provider(config, region)))

    return run_component(main, stack=stack, preview=preview, overrides=overrides)
