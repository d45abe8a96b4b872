"""A structural validator of the Amazon States Language, for the subset Step Functions takes (AWS's own validator
needs the internet): fields per state type, transitions to real states, reference paths, retriers and catchers,
choice rules, and every state reachable from ``StartAt``."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

STATE_FIELDS: dict[str, set[str]] = {
    "Pass": {"Type", "Comment", "Parameters", "Result", "ResultPath", "InputPath", "OutputPath", "Next", "End"},
    "Task": {
        "Type",
        "Comment",
        "Resource",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "InputPath",
        "OutputPath",
        "Retry",
        "Catch",
        "TimeoutSeconds",
        "HeartbeatSeconds",
        "Next",
        "End",
    },
    "Choice": {"Type", "Comment", "Choices", "Default", "InputPath", "OutputPath"},
    "Wait": {"Type", "Comment", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "InputPath", "OutputPath", "Next", "End"},
    "Succeed": {"Type", "Comment", "InputPath", "OutputPath"},
    "Fail": {"Type", "Comment", "Error", "ErrorPath", "Cause", "CausePath"},
}
RETRIER_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy"}
CATCHER_FIELDS = {"ErrorEquals", "ResultPath", "Next"}
COMPARISONS = {"BooleanEquals", "IsNumeric", "NumericGreaterThanEquals", "NumericEquals", "StringEquals", "IsPresent"}
PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def validate_asl(machine: Mapping[str, Any]) -> list[str]:
    """Every problem found in ``machine`` (empty when it is well formed for the subset of ASL Step Functions takes)."""
    problems: list[str] = []
    states = machine.get("States")
    if set(machine) - {"Comment", "StartAt", "States", "TimeoutSeconds", "Version"}:
        problems.append(f"unknown top-level fields {set(machine) - {'Comment', 'StartAt', 'States', 'TimeoutSeconds'}}")
    if not isinstance(states, dict) or not states:
        return [*problems, "States must be a non-empty object"]
    if machine.get("StartAt") not in states:
        problems.append(f"StartAt {machine.get('StartAt')!r} is not a state")
    timeout = machine.get("TimeoutSeconds")
    if timeout is not None and not (isinstance(timeout, int) and timeout > 0):
        problems.append(f"TimeoutSeconds {timeout!r} must be a positive integer")
    for name, state in states.items():
        problems += _state_problems(name, state, states)
    reachable = set(_reachable(states, machine.get("StartAt")))
    problems += [f"{name}: unreachable from StartAt" for name in states if name not in reachable]
    if not any(s.get("Type") in ("Succeed", "Fail") or s.get("End") for s in states.values()):
        problems.append("no terminal state")
    return problems


def _target(states: Mapping[str, Any], where: str, name: Any) -> list[str]:
    return [] if name in states else [f"{where}: {name!r} is not a state"]


def _state_problems(name: str, state: Mapping[str, Any], states: Mapping[str, Any]) -> list[str]:
    """The problems of one state: its name, type and fields, then what its type asks."""
    problems: list[str] = []
    kind = state.get("Type")
    if not 1 <= len(name) <= 80:
        problems.append(f"state name {name!r}: 1 to 80 characters")
    if kind not in STATE_FIELDS:
        return [*problems, f"{name}: unknown Type {kind!r}"]
    if set(state) - STATE_FIELDS[kind]:
        problems.append(f"{name}: fields not allowed in a {kind}: {sorted(set(state) - STATE_FIELDS[kind])}")
    if kind in ("Pass", "Task", "Wait"):
        if ("Next" in state) == bool(state.get("End")):
            problems.append(f"{name}: exactly one of Next and End")
        if "Next" in state:
            problems += _target(states, name, state["Next"])
    for key in ("ResultPath", "InputPath", "OutputPath", "SecondsPath", "ErrorPath", "CausePath"):
        if key in state and not PATH.match(state[key]):
            problems.append(f"{name}: {key} {state[key]!r} is not a reference path")
    for key in ("Parameters", "ResultSelector"):
        problems += [f"{name}: {key} {p}" for p in _template_problems(state.get(key, {}))]
    checks = {"Task": _task_problems, "Choice": _choice_problems, "Wait": _wait_problems, "Fail": _fail_problems}
    if kind in checks:
        problems += checks[kind](name, state, states)
    return problems


def _task_problems(name: str, state: Mapping[str, Any], states: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if not str(state.get("Resource", "")).startswith("arn:"):
        problems.append(f"{name}: Resource must be an ARN")
    for retrier in state.get("Retry", []):
        problems += [f"{name}: Retry {p}" for p in _error_list_problems(retrier.get("ErrorEquals"))]
        if set(retrier) - RETRIER_FIELDS:
            problems.append(f"{name}: Retry fields {sorted(set(retrier) - RETRIER_FIELDS)}")
        if retrier.get("MaxAttempts", 3) < 0 or retrier.get("BackoffRate", 2.0) < 1.0:
            problems.append(f"{name}: Retry MaxAttempts >= 0 and BackoffRate >= 1")
    catchers = state.get("Catch", [])
    for index, catcher in enumerate(catchers):
        problems += [f"{name}: Catch {p}" for p in _error_list_problems(catcher.get("ErrorEquals"))]
        if "States.ALL" in catcher.get("ErrorEquals", []) and index != len(catchers) - 1:
            problems.append(f"{name}: a States.ALL catcher must be the last")
        if set(catcher) - CATCHER_FIELDS:
            problems.append(f"{name}: Catch fields {sorted(set(catcher) - CATCHER_FIELDS)}")
        problems += _target(states, f"{name} Catch", catcher.get("Next"))
    return problems


def _choice_problems(name: str, state: Mapping[str, Any], states: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if not state.get("Choices"):
        problems.append(f"{name}: Choices must not be empty")
    for rule in state.get("Choices", []):
        problems += [f"{name}: {p}" for p in _rule_problems(rule, top=True)]
        problems += _target(states, f"{name} choice", rule.get("Next"))
    if "Default" in state:
        problems += _target(states, f"{name} Default", state["Default"])
    return problems


def _wait_problems(name: str, state: Mapping[str, Any], states: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if sum(k in state for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")) != 1:
        problems.append(f"{name}: exactly one of Seconds, SecondsPath, Timestamp, TimestampPath")
    if "Seconds" in state and not (isinstance(state["Seconds"], int) and state["Seconds"] >= 0):
        problems.append(f"{name}: Seconds must be a non-negative integer")
    return problems


def _fail_problems(name: str, state: Mapping[str, Any], states: Mapping[str, Any]) -> list[str]:
    if ("Error" in state and "ErrorPath" in state) or ("Cause" in state and "CausePath" in state):
        return [f"{name}: Error/ErrorPath and Cause/CausePath are exclusive"]
    return []


def _template_problems(template: Any) -> Iterator[str]:
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                if not (isinstance(value, str) and PATH.match(value)):
                    yield f"{key}: {value!r} is not a path"
            else:
                yield from _template_problems(value)


def _error_list_problems(errors: Any) -> Iterator[str]:
    if not isinstance(errors, list) or not errors or not all(isinstance(e, str) and e for e in errors):
        yield "ErrorEquals must be a non-empty list of error names"
    elif "States.ALL" in errors and len(errors) != 1:
        yield "States.ALL must appear alone"


def _rule_problems(rule: Mapping[str, Any], *, top: bool) -> Iterator[str]:
    if top and "Next" not in rule:
        yield "a top-level choice rule needs Next"
    if not top and "Next" in rule:
        yield "a nested choice rule has no Next"
    if "And" in rule or "Or" in rule:
        for nested in rule.get("And", rule.get("Or", [])):
            yield from _rule_problems(nested, top=False)
        return
    if "Not" in rule:
        yield from _rule_problems(rule["Not"], top=False)
        return
    if not PATH.match(str(rule.get("Variable", ""))):
        yield f"Variable {rule.get('Variable')!r} is not a path"
    if len(set(rule) & COMPARISONS) != 1:
        yield f"exactly one comparison in {sorted(rule)}"


def _successors(state: Mapping[str, Any]) -> list[str]:
    found = [state["Next"]] if "Next" in state else []
    found += [c["Next"] for c in state.get("Catch", [])]
    found += [r["Next"] for r in state.get("Choices", [])]
    found += [state["Default"]] if "Default" in state else []
    return found


def _reachable(states: Mapping[str, Any], start: Any) -> Iterator[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        yield name
        todo += _successors(states[name])
