"""The failover runbook's state machine, in the Amazon States Language (pure: no Pulumi, no AWS).

Per step of ``functions.runbook.model.STEPS``, four states (``step_states``): the Task invoking the runbook function,
a Choice (done: the next step; else wait as the step asks, or pause), and the two Waits back to the Task.
``StepRetryableError`` and Lambda's transient errors are retried with backoff; anything else ends in ``failed``.
Why: docs/design/runbook.md.
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


def _task_state(
    step: str, function_arn: str, task_timeout_seconds: int | None, step_retry: RetryPolicy, lambda_retry: RetryPolicy
) -> State:
    """One attempt at ``step``: its result kept field by field, retryable errors retried, anything else failed."""
    task: State = {
        "Type": "Task",
        "Comment": f"One attempt at the {step} step (idempotent).",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function_arn, "Payload": {"step": step, "request.$": "$.request"}},
        "ResultSelector": {f"{field}.$": f"$.Payload.{field}" for field in RESULT_FIELDS},
        "ResultPath": result_path(step),
        "Retry": [step_retry.retrier((STEP_RETRYABLE_ERROR,)), lambda_retry.retrier(LAMBDA_SERVICE_ERRORS)],
        "Catch": [{"ErrorEquals": [ALL_ERRORS], "ResultPath": ERROR_PATH, "Next": FAILED_STATE}],
        "Next": step_states(step).check,
    }
    if task_timeout_seconds is not None:
        task["TimeoutSeconds"] = task_timeout_seconds
    return task


def _step_loop_states(step: str, task: State, following: str) -> dict[str, State]:
    """The four states of ``step``: the task, the choice (done: ``following``; else wait as asked, or pause), and
    the two waits back to the task."""
    names = step_states(step)
    check: State = {
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
    return {
        names.task: task,
        names.check: check,
        names.wait: {"Type": "Wait", "SecondsPath": f"{result_path(step)}.waitSeconds", "Next": names.task},
        names.pause: {"Type": "Wait", "Seconds": PAUSE_SECONDS, "Next": names.task},
    }


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
        following = step_states(STEPS[index + 1]).task if index + 1 < len(STEPS) else SUCCEEDED_STATE
        task = _task_state(step, function_arn, task_timeout_seconds, step_retry, lambda_retry)
        states.update(_step_loop_states(step, task, following))
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
