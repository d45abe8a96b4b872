"""Whole-program runs under the mocks harness, one per config for the test session (each run takes about 1 s), and
runs of one component per region (a tenth of that) for tests that assert only that component's resources."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi

from components.config import AZ_COUNT, RegionConfig, StackConfig
from components.network_plan import Zone, choose_zones
from components.providers import region_provider
from planning.harness import ProgramRun, mock_zones, run_component, run_program, stack_config

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
# Builds one component in a region: (the stack's config, the region, options carrying the region's provider).
ComponentBuild = Callable[[StackConfig, RegionConfig, pulumi.ResourceOptions], object]


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


def component_in_regions(stack: str, build: ComponentBuild, *, preview: bool = False, **overrides: Any) -> ProgramRun:
    """``build`` alone in each region of ``stack`` (with config ``overrides``), under that region's provider as the
    program makes it, instead of the whole program: for tests that assert one leaf component's resources."""
    config = stack_config(stack, overrides)

    def main() -> None:
        for region in config.regions:
            build(config, region, pulumi.ResourceOptions(provider=region_provider(config, region)))

    return run_component(main, stack=stack, preview=preview, overrides=overrides)
