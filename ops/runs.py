"""How ops commands name runbook runs and their requesters: the default run id of ``ops failover`` (also the Step
Functions execution name), the run that last moved a state (its ``UpdatedBy`` is ``runbook <run id>``), and who
asks, for the records a command writes."""

from __future__ import annotations

import getpass

from functions.runbook.steps import run_updated_by
from functions.shared.state import AppState

# ``ops failover``'s default run id (also the Step Functions execution name): the target and the starting epoch.
RUN_ID_FORMAT = "to-{region}-from-epoch-{epoch}"


def default_run_id(region: str, epoch: int) -> str:
    """The run id ``ops failover`` uses unless told otherwise: the target and the epoch the run starts from."""
    return RUN_ID_FORMAT.format(region=region, epoch=epoch)


def run_of_state(state: AppState) -> str | None:
    """The run that last moved the state, from its ``UpdatedBy`` (``runbook <run id>``), else None."""
    prefix = run_updated_by("")
    return state.updated_by.removeprefix(prefix) if state.updated_by.startswith(prefix) else None


def requester(command: str = "ops failover") -> str:
    """Who asks, for the records a command writes: ``command`` and the operator's login when it can be read."""
    try:
        return f"{command} ({getpass.getuser()})"
    except (OSError, KeyError):
        return command
