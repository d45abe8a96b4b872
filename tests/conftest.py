"""Shared fixtures: program runs under the mocks harness, cached for the session (each run takes ~1 s)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from components.config import AZ_COUNT
from components.network_plan import Zone, choose_zones
from functions.shared.metrics import NAMESPACE_VARIABLE
from ops.harness import ProgramRun, mock_zones, read_project, run_program
from ops.local_servers import MotoServer, RedisServer

STACKS = ("prod", "dev")


def pytest_configure(config: pytest.Config) -> None:
    """The functions emit metrics in the namespace the deployment sets: the project's name."""
    os.environ.setdefault(NAMESPACE_VARIABLE, read_project().name)


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


@pytest.fixture(scope="session")
def run_stack() -> ProgramRunner:
    return program


@pytest.fixture(scope="session", params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> ProgramRun:
    """The update-mode run of each stack (prod, dev): assert values here."""
    return program(request.param)


@pytest.fixture(scope="session", params=STACKS)
def preview_run(request: pytest.FixtureRequest) -> ProgramRun:
    """The preview-mode run of each stack: computed outputs unknown, proves the program survives them."""
    return program(request.param, preview=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis server for the session (tests that stop it start it again before they end)."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """The moto server for the session; `aws` resets it for each test."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws_endpoint(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean moto server and fake credentials: boto3 clients built with this endpoint reach only it."""
    moto_server.reset()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    yield moto_server.endpoint
