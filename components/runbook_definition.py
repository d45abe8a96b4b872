"""The failover runbook's state machine, in the Amazon States Language (pure: no Pulumi, no AWS).

One execution runs the steps of ``functions.runbook.model.STEPS`` in order, each through the runbook function
(``functions.runbook.handler.handle``). Per step, four states (``step_states``):

``<step>`` (Task)
    Invokes the function with ``{"step": "<step>", "request": $.request}`` and keeps its ``StepResult``
    (``step``, ``done``, ``waitSeconds``, ``detail``) at ``$.steps.<step>``. Every field is selected by name, so a
    result that breaks the contract fails the state rather than looping on a missing ``done``.
``<step>_done`` (Choice)
    ``done`` true: on to the next step (after the last, ``succeeded``). Not done with ``waitSeconds`` of 1 or more:
    ``<step>_wait``. Not done without a usable wait: ``<step>_pause``.
``<step>_wait`` (Wait, ``SecondsPath`` ``$.steps.<step>.waitSeconds``) and ``<step>_pause`` (Wait, ``PAUSE_SECONDS``)
    Back to ``<step>``: a step that is not done yet (replication still draining, Aurora still switching over) is
    attempted again, as often as it asks, within the execution's ``TimeoutSeconds``. The pause exists because a Wait
    state cannot wait a computed 0 or a missing number, and a step that asks for neither must not spin.

Errors (the class names the function raises, ``functions.runbook.model``):

- ``StepRetryableError`` (throttling, a region not answering yet) and the Lambda service's transient errors
  (``LAMBDA_SERVICE_ERRORS``, the list AWS recommends retrying for a ``lambda:invoke`` task) are retried with
  exponential backoff and jitter. Every step is idempotent, so a retry after an attempt that did act is harmless.
- ``StepRefusedError`` (the state moved under the runbook, a planned drain ran out of time, an invalid request) and
  everything else is *not* retried: ``States.ALL`` is caught into ``$.error`` and the execution ends in the Fail
  state ``failed``, whose error and cause are the function's. An operator decides; running the same request again
  resumes the run from its durable record.

The first state, ``start`` (Pass), keeps only ``request`` from the execution input and starts an empty ``steps``
object, so every Task writes its result into a known shape whatever else the caller sent.

Example:
    >>> definition = state_machine_definition("arn:aws:lambda:us-east-1:123456789012:function:multi-region-prod-runbook",
    ...                                       timeout_seconds=3600)
    >>> definition["StartAt"], definition["States"]["fence"]["Next"]
    ('start', 'fence_done')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.runbook.model import STEPS, StepRetryableError

State = dict[str, Any]

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
# The error name Lambda reports for the exception the function raises: the class name, so a rename follows.
STEP_RETRYABLE_ERROR = StepRetryableError.__name__
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
ALL_ERRORS = "States.ALL"

START_STATE = "start"
SUCCEEDED_STATE = "succeeded"
FAILED_STATE = "failed"
ERROR_PATH = "$.error"
PAUSE_SECONDS = 5
# The fields of a StepResult.to_dict(), selected one by one from the function's payload.
RESULT_FIELDS = ("step", "done", "waitSeconds", "detail")


@dataclass(frozen=True)
class RetryPolicy:
    """One ``Retry`` rule's backoff: ``interval_seconds`` before the first retry, times ``backoff_rate`` after each,
    at most ``max_delay_seconds`` apart, ``max_attempts`` retries in all, with full jitter (so runbooks in several
    regions, or many retries after a throttle, do not retry in step)."""

    interval_seconds: int
    max_attempts: int
    backoff_rate: float
    max_delay_seconds: int

    def retrier(self, errors: tuple[str, ...]) -> State:
        return {
            "ErrorEquals": list(errors),
            "IntervalSeconds": self.interval_seconds,
            "MaxAttempts": self.max_attempts,
            "BackoffRate": self.backoff_rate,
            "MaxDelaySeconds": self.max_delay_seconds,
            "JitterStrategy": "FULL",
        }


# A step that says "try again" is usually waiting on another region or on a throttle: give it a few minutes.
STEP_RETRY = RetryPolicy(interval_seconds=2, max_attempts=8, backoff_rate=2.0, max_delay_seconds=60)
# Lambda's own transient errors clear in seconds.
LAMBDA_RETRY = RetryPolicy(interval_seconds=1, max_attempts=6, backoff_rate=2.0, max_delay_seconds=30)


@dataclass(frozen=True)
class StepStates:
    """The names of a step's states: what an operator looks for in the execution history."""

    task: str
    check: str
    wait: str
    pause: str


def step_states(step: str) -> StepStates:
    """The state names of ``step`` (one of ``STEPS``).

    Example:
        >>> step_states("drain")
        StepStates(task='drain', check='drain_done', wait='drain_wait', pause='drain_pause')
    """
    if step not in STEPS:
        raise ValueError(f"step {step!r}; allowed: {', '.join(STEPS)}")
    return StepStates(task=step, check=f"{step}_done", wait=f"{step}_wait", pause=f"{step}_pause")


def state_names() -> tuple[str, ...]:
    """Every state of the machine, in the order an execution that never waits meets them (then ``failed``)."""
    names = [START_STATE]
    for step in STEPS:
        states = step_states(step)
        names += [states.task, states.check, states.wait, states.pause]
    return (*names, SUCCEEDED_STATE, FAILED_STATE)


def result_path(step: str) -> str:
    """Where the execution keeps ``step``'s last ``StepResult``."""
    return f"$.steps.{step}"


def state_machine_definition(
    function_arn: str,
    *,
    timeout_seconds: int,
    task_timeout_seconds: int | None = None,
    step_retry: RetryPolicy = STEP_RETRY,
    lambda_retry: RetryPolicy = LAMBDA_RETRY,
) -> dict[str, Any]:
    """The runbook's state machine over the function ``function_arn`` (see the module notes).

    Parameters
    ----------
    function_arn: the runbook function, invoked unqualified (its role is granted exactly this ARN).
    timeout_seconds: the whole execution's bound; past it the execution times out (alarmed).
    task_timeout_seconds: one attempt's bound, a little over the function's own timeout; ``None`` leaves Step
        Functions' default.
    step_retry, lambda_retry: the backoff of ``StepRetryableError`` and of the Lambda service errors.
    """
    if not function_arn:
        raise ValueError("function_arn: got an empty string; allowed: the runbook function's ARN")
    if timeout_seconds < 1:
        raise ValueError(f"timeout_seconds: got {timeout_seconds}; allowed: 1 or more")
    states: dict[str, State] = {
        START_STATE: {
            "Type": "Pass",
            "Comment": "Keep the request; start an empty record of step results.",
            "Parameters": {"request.$": "$.request", "steps": {}},
            "Next": STEPS[0],
        }
    }
    for index, step in enumerate(STEPS):
        names = step_states(step)
        following = step_states(STEPS[index + 1]).task if index + 1 < len(STEPS) else SUCCEEDED_STATE
        task: State = {
            "Type": "Task",
            "Comment": f"One attempt at the {step} step (idempotent).",
            "Resource": LAMBDA_INVOKE,
            "Parameters": {"FunctionName": function_arn, "Payload": {"step": step, "request.$": "$.request"}},
            "ResultSelector": {f"{field}.$": f"$.Payload.{field}" for field in RESULT_FIELDS},
            "ResultPath": result_path(step),
            "Retry": [step_retry.retrier((STEP_RETRYABLE_ERROR,)), lambda_retry.retrier(LAMBDA_SERVICE_ERRORS)],
            "Catch": [{"ErrorEquals": [ALL_ERRORS], "ResultPath": ERROR_PATH, "Next": FAILED_STATE}],
            "Next": names.check,
        }
        if task_timeout_seconds is not None:
            task["TimeoutSeconds"] = task_timeout_seconds
        states[names.task] = task
        states[names.check] = {
            "Type": "Choice",
            "Choices": [
                {"Variable": f"{result_path(step)}.done", "BooleanEquals": True, "Next": following},
                {
                    "And": [
                        {"Variable": f"{result_path(step)}.waitSeconds", "IsNumeric": True},
                        {"Variable": f"{result_path(step)}.waitSeconds", "NumericGreaterThanEquals": 1},
                    ],
                    "Next": names.wait,
                },
            ],
            "Default": names.pause,
        }
        states[names.wait] = {"Type": "Wait", "SecondsPath": f"{result_path(step)}.waitSeconds", "Next": names.task}
        states[names.pause] = {"Type": "Wait", "Seconds": PAUSE_SECONDS, "Next": names.task}
    states[SUCCEEDED_STATE] = {"Type": "Succeed"}
    states[FAILED_STATE] = {
        "Type": "Fail",
        "Comment": "A step refused, or failed past its retries: the function's error and message.",
        "ErrorPath": f"{ERROR_PATH}.Error",
        "CausePath": f"{ERROR_PATH}.Cause",
    }
    return {
        "Comment": f"Failover runbook: {' -> '.join(STEPS)}; every step idempotent, the run resumable.",
        "StartAt": START_STATE,
        "TimeoutSeconds": timeout_seconds,
        "States": states,
    }
