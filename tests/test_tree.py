"""The resource tree: one GlobalStack and one RegionalStack per region under the stack, and no existing resource lost.

``tests/data/urns-before-tree.json`` holds the URNs every resource had before the tree was regrouped (recorded with
``python -m tests.test_tree``, from the parent links under the mocks, in the engine's URN form). Each must still be a
resource's URN or reachable through its aliases, or Pulumi would delete the resource and create it again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planning.harness import PROVIDER_TYPE, ProgramRun, Resource
from tests.support.program import DEV_DOMAIN, THREE_REGIONS, program

BEFORE = Path(__file__).parent / "data" / "urns-before-tree.json"
# Each resource's region (its provider's), protect and retainOnDelete before the regrouping, by ``type::name``.
OPTIONS_BEFORE = Path(__file__).parent / "data" / "options-before-tree.json"
GLOBAL_STACK = "multi-region:global:GlobalStack"
REGIONAL_STACK = "multi-region:regional:RegionalStack"
WITHOUT_US_EAST_1: dict[str, Any] = {
    "regions": ["eu-west-1", "eu-central-1"],
    "primaryRegion": "eu-central-1",
    "vpcCidrs": ["10.110.0.0/16", "10.120.0.0/16"],
    **DEV_DOMAIN,
}
# The configs whose URNs were recorded: the committed stacks, three regions, and a stack without us-east-1 (an edge
# provider, key and alarm topic of its own).
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "prod": ("prod", {}),
    "dev": ("dev", {}),
    "prod-3-regions": ("prod", THREE_REGIONS),
    "dev-without-us-east-1": ("dev", WITHOUT_US_EAST_1),
}
# What is global by design: every resource inside these components (and the dashboard) serves all regions.
GLOBAL_COMPONENTS = {
    "multi-region:dns:HostedZone",
    "multi-region:database:AuroraGlobal",
    "multi-region:database:AuroraMasterSecret",
    "multi-region:data:GlobalTable",
    "multi-region:dns:ApiTraffic",
    "multi-region:edge:Cdn",
    "multi-region:events:EventsEndpoint",
}
GLOBAL_TYPES = {"aws:cloudwatch/dashboard:Dashboard"}


def run_of(config: str) -> ProgramRun:
    stack, overrides = CONFIGS[config]
    return program(stack, **overrides)


# ---- URNs as the engine forms them -------------------------------------------------------------------------------


def qualified_types(run: ProgramRun) -> dict[str, str]:
    """Each resource's qualified type by mock URN: its ancestors' types and its own, joined by ``$`` (the engine's URN
    names every ancestor; the mock monitor's names only the parent)."""
    by_urn = {r.urn: r for r in run.resources}
    found: dict[str, str] = {}

    def qualified(resource: Resource) -> str:
        if resource.urn not in found:
            parent = by_urn.get(resource.parent or "")
            found[resource.urn] = f"{qualified(parent)}${resource.type}" if parent else resource.type
        return found[resource.urn]

    for resource in run.resources:
        qualified(resource)
    return found


def engine_urn(run: ProgramRun, qualified_type: str, name: str) -> str:
    project = run.resources[0].urn.split("::")[1]
    return f"urn:pulumi:{run.stack}::{project}::{qualified_type}::{name}"


def engine_urns(run: ProgramRun) -> dict[str, str]:
    """Every resource's engine URN, by its mock URN."""
    return {urn: engine_urn(run, qualified, urn.rsplit("::", 1)[1]) for urn, qualified in qualified_types(run).items()}


def answers_to(run: ProgramRun, *, with_aliases: bool = True) -> set[str]:
    """Every URN a resource of ``run`` answers to: its own and what its aliases and its ancestors' aliases make (the
    engine's rule: each alias URN of a parent gives the child one more, with that parent)."""
    urns = engine_urns(run)
    by_urn = {r.urn: r for r in run.resources}
    aliases: dict[str, set[str]] = {}

    def spec_urn(resource: Resource, spec: dict[str, Any], parent: str | None) -> str:
        name, type_ = spec.get("name") or resource.name, spec.get("type") or resource.type
        if spec.get("noParent"):
            parent = None
        elif spec.get("parent"):
            parent = urns.get(spec["parent"], spec["parent"])
        qualified = f"{parent.split('::')[2]}${type_}" if parent and "pulumi:pulumi:Stack" not in parent else type_
        return engine_urn(run, qualified, name)

    def of(resource: Resource) -> set[str]:
        if resource.urn not in aliases:
            parent = by_urn.get(resource.parent or "")
            own = {a["urn"] if "urn" in a else spec_urn(resource, a, parent and urns[parent.urn]) for a in resource.aliases}
            inherited = set()
            for parent_alias in of(parent) if parent else set():
                inherited.add(spec_urn(resource, {}, parent_alias))
                inherited |= {spec_urn(resource, a, parent_alias) for a in resource.aliases if "urn" not in a}
            aliases[resource.urn] = (own | inherited) if with_aliases else set()
        return aliases[resource.urn]

    return set(urns.values()) | {alias for resource in run.resources for alias in of(resource)}


# Resources deleted on purpose since the snapshot, by the name's end: the cache password, the cache secret and its value
# went when the functions moved to IAM authentication to MemoryDB (docs/design/data-store-auth.md; README upgrade notes).
REMOVED_ON_PURPOSE = ("-memorydb-app-password", "-app-cache-secret", "-app-cache-secret-value")


def _removed_on_purpose(key: str) -> bool:
    return key.endswith(REMOVED_ON_PURPOSE)


@pytest.mark.parametrize("config", CONFIGS)
def test_every_resource_of_before_the_tree_keeps_its_urn_or_an_alias_to_it(config: str) -> None:
    run = run_of(config)
    before = json.loads(BEFORE.read_text())[config]
    lost = sorted(urn for urn in set(before) - answers_to(run) if not _removed_on_purpose(urn))
    # The one thing removed: the component that held the alarms, a logical grouping with nothing in the cloud.
    removed = engine_urn(run, "multi-region:observability:Observability", "observability")
    assert lost == [removed], f"{len(lost) - 1} resources would be replaced, e.g. {[u for u in lost if u != removed][:5]}"


@pytest.mark.parametrize("config", CONFIGS)
def test_every_resource_keeps_its_provider_protect_and_retain_on_delete_under_its_new_parent(config: str) -> None:
    """A component passes its provider and ``protect`` to its children: a new parent must not change either."""
    before = json.loads(OPTIONS_BEFORE.read_text())[config]
    now = {f"{r.type}::{r.name}": [r.region, r.protect, r.retain_on_delete] for r in run_of(config).resources}
    changed = {key: (was, now[key]) for key, was in before.items() if key in now and now[key] != was}
    assert changed == {}
    gone = {key for key in set(before) - set(now) if not _removed_on_purpose(key)}
    assert gone == {"multi-region:observability:Observability::observability"}


def test_without_the_aliases_the_check_finds_the_moved_resources() -> None:
    before = set(json.loads(BEFORE.read_text())["prod"])
    lost = before - answers_to(run_of("prod"), with_aliases=False)
    moved = {urn.rsplit("::", 1)[1] for urn in lost}
    # What sat at the root, under the Observability component or under its topics, and the children of them all.
    assert {"items", "aurora-global", "us-east-1-app", "eu-west-1-runbook", "observability-alarms-eu-west-1"} <= moved
    assert "observability-aurora-lag-eu-west-1" in moved and "items-table" in moved


# ---- the shape of the tree ---------------------------------------------------------------------------------------


def ancestors(run: ProgramRun, resource: Resource) -> Iterator[Resource]:
    node = resource
    while node.parent:
        node = run.by_urn(node.parent)
        yield node


def region_of(run: ProgramRun, resource: Resource) -> str | None:
    """The region ``resource`` belongs to, or ``None`` for a global one.

    A resource of a region is a custom resource registered with that region's provider, outside the global components
    and types above; the one exception is a region's Route53 health-check alarm, which AWS keeps in us-east-1 (so it
    has the edge provider) but belongs to the region its check watches.
    """
    if resource.type in GLOBAL_TYPES or any(a.type in GLOBAL_COMPONENTS for a in ancestors(run, resource)):
        return None
    if resource.type == "aws:cloudwatch/metricAlarm:MetricAlarm" and resource.inputs["metricName"] == "HealthCheckStatus":
        return str(resource.inputs["name"]).rsplit("-health-", 1)[1]
    providers = {p.urn: p for p in run.of_type(PROVIDER_TYPE)}
    # Its own aws provider, or (for a resource of another package, such as a random password) its nearest ancestor's.
    node = next((n for n in (resource, *ancestors(run, resource)) if n.provider in providers), None)
    provider = providers[node.provider] if node and node.provider else None
    # A region's provider is named for it; the edge provider of a stack without us-east-1 belongs to no region.
    return provider.region if provider and provider.name == f"aws-{provider.region}" else None


@pytest.mark.parametrize("config", ["prod", "dev", "prod-3-regions", "dev-without-us-east-1"])
def test_the_stack_holds_one_global_stack_and_a_regional_stack_per_region(config: str) -> None:
    run = run_of(config)
    roots = [r for r in run.roots() if r.type != PROVIDER_TYPE]
    assert [(r.type, r.name) for r in roots if r.type == GLOBAL_STACK] == [(GLOBAL_STACK, "global")]
    assert run.config is not None
    assert sorted(r.name for r in roots if r.type == REGIONAL_STACK) == sorted(run.config.region_names)
    assert len(roots) == 1 + len(run.config.region_names), f"more at the root: {[r.name for r in roots]}"


@pytest.mark.parametrize("config", ["prod", "dev", "prod-3-regions", "dev-without-us-east-1"])
def test_every_resource_of_a_region_sits_under_its_regional_stack_and_the_rest_under_the_global_one(config: str) -> None:
    run = run_of(config)
    regional = {r.name: r for r in run.roots() if r.type == REGIONAL_STACK}
    (global_stack,) = [r for r in run.roots() if r.type == GLOBAL_STACK]
    assert sorted(regional) == sorted(run.region_order) and run.custom()
    misplaced = []
    for resource in run.custom():
        top = ([resource, *ancestors(run, resource)])[-1]
        region = region_of(run, resource)
        expected = regional[region] if region else global_stack
        if top is not expected:
            misplaced.append(f"{resource.type} {resource.name} ({region or 'global'}) under {top.name}")
    assert not misplaced, "\n".join(misplaced)


def record(path: Path = BEFORE) -> None:
    """Write the engine URNs of every config's run to ``path`` (done once, before the tree was regrouped)."""
    data = {config: sorted(engine_urns(run_of(config)).values()) for config in CONFIGS}
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    record(Path(sys.argv[1]) if len(sys.argv) > 1 else BEFORE)
