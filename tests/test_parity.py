"""Cross-region parity (planning/parity.py): every region runs the same resources at the same capacity, and a
difference, injected into a copy of a real run, is named with its region, type, name and values."""

from __future__ import annotations

import copy
import importlib
import re
from typing import Any

from planning.harness import PROVIDER_TYPE, UNKNOWN, ProgramRun, Resource
from planning.parity import (
    CAPACITY_FIELDS,
    ROLE_FIELDS,
    Difference,
    compare_regions,
    normalise_name,
    normalise_value,
    region_resources,
    render_parity,
)
from tests.support.program import ProgramRunner

LATENCY_3 = {
    "regions": ["us-east-1", "eu-west-1", "ap-southeast-2"],
    "vpcCidrs": ["10.10.0.0/16", "10.20.0.0/16", "10.30.0.0/16"],
    "routingMode": "latency",
}
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NAT = "aws:ec2/natGateway:NatGateway"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
AURORA = "aws:rds/cluster:Cluster"
MEMORYDB = "aws:memorydb/cluster:Cluster"
AURORA_ROLE = ROLE_FIELDS[AURORA]["masterUsername"]


def _aurora_expected(regions: list[str], primary: str) -> list[Difference]:
    """The one expected difference of every stack: only the primary Aurora cluster has master credentials."""
    setters = (primary,)
    return [
        Difference(
            "role",
            AURORA,
            "aurora-cluster",
            "masterPassword",
            {r: "[secret]" if r == primary else None for r in regions},
            setters,
            AURORA_ROLE,
        ),
        Difference(
            "role",
            AURORA,
            "aurora-cluster",
            "masterUsername",
            {r: "app_admin" if r == primary else None for r in regions},
            setters,
            AURORA_ROLE,
        ),
    ]


# ---- pure helpers -------------------------------------------------------------------------------------


def test_names_lose_their_region_and_name_other_regions_as_peers() -> None:
    regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
    assert normalise_name("us-east-1-net-vpc", "us-east-1", regions) == "net-vpc"
    assert normalise_name("eu-west-1-net-vpc", "eu-west-1", regions) == "net-vpc"
    assert normalise_name("eu-west-1", "eu-west-1", regions) == "<region>"
    assert normalise_name("us-east-1-to-ap-southeast-2", "us-east-1", regions) == "to-<peer>"
    assert normalise_name("eu-west-1-to-ap-southeast-2", "eu-west-1", regions) == "to-<peer>"


def test_values_mark_regions_unknowns_and_secrets() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"}
    value = {"azs": ["eu-west-1a"], "peer": "arn:aws:s3:::b-us-east-1", "size": 3.0, "pw": secret, "id": UNKNOWN}
    assert normalise_value(value, "eu-west-1", ["us-east-1", "eu-west-1"]) == {
        "azs": ["<region>a"],
        "peer": "arn:aws:s3:::b-<peer>",
        "size": 3.0,
        "pw": "[secret]",
        "id": "(known after update)",
    }


def test_capacity_and_role_fields_name_real_inputs_of_the_sdk() -> None:
    """Each listed type and input exists in pulumi-aws v7: a typo would silently compare nothing."""

    def snake(camel: str) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()

    for type_, fields in {**CAPACITY_FIELDS, **ROLE_FIELDS}.items():
        _, module_path, class_name = type_.split(":")
        package = module_path.split("/")[0]
        # Through the package, as the program imports it (pulumi_aws loads its submodules lazily).
        args_class = getattr(
            importlib.import_module(f"pulumi_aws.{'lambda_' if package == 'lambda' else package}"), f"{class_name}Args"
        )
        assert f"aws:{module_path}:{class_name}" == type_
        for field in fields:
            assert hasattr(args_class, snake(field)), f"{type_} has no input {field}"


# ---- the real stacks: no unexpected difference --------------------------------------------------------


def test_prod_and_dev_regions_are_alike_but_for_the_aurora_role(stack_run: ProgramRun) -> None:
    report = compare_regions(stack_run)
    assert report.regions == ["us-east-1", "eu-west-1"]
    assert report.differences == []
    assert report.ok
    counts = report.resource_counts
    assert counts["us-east-1"] == counts["eu-west-1"] > 50
    assert report.expected == _aurora_expected(report.regions, "us-east-1")


def test_preview_runs_are_alike_too(preview_run: ProgramRun) -> None:
    report = compare_regions(preview_run)
    assert report.differences == []
    assert [(d.field, d.regions) for d in report.expected] == [
        ("masterPassword", ("us-east-1",)),
        ("masterUsername", ("us-east-1",)),
    ]


def test_three_region_latency_stack_is_alike(run_stack: ProgramRunner) -> None:
    report = compare_regions(run_stack("prod", **LATENCY_3))
    assert report.regions == LATENCY_3["regions"]
    assert report.differences == []
    assert len(set(report.resource_counts.values())) == 1
    assert report.expected == _aurora_expected(report.regions, "us-east-1")


def test_a_primary_elsewhere_holds_the_credentials_there(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", primaryRegion="eu-west-1")
    report = compare_regions(run)
    assert report.differences == []
    assert report.expected == _aurora_expected(report.regions, "eu-west-1")


def test_the_us_east_1_edge_provider_is_not_a_region_of_the_stack(run_stack: ProgramRunner) -> None:
    run = run_stack(
        "prod", regions=["eu-west-1", "ap-southeast-2"], primaryRegion="eu-west-1", vpcCidrs=["10.1.0.0/16", "10.2.0.0/16"]
    )
    assert "us-east-1" in run.regions(), "the edge provider is there"
    report = compare_regions(run)
    assert report.regions == ["eu-west-1", "ap-southeast-2"]
    assert report.differences == []


def test_global_resources_belong_to_no_region(stack_run: ProgramRun) -> None:
    """The rule: top-level resources named <region> or <region>-..., and everything under them."""
    regions = stack_run.regions()
    taken = {region: {r.urn for r in region_resources(stack_run, region)} for region in regions}
    assert not taken["us-east-1"] & taken["eu-west-1"]
    for region in regions:
        names = {r.name for r in region_resources(stack_run, region)}
        assert {region, f"{region}-net-vpc", f"{region}-eks-nodes", f"{region}-replication-config"} <= names
    everywhere = set().union(*taken.values())
    left_out = [r for r in stack_run.resources if r.urn not in everywhere]
    assert {r.type for r in left_out if r.parent is None} >= {PROVIDER_TYPE, "multi-region:global:GlobalStack"}
    assert "multi-region:database:AuroraGlobal" in {r.type for r in left_out}
    assert {r.name for r in left_out} >= {"aurora-global-cluster", "aurora-master-secret-secret", "aws-eu-west-1"}
    for resource in left_out:
        root = resource
        while root.parent is not None:
            root = stack_run.by_urn(root.parent)
        assert not any(root.name == region or root.name.startswith(f"{region}-") for region in regions)


# ---- injected differences are named exactly -----------------------------------------------------------


def _copy(run: ProgramRun) -> ProgramRun:
    return copy.deepcopy(run, memo={id(UNKNOWN): UNKNOWN})


def _named(run: ProgramRun, name: str) -> Resource:
    return next(r for r in run.resources if r.name == name)


def _remove(run: ProgramRun, name: str) -> None:
    resource = _named(run, name)
    assert not resource.children, "remove a leaf, so that one resource goes"
    run.resources.remove(resource)
    if resource.parent:
        run.by_urn(resource.parent).children.remove(resource)


def _add(run: ProgramRun, type_: str, name: str, parent: str | None, inputs: dict[str, Any]) -> None:
    parent_resource = _named(run, parent) if parent else None
    urn = f"urn:pulumi:{run.stack}::multi-region::{type_}::{name}"
    resource = Resource(
        urn=urn,
        type=type_,
        name=name,
        custom=True,
        inputs=inputs,
        parent=parent_resource.urn if parent_resource else None,
        provider=None,
        region=parent_resource.region if parent_resource else None,
    )
    run.resources.append(resource)
    if parent_resource:
        parent_resource.children.append(resource)


def _type_count(run: ProgramRun, region: str, type_: str) -> int:
    return sum(1 for r in region_resources(run, region) if r.type == type_)


def test_a_changed_node_group_size_is_named(stack_run: ProgramRun) -> None:
    run = _copy(stack_run)
    nodes = _named(run, "eu-west-1-eks-nodes")
    desired = nodes.inputs["scalingConfig"]["desiredSize"]
    nodes.inputs["scalingConfig"]["desiredSize"] = desired + 2
    report = compare_regions(run)
    assert report.differences == [
        Difference(
            "capacity",
            NODE_GROUP,
            "eks-nodes",
            "scalingConfig.desiredSize",
            {"us-east-1": desired, "eu-west-1": desired + 2},
            ("us-east-1", "eu-west-1"),
        )
    ]
    assert not report.ok
    assert len(report.expected) == 2, "the expected role difference is still listed"
    lines = render_parity(report)
    assert lines[0].endswith(" resources each, 1 difference")
    assert lines[2] == (
        f"  difference: {NODE_GROUP} eks-nodes scalingConfig.desiredSize: us-east-1 {desired:g}, eu-west-1 {desired + 2:g}"
    )
    assert compare_regions(stack_run).ok, "the cached run is untouched"


def test_a_changed_cache_node_type_in_one_of_three_regions_names_that_region(run_stack: ProgramRunner) -> None:
    run = _copy(run_stack("prod", **LATENCY_3))
    cluster = _named(run, "ap-southeast-2-memorydb-cluster")
    usual = cluster.inputs["nodeType"]
    cluster.inputs["nodeType"] = "db.t4g.small"
    assert compare_regions(run).differences == [
        Difference(
            "capacity",
            MEMORYDB,
            "memorydb-cluster",
            "nodeType",
            {"us-east-1": usual, "eu-west-1": usual, "ap-southeast-2": "db.t4g.small"},
            ("ap-southeast-2",),
        )
    ]


def test_a_missing_capacity_input_is_named(stack_run: ProgramRun) -> None:
    run = _copy(stack_run)
    log_group = _named(run, "us-east-1-net-flow-logs")
    days = log_group.inputs.pop("retentionInDays")
    differences = compare_regions(run).differences
    assert [(d.kind, d.type, d.name, d.field, d.values) for d in differences] == [
        ("capacity", LOG_GROUP, "net-flow-logs", "retentionInDays", {"us-east-1": None, "eu-west-1": days})
    ]


def test_a_missing_resource_is_named_with_the_count_of_its_type(stack_run: ProgramRun) -> None:
    run = _copy(stack_run)
    nat_count = _type_count(run, "us-east-1", NAT)
    assert nat_count >= 1
    last = f"eu-west-1-net-nat-{nat_count - 1}"
    _remove(run, last)
    report = compare_regions(run)
    assert report.differences == [
        Difference(
            "resource", NAT, f"net-nat-{nat_count - 1}", None, {"us-east-1": 1, "eu-west-1": 0}, ("us-east-1", "eu-west-1")
        ),
        Difference("count", NAT, None, None, {"us-east-1": nat_count, "eu-west-1": nat_count - 1}, ("us-east-1", "eu-west-1")),
    ]


def test_a_missing_resource_in_one_of_three_regions_names_that_region(run_stack: ProgramRunner) -> None:
    run = _copy(run_stack("prod", **LATENCY_3))
    _remove(run, "eu-west-1-eks-pod-identity-agent")
    addon = "aws:eks/addon:Addon"
    count = _type_count(run, "us-east-1", addon)
    assert compare_regions(run).differences == [
        Difference(
            "resource",
            addon,
            "eks-pod-identity-agent",
            None,
            {"us-east-1": 1, "eu-west-1": 0, "ap-southeast-2": 1},
            ("eu-west-1",),
        ),
        Difference(
            "count", addon, None, None, {"us-east-1": count, "eu-west-1": count - 1, "ap-southeast-2": count}, ("eu-west-1",)
        ),
    ]


def test_an_extra_resource_is_named_with_the_count_of_its_type(stack_run: ProgramRun) -> None:
    run = _copy(stack_run)
    log_groups = _type_count(run, "us-east-1", LOG_GROUP)
    _add(run, LOG_GROUP, "us-east-1-debug-logs", "us-east-1", {"retentionInDays": 1.0})
    report = compare_regions(run)
    assert report.differences == [
        Difference("resource", LOG_GROUP, "debug-logs", None, {"us-east-1": 1, "eu-west-1": 0}, ("us-east-1", "eu-west-1")),
        Difference(
            "count", LOG_GROUP, None, None, {"us-east-1": log_groups + 1, "eu-west-1": log_groups}, ("us-east-1", "eu-west-1")
        ),
    ]


def test_a_new_top_level_component_counts_for_the_region_it_is_named_after(stack_run: ProgramRun) -> None:
    """As components arrive: a top-level ``<region>-...`` one is compared, one named otherwise is global."""
    run = _copy(stack_run)
    _add(run, "multi-region:test:Alarms", "eu-west-1-alarms", None, {})
    _add(run, "multi-region:test:Alarms", "stack-alarms", None, {})
    _add(run, "aws:sns/topic:Topic", "stack-alarms-topic", "stack-alarms", {})
    report = compare_regions(run)
    assert [(d.kind, d.type, d.name, d.regions) for d in report.differences] == [
        ("resource", "multi-region:test:Alarms", "alarms", ("us-east-1", "eu-west-1")),
        ("count", "multi-region:test:Alarms", None, ("us-east-1", "eu-west-1")),
    ]


def test_credentials_on_a_secondary_cluster_are_a_failure(stack_run: ProgramRun) -> None:
    run = _copy(stack_run)
    primary = _named(run, "us-east-1-aurora-cluster")
    _named(run, "eu-west-1-aurora-cluster").inputs["masterUsername"] = primary.inputs["masterUsername"]
    report = compare_regions(run)
    assert report.differences == [
        Difference(
            "role",
            AURORA,
            "aurora-cluster",
            "masterUsername",
            {"us-east-1": "app_admin", "eu-west-1": "app_admin"},
            ("eu-west-1",),
        )
    ]
    assert [d.field for d in report.expected] == ["masterPassword"]


def test_credentials_on_a_cluster_outside_the_primary_are_a_failure(stack_run: ProgramRun) -> None:
    run = _copy(stack_run)
    run.outputs["primaryRegion"] = "eu-west-1"
    report = compare_regions(run)
    assert [(d.kind, d.field, d.regions) for d in report.differences] == [
        ("role", "masterPassword", ("us-east-1", "eu-west-1")),
        ("role", "masterUsername", ("us-east-1", "eu-west-1")),
    ]
    assert report.expected == []


# ---- the plan's section -------------------------------------------------------------------------------


def test_render_says_no_differences_and_lists_the_expected_ones(stack_run: ProgramRun) -> None:
    report = compare_regions(stack_run)
    lines = render_parity(report)
    each = report.resource_counts["us-east-1"]
    assert lines[0] == f"Cross-region parity: 2 regions (us-east-1, eu-west-1), {each} resources each, no differences"
    assert lines[1].startswith("  compared: ")
    assert lines[2:] == [
        f"  expected: {AURORA} aurora-cluster masterPassword: us-east-1 [secret], eu-west-1 (absent) ({AURORA_ROLE})",
        f"  expected: {AURORA} aurora-cluster masterUsername: us-east-1 app_admin, eu-west-1 (absent) ({AURORA_ROLE})",
    ]


def test_render_names_each_difference(stack_run: ProgramRun) -> None:
    run = _copy(stack_run)
    nat_count = _type_count(run, "us-east-1", NAT)
    _remove(run, f"eu-west-1-net-nat-{nat_count - 1}")
    _named(run, "eu-west-1-eks-nodes").inputs["instanceTypes"] = ["m7g.xlarge"]
    usual = _named(run, "us-east-1-eks-nodes").inputs["instanceTypes"]
    report = compare_regions(run)
    lines = render_parity(report)
    total = report.resource_counts["us-east-1"]
    sizes = f"us-east-1 {total}, eu-west-1 {total - 1} resources"
    assert lines[0] == f"Cross-region parity: 2 regions (us-east-1, eu-west-1), {sizes}, 3 differences"
    assert lines[2:5] == [
        f"  difference: {NAT} net-nat-{nat_count - 1}: number in each region: us-east-1 1, eu-west-1 0",
        f"  difference: {NAT}: resources of this type: us-east-1 {nat_count}, eu-west-1 {nat_count - 1}",
        f"  difference: {NODE_GROUP} eks-nodes instanceTypes: us-east-1 [{', '.join(usual)}], eu-west-1 [m7g.xlarge]",
    ]
    assert all("hunter" not in line and "mock-password" not in line for line in lines)


def test_one_region_has_nothing_to_compare() -> None:
    provider = Resource(
        urn="urn:pulumi:x::multi-region::pulumi:providers:aws::aws-us-east-1",
        type=PROVIDER_TYPE,
        name="aws-us-east-1",
        custom=True,
        inputs={"region": "us-east-1"},
        parent=None,
        provider=None,
        region="us-east-1",
    )
    run = ProgramRun(stack="x", preview=False, resources=[provider], outputs={}, region_order=["us-east-1"])
    report = compare_regions(run)
    assert report.ok
    assert render_parity(report) == ["Cross-region parity: 1 region, nothing to compare"]
