"""``python -m ops abort``: give writes back to a fenced region when a failover will not go on.

``python -m ops abort --stack prod --region REGION --epoch N [--topology FILE]``

Lifts the fence a stopped failover left: ``fenced -> active`` in the same region, written in REGION's replica, only
while the state is still at the epoch N that ``ops status`` showed. A state past the fence is refused: finish that
run instead (``ops failover`` with the same flags resumes it; why: docs/design/operations.md).

Exit status: 0 the fence was lifted (or the state was already active); 1 refused (stale epoch, a failover under way)
or AWS could not be read; 2 bad flags (``--topology FILE`` included); 3 the AWS credentials are missing or refused.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from functions.shared.errors import ValidationError
from functions.shared.schema import STATUS_ACTIVE, STATUS_FAILOVER, STATUS_FENCED
from functions.shared.state import ItemTable, StateUnavailableError, TransitionError, read_state, transition
from ops.context import OpsContext, default_context
from ops.credentials import EXIT_CREDENTIALS, credentials_problem, print_credentials_error
from ops.runs import requester
from ops.stack import (
    TopologyFileError,
    TopologyUnavailableError,
    add_stack_argument,
    add_topology_argument,
    load_topology,
    stack_ref,
)


class AbortRefusedError(Exception):
    """The state is not one an abort may move (a failover under way), or it moved since the operator looked."""


def abort(table: ItemTable, *, region: str, epoch: int, updated_by: str) -> str:
    """Lift the fence of the state at ``epoch`` in ``table``; returns what happened. Raises AbortRefusedError."""
    state = read_state(table)
    if state.status == STATUS_ACTIVE:
        return f"nothing to abort: the state is {state.describe()}"
    if state.status == STATUS_FAILOVER:
        raise AbortRefusedError(
            f"the state is {state.describe()}: the runbook is past the fence and may have moved Aurora's writer to "
            f"{state.active_region}; finish the run (run the same `ops failover` command again) instead of aborting"
        )
    if state.epoch != epoch:
        raise AbortRefusedError(
            f"--epoch {epoch} is stale: the state is {state.describe()}; look again with `ops status` and pass its epoch"
        )
    try:
        lifted = transition(
            table, expected_epoch=epoch, to_status=STATUS_ACTIVE, active_region=state.active_region, updated_by=updated_by
        )
    except TransitionError as error:
        raise AbortRefusedError(str(error)) from None
    return f"fence lifted in {region}'s replica: {state.describe()} -> {lifted.describe()}"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "abort",
        help=f"lift a fence a failover left behind ({STATUS_FENCED} -> {STATUS_ACTIVE} in the same region)",
        description=__doc__.split("\n\n")[2] if __doc__ else None,
        epilog=(
            "exit status: 0 lifted (or already active); 1 refused or AWS could not be read; 2 bad flags; "
            f"{EXIT_CREDENTIALS} the AWS credentials are missing or refused"
        ),
    )
    add_stack_argument(parser)
    parser.add_argument("--region", required=True, help="the region whose replica of the state to write (one that answers)")
    parser.add_argument("--epoch", required=True, type=int, help="the epoch of the fenced state, as `ops status` shows it")
    add_topology_argument(parser)


def run(args: argparse.Namespace, ctx: OpsContext | None = None) -> int:
    """``python -m ops abort``; exit status in the module docstring."""
    try:
        ref = stack_ref(args.stack)
    except (FileNotFoundError, ValueError) as error:
        return _error(f"--stack: {error}", 2)
    if args.region not in ref.regions:
        return _error(f"--region: got {args.region!r}; allowed: {', '.join(ref.regions)}", 2)
    ctx = ctx or default_context()
    try:
        topology, _ = load_topology(ref, ctx.aws, first=args.region, path=args.topology)
        table = ItemTable(ctx.runbook.dynamodb(args.region), topology.table_name)
        print(abort(table, region=args.region, epoch=args.epoch, updated_by=requester("ops abort")))
    except TopologyFileError as error:
        return _error(str(error), 2)
    except Exception as error:
        problem = credentials_problem(error)
        if problem is not None:
            return print_credentials_error(problem)
        if isinstance(error, AbortRefusedError | StateUnavailableError | TopologyUnavailableError | ValidationError):
            return _error(str(error), 1)
        raise
    return 0


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
