"""Cross-region parity: does every region run the same resources, at the same capacity?

Compares the regions of one mocks-harness run, names with the region removed (``us-east-1-net-vpc`` -> ``net-vpc``):
resources by type and name, counts per type, the capacity inputs of ``CAPACITY_FIELDS``; ``ROLE_FIELDS`` set in the
primary only are expected, not failures. Which resources are a region's, and why: docs/design/plan-tooling.md.

Example:
    >>> report = compare_regions(run_program("prod", preview=False))
    >>> report.ok, [(d.type, d.field) for d in report.expected]
    (True, [('aws:rds/cluster:Cluster', 'masterPassword'), ('aws:rds/cluster:Cluster', 'masterUsername')])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from planning.harness import UNKNOWN, ProgramRun, Resource

REGION_MARK = "<region>"
PEER_MARK = "<peer>"
UNKNOWN_MARK = "(known after update)"
SECRET_MARK = "[secret]"
ABSENT_MARK = "(absent)"

# The engine's markers of a secret inside a property map (pulumi/runtime/rpc.py: _special_sig_key and
# _special_secret_sig), kept here so that this module needs no Pulumi import.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

CAPACITY_FIELDS: dict[str, tuple[str, ...]] = {
    "aws:eks/cluster:Cluster": ("version",),
    "aws:eks/nodeGroup:NodeGroup": ("scalingConfig", "instanceTypes", "capacityType", "amiType", "diskSize", "version"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("instanceType", "blockDeviceMappings"),
    "aws:rds/cluster:Cluster": ("engineVersion", "backupRetentionPeriod", "serverlessv2ScalingConfiguration"),
    "aws:rds/clusterInstance:ClusterInstance": ("instanceClass",),
    "aws:memorydb/cluster:Cluster": (
        "nodeType",
        "numShards",
        "numReplicasPerShard",
        "dataTiering",
        "engineVersion",
        "snapshotRetentionLimit",
    ),
    "aws:cloudwatch/logGroup:LogGroup": ("retentionInDays",),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("rules",),
    "aws:lambda/function:Function": (
        "memorySize",
        "timeout",
        "reservedConcurrentExecutions",
        "architectures",
        "ephemeralStorage",
    ),
    "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig": ("provisionedConcurrentExecutions",),
    "aws:lambda/eventSourceMapping:EventSourceMapping": ("batchSize", "maximumBatchingWindowInSeconds", "scalingConfig"),
    "aws:sqs/queue:Queue": ("visibilityTimeoutSeconds", "messageRetentionSeconds"),
    "aws:apigatewayv2/stage:Stage": ("defaultRouteSettings",),
}
"""Inputs that carry capacity (sizes, counts, versions, retention), per type. NAT gateways and other resources
whose capacity is how many there are are covered by the counts per type."""

_AURORA_ROLE = (
    "role: only the primary cluster takes the master credentials; a secondary joins the global database "
    "through globalClusterIdentifier without them"
)
ROLE_FIELDS: dict[str, dict[str, str]] = {
    "aws:rds/cluster:Cluster": {"masterUsername": _AURORA_ROLE, "masterPassword": _AURORA_ROLE},
}
"""Inputs set in the primary region only, per type, with the reason. Such a difference is expected, listed apart;
any other difference in these inputs (set in two regions, or in a secondary) is a parity failure."""


@dataclass(frozen=True)
class Difference:
    """One way the regions differ.

    ``kind`` is ``resource`` (a (type, name) not in every region the same number of times; ``values`` are
    those numbers), ``count`` (the number of resources of a type; ``name`` and ``field`` are ``None``),
    ``capacity`` (a capacity input; ``field`` is its dotted path) or ``role`` (an input of ``ROLE_FIELDS``;
    ``reason`` says why when it is expected). ``values`` maps every compared region that has the resource,
    in config order, to its normalised value (``None`` when absent). ``regions`` are the regions that differ:
    for ``role``, those where the input is set or unset against their role; otherwise those without the most
    common value, or all of them when no value is held by more regions than any other (with two regions,
    neither is the odd one out: ``values`` shows which has what).
    """

    kind: str
    type: str
    name: str | None
    field: str | None
    values: dict[str, Any]
    regions: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True)
class ParityReport:
    """The comparison of a run's regions: ``differences`` are parity failures, ``expected`` are not."""

    regions: list[str]
    resource_counts: dict[str, int]
    differences: list[Difference] = field(default_factory=list)
    expected: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def compared_regions(run: ProgramRun) -> list[str]:
    """The stack's regions in config order (without a provider-only region such as the us-east-1 edge)."""
    regions = run.regions()
    if run.region_order:
        return [region for region in regions if region in run.region_order]
    return regions


def region_roots(run: ProgramRun, region: str) -> list[Resource]:
    """The top-level resources of ``region`` (docs/design/plan-tooling.md): named ``<region>`` (its RegionalStack)
    or ``<region>-…``, providers excepted."""
    return [
        root
        for root in run.roots()
        if not root.type.startswith("pulumi:providers:") and (root.name == region or root.name.startswith(f"{region}-"))
    ]


def region_resources(run: ProgramRun, region: str) -> list[Resource]:
    """The resources of ``region``: its top-level resources (:func:`region_roots`) and everything under them."""
    return [resource for root in region_roots(run, region) for resource in (root, *run.descendants(root))]


def normalise_name(name: str, region: str, regions: Iterable[str]) -> str:
    """``name`` without its region: ``us-east-1-net-vpc`` in us-east-1 → ``net-vpc``; other regions of the
    stack named inside it become ``<peer>``, the region itself (elsewhere than in front) ``<region>``."""
    text = _mark_regions(name, region, regions)
    return text.removeprefix(f"{REGION_MARK}-")


def normalise_value(value: Any, region: str, regions: Iterable[str]) -> Any:
    """``value`` with region names marked (as in ``normalise_name``), unknowns as one marker (they compare
    equal) and secrets as ``[secret]`` (compared for presence only, never shown)."""
    regions = tuple(regions)
    if value is UNKNOWN or _is_unknown(value):
        return UNKNOWN_MARK
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return SECRET_MARK
        return {key: normalise_value(item, region, regions) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise_value(item, region, regions) for item in value]
    if isinstance(value, str):
        return _mark_regions(value, region, regions)
    return value


def compare_regions(run: ProgramRun) -> ParityReport:
    """Compare the regions of ``run``: resources by (type, normalised name), counts per type, and the inputs of
    ``CAPACITY_FIELDS`` and ``ROLE_FIELDS`` of the resources more than one region has."""
    regions = compared_regions(run)
    keyed: dict[str, dict[tuple[str, str], list[Resource]]] = {}
    for region in regions:
        keyed[region] = {}
        for resource in region_resources(run, region):
            key = (resource.type, normalise_name(resource.name, region, regions))
            keyed[region].setdefault(key, []).append(resource)
    report = ParityReport(regions=regions, resource_counts={r: sum(map(len, keyed[r].values())) for r in regions})
    if len(regions) < 2:
        return report
    all_keys = sorted({key for region in regions for key in keyed[region]})
    for type_, name in all_keys:
        present = {region: len(keyed[region].get((type_, name), [])) for region in regions}
        if len(set(present.values())) > 1:
            report.differences.append(Difference("resource", type_, name, None, present, _odd_ones(present)))
    report.differences.extend(_count_differences(keyed, regions))
    for type_, name in all_keys:
        holders = {region: keyed[region][(type_, name)][0] for region in regions if (type_, name) in keyed[region]}
        if len(holders) >= 2:
            _compare_inputs(report, type_, name, holders, run.outputs.get("primaryRegion"))
    return report


def _count_differences(keyed: Mapping[str, Mapping[tuple[str, str], list[Resource]]], regions: list[str]) -> list[Difference]:
    """The types whose number of resources differs between regions."""
    type_counts: dict[str, Counter[str]] = {region: Counter() for region in regions}
    for region in regions:
        for (type_, _), found in keyed[region].items():
            type_counts[region][type_] += len(found)
    differences = []
    for type_ in sorted({t for counts in type_counts.values() for t in counts}):
        counts = {region: type_counts[region][type_] for region in regions}
        if len(set(counts.values())) > 1:
            differences.append(Difference("count", type_, None, None, counts, _odd_ones(counts)))
    return differences


def _compare_inputs(report: ParityReport, type_: str, name: str, holders: Mapping[str, Resource], primary: Any) -> None:
    """Add the capacity differences, and the role inputs set where they should not be (or expected where they are),
    of one resource that several regions hold."""
    regions = report.regions
    for input_name in CAPACITY_FIELDS.get(type_, ()):
        values = {region: normalise_value(r.inputs.get(input_name), region, regions) for region, r in holders.items()}
        for path, leaf_values in _leaf_differences(input_name, values):
            report.differences.append(Difference("capacity", type_, name, path, leaf_values, _odd_ones(leaf_values)))
    for input_name, reason in sorted(ROLE_FIELDS.get(type_, {}).items()):
        values = {region: normalise_value(r.inputs.get(input_name), region, regions) for region, r in holders.items()}
        setters = tuple(region for region, value in values.items() if value is not None)
        if not setters:
            continue
        if len(setters) == 1 and primary in (None, setters[0]):
            report.expected.append(Difference("role", type_, name, input_name, values, setters, reason))
            continue
        wrong = tuple(region for region in values if (region in setters) != (region == primary))
        report.differences.append(Difference("role", type_, name, input_name, values, wrong or setters))


def render_parity(report: ParityReport) -> list[str]:
    """The plan's section: a heading line, what was compared, then each difference and each expected one."""
    regions = report.regions
    counts = set(report.resource_counts.values())
    if len(regions) < 2:
        return [f"Cross-region parity: {len(regions)} region, nothing to compare"]
    sizes = (
        f"{counts.pop()} resources each"
        if len(counts) == 1
        else ", ".join(f"{region} {report.resource_counts[region]}" for region in regions) + " resources"
    )
    found = len(report.differences)
    outcome = "no differences" if report.ok else f"{found} difference{'' if found == 1 else 's'}"
    lines = [f"Cross-region parity: {len(regions)} regions ({', '.join(regions)}), {sizes}, {outcome}"]
    lines.append(
        "  compared: types and names (region removed), counts per type, capacity settings; not compared: "
        "region-specific values (CIDRs, AZs, ARNs, ids, endpoint service names)"
    )
    lines += [f"  difference: {_describe(difference)}" for difference in report.differences]
    lines += [f"  expected: {_describe(difference)} ({difference.reason})" for difference in report.expected]
    return lines


def _describe(difference: Difference) -> str:
    subject = {
        "resource": f"{difference.type} {difference.name}: number in each region",
        "count": f"{difference.type}: resources of this type",
    }.get(difference.kind, f"{difference.type} {difference.name} {difference.field}")
    shown = ", ".join(f"{region} {_show(value)}" for region, value in difference.values.items())
    return f"{subject}: {shown}"


def _show(value: Any) -> str:
    if value is None:
        return ABSENT_MARK
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_show(item)}" for key, item in sorted(value.items())) + "}"
    return str(value)


def _odd_ones(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The regions without the most common of ``values``; all of them when no value is the most common."""
    tally = Counter(_key(value) for value in values.values()).most_common()
    if len(tally) > 1 and tally[0][1] == tally[1][1]:
        return tuple(values)
    return tuple(region for region, value in values.items() if _key(value) != tally[0][0])


def _leaf_differences(path: str, values: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Where ``values`` (one per region) differ: down into maps that every region has, else the whole value."""
    if len({_key(v) for v in values.values()}) == 1:
        return []
    if all(isinstance(v, dict) for v in values.values()):
        keys = sorted({key for v in values.values() for key in v})
        found: list[tuple[str, dict[str, Any]]] = []
        for key in keys:
            found += _leaf_differences(f"{path}.{key}", {region: v.get(key) for region, v in values.items()})
        return found
    return [(path, dict(values))]


def _key(value: Any) -> str:
    """A hashable, order-stable stand-in for a normalised value."""
    return repr(_canonical(value))


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return sorted((key, _canonical(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def _mark_regions(text: str, region: str, regions: Iterable[str]) -> str:
    # Longest first, so that a region whose name contains another's is marked whole.
    for other in sorted({region, *regions}, key=len, reverse=True):
        text = text.replace(other, REGION_MARK if other == region else PEER_MARK)
    return text


def _is_unknown(value: Any) -> bool:
    """An output the engine only knows after an update, as the mocks hand it over in preview mode."""
    kind = type(value)
    return (kind.__module__, kind.__qualname__) == ("pulumi.output", "Unknown")
