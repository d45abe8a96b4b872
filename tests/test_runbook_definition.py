"""The failover runbook's state machine (components/runbook_definition.py): a valid Amazon States Language document
(checked by the structural validator of tests/support/asl.py: AWS's validator needs the internet), every step in
order, every wait looping back, retries only for what retrying can fix; and executed by a small interpreter of the
ASL subset it uses, so the behaviour (waits, retries, refusals) is tested, not only the shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from components.runbook_definition import (
    FAILED_STATE,
    LAMBDA_SERVICE_ERRORS,
    PAUSE_SECONDS,
    START_STATE,
    STEP_RETRY,
    SUCCEEDED_STATE,
    RetryPolicy,
    result_path,
    state_machine_definition,
    state_names,
    step_states,
)
from functions.runbook.model import STEPS, StepRefusedError, StepResult, StepRetryableError
from tests.support.asl import validate_asl

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:multi-region-prod-runbook"
REQUEST = {"runId": "drill-1", "targetRegion": "eu-west-1", "planned": True, "allowDataLoss": False, "requestedBy": "test"}


def definition(**kwargs: Any) -> dict[str, Any]:
    return state_machine_definition(ARN, timeout_seconds=3900, task_timeout_seconds=90, **kwargs)


# ---- an interpreter of the ASL subset the definition uses -------------------------------------------------


class StatesRuntimeError(Exception):
    """States.Runtime: not catchable, the execution fails (e.g. a path that selects nothing)."""


def _get(data: Any, path: str) -> Any:
    node = data
    for part in path.removeprefix("$").strip(".").split(".") if path != "$" else []:
        if not isinstance(node, dict) or part not in node:
            raise StatesRuntimeError(f"the path {path} selects nothing")
        node = node[part]
    return node


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    parts = path.removeprefix("$.").split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return data


def _render(template: Any, data: Any) -> Any:
    if isinstance(template, dict):
        return {
            (key[:-2] if key.endswith(".$") else key): (_get(data, value) if key.endswith(".$") else _render(value, data))
            for key, value in template.items()
        }
    return template


def _matches(rule: Mapping[str, Any], data: Any) -> bool:
    if "And" in rule:
        return all(_matches(r, data) for r in rule["And"])
    try:
        value = _get(data, rule["Variable"])
    except StatesRuntimeError:
        return False
    if "BooleanEquals" in rule:
        return value is rule["BooleanEquals"]
    if "IsNumeric" in rule:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if "NumericGreaterThanEquals" in rule:
        return isinstance(value, int | float) and value >= rule["NumericGreaterThanEquals"]
    raise AssertionError(f"the interpreter does not know {rule}")


@dataclass
class Execution:
    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[str] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)
    invocations: list[dict[str, Any]] = field(default_factory=list)
    retries: list[int] = field(default_factory=list)


def execute(
    machine: Mapping[str, Any], data: Any, invoke: Callable[[dict[str, Any]], dict[str, Any]], limit: int = 500
) -> Execution:
    """Run ``machine`` on ``data``; ``invoke`` plays the runbook function (its payload in, its result out, or it raises).
    Retry intervals are recorded, not slept."""
    run = Execution()
    name = machine["StartAt"]
    states = machine["States"]
    try:
        for _ in range(limit):
            state = states[name]
            run.history.append(name)
            kind = state["Type"]
            if kind == "Pass":
                data = _render(state["Parameters"], data)
                name = state["Next"]
            elif kind == "Task":
                name, data = _task(state, data, invoke, run)
                if name == "":
                    return run
            elif kind == "Choice":
                name = next((rule["Next"] for rule in state["Choices"] if _matches(rule, data)), state["Default"])
            elif kind == "Wait":
                seconds = state["Seconds"] if "Seconds" in state else _get(data, state["SecondsPath"])
                if not (isinstance(seconds, int) and seconds >= 0):
                    raise StatesRuntimeError(f"Wait {seconds!r}")
                run.waits.append(seconds)
                name = state["Next"]
            elif kind == "Succeed":
                run.status, run.output = "SUCCEEDED", data
                return run
            elif kind == "Fail":
                run.status = "FAILED"
                run.error, run.cause = _get(data, state["ErrorPath"]), _get(data, state["CausePath"])
                return run
        raise AssertionError("the execution did not end")
    except StatesRuntimeError as failure:
        run.status, run.error, run.cause = "FAILED", "States.Runtime", str(failure)
        return run


def _task(
    state: Mapping[str, Any], data: Any, invoke: Callable[[dict[str, Any]], dict[str, Any]], run: Execution
) -> tuple[str, Any]:
    parameters = _render(state["Parameters"], data)
    assert parameters["FunctionName"] == ARN
    attempts = [0] * len(state["Retry"])
    while True:
        run.invocations.append(parameters["Payload"])
        try:
            payload = invoke(parameters["Payload"])
        except Exception as error:
            kind = type(error).__name__
            index = next((i for i, r in enumerate(state["Retry"]) if kind in r["ErrorEquals"]), None)
            if index is not None and attempts[index] < state["Retry"][index]["MaxAttempts"]:
                attempts[index] += 1
                run.retries.append(attempts[index])
                continue
            catcher = next(c for c in state["Catch"] if "States.ALL" in c["ErrorEquals"] or kind in c["ErrorEquals"])
            return catcher["Next"], _set(data, catcher["ResultPath"], {"Error": kind, "Cause": str(error)})
        result = _render(state["ResultSelector"], {"Payload": payload})
        return state["Next"], _set(data, state["ResultPath"], result)


def done(step: str) -> dict[str, Any]:
    return StepResult(step=step, done=True, detail={"ok": True}).to_dict()


# ---- shape ------------------------------------------------------------------------------------------------


def test_the_definition_is_valid_asl() -> None:
    assert validate_asl(definition()) == []
    assert validate_asl(state_machine_definition(ARN, timeout_seconds=60)) == []


def test_the_validator_finds_what_aws_would_refuse() -> None:
    broken = definition()
    broken["States"]["fence"]["Next"] = "nowhere"
    del broken["States"]["fence_pause"]["Next"]
    broken["States"]["drain_wait"]["Seconds"] = 3
    broken["States"]["stray"] = {"Type": "Succeed"}
    problems = "\n".join(validate_asl(broken))
    for fragment in (
        "fence: 'nowhere' is not a state",
        "fence_pause: exactly one of Next and End",
        "drain_wait: exactly one of Seconds",
        "stray: unreachable",
    ):
        assert fragment in problems


def test_every_state_is_named_by_state_names() -> None:
    machine = definition()
    assert list(machine["States"]) == list(state_names())
    assert machine["StartAt"] == START_STATE == state_names()[0]
    assert machine["TimeoutSeconds"] == 3900
    with pytest.raises(ValueError, match="allowed: fence, drain, promote, shift_traffic, activate"):
        step_states("reboot")


def test_the_steps_follow_each_other_in_order_to_succeed() -> None:
    states = definition()["States"]
    assert states[START_STATE] == {
        "Type": "Pass",
        "Comment": states[START_STATE]["Comment"],
        "Parameters": {"request.$": "$.request", "steps": {}},
        "Next": STEPS[0],
    }
    following = [*STEPS[1:], SUCCEEDED_STATE]
    for step, after in zip(STEPS, following, strict=True):
        names = step_states(step)
        assert states[names.task]["Next"] == names.check
        (done_rule, wait_rule) = states[names.check]["Choices"]
        assert done_rule == {"Variable": f"$.steps.{step}.done", "BooleanEquals": True, "Next": after}
        assert wait_rule["Next"] == names.wait
        assert states[names.check]["Default"] == names.pause
    assert states[SUCCEEDED_STATE] == {"Type": "Succeed"}


def test_every_wait_loops_back_to_its_task() -> None:
    states = definition()["States"]
    for step in STEPS:
        names = step_states(step)
        assert states[names.wait] == {"Type": "Wait", "SecondsPath": f"$.steps.{step}.waitSeconds", "Next": names.task}
        assert states[names.pause] == {"Type": "Wait", "Seconds": PAUSE_SECONDS, "Next": names.task}


def test_every_task_invokes_the_function_with_its_step_and_the_request() -> None:
    states = definition()["States"]
    for step in STEPS:
        task = states[step]
        assert task["Resource"] == "arn:aws:states:::lambda:invoke"
        assert task["Parameters"] == {"FunctionName": ARN, "Payload": {"step": step, "request.$": "$.request"}}
        assert task["ResultSelector"] == {
            "step.$": "$.Payload.step",
            "done.$": "$.Payload.done",
            "waitSeconds.$": "$.Payload.waitSeconds",
            "detail.$": "$.Payload.detail",
        }
        assert task["ResultPath"] == result_path(step) == f"$.steps.{step}"
        assert task["TimeoutSeconds"] == 90
    assert "TimeoutSeconds" not in state_machine_definition(ARN, timeout_seconds=60)["States"]["fence"]


def test_every_task_retries_what_retrying_can_fix_and_catches_everything_else() -> None:
    for step in STEPS:
        task = definition()["States"][step]
        step_retrier, lambda_retrier = task["Retry"]
        assert step_retrier["ErrorEquals"] == ["StepRetryableError"]
        assert lambda_retrier["ErrorEquals"] == list(LAMBDA_SERVICE_ERRORS)
        assert LAMBDA_SERVICE_ERRORS == (
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        )
        for retrier in task["Retry"]:
            assert retrier["BackoffRate"] > 1 and retrier["MaxAttempts"] >= 1 and retrier["JitterStrategy"] == "FULL"
            assert "StepRefusedError" not in retrier["ErrorEquals"] and "States.ALL" not in retrier["ErrorEquals"]
        assert task["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED_STATE}]
    assert definition()["States"][FAILED_STATE] == {
        "Type": "Fail",
        "Comment": definition()["States"][FAILED_STATE]["Comment"],
        "ErrorPath": "$.error.Error",
        "CausePath": "$.error.Cause",
    }


def test_backoff_is_configurable() -> None:
    slow = RetryPolicy(interval_seconds=10, max_attempts=2, backoff_rate=3.0, max_delay_seconds=120)
    (retrier, _) = definition(step_retry=slow)["States"]["drain"]["Retry"]
    backoff = (retrier["IntervalSeconds"], retrier["MaxAttempts"], retrier["BackoffRate"], retrier["MaxDelaySeconds"])
    assert backoff == (10, 2, 3.0, 120)


@pytest.mark.parametrize(("arn", "timeout", "message"), [("", 60, "function_arn"), (ARN, 0, "timeout_seconds")])
def test_bad_arguments_are_refused(arn: str, timeout: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        state_machine_definition(arn, timeout_seconds=timeout)


# ---- behaviour --------------------------------------------------------------------------------------------


def test_a_run_whose_steps_are_done_at_once_visits_every_step_in_order() -> None:
    run = execute(definition(), {"request": REQUEST, "extra": "dropped"}, lambda payload: done(payload["step"]))
    assert run.status == "SUCCEEDED"
    assert [p["step"] for p in run.invocations] == list(STEPS)
    assert all(p["request"] == REQUEST for p in run.invocations)
    expected = [START_STATE]
    for step in STEPS:
        expected += [step, f"{step}_done"]
    assert run.history == [*expected, SUCCEEDED_STATE]
    assert run.output == {"request": REQUEST, "steps": {step: done(step) for step in STEPS}}


def test_a_step_that_is_not_done_is_attempted_again_after_the_wait_it_asks_for() -> None:
    answers = iter([StepResult("drain", False, 10), StepResult("drain", False, 0), StepResult("drain", True)])

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        return next(answers).to_dict() if payload["step"] == "drain" else done(payload["step"])

    run = execute(definition(), {"request": REQUEST}, invoke)
    assert run.status == "SUCCEEDED"
    assert [p["step"] for p in run.invocations] == ["fence", "drain", "drain", "drain", "promote", "shift_traffic", "activate"]
    assert run.waits == [10, PAUSE_SECONDS], "a wait of 0 (or none) pauses rather than spinning"
    assert "drain_wait" in run.history and "drain_pause" in run.history


def test_a_retryable_error_is_retried_and_the_step_goes_on() -> None:
    failures = iter([True, True, False])

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["step"] == "promote" and next(failures):
            raise StepRetryableError("Aurora is busy")
        return done(payload["step"])

    run = execute(definition(), {"request": REQUEST}, invoke)
    assert run.status == "SUCCEEDED"
    assert run.retries == [1, 2]
    assert [p["step"] for p in run.invocations].count("promote") == 3


def test_a_retryable_error_that_persists_fails_the_run_after_the_retries() -> None:
    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        raise StepRetryableError("the source region does not answer")

    run = execute(definition(), {"request": REQUEST}, invoke)
    assert (run.status, run.error, run.cause) == ("FAILED", "StepRetryableError", "the source region does not answer")
    assert len(run.invocations) == 1 + STEP_RETRY.max_attempts


def test_a_refusal_fails_the_run_at_once_with_its_message() -> None:
    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["step"] == "drain":
            raise StepRefusedError("drain: replication did not catch up in 300 s; a planned switchover stops")
        return done(payload["step"])

    run = execute(definition(), {"request": REQUEST}, invoke)
    assert (run.status, run.error) == ("FAILED", "StepRefusedError")
    assert run.cause is not None and "did not catch up" in run.cause
    assert [p["step"] for p in run.invocations] == ["fence", "drain"], "never retried, nothing after it runs"
    assert run.history[-1] == FAILED_STATE


def test_a_result_that_breaks_the_contract_fails_the_run() -> None:
    run = execute(definition(), {"request": REQUEST}, lambda payload: {"step": payload["step"], "waitSeconds": 0, "detail": {}})
    assert (run.status, run.error) == ("FAILED", "States.Runtime")
    assert len(run.invocations) == 1
