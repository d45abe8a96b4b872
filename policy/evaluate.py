"""The policy pack, offline: every rule of ``policy.pack`` over a mocks-harness run, as the engine would run it.

Used by the tests and by ``ops plan``'s report. It plays the engine's part: props behind the engine's read-only
proxy with preview unknowns marked (a rule that reads one is reported as not run), each resource's region, and the
stack's policy config ``policy/config/<stack>.json``. See docs/design/policy-pack.md.

Example:
    >>> report = evaluate(run_program("prod", preview=False))
    >>> report.passed, len(report.rules)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pulumi.output import Unknown
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from planning.harness import ProgramRun, Resource
from planning.harness import Unknown as HarnessUnknown
from policy.core import ResourceRule, StackResource, resource_region
from policy.pack import PACK_NAME, RULES

CONFIG_DIR = Path(__file__).resolve().parent / "config"
STACK_TYPE = "pulumi:pulumi:Stack"
MANDATORY = "mandatory"
ADVISORY = "advisory"
DISABLED = "disabled"
LEVELS = (ADVISORY, MANDATORY, DISABLED)
# How the engine marks a secret inside props (pulumi_policy.deserialize unwraps it the same way).
_SECRET_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"


class RuleSummary(NamedTuple):
    name: str
    description: str
    level: str
    """``mandatory``, ``advisory`` or ``disabled`` (by the stack's policy config)."""


class Violation(NamedTuple):
    rule: str
    resource_type: str
    resource_name: str
    message: str
    level: str


class NotRun(NamedTuple):
    """A rule that could not check a resource (or the stack) because it read a value known only after the update."""

    rule: str
    resource_type: str
    resource_name: str
    reason: str


class PolicyConfigError(ValueError):
    """A stack's policy config names an unknown rule or enforcement level."""


@dataclass(frozen=True)
class PolicyReport:
    stack: str
    rules: list[RuleSummary]
    violations: list[Violation]
    not_run: list[NotRun] = field(default_factory=list)
    config_file: str | None = None

    @property
    def passed(self) -> bool:
        """No mandatory violation (advisory ones only warn, as in ``pulumi preview``)."""
        return not self.mandatory_violations()

    def mandatory_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.level == MANDATORY]

    def summary_lines(self) -> list[str]:
        counts = {level: sum(1 for r in self.rules if r.level == level) for level in LEVELS}
        disabled = f", {counts[DISABLED]} disabled by {self.config_file}" if counts[DISABLED] else ""
        mandatory = len(self.mandatory_violations())
        verdict = "passed" if self.passed else f"FAILED: {mandatory} mandatory violation{'s' if mandatory != 1 else ''}"
        lines = [
            f"policy pack {PACK_NAME} on {self.stack}: {len(self.rules)} rules "
            f"({counts[MANDATORY]} mandatory, {counts[ADVISORY]} advisory{disabled}); {verdict}"
        ]
        for v in sorted(self.violations, key=lambda v: (v.level != MANDATORY, v.rule, v.resource_name)):
            lines.append(f"  {v.level} {v.rule}: {v.resource_type} {v.resource_name}: {v.message}")
        if self.not_run:
            rules = sorted({n.rule for n in self.not_run})
            lines.append(
                f"  {len(self.not_run)} checks of {len(rules)} rules could not run (values known only after the update): "
                + ", ".join(rules)
            )
        return lines


def evaluate(run: ProgramRun, *, config: Mapping[str, Any] | None = None) -> PolicyReport:
    """Run every rule of the pack over ``run``.

    ``config`` is a policy config (as in ``--policy-pack-config``); without it, ``policy/config/<stack>.json`` is
    read when it exists. Raises ``PolicyConfigError`` for a config naming an unknown rule or level.
    """
    config_file: str | None = None
    if config is None:
        path = CONFIG_DIR / f"{run.stack}.json"
        if path.exists():
            config = json.loads(path.read_text())
            config_file = f"policy/config/{path.name}"
    levels = enforcement_levels(config or {})
    resources = [_stack_resource(r) for r in run.resources]
    by_urn = {r.urn: r for r in resources}
    violations: list[Violation] = []
    not_run: list[NotRun] = []
    for rule in RULES:
        level = levels[rule.name]
        if level == DISABLED:
            continue
        if isinstance(rule, ResourceRule):
            for resource in resources:
                try:
                    messages = rule.validate(resource.type, resource.props)
                except UnknownValueError as unknown:
                    not_run.append(NotRun(rule.name, resource.type, resource.name, unknown.message))
                    continue
                violations += [Violation(rule.name, resource.type, resource.name, m, level) for m in messages]
            continue
        try:
            found = rule.validate(resources)
        except UnknownValueError as unknown:
            not_run.append(NotRun(rule.name, STACK_TYPE, run.stack, unknown.message))
            continue
        for violation in found:
            target = by_urn.get(violation.urn) if violation.urn else None
            resource_type, name = (target.type, target.name) if target else (STACK_TYPE, run.stack)
            violations.append(Violation(rule.name, resource_type, name, violation.message, level))
    return PolicyReport(
        stack=run.stack,
        rules=[RuleSummary(r.name, r.description, levels[r.name]) for r in RULES],
        violations=violations,
        not_run=not_run,
        config_file=config_file,
    )


def enforcement_levels(config: Mapping[str, Any]) -> dict[str, str]:
    """Each rule's enforcement level under a policy config: the rule's own, overridden by ``"all"``, overridden by
    the rule's entry (a level, or ``{"enforcementLevel": level}``)."""
    names = {rule.name for rule in RULES}
    unknown = sorted(set(config) - names - {"all"})
    if unknown:
        raise PolicyConfigError(f"policy config names unknown rules {unknown}; rules: {', '.join(sorted(names))}")
    configured = {key: _level(key, value) for key, value in config.items()}
    return {rule.name: configured.get(rule.name, configured.get("all", rule.enforcement_level.value)) for rule in RULES}


def _level(key: str, value: Any) -> str:
    if isinstance(value, Mapping):
        extra = sorted(set(value) - {"enforcementLevel"})
        if extra:
            raise PolicyConfigError(f"policy config {key}: unknown settings {extra}; the rules take only enforcementLevel")
        value = value.get("enforcementLevel")
    if value not in LEVELS:
        raise PolicyConfigError(f"policy config {key}: enforcement level {value!r}; allowed: {', '.join(LEVELS)}")
    return str(value)


def engine_props(value: Any) -> Any:
    """Harness inputs as the engine gives them to a policy pack: secrets unwrapped, unknowns as the unknown marker."""
    if isinstance(value, Mapping):
        if value.get(_SECRET_KEY) == _SECRET_SIGNATURE:
            return engine_props(value.get("value"))
        return {str(key): engine_props(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [engine_props(item) for item in value]
    if isinstance(value, Unknown | HarnessUnknown):
        return UNKNOWN_STRING_VALUE
    return value


def _stack_resource(resource: Resource) -> StackResource:
    props = engine_props(resource.inputs)
    return StackResource(
        type=resource.type,
        name=resource.name,
        urn=resource.urn,
        props=unknown_checking_proxy(props),
        region=resource_region(props, resource.region),
        dependencies=resource.dependencies,
    )
