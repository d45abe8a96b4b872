"""The architecture diagram: clusters per region, global nodes outside them, replication and traffic edges read off
the recorded resources, and Graphviz rendering of it."""

from __future__ import annotations

import html
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from planning.diagram import (
    INSTALL_HINT,
    Diagram,
    DiagramRenderError,
    DotNotFoundError,
    Edge,
    Node,
    build_diagram,
    render_dot,
    to_dot,
)
from planning.harness import ProgramRun, Resource
from tests.support.program import THREE_REGIONS, THREE_REGIONS_LATENCY, ProgramRunner

# The same overrides as tests/test_dns.py, so that the session shares the runs.
THREE_FAILOVER: dict[str, Any] = {**THREE_REGIONS, "routingMode": "failover"}
ROUTING_CONTROL: dict[str, Any] = {**THREE_REGIONS, "trafficControl": "routingControl"}
CASES: dict[str, dict[str, Any]] = {"2": {}, "3-failover": THREE_FAILOVER, "3-latency": THREE_REGIONS_LATENCY}
REGIONAL_PARTS = (
    "alarms",
    "api",
    "app",
    "aurora",
    "backup",
    "bucket",
    "eks",
    "events",
    "kms",
    "memorydb",
    "net",
    "runbook",
    "table-replica",
)


def diagram_of(run_stack: ProgramRunner, case: str) -> tuple[ProgramRun, Diagram]:
    run = run_stack("prod", **CASES[case])
    return run, build_diagram(run)


def blocks(dot: str) -> dict[str | None, list[str]]:
    """The node ids declared in each cluster of ``dot`` (``None``: outside every cluster)."""
    found: dict[str | None, list[str]] = {}
    cluster: str | None = None
    for line in dot.splitlines():
        if match := re.match(r'\s*subgraph "cluster_([^"]+)" \{', line):
            cluster = match.group(1)
        elif line.strip() == "}":
            cluster = None
        elif match := re.match(r'\s*"([^"]+)" \[label=', line):
            found.setdefault(cluster, []).append(match.group(1))
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_one_cluster_per_region_in_config_order_with_its_role(run_stack: ProgramRunner, case: str) -> None:
    run, diagram = diagram_of(run_stack, case)
    assert run.config is not None
    regions = [r.name for r in run.config.regions]
    dot = to_dot(diagram)
    assert re.findall(r'subgraph "cluster_([^"]+)"', dot) == regions
    assert [label for _, label in diagram.clusters] == [f"{r.name} ({r.role})" for r in run.config.regions]
    assert diagram.notes == (), "every edge was resolved from the inputs or the dependencies"


@pytest.mark.parametrize("case", list(CASES))
def test_each_region_is_its_components_not_its_resources(run_stack: ProgramRunner, case: str) -> None:
    run, diagram = diagram_of(run_stack, case)
    declared = blocks(to_dot(diagram))
    for region in diagram.clusters:
        name = region[0]
        assert sorted(node.removeprefix(f"{name}/") for node in declared[name]) == sorted(REGIONAL_PARTS)
    assert len(run.in_region("us-east-1")) > 10 * len(REGIONAL_PARTS), "a node stands for many resources"
    aurora = {region: diagram.node(f"{region}/aurora").label for region, _ in diagram.clusters}
    assert "writer: 2 x db.r7g.large" in aurora["us-east-1"]
    assert all("reader: 2 x db.r7g.large" in label for region, label in aurora.items() if region != "us-east-1")
    assert "VPC 10.10.0.0/16" in diagram.node("us-east-1/net").label
    assert "Step Functions multi-region-prod-failover" in diagram.node("us-east-1/runbook").label
    assert "daily, 35 days, compliance lock" in diagram.node("us-east-1/backup").label
    assert "copy to eu-west-1" in diagram.node("us-east-1/backup").label


@pytest.mark.parametrize("case", list(CASES))
def test_global_resources_are_drawn_outside_the_clusters(run_stack: ProgramRunner, case: str) -> None:
    _, diagram = diagram_of(run_stack, case)
    declared = blocks(to_dot(diagram))
    outside = set(declared[None])
    regions = [region for region, _ in diagram.clusters]
    expected = {"global/dns", "global/aurora-global", "global/aurora-master-secret", "global/items", "global/cdn"}
    expected |= {"global/observability", *(f"global/traffic-{region}" for region in regions)}
    assert expected <= outside
    assert outside == {node.id for node in diagram.nodes if node.region is None}
    assert all(node.id.startswith("global/") for node in diagram.nodes if node.region is None)
    assert diagram.node("global/dns").label == "Route 53 zone\napp.example.com\nlooked up"
    assert "HTTPS /health every 10 s x 3" in diagram.node("global/traffic-us-east-1").label
    health_alarms = f"{len(regions)} health-check alarms -> SNS multi-region-prod-alarms in us-east-1"
    assert diagram.node("global/observability").label.endswith(health_alarms)


@pytest.mark.parametrize("case", list(CASES))
def test_s3_and_dynamodb_replicate_between_every_ordered_pair_of_regions(run_stack: ProgramRunner, case: str) -> None:
    _, diagram = diagram_of(run_stack, case)
    regions = [region for region, _ in diagram.clusters]
    pairs = set(itertools.permutations(regions, 2))
    replication = diagram.of_kind("replication")
    s3 = {(e.tail.split("/")[0], e.head.split("/")[0]) for e in replication if e.tail.endswith("/bucket")}
    table = {(e.tail.split("/")[0], e.head.split("/")[0]) for e in replication if e.tail.endswith("/table-replica")}
    assert s3 == pairs and table == pairs
    assert {e.label for e in replication if e.tail.endswith("/bucket")} == {"S3 RTC 15 min"}
    dot = to_dot(diagram)
    for tail, head in pairs:
        assert f"// replication: {tail}/bucket -> {head}/bucket (S3 RTC 15 min)" in dot
        assert f"// replication: {tail}/table-replica -> {head}/table-replica (DynamoDB)" in dot
    members = {e.head for e in diagram.of_kind("member") if e.tail == "global/items"}
    assert members == {f"{region}/table-replica" for region in regions}


@pytest.mark.parametrize("case", list(CASES))
def test_aurora_global_cluster_replicates_to_each_member_by_role(run_stack: ProgramRunner, case: str) -> None:
    run, diagram = diagram_of(run_stack, case)
    assert run.config is not None
    edges = {e.head: e.label for e in diagram.of_kind("replication") if e.tail == "global/aurora-global"}
    assert edges == {f"{r.name}/aurora": "primary (writer)" if r.is_primary else "secondary (reader)" for r in run.config.regions}
    # Drawn from the member up to the global cluster (one row below it), with the arrowhead at the member.
    line = next(
        line for line in to_dot(diagram).splitlines() if f'"{run.config.primary.name}/aurora" -> "global/aurora-global"' in line
    )
    assert "dir=back" in line and 'label="primary (writer)"' in line


def test_a_multi_region_cache_is_global_and_replicates_to_each_member(run_stack: ProgramRunner) -> None:
    regional = build_diagram(run_stack("prod"))
    assert "not replicated" in regional.node("us-east-1/memorydb").label
    assert not [e for e in regional.of_kind("replication") if "memorydb" in e.tail]
    run = run_stack("prod", cacheTopology="multiRegion", memorydbNodeType="db.r7g.xlarge")
    diagram = build_diagram(run)
    assert diagram.node("global/memorydb-multi-region").label == "MemoryDB Multi-Region\nmulti-region-prod\ncache, active-active"
    assert diagram.node("global/memorydb-multi-region").region is None
    edges = {e.head: e.label for e in diagram.of_kind("replication") if e.tail == "global/memorydb-multi-region"}
    assert edges == {"us-east-1/memorydb": "cache ~1 s", "eu-west-1/memorydb": "cache ~1 s"}
    assert diagram.node("eu-west-1/memorydb").label.endswith("cache: Multi-Region member")


def test_aurora_roles_follow_the_primary(run_stack: ProgramRunner) -> None:
    diagram = build_diagram(run_stack("prod", primaryRegion="eu-west-1"))
    edges = {e.head: e.label for e in diagram.of_kind("replication") if e.tail == "global/aurora-global"}
    assert edges == {"eu-west-1/aurora": "primary (writer)", "us-east-1/aurora": "secondary (reader)"}
    assert [label for _, label in diagram.clusters] == ["us-east-1 (secondary)", "eu-west-1 (primary)"]


@pytest.mark.parametrize("case", list(CASES))
def test_secret_replicas_and_cdn_origins(run_stack: ProgramRunner, case: str) -> None:
    run, diagram = diagram_of(run_stack, case)
    assert run.config is not None
    regions = [region for region, _ in diagram.clusters]
    secret = [e for e in diagram.of_kind("replication") if e.tail == "global/aurora-master-secret"]
    assert {e.head_cluster for e in secret} == set(regions[1:]), "a replica in every region but the secret's own"
    assert all(e.head == f"{e.head_cluster}/kms" for e in secret)
    assert all(f'lhead="cluster_{e.head_cluster}"' in to_dot(diagram) for e in secret)
    origins = sorted((e.label, e.head) for e in diagram.of_kind("origin"))
    assert origins[0] == ("origin 1", f"{run.config.primary.name}/bucket")
    assert origins[1] == ("origin 2 (on 500, 502, 503, 504, 403, 404)", f"{regions[1]}/bucket")
    assert len(origins) == 2


@pytest.mark.parametrize("case", list(CASES))
def test_the_runtime_settings_reach_every_regions_application_from_the_stack(run_stack: ProgramRunner, case: str) -> None:
    run, diagram = diagram_of(run_stack, case)
    assert run.config is not None
    regions = [region for region, _ in diagram.clusters]
    edges = [e for e in diagram.of_kind("replication") if e.tail == "global/app-config"]
    assert sorted(e.head for e in edges) == sorted(f"{region}/app" for region in regions)
    assert {e.label for e in edges} == {f"SSM /{run.config.project}/{run.config.stack}/app-config"}
    assert "RPO: the last deploy" in diagram.node("global/app-config").label


def traffic(diagram: Diagram) -> set[tuple[str, str, str]]:
    return {(e.tail, e.head, e.label) for e in diagram.of_kind("traffic")}


def test_failover_records_point_at_the_primary_and_the_secondary(run_stack: ProgramRunner) -> None:
    _, diagram = diagram_of(run_stack, "2")
    assert traffic(diagram) == {
        ("global/api-traffic-primary", "us-east-1/api", "PRIMARY"),
        ("global/api-traffic-secondary", "eu-west-1/api", "SECONDARY"),
    }
    health = {(e.tail, e.head, e.label) for e in diagram.of_kind("health")}
    assert ("global/api-traffic-primary", "global/traffic-us-east-1", "health") in health
    assert ("global/traffic-eu-west-1", "eu-west-1/api", "probes") in health
    assert "failover PRIMARY, TTL 60 s" in diagram.node("global/api-traffic-primary").label


def test_three_region_failover_falls_back_to_the_standby_latency_set(run_stack: ProgramRunner) -> None:
    _, diagram = diagram_of(run_stack, "3-failover")
    regions = [region for region, _ in diagram.clusters]
    standby = {f"global/api-traffic-standby-{region}" for region in regions}
    assert {(tail, head) for tail, head, _ in traffic(diagram) if tail == "global/api-traffic-secondary"} == {
        ("global/api-traffic-secondary", record) for record in standby
    }
    assert {(tail, head, label) for tail, head, label in traffic(diagram) if tail in standby} == {
        (f"global/api-traffic-standby-{region}", f"{region}/api", f"latency {region}") for region in regions
    }


def test_latency_records_point_at_their_own_region(run_stack: ProgramRunner) -> None:
    _, diagram = diagram_of(run_stack, "3-latency")
    regions = [region for region, _ in diagram.clusters]
    assert traffic(diagram) == {(f"global/api-traffic-{r}", f"{r}/api", f"latency {r}") for r in regions}


def test_routing_control_adds_the_arc_cluster_to_every_gate(run_stack: ProgramRunner) -> None:
    diagram = build_diagram(run_stack("prod", **ROUTING_CONTROL))
    regions = [region for region, _ in diagram.clusters]
    controls = {(e.tail, e.head) for e in diagram.of_kind("health") if e.label == "routing control"}
    assert controls == {("global/api-traffic-arc", f"global/traffic-{region}") for region in regions}
    assert "3 routing controls" in diagram.node("global/api-traffic-arc").label
    assert "routing control check" in diagram.node("global/traffic-us-east-1").label
    assert diagram.notes == ()


def test_the_drawing_is_deterministic_and_the_same_in_preview_and_update(run_stack: ProgramRunner) -> None:
    preview = run_stack("prod", preview=True)
    first, again = to_dot(build_diagram(preview)), to_dot(build_diagram(preview))
    assert first == again
    assert first == to_dot(build_diagram(run_stack("prod"))), "docs/architecture.* do not depend on the plan's mode"


def synthetic_run(resources: list[Resource], regions: list[str]) -> ProgramRun:
    providers = [
        Resource(f"urn:provider:{r}", "pulumi:providers:aws", f"aws-{r}", True, {"region": r}, None, None, region=r)
        for r in regions
    ]
    by_urn = {r.urn: r for r in resources}
    for resource in resources:
        if resource.parent in by_urn:
            by_urn[resource.parent].children.append(resource)
    return ProgramRun("test", True, providers + resources, {}, region_order=regions)


def test_what_cannot_be_resolved_is_a_note_and_unknown_components_are_still_drawn() -> None:
    def resource(name: str, type_: str, inputs: dict[str, Any], region: str, parent: str | None = None) -> Resource:
        return Resource(f"urn:{name}", type_, name, not type_.startswith("x:"), inputs, parent, None, region=region)

    resources = [
        resource("a-bucket", "multi-region:storage:RegionalBucket", {}, "a"),
        resource("a-bucket-data", "aws:s3/bucket:Bucket", {"bucket": "data-a"}, "a", "urn:a-bucket"),
        resource("a-queue", "x:custom:Thing", {}, "a"),
        resource("a-queue-q", "aws:sqs/queue:Queue", {}, "a", "urn:a-queue"),
        resource(
            "replication-config",
            "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
            {"bucket": "data-a", "rules": [{"id": "to-b", "destination": {"bucket": object()}}]},
            "a",
        ),
    ]
    diagram = build_diagram(synthetic_run(resources, ["a", "b"]))
    assert diagram.notes == ("S3 replication replication-config rule to-b: bucket unknown, not drawn",)
    assert diagram.node("a/queue").label == "Thing a-queue\nQueue"
    assert diagram.node("global/replication-config").region is None, "a root outside every region is global"
    assert [region for region, _ in diagram.clusters] == ["a", "b"]


def test_labels_are_escaped_for_dot() -> None:
    diagram = Diagram("t", (("r", "r"),), (Node("r/x", 'say "hi"\\now\nthen', "r", "data"),), ())
    assert r'"r/x" [label="say \"hi\"\\now\nthen"' in to_dot(diagram)


def mesh(regions: int) -> Diagram:
    """A diagram shaped like a stack of ``regions`` regions with full-mesh replication between them."""
    names = [f"region-{i}" for i in range(regions)]
    nodes = [Node("global/zone", "zone", None, "dns"), Node("global/db", "db", None, "data", row=4)]
    edges = []
    for name in names:
        nodes += [
            Node(f"{name}/{part}", part, name, kind) for part, kind in (("api", "edge"), ("bucket", "data"), ("key", "security"))
        ]
        edges += [Edge("global/zone", f"{name}/api", "traffic"), Edge("global/db", f"{name}/bucket", "replication")]
    edges += [Edge(f"{a}/bucket", f"{b}/bucket", "replication", "S3") for a, b in itertools.permutations(names, 2)]
    edges.append(Edge("global/db", f"{names[-1]}/key", "replication", "secret", head_cluster=names[-1]))
    return Diagram("mesh", tuple((n, n) for n in names), tuple(nodes), tuple(edges))


@pytest.mark.parametrize("regions", [2, 6])
def test_dot_renders_svg_and_png(tmp_path: Path, regions: int) -> None:
    """Six regions with every pair replicating: Graphviz 2.43 cannot rank flat edges between clusters, which is why
    they go through a junction point."""
    svg, png = render_dot(to_dot(mesh(regions)), tmp_path / "out")
    assert (svg.name, png.name) == ("architecture.svg", "architecture.png")
    text = html.unescape(svg.read_text())
    assert "<svg" in text and f"region-{regions - 1}" in text
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_stack_diagram_renders(tmp_path: Path, run_stack: ProgramRunner) -> None:
    svg, png = render_dot(to_dot(build_diagram(run_stack("prod", **THREE_FAILOVER))), tmp_path)
    assert "ap-southeast-2 (secondary)" in html.unescape(svg.read_text())
    assert png.stat().st_size > 10_000


def test_missing_dot_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("planning.diagram.shutil.which", lambda _: None)
    with pytest.raises(DotNotFoundError, match="apt-get install graphviz"):
        render_dot("digraph {}", tmp_path)
    with pytest.raises(DotNotFoundError, match=re.escape(INSTALL_HINT)):
        render_dot("digraph {}", tmp_path, dot=str(tmp_path / "no-such-dot"))


def test_a_dot_failure_is_not_taken_for_a_missing_graphviz(tmp_path: Path) -> None:
    with pytest.raises(DiagramRenderError, match="syntax error") as raised:
        render_dot("digraph { a -> }", tmp_path)
    assert not isinstance(raised.value, DotNotFoundError)
