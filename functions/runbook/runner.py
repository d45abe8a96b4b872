"""Running the runbook: one step with its bookkeeping (the Lambda's job), a whole run (``ops failover``, the drill), a
dry run, and the durable run record.

The run record is one item, ``RUNBOOK#<run id>``, in the target region's table; every write of it is one ``PutItem``
conditional on its ``Revision``, so two runners of one run never lose each other's bookkeeping. A run resumes by
running it again: done steps answer done after a look. The record's attributes: ``docs/design/runbook-steps.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, NoReturn

from functions.runbook import steps
from functions.runbook.clients import RunbookClients, is_retryable
from functions.runbook.model import (
    RUN_FAILED,
    RUN_RUNNING,
    RUN_SUCCEEDED,
    STEP_ACTIVATE,
    STEP_DONE,
    STEP_FAILED,
    STEP_RUNNING,
    STEPS,
    FailoverRequest,
    RunRecord,
    StepRecord,
    StepRefusedError,
    StepResult,
    StepRetryableError,
    Topology,
    run_record_id,
)
from functions.shared.codec import item_from_image, to_item
from functions.shared.errors import CONDITIONAL_CHECK_FAILED, ConflictError, RetryableError, ValidationError, error_code
from functions.shared.log import get_logger, now_ms
from functions.shared.schema import ATTR_ID, ATTR_RECORD_TYPE
from functions.shared.state import AppState, ItemTable, read_state

logger = get_logger("runbook")

Clock = Callable[[], int]
OnStep = Callable[[str, StepResult], None]

RECORD_TYPE_RUNBOOK = "runbook"
# run_failover's own retries of a retryable failure (the state machine has its Retry instead), seconds.
RETRY_DELAYS_SECONDS = (1, 2, 4, 8, 16)


class RunRecordConflictError(StepRetryableError):
    """The run record changed between this attempt's read and its write: another runner works on the same run."""


# ---- the record -----------------------------------------------------------------------------------------------------


def run_to_item(run: RunRecord, revision: int) -> dict[str, Any]:
    """The run record as a DynamoDB item (DynamoDB JSON)."""
    record = {
        ATTR_ID: run_record_id(run.run_id),
        ATTR_RECORD_TYPE: RECORD_TYPE_RUNBOOK,
        "Revision": revision,
        "RunId": run.run_id,
        "TargetRegion": run.target_region,
        "SourceRegion": run.source_region,
        "StartEpoch": run.start_epoch,
        "Planned": run.planned,
        "AllowDataLoss": run.allow_data_loss,
        "RequestedBy": run.requested_by,
        "Status": run.status,
        "StartedAt": run.started_at,
        "Steps": {name: _step_to_record(step) for name, step in run.steps.items()},
        "FinishedAt": run.finished_at,
        "Error": run.error,
    }
    return to_item(_present(record))


def run_from_item(item: Mapping[str, Any]) -> tuple[RunRecord, int]:
    """The run record and its revision from a DynamoDB item."""
    record = item_from_image(item)
    run = RunRecord(
        run_id=record["RunId"],
        target_region=record["TargetRegion"],
        source_region=record["SourceRegion"],
        start_epoch=record["StartEpoch"],
        planned=record["Planned"],
        allow_data_loss=record["AllowDataLoss"],
        requested_by=record["RequestedBy"],
        status=record["Status"],
        started_at=record["StartedAt"],
        finished_at=record.get("FinishedAt"),
        steps={name: _step_from_record(step) for name, step in record.get("Steps", {}).items()},
        error=record.get("Error"),
    )
    return run, record["Revision"]


def _step_to_record(step: StepRecord) -> dict[str, Any]:
    return _present(
        {
            "Status": step.status,
            "Attempts": step.attempts,
            "Detail": json.dumps(dict(step.detail), sort_keys=True, default=str),
            "StartedAt": step.started_at,
            "FinishedAt": step.finished_at,
        }
    )


def _step_from_record(record: Mapping[str, Any]) -> StepRecord:
    return StepRecord(
        status=record["Status"],
        started_at=record.get("StartedAt"),
        finished_at=record.get("FinishedAt"),
        attempts=record["Attempts"],
        detail=json.loads(record["Detail"]),
    )


def _present(record: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes that have a value (an absent one is left out of the item, not stored as NULL)."""
    return {name: value for name, value in record.items() if value is not None}


def _table(topology: Topology, clients: RunbookClients, region: str) -> ItemTable:
    return ItemTable(clients.dynamodb(region), topology.table_name)


def _load(table: ItemTable, run_id: str) -> tuple[RunRecord, int] | None:
    response = table.client.get_item(TableName=table.name, Key=to_item({ATTR_ID: run_record_id(run_id)}), ConsistentRead=True)
    item = response.get("Item")
    return run_from_item(item) if item is not None else None


def _save(table: ItemTable, run: RunRecord, revision: int) -> int:
    """Write the record as ``revision + 1`` if it is still at ``revision`` (0: if it does not exist); the new revision."""
    condition: dict[str, Any] = (
        {"ConditionExpression": "attribute_not_exists(#id)", "ExpressionAttributeNames": {"#id": ATTR_ID}}
        if revision == 0
        else {
            "ConditionExpression": "#revision = :revision",
            "ExpressionAttributeNames": {"#revision": "Revision"},
            "ExpressionAttributeValues": to_item({":revision": revision}),
        }
    )
    try:
        table.client.put_item(TableName=table.name, Item=run_to_item(run, revision + 1), **condition)
    except Exception as error:
        if error_code(error) == CONDITIONAL_CHECK_FAILED:
            raise RunRecordConflictError(
                f"the run record {run_record_id(run.run_id)} changed concurrently (expected revision {revision}): "
                "another runner is working on this run"
            ) from None
        raise
    return revision + 1


def read_run(topology: Topology, clients: RunbookClients, region: str, run_id: str) -> RunRecord | None:
    """The run record ``RUNBOOK#<run_id>`` in ``region``'s table (consistent read), or None."""
    loaded = _load(_table(topology, clients, region), run_id)
    return loaded[0] if loaded is not None else None


def start_run(request: FailoverRequest, topology: Topology, clients: RunbookClients, *, now_ms: Clock = now_ms) -> RunRecord:
    """The run's record, created at the first start (source region and start epoch read from the state record then)."""
    return _start(request, topology, clients, now_ms)[0]


def _start(request: FailoverRequest, topology: Topology, clients: RunbookClients, clock: Clock) -> tuple[RunRecord, int]:
    request.validate(topology)
    table = _table(topology, clients, request.target_region)
    loaded = _load(table, request.run_id)
    if loaded is None:
        run = _new_run(request, read_state(table), started_at=clock())
        try:
            return run, _save(table, run, 0)
        except RunRecordConflictError:
            loaded = _load(table, request.run_id)  # a concurrent first start won: use its record
            if loaded is None:
                raise
    _check_same_request(loaded[0], request)
    return loaded


def _new_run(request: FailoverRequest, state: AppState, *, started_at: int) -> RunRecord:
    """The record of a run starting now: from the active region and epoch the state holds."""
    return RunRecord(
        run_id=request.run_id,
        target_region=request.target_region,
        source_region=state.active_region,
        start_epoch=state.epoch,
        planned=request.planned,
        allow_data_loss=request.allow_data_loss,
        requested_by=request.requested_by,
        started_at=started_at,
    )


def _check_same_request(run: RunRecord, request: FailoverRequest) -> None:
    """A run id names one request: the same target and kind (the record replicates, so a failback can meet it)."""
    if run.target_region != request.target_region:
        raise ValidationError(
            "runId",
            f"run {run.run_id} exists with target {run.target_region}, the request asks for {request.target_region}; "
            "allowed: the same request again, or a new run id",
        )
    if (run.planned, run.allow_data_loss) != (request.planned, request.allow_data_loss):
        raise ValidationError(
            "runId",
            f"run {run.run_id} exists as {_mode(run.planned, run.allow_data_loss)}, the request asks for "
            f"{_mode(request.planned, request.allow_data_loss)}; allowed: the same request again, or a new run id",
        )


def _mode(planned: bool, allow_data_loss: bool) -> str:
    return "a planned switchover" if planned else f"an unplanned failover (allowDataLoss={str(allow_data_loss).lower()})"


# ---- one step -------------------------------------------------------------------------------------------------------


def run_step(
    step: str, request: FailoverRequest, topology: Topology, clients: RunbookClients, *, now_ms: Clock = now_ms
) -> StepResult:
    """One attempt of ``step`` with its bookkeeping in the run record (created at the first call).

    Raises
    ------
    StepRefusedError
        The step refuses (an invalid request or step, the state moved by someone else, a planned drain out of time):
        the run is recorded failed with the reason.
    StepRetryableError
        Trying again can help (throttling, a region not answering, a concurrent runner): recorded as an attempt.
    Anything else unexpected is recorded (the run failed) and raised as it is.
    """
    try:
        if step not in STEPS:
            raise ValidationError("step", f"got {step!r}; allowed: {', '.join(STEPS)}")
        run, revision = _start(request, topology, clients, now_ms)
    except Exception as error:
        _reraise(error)
    table = _table(topology, clients, request.target_region)
    before = run.step(step)
    started_at = now_ms()
    try:
        result = steps.attempt(step, request, run, topology, clients, now_ms)
    except Exception as error:
        failure = classify(error)
        _record_failure(table, run, revision, step, started_at=started_at, finished_at=now_ms(), failure=failure)
        _reraise(error)
    if before.status == STEP_DONE and result.done:
        return result  # looked and found it done, as recorded: nothing to write
    finished_at = now_ms()
    record = StepRecord(
        status=STEP_DONE if result.done else STEP_RUNNING,
        started_at=before.started_at if before.started_at is not None else started_at,
        finished_at=finished_at if result.done else None,
        attempts=before.attempts + 1,
        detail=result.detail,
    )
    succeeded = step == STEP_ACTIVATE and result.done
    updated = _with_step(
        run,
        step,
        record,
        status=RUN_SUCCEEDED if succeeded else RUN_RUNNING,
        finished_at=finished_at if succeeded else None,
        error=None,
    )
    try:
        _save(table, updated, revision)
    except Exception as error:
        _reraise(error)
    return result


def _with_step(
    run: RunRecord, step: str, record: StepRecord, *, status: str, finished_at: int | None, error: str | None
) -> RunRecord:
    return replace(run, steps={**run.steps, step: record}, status=status, finished_at=finished_at, error=error)


def _reraise(error: Exception) -> NoReturn:
    failure = classify(error)
    if failure is error:
        raise error
    raise failure from error


def classify(error: BaseException) -> BaseException:
    """What the state machine should see: StepRefusedError, StepRetryableError, or the unexpected error itself."""
    if isinstance(error, StepRefusedError | StepRetryableError):
        return error
    if isinstance(error, ValidationError | ConflictError):
        return StepRefusedError(str(error))
    if isinstance(error, RetryableError) or is_retryable(error):
        return StepRetryableError(str(error) or repr(error))
    return error


def _record_failure(
    table: ItemTable,
    run: RunRecord,
    revision: int,
    step: str,
    *,
    started_at: int,
    finished_at: int,
    failure: BaseException,
) -> None:
    """Record a failed attempt (best effort: the failure itself is what the caller must see)."""
    retryable = isinstance(failure, StepRetryableError)
    message = str(failure) if isinstance(failure, StepRefusedError | StepRetryableError) else repr(failure)
    before = run.step(step)
    record = StepRecord(
        status=STEP_RUNNING if retryable else STEP_FAILED,
        started_at=before.started_at if before.started_at is not None else started_at,
        finished_at=None if retryable else finished_at,
        attempts=before.attempts + 1,
        detail={"error": message},
    )
    updated = _with_step(
        run,
        step,
        record,
        status=run.status if retryable else RUN_FAILED,
        finished_at=run.finished_at if retryable else finished_at,
        error=run.error if retryable else f"{step}: {message}",
    )
    try:
        _save(table, updated, revision)
    except Exception as error:
        logger.warning("run record not updated", extra={"run_id": run.run_id, "step": step, "error": repr(error)})


# ---- a whole run ----------------------------------------------------------------------------------------------------


def run_failover(
    request: FailoverRequest,
    topology: Topology,
    clients: RunbookClients,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now_ms: Clock = now_ms,
    on_step: OnStep | None = None,
) -> RunRecord:
    """Every step in order until done, waiting ``wait_seconds`` between attempts; the final run record.

    Resumable: called again with the same request after a crash (or a fixed refusal), it finishes the run. A
    retryable failure is retried after ``RETRY_DELAYS_SECONDS`` and raised when they are spent; a refusal is raised at
    once. ``on_step(step, result)`` is called after every attempt (for progress output; raising from it stops the run).
    """
    for step in STEPS:
        retries = 0
        while True:
            try:
                result = run_step(step, request, topology, clients, now_ms=now_ms)
            except StepRetryableError:
                if retries >= len(RETRY_DELAYS_SECONDS):
                    raise
                sleep(RETRY_DELAYS_SECONDS[retries])
                retries += 1
                continue
            retries = 0
            if on_step is not None:
                on_step(step, result)
            if result.done:
                break
            sleep(result.wait_seconds)
    run = read_run(topology, clients, request.target_region, request.run_id)
    if run is None:
        raise StepRetryableError(f"the run record {run_record_id(request.run_id)} cannot be read back")
    return run


def plan_failover(request: FailoverRequest, topology: Topology, clients: RunbookClients, *, now_ms: Clock = now_ms) -> list[str]:
    """A dry run: one line per step saying what it would do now. Reads only; ValidationError for a bad request."""
    request.validate(topology)
    table = _table(topology, clients, request.target_region)
    loaded = _load(table, request.run_id)
    if loaded is not None:
        _check_same_request(loaded[0], request)
        run = loaded[0]
    else:
        run = _new_run(request, read_state(table), started_at=0)
    return [steps.plan(step, request, run, topology, clients, now_ms=now_ms) for step in STEPS]
