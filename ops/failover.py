"""``python -m ops failover``: start, resume or rehearse the failover runbook from an operator's machine.

``python -m ops failover --stack prod --to REGION (--planned | --unplanned --allow-data-loss) [--dry-run]
[--run-id ID] [--local] [--no-wait] [--topology FILE]``

Flags are checked first; the target region's replica of the state decides the run id (:func:`resolve_run_id`), so
running the same command again resumes the same run. By default the state machine in the target region runs the
steps (:func:`run_state_machine`); ``--local`` runs them in this process, ``--dry-run`` only prints them. The steps
in order and the exit statuses (0, 1, 2, 3 credentials, 130 interrupted): docs/design/operations.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from functions.runbook.model import (
    RUN_SUCCEEDED,
    STEP_DONE,
    STEP_FAILED,
    STEPS,
    FailoverRequest,
    RunRecord,
    StepRefusedError,
    StepResult,
    Topology,
)
from functions.shared.errors import RetryableError, ValidationError, error_code
from functions.shared.schema import STATUS_ACTIVE
from functions.shared.state import AppState, ItemTable, StateUnavailableError, read_state
from ops.arns import execution_arn, state_machine_arn
from ops.context import OpsContext, default_context
from ops.credentials import EXIT_CREDENTIALS, credentials_problem, describe_error, print_credentials_error
from ops.runs import default_run_id, requester, run_of_state
from ops.stack import (
    StackRef,
    TopologyFileError,
    TopologyUnavailableError,
    add_stack_argument,
    add_topology_argument,
    load_topology,
    stack_ref,
)

EXECUTION_RUNNING = ("RUNNING", "PENDING_REDRIVE")
EXECUTION_REDRIVABLE = ("FAILED", "TIMED_OUT", "ABORTED")
EXECUTION_SUCCEEDED = "SUCCEEDED"
RESUME_HINT = "run the same command again to resume the run from where it stopped"
EXIT_INTERRUPTED = 130

# ValidationError fields of FailoverRequest -> the flags an operator typed.
FLAGS = {"targetRegion": "--to", "allowDataLoss": "--allow-data-loss", "runId": "--run-id"}


class UsageError(Exception):
    """Bad flags: exit 2, naming the flag and the allowed values."""

    def __init__(self, flag: str, message: str) -> None:
        self.flag = flag
        super().__init__(f"{flag}: {message}")


class FailoverFailedError(Exception):
    """The run failed or could not be started or followed: exit 1 with the message. ``resumable`` is False when
    running the same command again cannot resume it (the message then says what to do instead)."""

    def __init__(self, message: str, *, resumable: bool = True) -> None:
        self.resumable = resumable
        super().__init__(message)


@dataclass
class Attempt:
    """What this command got to: whether a run is under way that the same command, run again, resumes (a run record
    it found, a run it started or followed). Decides the resume hint of an error."""

    run_under_way: bool = False


@dataclass(frozen=True)
class Finished:
    """The state shows the run already activated the target: nothing to do."""

    run_id: str
    state: AppState


def check_request(request: FailoverRequest, regions: tuple[str, ...]) -> None:
    """:meth:`FailoverRequest.validate` against ``regions``, its errors named by flag (UsageError)."""
    try:
        request.validate(_regions_only(regions))
    except ValidationError as error:
        raise UsageError(FLAGS.get(error.field, error.field), error.message) from None


def _regions_only(regions: tuple[str, ...]) -> Topology:
    """A topology with the given regions and nothing else, for checking flags before the real one is read."""
    return Topology(
        regions=regions,
        table_name="",
        global_cluster_id="",
        cluster_arns=dict.fromkeys(regions, ""),
        traffic_control="healthCheckGate",
        traffic_gates=dict.fromkeys(regions, ""),
    )


def resolve_run_id(state: AppState, target: str, given: str | None) -> str | Finished:
    """The run to start or resume, from the state in the target's replica (pure).

    - ``active`` in another region: a new run (or the one started from this epoch that has not fenced yet):
      ``given`` or ``to-<target>-from-epoch-<epoch>``.
    - fenced or failing over: the run named by ``UpdatedBy``, which is under way; ``given`` must be it.
    - ``active`` in the target: :class:`Finished` when a run put it there (and ``given`` is that run or nothing),
      else UsageError: there is nothing to fail over.
    """
    writer = run_of_state(state)
    if state.status == STATUS_ACTIVE and state.active_region != target:
        return given or default_run_id(target, state.epoch)
    if state.status == STATUS_ACTIVE:
        if writer is not None and given in (None, writer):
            return Finished(writer, state)
        raise UsageError(
            "--to", f"got {target}, which is already the active region ({state.describe()}); allowed: another region"
        )
    if writer is None:
        raise FailoverFailedError(
            f"the state is {state.describe()}, set by {state.updated_by or 'unknown'}, not by a runbook run: nobody writes. "
            "Decide first: move it back to active (see docs/failover.md) and run this command again"
        )
    if given is not None and given != writer:
        raise UsageError(
            "--run-id", f"got {given}, but the state is {state.describe()} by run {writer}; allowed: {writer} (resume it)"
        )
    return writer


class RunKind(Protocol):
    """What a resumed run is compared on: a run record, or the request an execution was started with."""

    @property
    def run_id(self) -> str: ...

    @property
    def target_region(self) -> str: ...

    @property
    def planned(self) -> bool: ...

    @property
    def allow_data_loss(self) -> bool: ...


def check_resumed_run(run: RunKind, request: FailoverRequest) -> None:
    """A resumed run must be asked for with the same target and kind as it was started with (UsageError)."""
    if run.target_region != request.target_region:
        raise UsageError(
            "--to",
            f"got {request.target_region}, but run {run.run_id} moves the application to {run.target_region}; "
            f"allowed: {run.target_region} (resume it)",
        )
    if (run.planned, run.allow_data_loss) != (request.planned, request.allow_data_loss):
        started = "--planned" if run.planned else "--unplanned --allow-data-loss"
        raise UsageError(
            "--planned/--unplanned",
            f"run {run.run_id} was started with {started}; allowed: {started} (resume it the same way)",
        )


def execution_request(execution: Mapping[str, Any]) -> FailoverRequest | None:
    """The request an existing execution was started with, or None when its input is not one."""
    try:
        return FailoverRequest.from_dict(json.loads(execution.get("input") or "{}")["request"])
    except (KeyError, TypeError, ValueError):
        return None


# ---- progress ------------------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """Prints each step of a run once, when the run record shows it done (or failed), with its duration."""

    printed: set[str] = field(default_factory=set)
    last_wait: str = ""

    def show(self, run: RunRecord | None) -> None:
        if run is None:
            return
        for name in STEPS:
            record = run.step(name)
            if name in self.printed or record.status not in (STEP_DONE, STEP_FAILED):
                continue
            self.printed.add(name)
            took = f" in {record.duration_ms / 1000:.1f} s" if record.duration_ms is not None else ""
            tries = f"{record.attempts} attempt{'s' if record.attempts != 1 else ''}"
            print(f"  {name:<14} {record.status}{took} ({tries}): {_summary(record.detail)}", flush=True)

    def waiting(self, step: str, result: StepResult) -> None:
        """A step not done yet: printed when what it waits for changes, not at every poll."""
        line = f"  {step:<14} waiting: {_summary(result.detail)}"
        if line != self.last_wait:
            self.last_wait = line
            print(f"{line} (next look in {result.wait_seconds} s)", flush=True)


def _summary(detail: Mapping[str, Any], limit: int = 200) -> str:
    """One line of a step's detail: what it did, what it waits for, or what it changed."""
    if "action" in detail:
        text = str(detail["action"])
    elif "waiting" in detail:
        waiting = detail["waiting"]
        text = str(waiting) if isinstance(waiting, str) else "replication of " + " and ".join(map(str, waiting))
    elif "aurora" in detail:
        text = f"Aurora: {detail['aurora']}"
    elif "changed" in detail:
        changes = dict(detail["changed"])
        text = "; ".join(f"{region}: {change}" for region, change in changes.items()) or "nothing to change"
    else:
        text = json.dumps(dict(detail), sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- the paths -----------------------------------------------------------------------------------------------------


def dry_run(request: FailoverRequest, topology: Topology, ref: StackRef, ctx: OpsContext, *, local: bool) -> int:
    """Each step's plan; FailoverFailedError (exit 1) when a step would refuse, for the run would stop there."""
    from functions.runbook.runner import plan_failover

    print(f"Dry run of {request.run_id}: nothing is written.")
    lines = plan_failover(request, topology, ctx.runbook, now_ms=ctx.now_ms)
    for line in lines:
        print(f"  {line}")
    # A step's plan says "would refuse: why" where it would stop (a step's own refusal, or promote's over Aurora).
    refusing = [step for step, line in zip(STEPS, lines, strict=True) if "would refuse: " in line]
    if refusing:
        raise FailoverFailedError(
            f"the dry run predicts that {' and '.join(refusing)} would refuse (above): a run would stop there; "
            "nothing was written",
            resumable=False,
        )
    if local:
        print("Would run these steps in this process (--local).")
    else:
        print(f"Would run them as execution {request.run_id} of {ref.state_machine_name} in {request.target_region}.")
    return 0


def run_local(request: FailoverRequest, topology: Topology, ctx: OpsContext, attempt: Attempt) -> int:
    """Every step in this process; progress printed after each attempt (never stopping the run: an exception from
    ``on_step`` would)."""
    from functions.runbook.runner import run_failover

    progress = Progress()

    def on_step(step: str, result: StepResult) -> None:
        if result.done:
            progress.show(_try_read_run(request, topology, ctx))
        else:
            progress.waiting(step, result)

    print(f"Running {request.run_id} here (--local).", flush=True)
    attempt.run_under_way = True  # the first step records the run before it acts
    try:
        run = run_failover(request, topology, ctx.runbook, sleep=ctx.sleep, now_ms=ctx.now_ms, on_step=on_step)
    except (StepRefusedError, RetryableError) as error:
        progress.show(_try_read_run(request, topology, ctx))
        raise FailoverFailedError(f"run {request.run_id} stopped: {error}") from None
    progress.show(run)
    return _finish(run, request, topology, ctx)


def run_state_machine(
    request: FailoverRequest, topology: Topology, ref: StackRef, ctx: OpsContext, attempt: Attempt, *, wait: bool
) -> int:
    """Start, redrive or attach to the execution named after the run, in the target region; then follow it."""
    target = request.target_region
    identity = ctx.aws("sts", target).get_caller_identity()
    machine = state_machine_arn(identity, target, ref.state_machine_name)
    arn = execution_arn(machine, request.run_id)
    sfn = ctx.aws("stepfunctions", target)
    execution = _describe(sfn, arn)
    redrives = 0
    if execution is None:
        try:
            sfn.start_execution(stateMachineArn=machine, name=request.run_id, input=json.dumps({"request": request.to_dict()}))
            print(f"Started {arn}", flush=True)
        except Exception as error:
            if error_code(error) != "ExecutionAlreadyExists":
                raise
            execution = _describe(sfn, arn)  # started by someone else just now: go on with theirs
    attempt.run_under_way = True
    if execution is not None:
        started_with = execution_request(execution)
        if started_with is not None:
            check_resumed_run(started_with, request)
        status = execution["status"]
        if status == EXECUTION_SUCCEEDED:
            print(f"Execution {arn} already succeeded.")
            return _finish(_try_read_run(request, topology, ctx), request, topology, ctx)
        if status in EXECUTION_REDRIVABLE:
            try:
                sfn.redrive_execution(executionArn=arn)
            except Exception as error:
                raise FailoverFailedError(
                    f"execution {arn} ended {status} and cannot be redriven ({describe_error(error)}); "
                    "run the steps from here with --local (same run, same steps)",
                    resumable=False,
                ) from None
            redrives = int(execution.get("redriveCount", 0)) + 1
            print(f"Redriving {arn} (it ended {status}; it resumes from the step that failed)", flush=True)
        else:
            print(f"Following {arn} ({status})", flush=True)
    if not wait:
        print(f"Not waiting (--no-wait); follow it with the same command, or in the Step Functions console: {arn}")
        return 0
    return _follow(sfn, arn, request, topology, ctx, redrives=redrives)


def _describe(sfn: Any, arn: str) -> dict[str, Any] | None:
    try:
        return dict(sfn.describe_execution(executionArn=arn))
    except Exception as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return None
        raise


def _follow(sfn: Any, arn: str, request: FailoverRequest, topology: Topology, ctx: OpsContext, *, redrives: int) -> int:
    """Poll the execution and the run record until the execution ends (a redrive counts once describe shows it)."""
    progress = Progress()
    while True:
        execution = sfn.describe_execution(executionArn=arn)
        progress.show(_try_read_run(request, topology, ctx))
        caught_up = int(execution.get("redriveCount", 0)) >= redrives
        if caught_up and execution["status"] not in EXECUTION_RUNNING:
            break
        ctx.sleep(ctx.poll_seconds)
    if execution["status"] == EXECUTION_SUCCEEDED:
        return _finish(_try_read_run(request, topology, ctx), request, topology, ctx)
    cause = " ".join(str(execution.get(key) or "") for key in ("error", "cause")).strip()
    raise FailoverFailedError(f"execution {arn} ended {execution['status']}: {cause or 'no cause given'}")


def _try_read_run(request: FailoverRequest, topology: Topology, ctx: OpsContext) -> RunRecord | None:
    """The run record, or None when it cannot be read now (progress output must not stop the command)."""
    from functions.runbook.runner import read_run

    try:
        return read_run(topology, ctx.runbook, request.target_region, request.run_id)
    except Exception:
        return None


def _finish(run: RunRecord | None, request: FailoverRequest, topology: Topology, ctx: OpsContext) -> int:
    if run is not None and run.status != RUN_SUCCEEDED:
        raise FailoverFailedError(f"run {run.run_id} is {run.status}: {run.error or 'no error recorded'}")
    try:
        now = read_state(ItemTable(ctx.runbook.dynamodb(request.target_region), topology.table_name)).describe()
    except StateUnavailableError as error:
        now = f"the state cannot be read now ({error})"
    if run is None:
        print(f"Run {request.run_id} succeeded; its record cannot be read now: {now}.")
        return 0
    took = f" in {(run.finished_at - run.started_at) / 1000:.1f} s" if run.finished_at else ""
    print(f"Run {request.run_id} succeeded{took}: {now}.")
    return 0


# ---- the command ---------------------------------------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "failover",
        help="move the application to another region with the failover runbook (Step Functions, or --local)",
        description="Start, resume or rehearse the failover runbook. Running the same command again resumes the same run.",
        epilog=(
            "exit status: 0 succeeded (or had already; or the dry run, or the start with --no-wait); 1 the run failed, "
            "AWS could not be read, or the dry run predicts a refusal; 2 bad flags; "
            f"{EXIT_CREDENTIALS} the AWS credentials are missing or refused; 130 interrupted"
        ),
    )
    add_stack_argument(parser)
    parser.add_argument("--to", required=True, metavar="REGION", help="the region to move the application to")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--planned", action="store_true", help="planned switchover: waits for replication, loses nothing")
    kind.add_argument("--unplanned", action="store_true", help="unplanned failover: needs --allow-data-loss")
    parser.add_argument(
        "--allow-data-loss",
        action="store_true",
        help="with --unplanned: accept losing the writes not yet replicated from the failed region",
    )
    parser.add_argument("--dry-run", action="store_true", help="print what each step would do now; write nothing")
    parser.add_argument("--run-id", metavar="ID", help="the run's id (default: to-<region>-from-epoch-<N>, found from the state)")
    parser.add_argument("--local", action="store_true", help="run the steps in this process instead of Step Functions")
    parser.add_argument("--no-wait", action="store_true", help="start (or redrive) the execution and return")
    add_topology_argument(parser)


def run(args: argparse.Namespace, ctx: OpsContext | None = None) -> int:
    """``python -m ops failover``; exit status in the module docstring."""
    attempt = Attempt()
    try:
        return _run(args, ctx, attempt)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        print(f"error: {FLAGS.get(error.field, error.field)}: {error.message}", file=sys.stderr)
        return 2
    except TopologyFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if not attempt.run_under_way:
            print("\ninterrupted before a run started: nothing was changed", file=sys.stderr)
        else:
            print(
                "\ninterrupted: a Step Functions execution goes on, a --local run stops where it was; "
                "run the same command again to follow or resume it",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED
    except Exception as error:
        return _failed(error, attempt)


def _failed(error: Exception, attempt: Attempt) -> int:
    """An error told in one line (exit 1, or 3 for credentials), with the resume hint only when a run is under way."""
    resume = RESUME_HINT if attempt.run_under_way and getattr(error, "resumable", True) else None
    problem = credentials_problem(error)
    if problem is not None:
        return print_credentials_error(problem, resume=resume)
    if isinstance(error, FailoverFailedError | TopologyUnavailableError | StateUnavailableError | StepRefusedError):
        message = str(error)
    elif _is_aws_error(error):
        message = f"AWS refused or did not answer: {describe_error(error)}"
    else:
        raise error
    print(f"error: {message}", file=sys.stderr)
    if resume:
        print(f"hint: {resume}", file=sys.stderr)
    return 1


def _is_aws_error(error: Exception) -> bool:
    """A botocore error (a refused call, a region not answering): reported in one line, not as a traceback."""
    import botocore.exceptions

    return isinstance(error, botocore.exceptions.BotoCoreError | botocore.exceptions.ClientError)


def _run(args: argparse.Namespace, ctx: OpsContext | None, attempt: Attempt) -> int:
    try:
        ref = stack_ref(args.stack)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError("--stack", str(error)) from None
    request = FailoverRequest(
        run_id=args.run_id or "unresolved",
        target_region=args.to,
        planned=args.planned,
        allow_data_loss=args.allow_data_loss,
        requested_by=requester(),
    )
    check_request(request, ref.regions)
    ctx = ctx or default_context()
    try:
        topology, source = load_topology(ref, ctx.aws, first=args.to, path=args.topology)
    except ValidationError as error:
        raise FailoverFailedError(f"the runbook topology is unusable: {error}") from None
    check_request(request, topology.regions)
    state = read_state(ItemTable(ctx.runbook.dynamodb(args.to), topology.table_name))
    print(f"Stack {ref.project}/{ref.stack}: {state.describe()} as {args.to} sees it (topology from {source}).", flush=True)
    resolved = resolve_run_id(state, args.to, args.run_id)
    if isinstance(resolved, Finished):
        print(f"Run {resolved.run_id} already moved the application: {resolved.state.describe()}. Nothing to do.")
        return 0
    request = replace(request, run_id=resolved)
    check_request(request, topology.regions)
    existing = _try_read_run(request, topology, ctx)
    if existing is not None:
        check_resumed_run(existing, request)
        print(f"Resuming run {request.run_id} ({existing.status}, started from epoch {existing.start_epoch}).", flush=True)
    if args.dry_run:
        return dry_run(request, topology, ref, ctx, local=args.local)
    attempt.run_under_way = existing is not None or state.status != STATUS_ACTIVE  # fenced or failing over by it
    if args.local:
        return run_local(request, topology, ctx, attempt)
    return run_state_machine(request, topology, ref, ctx, attempt, wait=not args.no_wait)
