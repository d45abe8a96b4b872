"""The mocks harness: runs the whole Pulumi program offline and records what it would create.

Used by the unit tests and by ``python -m ops plan``: reads the stack config as the Pulumi CLI does, runs
``__main__.py`` under ``pulumi.runtime.set_mocks`` (preview or update mode), answers its data-source calls and
records every resource (type, name, inputs, provider, parent, options). In preview, computed outputs are unknown and
``.apply`` callbacks over them never run: assert values in update mode. See docs/design/plan-tooling.md.

Example:
    >>> [r.name for r in run_program("prod", preview=False).of_type("aws:ec2/vpc:Vpc")]
    ['us-east-1-net-vpc', 'eu-west-1-net-vpc']
"""

from __future__ import annotations

import gc
import json
import runpy
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config import StackConfig, did_you_mean, load_config, project_values

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
PARTITION = "aws"
PROVIDER_TYPE = "pulumi:providers:aws"
ARC_ENDPOINT_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "ap-southeast-2")
STACK_TYPE = "pulumi:pulumi:Stack"


class Unknown:
    """Stands for an output the engine would only know after an update."""

    def __repr__(self) -> str:
        return "(known after update)"

    def __reduce__(self) -> str:
        return "UNKNOWN"  # unpickled as this module's one instance (runs are shared between test workers)


UNKNOWN = Unknown()


class UnansweredCallError(RuntimeError):
    """The program made a data-source call the harness has no answer for."""


@dataclass
class Resource:
    """One registered resource, as the engine would have seen it."""

    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict[str, Any]
    parent: str | None
    provider: str | None
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    # The aliases it was registered with, as the engine receives them: {"urn": ...} or a spec with "name", "type",
    # "parent" (a URN) or "noParent" (it was at the root), empty fields meaning "as now".
    aliases: tuple[dict[str, Any], ...] = ()
    region: str | None = None
    children: list[Resource] = field(default_factory=list, repr=False)

    def policy(self, key: str = "policy") -> Any:
        """An input holding a JSON policy document, parsed."""
        return json.loads(self.inputs[key])


@dataclass
class ProgramRun:
    """What one run of the program registered, with queries for the tests and the plan."""

    stack: str
    preview: bool
    resources: list[Resource]
    outputs: dict[str, Any]
    error: Exception | None = None
    region_order: list[str] = field(default_factory=list)
    config: StackConfig | None = None

    def of_type(self, type_: str, region: str | None = None) -> list[Resource]:
        return [r for r in self.resources if r.type == type_ and (region is None or r.region == region)]

    def one(self, type_: str, region: str | None = None) -> Resource:
        found = self.of_type(type_, region)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} in {region or 'the stack'}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> Resource:
        return next(r for r in self.resources if r.urn == urn)

    def in_region(self, region: str) -> list[Resource]:
        return [r for r in self.resources if r.region == region]

    def regions(self) -> list[str]:
        """Regions with a provider, in the order of the stack's ``regions`` config."""
        found = [str(r.inputs["region"]) for r in self.of_type(PROVIDER_TYPE)]
        return sorted(found, key=lambda name: self.region_order.index(name) if name in self.region_order else len(found))

    def custom(self) -> list[Resource]:
        return [r for r in self.resources if r.custom and not r.type.startswith("pulumi:providers:")]

    def type_counts(self) -> Counter[str]:
        return Counter(r.type for r in self.resources)

    def descendants(self, resource: Resource) -> Iterator[Resource]:
        for child in resource.children:
            yield child
            yield from self.descendants(child)

    def roots(self) -> list[Resource]:
        return sorted((r for r in self.resources if r.parent is None), key=lambda r: (r.type != PROVIDER_TYPE, r.name))


# ---- config, the way the CLI assembles it --------------------------------------------------------


class StackFileError(ValueError):
    """A project or stack file, or a ``--set`` value, that cannot be read: the message names where and what."""


class _Secure:
    """A ``secure:`` value: ciphertext only the Pulumi CLI can decrypt."""


SECURE = _Secure()


@dataclass(frozen=True)
class Project:
    """``Pulumi.yaml`` as the CLI reads it: the project's name and its declared config keys with their defaults."""

    root: Path
    name: str
    declared: dict[str, dict[str, Any]]
    defaults: dict[str, Any]


def _compose(text: str, where: str) -> yaml.Node | None:
    """The YAML node tree of ``text``; malformed YAML raises ``StackFileError`` naming ``where``, line and column."""
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:

        def at(mark: yaml.Mark | None) -> str:
            return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"

        message = f"{where}, {at(error.problem_mark)}: malformed YAML: {error.problem}"
        if error.context and error.context_mark:
            message += f" ({error.context.removeprefix('while parsing ')} started at {at(error.context_mark)})"
        raise StackFileError(message) from None
    return node


def _mapping(node: yaml.Node | None, where: str) -> dict[str, yaml.Node]:
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise StackFileError(f"{where}, line {node.start_mark.line + 1}: expected a mapping of keys to values")
    return {str(key.value): value for key, value in node.value}


def _line(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _typed(node: yaml.Node, spec: Mapping[str, Any], where: str) -> Any:
    """A value as the CLI hands it to the program, by the type its key declares: a scalar is the text as written
    (``16.10`` stays ``"16.10"`` for a string key), an array a list of its items, ``secure:`` a placeholder."""
    kind = spec.get("type", "string")
    if isinstance(node, yaml.MappingNode) and "secure" in _mapping(node, where):
        return SECURE
    if kind == "array":
        if not isinstance(node, yaml.SequenceNode):
            raise StackFileError(f"{where}, {_line(node)}: expects a list, e.g. [a, b]; got {_shown(node)}")
        return [_typed(item, spec.get("items", {}), where) for item in node.value]
    if kind == "object":
        return yaml.safe_load(yaml.serialize(node))
    if not isinstance(node, yaml.ScalarNode):
        raise StackFileError(f"{where}, {_line(node)}: expects a single {kind} value; got {_shown(node)}")
    return str(node.value)


def _shown(node: yaml.Node) -> str:
    return (
        "a list"
        if isinstance(node, yaml.SequenceNode)
        else "a mapping"
        if isinstance(node, yaml.MappingNode)
        else repr(node.value)
    )


def read_project(root: Path | None = None) -> Project:
    """Read ``Pulumi.yaml`` under ``root`` (the repository's by default): its ``name`` (never assumed) and every
    declared key's default."""
    root = root or ROOT
    path = root / "Pulumi.yaml"
    top = _mapping(_compose(path.read_text(), path.name), path.name)
    if "name" not in top or not isinstance(top["name"], yaml.ScalarNode) or not top["name"].value:
        raise StackFileError(f"{path.name}: no project name (name: ...)")
    declared: dict[str, dict[str, Any]] = {}
    defaults: dict[str, Any] = {}
    for key, spec_node in _mapping(top.get("config"), path.name).items():
        spec = _mapping(spec_node, f"{path.name}, config {key}")
        declared[key] = yaml.safe_load(yaml.serialize(spec_node)) or {}
        if "default" in spec:
            defaults[key] = _typed(spec["default"], declared[key], f"{path.name}, config {key}")
    return Project(root, str(top["name"].value), declared, defaults)


def stack_values(stack: str, project: Project | None = None) -> dict[str, Any]:
    """The project's values in ``Pulumi.<stack>.yaml``, without the namespace, typed by their declared types.

    Raises ``FileNotFoundError`` for an unknown stack, ``StackFileError`` for malformed YAML or a value of the wrong
    shape, ``ConfigError`` for a key outside the project's namespace (each with the file and line).
    """
    project = project or read_project()
    path = project.root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        known = sorted(p.name.split(".")[1] for p in project.root.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"no stack file {path.name}; stacks: {', '.join(known)}")
    top = _mapping(_compose(path.read_text(), path.name), path.name)
    nodes = _mapping(top.get("config"), path.name)
    where = {name: f"{path.name}, line {node.start_mark.line + 1}" for name, node in nodes.items()}
    names = project_values(dict.fromkeys(nodes, ""), project.name, where)  # raises for keys outside the namespace
    prefix = project.name + ":"
    # An undeclared key keeps its YAML shape: load_config then names it and the nearest declared key.
    return {
        key: _typed(nodes[prefix + key], project.declared[key], f"{path.name}, {prefix}{key}")
        if key in project.declared
        else yaml.safe_load(yaml.serialize(nodes[prefix + key]))
        for key in names
    }


def parse_setting(item: str, project: Project | None = None) -> tuple[str, Any]:
    """One ``--set KEY=VALUE``: the key with or without the project's namespace; the value read by the key's declared
    type (a string, integer or boolean key takes the text as given; an array or object key takes YAML)."""
    project = project or read_project()
    name, sep, text = item.partition("=")
    if not sep or not name:
        raise StackFileError(f"--set takes KEY=VALUE, got {item!r}")
    if ":" in name and not name.startswith(project.name + ":"):
        project_values({name: text}, project.name)  # raises, naming the namespace and the nearest key
    key = name.removeprefix(project.name + ":")
    if key not in project.declared:
        raise StackFileError(f"--set {key}: not a key of this project{did_you_mean(key)}")
    spec = project.declared[key]
    if spec.get("type", "string") not in ("array", "object"):
        return key, text
    node = _compose(text, f"--set {key}")
    if node is None:
        raise StackFileError(f"--set {key}: expects a YAML {spec['type']}, e.g. --set '{key}=[a, b]'; got nothing")
    return key, _typed(node, spec, f"--set {key}")


def raw_config(
    stack: str, overrides: Mapping[str, Any] | None = None, project: Project | None = None
) -> tuple[dict[str, str], list[str]]:
    """Config as the engine hands it to the program: namespaced keys, every value a string.

    ``secure:`` values cannot be decrypted without the CLI; they become placeholders, marked secret.
    An override of ``None`` removes the key.
    """
    project = project or read_project()
    merged: dict[str, Any] = {**project.defaults, **stack_values(stack, project), **(overrides or {})}
    config: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in merged.items():
        if value is None:
            continue
        name = f"{project.name}:{key}"
        if value is SECURE or (isinstance(value, dict) and "secure" in value):
            config[name] = f"mock-secret-{key}"
            secrets.append(name)
        else:
            config[name] = _as_config_string(value)
    return config, secrets


def stack_config(stack: str, overrides: Mapping[str, Any] | None = None, project: Project | None = None) -> StackConfig:
    """The typed config of ``stack`` as the program sees it (raises ``ConfigError`` when invalid)."""
    project = project or read_project()
    return _typed_config(raw_config(stack, overrides, project)[0], stack, project.name)


def _typed_config(config: Mapping[str, str], stack: str, project: str) -> StackConfig:
    return load_config(project_values(config, project), stack, project)


def _as_config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


# ---- the mocks --------------------------------------------------------------------------------------

_LOCK = threading.Lock()


def _mock_classes() -> tuple[type, type]:
    """Build the Mocks and monitor classes (pulumi is imported only when a run is asked for)."""
    return _recording_mocks_class(), _recording_monitor_class()


def _recording_mocks_class() -> type:
    """The Mocks that answer the engine: inputs (preview) or inputs with computed outputs (update), and data sources."""
    import pulumi

    class RecordingMocks(pulumi.runtime.Mocks):
        def __init__(self, preview: bool) -> None:
            self.preview = preview
            self.resources: dict[str, Resource] = {}
            self.provider_regions: dict[str, str] = {}

        def region_of(self, provider_ref: str | None) -> str | None:
            if not provider_ref:
                return None
            return self.provider_regions.get(provider_ref.rsplit("::", 1)[0])

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            state = dict(args.inputs)
            if self.preview:
                # The engine knows only the inputs during a preview; the id and computed outputs are unknown.
                return None, state
            resource_id = f"{args.name}-id"
            region = self.region_of(args.provider) or args.inputs.get("region") or "us-east-1"
            state.setdefault("arn", _fake_arn(args.typ, args.name, region))
            state.setdefault("id", resource_id)
            for key, value in _computed_outputs(args.typ, args.name, resource_id, region, args.inputs).items():
                if isinstance(value, dict) and isinstance(state.get(key), dict):
                    # A block with both inputs and computed fields (e.g. an EKS cluster's vpcConfig): merge.
                    state[key] = {**value, **state[key]}
                elif isinstance(value, list) and isinstance(state.get(key), list) and len(value) == len(state[key]):
                    # A list of such blocks (e.g. a table's replicas, each with a computed stream ARN): merge each.
                    state[key] = [
                        {**computed, **given} if isinstance(computed, dict) and isinstance(given, dict) else given
                        for computed, given in zip(value, state[key], strict=True)
                    ]
                else:
                    state.setdefault(key, value)
            return resource_id, state

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
            return _data_source(args.token, args.args, self.region_of(args.provider), args.provider)

    return RecordingMocks


def _recording_monitor_class() -> type:
    """The monitor that records every registered resource with the options the mocks API leaves out."""
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor

    class RecordingMonitor(MockMonitor):
        """Captures the resource options the mocks API leaves out (protect, ignoreChanges, parent, ...)."""

        def __init__(self, mocks: Any) -> None:
            super().__init__(mocks)
            self.recorder = mocks

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the engine's gRPC method name)
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            if request.type == STACK_TYPE:
                return response
            urn = self.make_urn(request.parent, request.type, request.name)
            inputs = _assets_as_data(rpc.deserialize_properties(request.object))
            provider = request.provider or None
            if not provider and request.providers:
                provider = request.providers.get("aws") or None
            resource = Resource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                inputs=inputs,
                parent=request.parent if request.parent and _urn_type(request.parent) != STACK_TYPE else None,
                provider=provider.rsplit("::", 1)[0] if provider else None,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=tuple(request.ignoreChanges),
                dependencies=tuple(request.dependencies),
                aliases=tuple(_alias(alias) for alias in request.aliases),
            )
            if request.type == PROVIDER_TYPE:
                self.recorder.provider_regions[urn] = str(inputs["region"])
                resource.region = str(inputs["region"])
            self.recorder.resources[urn] = resource
            return response

    return RecordingMonitor


def _data_source(token: str, args: Mapping[str, Any], region: str | None, provider: str | None) -> dict[str, Any]:
    """The answer to a data-source call the program makes (``region`` is its provider's); UnansweredCallError for
    one this harness does not know, so a run never goes on with empty values."""
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "accountId": ACCOUNT_ID,
            "arn": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user/ci",
            "userId": "AIDAMOCK",
            "id": ACCOUNT_ID,
        }
    if token == "aws:index/getPartition:getPartition":
        return {"partition": PARTITION, "dnsSuffix": "amazonaws.com", "id": PARTITION}
    if token == "aws:route53/getZone:getZone":
        zone = str(args["name"]).rstrip(".")
        return {
            "zoneId": "ZMOCK" + zone.replace(".", "").upper(),
            "name": zone,
            "nameServers": [f"ns-1.{zone}"],
            "id": zone,
        }
    if region is None:
        raise UnansweredCallError(f"{token} was called without a regional provider (provider={provider!r})")
    if token == "aws:index/getRegion:getRegion":
        return {"region": region, "name": region, "endpoint": f"ec2.{region}.amazonaws.com", "id": region}
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        names, zone_ids = mock_zones(region)
        return {"names": names, "zoneIds": zone_ids, "id": region}
    raise UnansweredCallError(f"the mocks harness has no answer for data source {token}; add one in planning/harness.py")


def _assets_as_data(value: Any) -> Any:
    """Inputs with every asset and archive as plain data (``{"fileArchive": path}``, ...), so they stay JSON."""
    import pulumi

    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        kind = type(value).__name__
        detail = next((getattr(value, a) for a in ("path", "uri", "text") if getattr(value, a, None) is not None), None)
        if detail is None:
            detail = _assets_as_data(dict(getattr(value, "assets", {})))
        return {kind[0].lower() + kind[1:]: detail}
    if isinstance(value, dict):
        return {key: _assets_as_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_assets_as_data(item) for item in value]
    return value


def _alias(alias: Any) -> dict[str, Any]:
    """One alias of a RegisterResource request (``pulumi.runtime.proto.alias_pb2.Alias``) as plain data."""
    if alias.WhichOneof("alias") == "urn":
        return {"urn": alias.urn}
    spec = alias.spec
    return {"name": spec.name, "type": spec.type, "parent": spec.parentUrn, "noParent": spec.noParent}


def _urn_type(urn: str) -> str:
    return urn.split("::")[2].rsplit("$", maxsplit=1)[-1]


# us-east-1 as an account sees it: six zones whose names do not follow their IDs, and use1-az3 (which EKS refuses)
# behind the first name. Other regions: four zones, names in ID order, IDs as AWS spells them (euw1-az1, apse2-az1).
_MOCK_ZONE_IDS = {"us-east-1": ("use1-az3", "use1-az6", "use1-az1", "use1-az2", "use1-az4", "use1-az5")}


def mock_zones(region: str) -> tuple[list[str], list[str]]:
    """The availability zones the mocks answer for ``region``: names and zone IDs, in the same order."""
    area, direction, number = region.split("-")
    short = {"northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw"}.get(direction, direction[0])
    zone_ids = list(_MOCK_ZONE_IDS.get(region, [f"{area}{short}{number}-az{i + 1}" for i in range(4)]))
    return [f"{region}{suffix}" for suffix in "abcdef"[: len(zone_ids)]], zone_ids


def _fake_arn(type_: str, name: str, region: str) -> str:
    service = type_.split(":")[1].split("/", maxsplit=1)[0]
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT_ID}:{type_.rsplit(':', maxsplit=1)[-1].lower()}/{name}"


def _stream_arn(region: str, table: str) -> str:
    return f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT_ID}:table/{table}/stream/2025-01-01T00:00:00.000"


def _acm_validation(domain: str) -> list[dict[str, str]]:
    """ACM gives a domain the same validation record in every region of an account."""
    return [
        {
            "domainName": domain,
            "resourceRecordName": f"_acm-mock.{domain}.",
            "resourceRecordType": "CNAME",
            "resourceRecordValue": f"_acm-mock.{domain}.acm-validations.aws.",
        }
    ]


def _computed_outputs(type_: str, name: str, resource_id: str, region: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs the real provider computes that the program reads (some depend on the region or the inputs)."""
    domain = str(inputs.get("domainName", ""))
    # The name the resource is given (a table's, a queue's), else its resource name.
    given_name = str(inputs.get("name", name))
    computed: dict[str, dict[str, Any]] = {
        "aws:kms/key:Key": {"keyId": resource_id},
        "aws:route53/zone:Zone": {"zoneId": f"{name}-zone-id", "nameServers": [f"ns-1.{name}.example"]},
        "aws:cloudwatch/logGroup:LogGroup": {"name": name},
        "aws:ec2/launchTemplate:LaunchTemplate": {"latestVersion": 1},
        "random:index/randomPassword:RandomPassword": {"result": f"mock-password-{name}"},
        "aws:rds/globalCluster:GlobalCluster": {"endpoint": f"{name}.global-mock.global.rds.amazonaws.com"},
        "aws:eks/cluster:Cluster": {"vpcConfig": {"clusterSecurityGroupId": f"{name}-cluster-sg-id"}},
        "aws:memorydb/cluster:Cluster": {
            "clusterEndpoints": [{"address": f"clustercfg.{name}.memorydb.amazonaws.com", "port": 6379}]
        },
        # AWS names a Multi-Region cluster with a prefix of its own before the given suffix.
        "aws:memorydb/multiRegionCluster:MultiRegionCluster": {
            "multiRegionClusterName": f"virxk-{inputs.get('multiRegionClusterNameSuffix', name)}"
        },
        "aws:apigatewayv2/api:Api": {
            "apiEndpoint": f"https://{resource_id}.execute-api.{region}.amazonaws.com",
            "executionArn": f"arn:{PARTITION}:execute-api:{region}:{ACCOUNT_ID}:{resource_id}",
        },
        # A global table's stream, and each replica's (a replica is a table of the same name in its region).
        "aws:dynamodb/table:Table": {
            "streamArn": _stream_arn(region, given_name),
            "replicas": [
                {"streamArn": _stream_arn(str(replica.get("regionName", "")), given_name)}
                for replica in inputs.get("replicas") or []
            ],
        },
        "aws:sqs/queue:Queue": {"url": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{given_name}"},
        "aws:apigatewayv2/domainName:DomainName": {
            "domainNameConfiguration": {
                "targetDomainName": f"d-{resource_id}.execute-api.{region}.amazonaws.com",
                "hostedZoneId": "ZAPIGW" + region.replace("-", "").upper(),
            }
        },
        "aws:acm/certificate:Certificate": {"domainValidationOptions": _acm_validation(domain)},
        "aws:route53/record:Record": {"fqdn": str(inputs.get("name", "")).rstrip(".")},
        # Z2FDTNDATAQYW2 is the hosted zone of every CloudFront distribution (alias records name it).
        "aws:cloudfront/distribution:Distribution": {
            "domainName": f"{resource_id}.cloudfront.net",
            "hostedZoneId": "Z2FDTNDATAQYW2",
        },
        "aws:s3/bucket:Bucket": {"bucketRegionalDomainName": f"{inputs.get('bucket', name)}.s3.{region}.amazonaws.com"},
        # A Route53 ARC cluster answers in five regions, whatever the provider's region.
        "aws:route53recoverycontrol/cluster:Cluster": {
            "clusterEndpoints": [
                {"region": arc, "endpoint": f"https://{resource_id}.route53-recovery-cluster.{arc}.amazonaws.com/v1"}
                for arc in ARC_ENDPOINT_REGIONS
            ]
        },
    }
    return computed.get(type_, {})


# ---- running the program --------------------------------------------------------------------------


def run_program(
    stack: str, *, preview: bool, overrides: Mapping[str, Any] | None = None, project: Project | None = None
) -> ProgramRun:
    """Run ``__main__.py`` for ``stack`` under the mocks and return what it registered.

    Parameters
    ----------
    stack: the stack whose ``Pulumi.<stack>.yaml`` is read.
    preview: ``True`` for preview mode (unknown computed outputs), ``False`` for update mode.
    overrides: config values (keys without namespace) put over the stack file; ``None`` removes a key.
    project: the project files (``Pulumi.yaml`` and the stack files) to read; the repository's by default.

    Raises
    ------
    pulumi.RunError: the program refused to run, e.g. with the config errors (``execute`` returns it instead).
    """
    run = execute(stack, preview=preview, overrides=overrides, project=project)
    if run.error is not None:
        raise run.error
    return run


def run_component(
    build: Callable[[], None],
    *,
    stack: str = "prod",
    preview: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> ProgramRun:
    """Run ``build`` alone under the mocks instead of ``__main__.py``: it constructs one component (with the provider
    it needs, e.g. ``region_provider(...)``) as the program would. The config of ``stack`` with ``overrides`` is set
    for anything that reads it; what ``build`` registered is recorded as ``run_program`` records it, and its errors
    are raised."""
    run = execute(stack, preview=preview, overrides=overrides, main=build)
    if run.error is not None:
        raise run.error
    return run


def execute(
    stack: str,
    *,
    preview: bool,
    overrides: Mapping[str, Any] | None = None,
    project: Project | None = None,
    main: Callable[[], None] | None = None,
) -> ProgramRun:
    """Like ``run_program``, but a program that fails still returns what it registered, with ``error`` set; ``main``
    runs in place of ``__main__.py`` when given (``run_component``)."""
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    project = project or read_project()
    config, secrets = raw_config(stack, overrides, project)
    mocks_class, monitor_class = _mock_classes()
    error: Exception | None = None
    outputs: dict[str, Any] = {}
    with _LOCK, _collector_paused():
        mocks = mocks_class(preview)
        settings.ROOT.set(None)
        set_all_config(config, secrets)
        pulumi.runtime.set_mocks(mocks, project=project.name, stack=stack, preview=preview, monitor=monitor_class(mocks))
        settings.SETTINGS.rpc_manager.clear()
        root = settings.get_root_resource()
        try:
            _sync_await(run_pulumi_func(main or _run_main))
            outputs = {name: _resolve(value) for name, value in getattr(root, "outputs", {}).items()}
        except Exception as exc:
            error = exc
        finally:
            settings.ROOT.set(None)
    resources = list(mocks.resources.values())
    _link(resources)
    try:
        order = [str(r) for r in json.loads(config.get(f"{project.name}:regions", "[]"))]
    except ValueError:
        order = []
    typed = _typed_config(config, stack, project.name) if error is None else None
    return ProgramRun(
        stack=stack, preview=preview, resources=resources, outputs=outputs, error=error, region_order=order, config=typed
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one run of the program, then one collection and ``gc.freeze``.

    A run allocates objects by the hundred thousand (the SDK's outputs, tasks and resource options; about 660 per
    resource), and leaves about a quarter of them in reference cycles that only the collector frees: nine in ten are
    the SDK's own (``pulumi.runtime.rpc.contains_unknowns`` makes a self-referencing closure on every call, 27 calls
    per resource), the program's components a few hundred. Collected as they came, the collector traversed the
    growing heap again and again (about 40% of the runs' CPU); paused, one collection at the end traverses what the
    run allocated once, and ``gc.freeze`` moves what survives it (the run's records, the pulumi_aws modules it
    imported, the SDK's state) out of every later collection's way, so a process that runs the program many times
    (the test session) does not traverse earlier runs again. Not done when the caller had the collector off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect()
            gc.freeze()


def _run_main() -> None:
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


def _link(resources: list[Resource]) -> None:
    by_urn = {r.urn: r for r in resources}
    for resource in resources:
        if resource.parent in by_urn:
            by_urn[resource.parent].children.append(resource)
    for resource in resources:
        # Registration order is asynchronous; sorting keeps the plan and its diffs stable.
        resource.children.sort(key=lambda r: (r.name, r.type))
    for resource in resources:
        if resource.region is None:
            resource.region = _region_of(resource, by_urn)


def _region_of(resource: Resource, by_urn: dict[str, Resource]) -> str | None:
    node: Resource | None = resource
    while node is not None:
        if node.provider and node.provider in by_urn:
            return by_urn[node.provider].region
        node = by_urn.get(node.parent) if node.parent else None
    return None


def _resolve(value: Any) -> Any:
    """Turn an exported value (Outputs nested in dicts and lists) into plain data; unknowns to UNKNOWN."""
    import pulumi
    from pulumi.runtime.sync_await import _sync_await

    if isinstance(value, pulumi.Output):
        if not _sync_await(value.is_known()):
            return UNKNOWN
        return _resolve(_sync_await(value.future()))
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v) for v in value]
    return value
