"""The architecture diagram of a stack, drawn from what a mocks-harness run recorded, as Graphviz DOT.

One cluster per region with a node per component, the global resources outside, and edges for replication, origin,
traffic and health read off the resources' inputs (or dependencies); what cannot be resolved is listed in
``Diagram.notes``, not guessed. Output is deterministic. What is drawn and why: docs/design/plan-tooling.md.

Example:
    >>> diagram = build_diagram(run_program("prod", preview=True))
    >>> render_dot(to_dot(diagram), Path(".build/plan/prod"))
    [PosixPath('.build/plan/prod/architecture.svg'), PosixPath('.build/plan/prod/architecture.png')]
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.app_config import parameter_name
from components.app_functions import function_names
from components.edge import origin_id
from planning.budget import EVENTBRIDGE_REPLICATION_SECONDS
from planning.harness import PROVIDER_TYPE, ProgramRun, Resource
from planning.parity import compared_regions, region_roots

DOT_TIMEOUT_SECONDS = 60
DIAGRAM_STEM = "architecture"
INSTALL_HINT = "install Graphviz to draw the diagram: sudo apt-get install graphviz (Debian/Ubuntu)"

# Node kinds and their fill colours; edge kinds and their styles (DOT attribute lists).
NODE_STYLES: dict[str, str] = {
    "network": "#fef7e0",
    "security": "#fde2e4",
    "compute": "#e6f4ea",
    "data": "#e8f0fe",
    "edge": "#fce8d5",
    "dns": "#f3e8fd",
    "ops": "#eeeeee",
}
# Rows of the drawing, top to bottom, by node kind: DNS, then the entry points, compute, data, and what every
# region has underneath (network, keys, alarms, operations). Global nodes share the rows of their kind.
NODE_ROWS: dict[str, int] = {"dns": 0, "edge": 1, "compute": 2, "data": 3, "security": 5, "network": 5, "ops": 6}
# The global data stores sit one row below the regional ones they replicate to, between the regions.
GLOBAL_DATA_ROW = 4
EDGE_STYLES: dict[str, str] = {
    "replication": 'color="#1a73e8", penwidth=1.6',
    "member": 'color="#1a73e8", style=dashed',
    "origin": 'color="#e37400"',
    "traffic": 'color="#188038", penwidth=1.4',
    "health": 'color="#9334e6", style=dashed',
    "events": 'color="#c5221f"',
}

T_BUCKET = "aws:s3/bucket:Bucket"
T_REPLICATION_CONFIG = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
T_TABLE = "aws:dynamodb/table:Table"
T_GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
T_DB_CLUSTER = "aws:rds/cluster:Cluster"
T_DB_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
T_SECRET = "aws:secretsmanager/secret:Secret"
T_PARAMETER = "aws:ssm/parameter:Parameter"
T_MEMORYDB = "aws:memorydb/cluster:Cluster"
T_MEMORYDB_MULTI_REGION = "aws:memorydb/multiRegionCluster:MultiRegionCluster"
T_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
T_RECORD = "aws:route53/record:Record"
T_HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
T_ZONE = "aws:route53/zone:Zone"
T_API = "aws:apigatewayv2/api:Api"
T_DOMAIN = "aws:apigatewayv2/domainName:DomainName"
T_TOPIC = "aws:sns/topic:Topic"
T_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
T_DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
GLOBAL_STACK = "multi-region:global:GlobalStack"
REGIONAL_STACK = "multi-region:regional:RegionalStack"
# Drawn together by ``_observability``, wherever they sit in the tree.
ALARM_TYPES = frozenset({T_TOPIC, T_ALARM, T_DASHBOARD})
T_ROUTING_CONTROL = "aws:route53recoverycontrol/routingControl:RoutingControl"
T_EVENT_BUS = "aws:cloudwatch/eventBus:EventBus"
T_EVENT_ENDPOINT = "aws:cloudwatch/eventEndpoint:EventEndpoint"
HEALTH_NAMESPACE = "AWS/Route53"

# Components drawn as edges rather than nodes: S3 replication is the edges between buckets.
EDGE_ONLY_COMPONENTS = frozenset({"multi-region:storage:BucketReplication"})


class DiagramRenderError(RuntimeError):
    """``dot`` failed or timed out on the diagram (a fault of this module's DOT, or of Graphviz)."""


class DotNotFoundError(DiagramRenderError):
    """Graphviz is not installed: the message says how to install it."""


@dataclass(frozen=True)
class Node:
    """One box: ``region`` is the cluster it is drawn in, ``None`` for a global resource (outside every
    cluster); ``kind`` picks its colour (``NODE_STYLES``) and its row (``NODE_ROWS``) unless ``row`` is given."""

    id: str
    label: str
    region: str | None
    kind: str
    row: int | None = None

    @property
    def rank(self) -> int:
        return self.row if self.row is not None else NODE_ROWS.get(self.kind, max(NODE_ROWS.values()))


@dataclass(frozen=True)
class Edge:
    """One arrow. ``head_cluster``: the arrow ends at that region's cluster border (``head`` is a node in it)."""

    tail: str
    head: str
    kind: str
    label: str = ""
    head_cluster: str | None = None


@dataclass(frozen=True)
class Diagram:
    """What ``to_dot`` draws: clusters as (region, label) in config order, nodes, edges, and what could not be
    drawn (``notes``)."""

    title: str
    clusters: tuple[tuple[str, str], ...]
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    notes: tuple[str, ...] = ()

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def of_kind(self, kind: str) -> list[Edge]:
        return [e for e in self.edges if e.kind == kind]


@dataclass
class _Builder:
    """The state of one ``build_diagram``: the run, its regions and roles, and what each resource is drawn as."""

    run: ProgramRun
    regions: list[str]
    primary: str | None
    by_urn: dict[str, Resource]
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: set[Edge] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    # The node each drawn resource belongs to (a component's node stands for all its descendants).
    node_of: dict[str, str] = field(default_factory=dict)

    def add(self, node: Node, members: Iterable[Resource] = ()) -> str:
        self.nodes[node.id] = node
        for member in members:
            self.node_of[member.urn] = node.id
        return node.id

    def link(self, tail: str | None, head: str | None, kind: str, label: str = "", head_cluster: str | None = None) -> None:
        """An edge between two drawn nodes; one whose end is not drawn becomes a note instead."""
        if tail is None or head is None:
            self.notes.append(f"{kind} edge {label!r} from {tail or '?'} to {head or '?'}: an end is not drawn")
            return
        self.edges.add(Edge(tail, head, kind, label, head_cluster))

    def deps(self, resource: Resource, type_: str) -> list[Resource]:
        """The resources of ``type_`` that ``resource`` depends on, by name (dependencies are unordered)."""
        found = [self.by_urn[urn] for urn in resource.dependencies if urn in self.by_urn]
        return sorted((r for r in found if r.type == type_), key=lambda r: r.name)

    def subtree(self, root: Resource) -> list[Resource]:
        return [root, *self.run.descendants(root)]


def build_diagram(run: ProgramRun) -> Diagram:
    """The diagram of ``run`` (module docstring): clusters, nodes and edges, sorted."""
    regions = compared_regions(run)
    primary = run.config.primary.name if run.config else _text(run.outputs.get("primaryRegion"))
    builder = _Builder(run, regions, primary, {r.urn: r for r in run.resources})
    claimed: set[str] = set()
    for region in regions:
        for root in region_roots(run, region):
            claimed.update(r.urn for r in builder.subtree(root))
            _draw_regional(builder, region, root)
    global_roots = [r for r in run.roots() if r.urn not in claimed and r.type != PROVIDER_TYPE]
    for root in (c for r in global_roots for c in (r.children if r.type == GLOBAL_STACK else [r])):
        if root.type not in ALARM_TYPES:
            _draw_global(builder, root)
    _observability(builder, [m for r in run.resources if _is_alarm_root(builder, r) for m in builder.subtree(r)])
    _draw_replication(builder)
    _draw_traffic(builder)
    roles = {r.name: r.role for r in run.config.regions} if run.config else {}
    clusters = tuple((region, f"{region} ({roles[region]})" if region in roles else region) for region in regions)
    order = {region: index for index, region in enumerate(regions)}
    nodes = sorted(builder.nodes.values(), key=lambda n: (-1 if n.region is None else order[n.region], n.id))
    edges = sorted(builder.edges, key=lambda e: (e.kind, e.tail, e.head, e.label))
    stack = run.config.project + " " + run.stack if run.config else run.stack
    return Diagram(f"{stack}: architecture", clusters, tuple(nodes), tuple(edges), tuple(sorted(builder.notes)))


# ---- regional components -------------------------------------------------------------------------


def _draw_regional(builder: _Builder, region: str, root: Resource) -> None:
    """A ``RegionalStack`` stands for its children components; any other root is one component."""
    if root.type == "multi-region:regional:RegionalStack":
        for child in root.children:
            if child.type not in ALARM_TYPES:
                _draw_component(builder, region, child)
    else:
        _draw_component(builder, region, root)


def _draw_component(builder: _Builder, region: str, component: Resource) -> None:
    if component.type in EDGE_ONLY_COMPONENTS:
        return
    members = builder.subtree(component)
    short = component.name.removeprefix(f"{region}-") if component.name != region else "stack"
    summarise = _REGIONAL_SUMMARIES.get(component.type, _generic_summary)
    label, kind = summarise(builder, component, members)
    builder.add(Node(f"{region}/{short}", label, region, kind), members)


def _network(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    vpc = _first(members, "aws:ec2/vpc:Vpc")
    subnets = _count(members, "aws:ec2/subnet:Subnet")
    nats = _count(members, "aws:ec2/natGateway:NatGateway")
    endpoints = _count(members, "aws:ec2/vpcEndpoint:VpcEndpoint")
    cidr = _text(vpc.inputs.get("cidrBlock")) if vpc else None
    return _lines(f"VPC {cidr or ''}".strip(), f"{subnets} subnets, {nats} NAT, {endpoints} endpoints"), "network"


def _key(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    key = _first(members, "aws:kms/key:Key")
    rotation = "rotation on" if key and key.inputs.get("enableKeyRotation") else "no rotation"
    return _lines("KMS key", rotation), "security"


def _eks(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    cluster = _first(members, "aws:eks/cluster:Cluster")
    nodes = _first(members, "aws:eks/nodeGroup:NodeGroup")
    version = _text(cluster.inputs.get("version")) if cluster else None
    detail = ""
    if nodes:
        scaling = nodes.inputs.get("scalingConfig") or {}
        types = ", ".join(str(t) for t in nodes.inputs.get("instanceTypes") or [])
        detail = f"{types} x {_int(scaling.get('minSize'))}..{_int(scaling.get('maxSize'))}"
    return _lines(f"EKS {version or ''}".strip(), detail), "compute"


def _aurora(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    cluster = _first(members, T_DB_CLUSTER)
    instances = [r for r in members if r.type == T_DB_INSTANCE]
    classes = sorted({str(i.inputs.get("instanceClass")) for i in instances})
    version = _text(cluster.inputs.get("engineVersion")) if cluster else None
    role = "writer" if component.region == builder.primary else "reader"
    return _lines(f"Aurora PostgreSQL {version or ''}".strip(), f"{role}: {len(instances)} x {', '.join(classes)}"), "data"


def _memorydb(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    cluster = _first(members, "aws:memorydb/cluster:Cluster")
    if cluster is None:
        return _lines("MemoryDB"), "data"
    shards, replicas = _int(cluster.inputs.get("numShards")), _int(cluster.inputs.get("numReplicasPerShard"))
    detail = f"{shards} shard x {replicas + 1} nodes {cluster.inputs.get('nodeType')}"
    replicated = "cache: Multi-Region member" if cluster.inputs.get("multiRegionClusterName") else "cache: not replicated"
    return _lines(f"MemoryDB {cluster.inputs.get('engineVersion')}", detail, replicated), "data"


def _bucket(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    roles = sorted(r.name.removeprefix(f"{component.name}-") for r in members if r.type == T_BUCKET)
    return _lines("S3 buckets", ", ".join(roles)), "data"


def _api(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    domain = _first(members, T_DOMAIN)
    name = _text(domain.inputs.get("domainName")) if domain else None
    return _lines("HTTP API", name or ""), "edge"


def _app(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    functions = sorted(_function_label(r) for r in members if r.type == "aws:lambda/function:Function")
    queues = _count(members, "aws:sqs/queue:Queue")
    return _lines(f"Lambda: {', '.join(functions)}", f"{queues} SQS queues"), "compute"


def _function_label(function: Resource) -> str:
    """The function's short name in the function table (``<project>-<stack>-<short name>``)."""
    name = _text(function.inputs.get("name")) or function.name
    matches = [short for short in function_names() if name.endswith(f"-{short}")]
    return max(matches, key=len) if matches else name.rsplit("-", 1)[-1]


def _runbook(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    machine = _first(members, "aws:sfn/stateMachine:StateMachine")
    name = _text(machine.inputs.get("name")) if machine else None
    return _lines("Failover runbook", f"Step Functions {name or ''}".strip(), "Lambda, SSM topology"), "ops"


def _generic_summary(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    """A component this module has no summary for: its class, name and the kinds of resource it holds."""
    title = f"{component.type.rsplit(':', 1)[-1]} {component.name}"
    kinds = Counter(r.type.rsplit(":", 1)[-1] for r in members if r.custom and not r.type.startswith("aws:iam/"))
    shown = ", ".join(f"{name} x{count}" if count > 1 else name for name, count in sorted(kinds.items()))
    return _lines(title, *_wrap(shown, 40)), "ops"


def _backup(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    """The vault's lock, the plan's retention and the region its recovery points are copied to."""
    lock = _first(members, "aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    plan = _first(members, "aws:backup/plan:Plan")
    rule = (plan.inputs.get("rules") or [{}])[0] if plan else {}
    days = _int((rule.get("lifecycle") or {}).get("deleteAfter"))
    # The vault the plan copies to is the one it depends on in another region (its ARN is unknown in preview).
    copies = (
        sorted({str(v.region) for v in builder.deps(plan, "aws:backup/vault:Vault") if v.region != component.region})
        if plan
        else []
    )
    mode = "unlocked" if lock is None else ("compliance lock" if "changeableForDays" in lock.inputs else "governance lock")
    return _lines("AWS Backup vault", f"daily, {days} days, {mode}", f"copy to {', '.join(copies)}"), "data"


def _events(builder: _Builder, component: Resource, members: list[Resource]) -> tuple[str, str]:
    bus = _first(members, T_EVENT_BUS)
    name = _text(bus.inputs.get("name")) if bus else None
    return _lines(f"EventBridge bus {name or ''}".strip(), "rule: ItemWrite to the events queue, DLQ"), "edge"


_Summary = Callable[[_Builder, Resource, list[Resource]], tuple[str, str]]
_REGIONAL_SUMMARIES: dict[str, _Summary] = {
    "multi-region:network:Network": _network,
    "multi-region:keys:RegionKey": _key,
    "multi-region:compute:EksCluster": _eks,
    "multi-region:database:AuroraRegionalCluster": _aurora,
    "multi-region:cache:MemoryDbCluster": _memorydb,
    "multi-region:storage:RegionalBucket": _bucket,
    "multi-region:api:RegionalApi": _api,
    "multi-region:app:RegionalApp": _app,
    "multi-region:failover:FailoverRunbook": _runbook,
    "multi-region:backup:RegionalBackup": _backup,
    "multi-region:events:RegionalEvents": _events,
}


# ---- global components ---------------------------------------------------------------------------


def _draw_global(builder: _Builder, root: Resource) -> None:
    _GLOBAL_DRAWERS.get(root.type, _draw_generic)(builder, root, builder.subtree(root))


def _draw_generic(builder: _Builder, root: Resource, members: list[Resource]) -> None:
    """A global component with no drawer here, or without the resource its drawer summarises: one generic node."""
    label, kind = _generic_summary(builder, root, members)
    builder.add(Node(f"global/{root.name}", label, None, kind), members)


def _zone(builder: _Builder, root: Resource, members: list[Resource]) -> None:
    zone = _first(members, T_ZONE)
    domain = (builder.run.config.edge.domain_name if builder.run.config else None) or root.name
    builder.add(
        Node(f"global/{root.name}", _lines("Route 53 zone", domain, "created" if zone else "looked up"), None, "dns"), members
    )


def _aurora_global(builder: _Builder, root: Resource, members: list[Resource]) -> None:
    cluster = _first(members, T_GLOBAL_CLUSTER)
    identifier = _text(cluster.inputs.get("globalClusterIdentifier")) if cluster else None
    label = _lines("Aurora global database", identifier or root.name)
    builder.add(Node(f"global/{root.name}", label, None, "data", row=GLOBAL_DATA_ROW), members)


def _memorydb_multi_region(builder: _Builder, root: Resource, members: list[Resource]) -> None:
    cluster = _first(members, T_MEMORYDB_MULTI_REGION)
    suffix = _text(cluster.inputs.get("multiRegionClusterNameSuffix")) if cluster else None
    label = _lines("MemoryDB Multi-Region", suffix or root.name, "cache, active-active")
    builder.add(Node(f"global/{root.name}", label, None, "data", row=GLOBAL_DATA_ROW), members)


def _secret(builder: _Builder, root: Resource, members: list[Resource]) -> None:
    secret = _first(members, T_SECRET)
    name = _text(secret.inputs.get("name")) if secret else None
    label = _lines("Secrets Manager", name or root.name, f"primary copy in {root.region}")
    builder.add(Node(f"global/{root.name}", label, None, "security", row=GLOBAL_DATA_ROW), members)


def _table(builder: _Builder, root: Resource, members: list[Resource]) -> None:
    table = _first(members, T_TABLE)
    if table is None:
        _draw_generic(builder, root, members)
        return
    features = [
        name for key, name in (("streamEnabled", "streams"), ("deletionProtectionEnabled", "protected")) if table.inputs.get(key)
    ]
    if (table.inputs.get("pointInTimeRecovery") or {}).get("enabled"):
        features.insert(0, "PITR")
    label = _lines("DynamoDB global table", _text(table.inputs.get("name")) or table.name, ", ".join(features))
    table_node = builder.add(Node(f"global/{root.name}", label, None, "data", row=GLOBAL_DATA_ROW), members)
    for region in _table_regions(table):
        if region in builder.regions:
            replica = builder.add(Node(f"{region}/table-replica", _lines("DynamoDB replica", "(global table)"), region, "data"))
            builder.link(table_node, replica, "member", "replica")


def _table_regions(table: Resource) -> list[str]:
    """The table's own region (its provider's) and each replica's."""
    replicas = [_text(r.get("regionName")) for r in table.inputs.get("replicas") or [] if isinstance(r, Mapping)]
    return [region for region in [table.region, *replicas] if region]


def _cdn(builder: _Builder, root: Resource, members: list[Resource]) -> None:
    distribution = _first(members, T_DISTRIBUTION)
    if distribution is None:
        _draw_generic(builder, root, members)
        return
    aliases = ", ".join(str(a) for a in distribution.inputs.get("aliases") or [])
    label = _lines("CloudFront", aliases, "origin group over the regional buckets")
    builder.add(Node(f"global/{root.name}", label, None, "edge"), members)


def _api_traffic(builder: _Builder, root: Resource, members: list[Resource]) -> None:
    """One node per record, one per region for its health checks (endpoint probe, routing-control check, gate),
    and one for the ARC cluster with its controls; their edges are drawn by ``_draw_traffic``."""
    parts: dict[str, dict[str, str]] = {}
    checks: dict[str, list[Resource]] = {}
    for check in (r for r in members if r.type == T_HEALTH_CHECK):
        region = _check_region(builder, check)
        if region is None:
            builder.notes.append(f"health check {check.name}: its region is unknown, not drawn")
            continue
        parts.setdefault(region, {"title": f"{region} health"}).update(_check_parts(check))
        checks.setdefault(region, []).append(check)
    for region, found in sorted(parts.items()):
        label = _lines(*(found[key] for key in _PART_ORDER if key in found))
        builder.add(Node(f"global/traffic-{region}", label, None, "dns"), checks[region])
    for record in (r for r in members if r.type == T_RECORD):
        builder.add(Node(f"global/{record.name}", _record_label(record), None, "dns"), [record])
    arc = [r for r in members if r.type.startswith("aws:route53recoverycontrol/")]
    if arc:
        label = _lines("Route 53 ARC", f"cluster, control panel, {_count(arc, T_ROUTING_CONTROL)} routing controls")
        builder.add(Node(f"global/{root.name}-arc", label, None, "dns"), arc)


def _check_region(builder: _Builder, check: Resource) -> str | None:
    tags = check.inputs.get("tags") or {}
    region = _text(tags.get("region")) if isinstance(tags, Mapping) else None
    if region:
        return region
    apis = builder.deps(check, T_API)
    return apis[0].region if apis else None


def _check_parts(check: Resource) -> dict[str, str]:
    """What a health check adds to its region's traffic node: the endpoint probe, the gate or the control."""
    kind = _text(check.inputs.get("type"))
    if kind == "CALCULATED":
        tags = check.inputs.get("tags") or {}
        mode = _text(tags.get("trafficControl")) if isinstance(tags, Mapping) else None
        return {"gate": f"gate: calculated{f' ({mode})' if mode else ''}"}
    if kind == "RECOVERY_CONTROL":
        return {"control": "routing control check"}
    interval, threshold = _int(check.inputs.get("requestInterval")), _int(check.inputs.get("failureThreshold"))
    path = _text(check.inputs.get("resourcePath")) or "/"
    return {"probe": f"{kind} {path} every {interval} s x {threshold}"}


_PART_ORDER = ("title", "probe", "control", "gate")


def _record_label(record: Resource) -> str:
    name = _text(record.inputs.get("name")) or record.name
    ttl = record.inputs.get("ttl")
    return _lines(name, _routing_policy(record) + (f", TTL {_int(ttl)} s" if ttl is not None else ", alias"))


def _routing_policy(record: Resource) -> str:
    """``failover PRIMARY``, ``latency eu-west-1`` or ``simple``."""
    failover = record.inputs.get("failoverRoutingPolicies") or []
    latency = record.inputs.get("latencyRoutingPolicies") or []
    if failover:
        return f"failover {failover[0].get('type')}"
    if latency:
        return f"latency {latency[0].get('region')}"
    return "simple"


def _events_endpoint(builder: _Builder, root: Resource, members: list[Resource]) -> None:
    endpoint = _first(members, T_EVENT_ENDPOINT)
    if endpoint is None:
        _draw_generic(builder, root, members)
        return
    state = _text((endpoint.inputs.get("replicationConfig") or {}).get("state")) or "?"
    label = _lines("EventBridge global endpoint", "primary while its gate is healthy", f"replication {state.lower()}")
    builder.add(Node(f"global/{root.name}", label, None, "edge"), members)


def _is_alarm_root(builder: _Builder, resource: Resource) -> bool:
    """An alarm topic, a health-check alarm or the dashboard: directly under a RegionalStack or the GlobalStack."""
    parent = builder.by_urn.get(resource.parent or "")
    return resource.type in ALARM_TYPES and parent is not None and parent.type in (GLOBAL_STACK, REGIONAL_STACK)


def _observability(builder: _Builder, members: list[Resource]) -> None:
    """A node for the dashboard and the health-check alarms; each region's topic and alarms in that region."""
    alarms = [r for r in members if r.type == T_ALARM]
    health = [a for a in alarms if a.inputs.get("namespace") == HEALTH_NAMESPACE]
    dashboard = _first(members, T_DASHBOARD)
    title = f"dashboard {_text(dashboard.inputs.get('dashboardName')) or ''}".strip() if dashboard else "observability"
    # Route53 health-check metrics, so their alarms and the topic these notify, live in us-east-1 only.
    health_regions = sorted({a.region for a in health if a.region})
    topics = sorted({_text(t.inputs.get("name")) or t.name for t in members if t.type == T_TOPIC and t.region in health_regions})
    detail = f"{len(health)} health-check alarms -> SNS {', '.join(topics)} in {', '.join(health_regions)}"
    label = _lines("CloudWatch", title, detail if health else "no health-check alarms")
    global_node = builder.add(Node("global/observability", label, None, "ops"), [r for r in (dashboard, *health) if r])
    for region in builder.regions:
        topic = next((t for t in members if t.type == T_TOPIC and t.region == region), None)
        regional = [a for a in alarms if a.region == region and a not in health]
        if topic is None and not regional:
            continue
        label = _lines("alarms", f"{len(regional)} alarms -> SNS {_text(topic.inputs.get('name')) if topic else ''}".strip())
        builder.add(Node(f"{region}/alarms", label, region, "ops"), [r for r in (topic, *regional) if r is not None])
    for resource in members:
        builder.node_of.setdefault(resource.urn, global_node)


_Drawer = Callable[[_Builder, Resource, list[Resource]], None]
_GLOBAL_DRAWERS: dict[str, _Drawer] = {
    "multi-region:dns:HostedZone": _zone,
    "multi-region:database:AuroraGlobal": _aurora_global,
    "multi-region:cache:MultiRegionCache": _memorydb_multi_region,
    "multi-region:database:AuroraMasterSecret": _secret,
    "multi-region:data:GlobalTable": _table,
    "multi-region:edge:Cdn": _cdn,
    "multi-region:dns:ApiTraffic": _api_traffic,
    "multi-region:events:EventsEndpoint": _events_endpoint,
}


# ---- edges ---------------------------------------------------------------------------------------


def _draw_replication(builder: _Builder) -> None:
    """Every replication path the run would create, and CloudFront's origins."""
    _bucket_edges(builder)
    _table_edges(builder)
    _aurora_edges(builder)
    _memorydb_edges(builder)
    _secret_edges(builder)
    _event_edges(builder)
    _app_config_edges(builder)
    for distribution in builder.run.of_type(T_DISTRIBUTION):
        _draw_origins(builder, distribution)


def _bucket_edges(builder: _Builder) -> None:
    """Each S3 replication rule, from its configuration's bucket to the rule's destination bucket (by name)."""
    run = builder.run
    buckets_by_name = {name: r for r in run.of_type(T_BUCKET) if (name := _text(r.inputs.get("bucket")))}
    for config in run.of_type(T_REPLICATION_CONFIG):
        source = buckets_by_name.get(_text(config.inputs.get("bucket")) or "")
        for rule in config.inputs.get("rules") or []:
            destination = rule.get("destination") or {}
            arn = _text(destination.get("bucket")) or ""
            target = buckets_by_name.get(arn.rsplit(":", 1)[-1])
            if source is None or target is None:
                builder.notes.append(f"S3 replication {config.name} rule {rule.get('id')}: bucket unknown, not drawn")
                continue
            rtc = destination.get("replicationTime") or {}
            minutes = _int((rtc.get("time") or {}).get("minutes")) if rtc.get("status") == "Enabled" else None
            label = f"S3 RTC {minutes} min" if minutes else "S3, no RTC"
            builder.link(builder.node_of.get(source.urn), builder.node_of.get(target.urn), "replication", label)


def _table_edges(builder: _Builder) -> None:
    """A global table replicates every way: an edge for every ordered pair of its replicas' regions."""
    for table in builder.run.of_type(T_TABLE):
        regions = [r for r in _table_regions(table) if r in builder.regions]
        for source in regions:
            for target in regions:
                if source != target:
                    builder.link(f"{source}/table-replica", f"{target}/table-replica", "replication", "DynamoDB")


def _aurora_edges(builder: _Builder) -> None:
    """The global cluster to each member cluster (same identifier, or a dependency on it), by the member's role."""
    run = builder.run
    for global_cluster in run.of_type(T_GLOBAL_CLUSTER):
        identifier = _text(global_cluster.inputs.get("globalClusterIdentifier"))
        for member in run.of_type(T_DB_CLUSTER):
            joined = identifier is not None and _text(member.inputs.get("globalClusterIdentifier")) == identifier
            if not joined and global_cluster.urn not in member.dependencies:
                continue
            role = "primary (writer)" if member.region == builder.primary else "secondary (reader)"
            builder.link(builder.node_of.get(global_cluster.urn), builder.node_of.get(member.urn), "replication", role)


def _memorydb_edges(builder: _Builder) -> None:
    """The MemoryDB Multi-Region cluster to each member, both ways (active-active), with its typical lag."""
    run = builder.run
    for multi in run.of_type(T_MEMORYDB_MULTI_REGION):
        for member in run.of_type(T_MEMORYDB):
            if multi.urn in member.dependencies or member.inputs.get("multiRegionClusterName"):
                builder.link(builder.node_of.get(multi.urn), builder.node_of.get(member.urn), "replication", "cache ~1 s")


def _secret_edges(builder: _Builder) -> None:
    """A replicated secret to each replica region's cluster."""
    for secret in builder.run.of_type(T_SECRET):
        for replica in secret.inputs.get("replicas") or []:
            region = _text(replica.get("region")) if isinstance(replica, Mapping) else None
            anchor = _anchor(builder, region)
            if anchor is None:
                builder.notes.append(f"secret {secret.name}: replica region {region} is not a region of the stack, not drawn")
                continue
            builder.link(builder.node_of.get(secret.urn), anchor, "replication", "secret replica", head_cluster=region)


def _event_edges(builder: _Builder) -> None:
    """The global endpoint to its two buses (primary, secondary) and to the gate it reads; its replication between
    the two buses, asynchronous (docs/design/events.md)."""
    for endpoint in builder.run.of_type(T_EVENT_ENDPOINT):
        node = builder.node_of.get(endpoint.urn)
        failover = (endpoint.inputs.get("routingConfig") or {}).get("failoverConfig") or {}
        secondary = _text((failover.get("secondary") or {}).get("route"))
        buses = {bus.region: builder.node_of.get(bus.urn) for bus in builder.deps(endpoint, T_EVENT_BUS)}
        primary = next((region for region in buses if region != secondary), None)
        if primary is None or secondary not in buses:
            builder.notes.append(f"events endpoint {endpoint.name}: its buses are unknown, not drawn")
            continue
        builder.link(node, buses[primary], "events", "primary")
        builder.link(node, buses[secondary], "events", "secondary")
        rpo = f"EventBridge, async, RPO {EVENTBRIDGE_REPLICATION_SECONDS:g} s"
        builder.link(buses[primary], buses[secondary], "replication", rpo)
        for check in builder.deps(endpoint, T_HEALTH_CHECK):
            builder.link(node, builder.node_of.get(check.urn), "health", "health")


def _app_config_edges(builder: _Builder) -> None:
    """The stack's runtime settings, written by each deploy to every region's parameter (no AWS replication: the stack
    is the source, so a node for it and an edge to each region's application)."""
    run = builder.run
    if run.config is None:
        return
    name = parameter_name(run.config.project, run.config.stack)
    parameters = [p for p in run.of_type(T_PARAMETER) if p.inputs.get("name") == name and p.region in builder.regions]
    if not parameters:
        return
    label = _lines("Runtime settings", f"Pulumi.{run.stack}.yaml, each pulumi up", "RPO: the last deploy")
    source = builder.add(Node("global/app-config", label, None, "ops", row=GLOBAL_DATA_ROW))
    for parameter in parameters:
        builder.link(source, builder.node_of.get(parameter.urn), "replication", f"SSM {name}")


def _anchor(builder: _Builder, region: str | None) -> str | None:
    """A node inside ``region``'s cluster for an arrow that ends at the cluster (its key, else its first node)."""
    if region not in builder.regions:
        return None
    inside = sorted(n.id for n in builder.nodes.values() if n.region == region)
    return f"{region}/kms" if f"{region}/kms" in inside else (inside[0] if inside else None)


def _draw_origins(builder: _Builder, distribution: Resource) -> None:
    """The origin group's members, in failover order, to their buckets: each origin id names its bucket's region
    (``components.edge.origin_id``); the buckets are the distribution's dependencies."""
    buckets = {origin_id(str(b.region)): b for b in builder.deps(distribution, T_BUCKET)}
    for group in distribution.inputs.get("originGroups") or []:
        codes = ", ".join(str(_int(c)) for c in (group.get("failoverCriteria") or {}).get("statusCodes") or [])
        for position, member in enumerate(group.get("members") or []):
            bucket = buckets.get(str(member.get("originId")))
            if bucket is None:
                builder.notes.append(f"CloudFront origin {member.get('originId')}: bucket unknown, not drawn")
                continue
            label = "origin 1" if position == 0 else f"origin {position + 1} (on {codes})"
            builder.link(builder.node_of.get(distribution.urn), builder.node_of.get(bucket.urn), "origin", label)


def _draw_traffic(builder: _Builder) -> None:
    """Records to the API they point at (through the custom domain they depend on) or the records they alias, and
    to their gate; each endpoint check to the API it probes; the ARC cluster to each gate with a control."""
    apis_by_region = {r.region: builder.node_of.get(r.urn) for r in builder.run.of_type(T_DOMAIN)}
    for record in builder.run.of_type(T_RECORD):
        node = f"global/{record.name}"
        if builder.node_of.get(record.urn) != node:
            continue
        label = _routing_policy(record).removeprefix("failover ")
        for domain in builder.deps(record, T_DOMAIN):
            builder.link(node, apis_by_region.get(domain.region), "traffic", label)
        for target in builder.deps(record, T_RECORD):
            builder.link(node, builder.node_of.get(target.urn), "traffic", f"{label} (alias)")
        for check in builder.deps(record, T_HEALTH_CHECK):
            builder.link(node, builder.node_of.get(check.urn), "health", "health")
    for check in builder.run.of_type(T_HEALTH_CHECK):
        for api in builder.deps(check, T_API):
            builder.link(builder.node_of.get(check.urn), builder.node_of.get(api.urn), "health", "probes")
        for control in builder.deps(check, T_ROUTING_CONTROL):
            builder.link(builder.node_of.get(control.urn), builder.node_of.get(check.urn), "health", "routing control")


# ---- DOT and rendering ---------------------------------------------------------------------------


def to_dot(diagram: Diagram) -> str:
    """Graphviz DOT text: global nodes first (outside any cluster), one ``cluster_<region>`` subgraph per region,
    then the edges; every line deterministic."""
    lines = [
        f"digraph {_quote(diagram.title)} {{",
        f"  graph [label={_quote(diagram.title)}, labelloc=t, fontname=Helvetica, fontsize=16, rankdir=TB, "
        "compound=true, newrank=true, nodesep=0.3, ranksep=0.7, splines=true];",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=10, margin="0.12,0.06"];',
        "  edge [fontname=Helvetica, fontsize=8, arrowsize=0.7];",
    ]
    lines += [f"  {_node_line(node)}" for node in diagram.nodes if node.region is None]
    for region, label in diagram.clusters:
        lines.append(f"  subgraph {_quote('cluster_' + region)} {{")
        lines.append(f'    graph [label={_quote(label)}, style="rounded,dashed", color="#5f6368", fontsize=13];')
        lines += [f"    {_node_line(node)}" for node in diagram.nodes if node.region == region]
        lines.append("  }")
    lines += _row_constraints(diagram)
    nodes = {node.id: node for node in diagram.nodes}
    ordered = {(e.tail, e.head, e.kind, e.label) for e in diagram.edges if e.head_cluster is None}
    for edge in diagram.edges:
        tail, head = nodes[edge.tail], nodes[edge.head]
        both = (edge.head, edge.tail, edge.kind, edge.label) in ordered
        if both and edge.head < edge.tail:
            continue  # drawn once, with arrows at both ends, from its other direction
        if tail.rank == head.rank and (tail.region or head.region) and edge.head_cluster is None:
            lines += _junction_lines(edge, both)
        else:
            lines.append(f"  {_edge_line(edge, both, tail.rank - head.rank)}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _junction_lines(edge: Edge, both: bool) -> list[str]:
    """An edge between two nodes of one row, one of them in a cluster (two regions' buckets, say), goes through a
    point one row below them: Graphviz 2.43 cannot rank a flat edge between clusters (``trouble in init_rank``).
    A comment line names the edge, or both edges when it runs both ways."""
    junction = f"via:{edge.kind}:{edge.tail}:{edge.head}"
    style = EDGE_STYLES.get(edge.kind, "")
    color = style.split(",")[0] if style.startswith("color=") else 'color="#000000"'
    names = [f"{edge.tail} -> {edge.head}"] + ([f"{edge.head} -> {edge.tail}"] if both else [])
    lines = [f"  // {edge.kind}: {name}{f' ({edge.label})' if edge.label else ''}" for name in names]
    xlabel = f", xlabel={_quote(edge.label)}, fontname=Helvetica, fontsize=8" if edge.label else ""
    lines.append(f"  {_quote(junction)} [shape=point, width=0.05, {color}{xlabel}];")
    # Both segments run down from their node to the point; the arrowheads sit where the replication arrives.
    lines.append(f"  {_quote(edge.tail)} -> {_quote(junction)} [{style}, dir={'back' if both else 'none'}];")
    lines.append(f"  {_quote(edge.head)} -> {_quote(junction)} [{style}, dir=back];")
    return lines


def _edge_line(edge: Edge, both: bool, rise: int) -> str:
    """An edge. ``both``: the same edge also runs the other way (two-way replication), drawn as one double arrow.
    ``rise``: how many rows its tail is below its head; an edge within a row does not constrain the rows, and one
    that points up is laid out from its head down (``dir=back``) so that it still pulls the two ends together."""
    tail, head = edge.tail, edge.head
    attributes = [EDGE_STYLES.get(edge.kind, "")]
    if edge.label:
        attributes.append(f"label={_quote(edge.label)}")
    if both:
        attributes.append("dir=both")
    elif rise > 0:
        tail, head = head, tail
        attributes.append("dir=back")
    if edge.head_cluster:
        attributes.append(f"{'ltail' if rise > 0 and not both else 'lhead'}={_quote('cluster_' + edge.head_cluster)}")
    if rise == 0:
        attributes.append("constraint=false")
    return f"{_quote(tail)} -> {_quote(head)} [{', '.join(a for a in attributes if a)}];"


def _row_constraints(diagram: Diagram) -> list[str]:
    """Rows top to bottom (``Node.rank``): the nodes of a row side by side, and invisible edges from each row to the
    next of the global nodes and of every cluster (as many ranks apart as their rows), so that every region reads
    from its entry point down to its foundations, level with the others."""
    groups: dict[str | None, dict[int, list[str]]] = {}
    for node in diagram.nodes:
        groups.setdefault(node.region, {}).setdefault(node.rank, []).append(_quote(node.id))
    lines: list[str] = []
    for region in [None, *(name for name, _ in diagram.clusters)]:
        rows = sorted(groups.get(region, {}).items())
        lines += [f"  {{rank=same; {'; '.join(ids)};}}" for _, ids in rows if region is None]
        for (upper, tails), (lower, heads) in itertools.pairwise(rows):
            lines += [f"  {tail} -> {head} [style=invis, minlen={lower - upper}];" for tail in tails for head in heads]
    return lines


def _node_line(node: Node) -> str:
    return f"{_quote(node.id)} [label={_quote(node.label)}, fillcolor={_quote(NODE_STYLES.get(node.kind, '#ffffff'))}];"


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, line breaks as DOT's centred ``\\n``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(dot_text: str, out_dir: Path, *, stem: str = DIAGRAM_STEM, dot: str | None = None) -> list[Path]:
    """Write ``<stem>.svg`` and ``<stem>.png`` in ``out_dir`` with one run of ``dot`` (one layout, two outputs).

    Raises
    ------
    DotNotFoundError
        ``dot`` is not installed (the message says how to install it).
    DiagramRenderError
        ``dot`` exits non-zero or takes longer than ``DOT_TIMEOUT_SECONDS``.
    """
    program = dot or shutil.which("dot")
    if program is None:
        raise DotNotFoundError(f"Graphviz `dot` was not found on PATH; {INSTALL_HINT}")
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = [out_dir / f"{stem}.svg", out_dir / f"{stem}.png"]
    command = [program, "-Tsvg", f"-o{outputs[0]}", "-Tpng", f"-o{outputs[1]}"]
    try:
        result = subprocess.run(command, input=dot_text, capture_output=True, text=True, timeout=DOT_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise DiagramRenderError(f"`dot` did not finish within {DOT_TIMEOUT_SECONDS} s") from None
    except FileNotFoundError:
        raise DotNotFoundError(f"Graphviz `dot` was not found at {program}; {INSTALL_HINT}") from None
    except OSError as error:
        raise DiagramRenderError(f"could not run `{program}`: {error}") from None
    if result.returncode != 0:
        raise DiagramRenderError(f"`dot` exited with status {result.returncode}: {result.stderr.strip()}")
    return outputs


# ---- small helpers -------------------------------------------------------------------------------


def _first(resources: Iterable[Resource], type_: str) -> Resource | None:
    return next((r for r in sorted(resources, key=lambda r: r.name) if r.type == type_), None)


def _count(resources: Iterable[Resource], type_: str) -> int:
    return sum(1 for r in resources if r.type == type_)


def _text(value: Any) -> str | None:
    """A string input, or ``None`` when the input is absent or unknown (preview mode)."""
    return value if isinstance(value, str) else None


def _int(value: Any) -> int:
    """A number input as a whole number (the mocks pass numbers as floats); 0 when absent or unknown."""
    return int(value) if isinstance(value, (int, float)) else 0


def _lines(*parts: str) -> str:
    return "\n".join(part for part in parts if part)


def _wrap(text: str, width: int) -> list[str]:
    """``text`` (a comma-separated list) broken after a comma before ``width`` characters."""
    lines: list[str] = []
    for item in (p.strip() for p in text.split(",") if p.strip()):
        if lines and len(lines[-1]) + len(item) + 2 <= width:
            lines[-1] += f", {item}"
        else:
            lines.append(item)
    return lines
