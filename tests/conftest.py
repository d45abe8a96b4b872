"""Shared fixtures: program runs under the mocks harness, made once per session and shared by its workers (each run
takes ~1 s), and the local servers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from functions.shared.metrics import NAMESPACE_VARIABLE
from planning.harness import ProgramRun, read_project
from simulation.local_servers import MotoServer, RedisServer
from tests.support.program import STACKS, ProgramRunner, program, share_runs_in
from tests.support.redis_commands import command_table_read_once


def pytest_configure(config: pytest.Config) -> None:
    """The functions emit metrics in the namespace the deployment sets: the project's name."""
    os.environ.setdefault(NAMESPACE_VARIABLE, read_project().name)


@pytest.fixture(scope="session", autouse=True)
def _program_runs_shared_by_workers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Under pytest-xdist each worker is a process of its own: they share each config's run through the session's
    base temporary directory (the workers' directories are inside it), in a folder named for this run of the session
    so that no run of another session is ever read. Without workers, runs stay in the process."""
    worker_input = getattr(request.config, "workerinput", None)
    if worker_input is not None:
        share_runs_in(tmp_path_factory.getbasetemp().parent / f"program-runs-{worker_input['testrunuid']}")


@pytest.fixture(scope="session", autouse=True)
def _redis_command_table_read_once() -> Iterator[None]:
    with command_table_read_once():
        yield


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
