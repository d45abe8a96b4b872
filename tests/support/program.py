"""Whole-program runs under the mocks harness, one per config for the test session (each run takes about 1 s)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from components.config import AZ_COUNT
from components.network_plan import Zone, choose_zones
from planning.harness import ProgramRun, mock_zones, run_program

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

ProgramRunner = Callable[..., ProgramRun]


def program(stack: str, *, preview: bool = False, **overrides: Any) -> ProgramRun:
    """Run the whole program for ``stack`` (update mode unless ``preview``), with config ``overrides``;
    identical calls share one run."""
    key = json.dumps([stack, preview, overrides], sort_keys=True)
    if key not in _runs:
        _runs[key] = run_program(stack, preview=preview, overrides=overrides)
    return _runs[key]


def chosen_zones(region: str) -> list[Zone]:
    """The zones the network should choose from what the mocks harness offers in ``region``."""
    return choose_zones(*mock_zones(region), AZ_COUNT)
