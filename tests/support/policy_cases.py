"""Minimal inputs for the rule tests: a passing and a failing case for every rule, and builders of small stacks.

Each module's test lists its cases in a ``ResourceCases`` or ``StackCases`` per rule name; ``check_cases`` proves
that every rule of the module has both kinds, and the parametrizations below turn them into tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from policy.core import PROVIDER_TYPE, ResourceRule, Rule, StackResource, StackRule

KEY_EAST = "arn:aws:kms:us-east-1:123456789012:key/east"
KEY_WEST = "arn:aws:kms:eu-west-1:123456789012:key/west"
REGIONS = ("us-east-1", "eu-west-1")

Props = Mapping[str, Any]


@dataclass(frozen=True)
class ResourceCases:
    """Inputs a resource rule passes, as (type, props), and fails, as (type, props, a fragment of the message)."""

    passing: list[tuple[str, Props]]
    failing: list[tuple[str, Props, str]]


@dataclass(frozen=True)
class StackCases:
    """Stacks a stack rule passes, and stacks it fails with (a fragment of) the message."""

    passing: list[list[StackResource]]
    failing: list[tuple[list[StackResource], str]]


Cases = Mapping[str, ResourceCases | StackCases]


def doc(*statements: Mapping[str, Any]) -> str:
    """A policy document as the engine gives it: JSON text."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def provider(region: str, role: str = "primary") -> StackResource:
    tags = json.dumps({"tags": {"region": region, "role": role}})
    return StackResource(
        PROVIDER_TYPE, f"aws-{region}", f"urn:provider::aws-{region}", {"region": region, "defaultTags": tags}, region
    )


def resource(
    type_: str, name: str, region: str | None = "us-east-1", /, *, depends_on: Iterable[StackResource] = (), **props: Any
) -> StackResource:
    """A stack resource; its props are the keyword arguments (``name`` too: positional parameters are apart)."""
    return StackResource(type_, name, f"urn:{type_}::{name}", props, region, tuple(d.urn for d in depends_on))


def stack(*resources: StackResource, regions: Iterable[str] = REGIONS) -> list[StackResource]:
    """The resources with a provider per region."""
    return [*(provider(r) for r in regions), *resources]


def check_cases(rules: Iterable[Rule], cases: Cases) -> None:
    """Every rule has cases of its kind, passing and failing."""
    rules = list(rules)
    assert sorted(cases) == sorted(r.name for r in rules)
    for rule in rules:
        case = cases[rule.name]
        assert isinstance(case, ResourceCases if isinstance(rule, ResourceRule) else StackCases), rule.name
        assert case.passing and case.failing, rule.name


def passing(rules: Iterable[Rule], cases: Cases) -> list[Any]:
    by_name = {r.name: r for r in rules}
    params = []
    for name, case in cases.items():
        for index, item in enumerate(case.passing):
            params.append(pytest.param(by_name[name], item, id=f"{name}-{index}"))
    return params


def failing(rules: Iterable[Rule], cases: Cases) -> list[Any]:
    by_name = {r.name: r for r in rules}
    params = []
    for name, case in cases.items():
        for index, item in enumerate(case.failing):
            params.append(pytest.param(by_name[name], item, id=f"{name}-{index}"))
    return params


def violations(rule: Rule, item: Any) -> list[str]:
    """The messages of ``rule`` on a case item (a (type, props[, fragment]) tuple or a stack)."""
    if isinstance(rule, StackRule):
        resources = item[0] if isinstance(item, tuple) else item
        return [v.message for v in rule.validate(resources)]
    return rule.validate(item[0], item[1])


def run_passing(rule: Rule, item: Any) -> None:
    if isinstance(rule, ResourceRule):
        # A resource of a type the rule does not check would pass without being checked.
        assert item[0] in rule.resource_types, (rule.name, item[0])
    assert violations(rule, item) == [], rule.name


def run_failing(rule: Rule, item: Any) -> None:
    fragment = item[-1]
    messages = violations(rule, item)
    assert any(fragment in m for m in messages), (rule.name, fragment, messages)
