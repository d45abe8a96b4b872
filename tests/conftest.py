"""Shared fixtures: program runs under the mocks harness, cached for the session (each run takes ~1 s)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ops.harness import ProgramRun, run_program

STACKS = ("prod", "dev")

_runs: dict[str, ProgramRun] = {}

ProgramRunner = Callable[..., ProgramRun]


def program(stack: str, *, preview: bool = False, **overrides: Any) -> ProgramRun:
    """Run the whole program for ``stack`` (update mode unless ``preview``), with config ``overrides``;
    identical calls share one run."""
    key = json.dumps([stack, preview, overrides], sort_keys=True)
    if key not in _runs:
        _runs[key] = run_program(stack, preview=preview, overrides=overrides)
    return _runs[key]


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
