"""The rule model shared by the Pulumi policy pack and the offline evaluator, and the helpers rules read props with.

A rule is a plain function: a **resource rule** ``check(resource_type, props)`` yields a message per problem, a
**stack rule** ``check(stack)`` a ``StackViolation`` per problem over ``StackResource`` values that carry each
resource's region. ``ResourceRule.policy()`` and ``StackRule.policy()`` wrap the same function for the engine. Props
are what the engine hands a pack (camelCase, floats, JSON documents as strings, read-only proxies that may raise
``UnknownValueError``), so the helpers test for ``Mapping``/``Sequence``, never ``dict``/``list``. The stack's
regions are its AWS providers' less the one tagged ``role: edge``. Details: docs/design/policy-pack.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

Props = Mapping[str, Any]

PROVIDER_TYPE = "pulumi:providers:aws"
EDGE_ROLE = "edge"

# Resource types more than one module reads.
S3_BUCKET = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
S3_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
S3_VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
S3_LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
S3_LIFECYCLE = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
DYNAMODB_TABLE = "aws:dynamodb/table:Table"
MEMORYDB_CLUSTER = "aws:memorydb/cluster:Cluster"
MEMORYDB_MULTI_REGION = "aws:memorydb/multiRegionCluster:MultiRegionCluster"
ELASTICACHE_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
SECRET = "aws:secretsmanager/secret:Secret"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
RECORD = "aws:route53/record:Record"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
KMS_KEY = "aws:kms/key:Key"
SQS_QUEUE = "aws:sqs/queue:Queue"
SSM_PARAMETER = "aws:ssm/parameter:Parameter"


# ---- reading props ----------------------------------------------------------------------------------


def get(props: Any, *path: str) -> Any:
    """The value at ``path`` in nested mappings, ``None`` where a step is missing or not a mapping."""
    node = props
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def given(props: Any, *path: str) -> bool:
    """Whether the value at ``path`` is set. A value known only after the update counts as set: it is an output
    of another resource (a key's ARN, a subnet's id), so presence checks still run during a preview."""
    try:
        return bool(get(props, *path))
    except UnknownValueError:
        return True


def known(props: Any, *path: str) -> Any:
    """The value at ``path``, ``None`` when it is known only after the update (for checks that can skip it)."""
    try:
        return get(props, *path)
    except UnknownValueError:
        return None


def known_items(value: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The items of a mapping whose values are known (iterating keys never reads a value)."""
    for key in value:
        try:
            yield str(key), value[key]
        except UnknownValueError:
            continue


def known_elements(value: Sequence[Any]) -> Iterator[Any]:
    """The known elements of a sequence."""
    for index in range(len(value)):
        try:
            yield value[index]
        except UnknownValueError:
            continue


def blocks(value: Any) -> list[Mapping[str, Any]]:
    """A nested block, or a list of them, as a list of mappings (``[]`` when absent)."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def block(value: Any) -> Mapping[str, Any]:
    """The first block of ``value`` (an empty mapping when there is none)."""
    found = blocks(value)
    return found[0] if found else {}


def strings(value: Any) -> list[str]:
    """A string, or a list of them, as a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [item for item in value if isinstance(item, str)]
    return []


def flag(value: Any) -> bool | None:
    """A boolean, also from the strings ``"true"``/``"false"`` some providers take; ``None`` when unset."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def number(value: Any) -> float | None:
    """A number (the engine sends floats; some providers take numeric strings); ``None`` when unset."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def document(value: Any) -> Mapping[str, Any] | None:
    """A JSON policy document (a string, or already a mapping); ``None`` when absent or not a JSON object."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def statements(doc: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The statements of a policy document (one statement may be given without a list)."""
    return blocks(get(doc, "Statement"))


def everyone(principal: Any) -> bool:
    """Whether a statement's ``Principal`` is every principal: ``"*"``, or ``"*"`` among its ``AWS`` principals."""
    return principal == "*" or "*" in strings(get(principal, "AWS"))


def arn_region(arn: Any) -> str | None:
    """The region field of an ARN (``None`` for a global ARN, or when ``arn`` is not an ARN)."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[3] or None if len(parts) == 6 else None


def bucket_name(arn_or_name: Any) -> str | None:
    """A bucket's name from its ARN (``arn:aws:s3:::name``) or its name."""
    if not isinstance(arn_or_name, str) or not arn_or_name:
        return None
    return arn_or_name.split(":::", 1)[1] if arn_or_name.startswith("arn:") and ":::" in arn_or_name else arn_or_name


# ---- stack resources and regions --------------------------------------------------------------------


@dataclass(frozen=True)
class StackResource:
    """One resource as a stack rule sees it: its type, logical name, URN, props, region and dependencies (URNs)."""

    type: str
    name: str
    urn: str
    props: Props
    region: str | None
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackViolation:
    """A problem a stack rule found: on one resource (``urn``), or on the stack as a whole (``urn`` is ``None``)."""

    message: str
    urn: str | None = None


def resource_region(props: Props, provider_region: str | None) -> str | None:
    """The region a resource lives in: its own ``region`` property when it sets one, else its provider's."""
    own = props.get("region")
    return own if isinstance(own, str) and own else provider_region


def provider_role(props: Props) -> str | None:
    """The ``role`` default tag of a provider (``defaultTags`` reaches the engine as JSON text)."""
    tags = props.get("defaultTags")
    if isinstance(tags, str):
        tags = document(tags)
    role = get(tags, "tags", "role")
    return role if isinstance(role, str) else None


@dataclass(frozen=True)
class Stack:
    """The resources of a stack, with the lookups stack rules need."""

    resources: tuple[StackResource, ...]

    def of_type(self, *types: str) -> list[StackResource]:
        return [r for r in self.resources if r.type in types]

    def regions(self) -> list[str]:
        """The stack's regions, in the order their providers appear (the edge provider is not a stack region)."""
        found: list[str] = []
        for provider in self.of_type(PROVIDER_TYPE):
            if provider.region and provider.region not in found and provider_role(provider.props) != EDGE_ROLE:
                found.append(provider.region)
        return found

    def depends_on(self, resource: StackResource, target: StackResource) -> bool:
        return target.urn in resource.dependencies


def bucket_of(resource: StackResource) -> str | None:
    """The bucket a bucket (or a bucket's configuration resource) names in its ``bucket`` property."""
    return bucket_name(resource.props.get("bucket"))


def attached(stack: Stack, types: Sequence[str], bucket: StackResource) -> list[StackResource]:
    """The resources of ``types`` that configure ``bucket`` (they name it in their ``bucket`` property)."""
    name = bucket_of(bucket)
    return [r for r in stack.of_type(*types) if name is not None and bucket_of(r) == name]


def log_target_buckets(stack: Stack) -> set[str]:
    """Names of the buckets that receive S3 server access logs: such a bucket holds only its own region's logs,
    and S3 delivers server access logs only to SSE-S3 buckets."""
    return {name for r in stack.of_type(*S3_LOGGING) if (name := bucket_name(r.props.get("targetBucket")))}


def from_policy_resources(resources: Sequence[PolicyResource]) -> list[StackResource]:
    """The engine's view of a stack as ``StackResource`` values; providers the list leaves out are added from
    the resources that use them, so that ``Stack.regions`` sees every provider."""
    found: dict[str, StackResource] = {}
    for resource in resources:
        provider_region = resource.provider.props.get("region") if resource.provider else None
        found[resource.urn] = StackResource(
            type=resource.resource_type,
            name=resource.name,
            urn=resource.urn,
            props=resource.props,
            region=resource_region(resource.props, provider_region),
            dependencies=tuple(dependency.urn for dependency in resource.dependencies),
        )
    for resource in resources:
        provider = resource.provider
        if provider is not None and provider.urn not in found:
            found[provider.urn] = StackResource(
                type=provider.resource_type,
                name=provider.name,
                urn=provider.urn,
                props=provider.props,
                region=resource_region(provider.props, None),
            )
    return list(found.values())


# ---- rules ------------------------------------------------------------------------------------------

ResourceCheck = Callable[[str, Props], Iterable[str]]
StackCheck = Callable[[Stack], Iterable[StackViolation]]


def _level(advisory: str | None) -> EnforcementLevel:
    return EnforcementLevel.ADVISORY if advisory else EnforcementLevel.MANDATORY


@dataclass(frozen=True)
class ResourceRule:
    """A rule over one resource of the given types.

    ``advisory`` is ``None`` for a mandatory rule (the deployment stops on a violation); for a recommendation it
    says why the rule only warns.
    """

    name: str
    description: str
    resource_types: tuple[str, ...]
    check: ResourceCheck
    advisory: str | None = None

    @property
    def enforcement_level(self) -> EnforcementLevel:
        return _level(self.advisory)

    def validate(self, resource_type: str, props: Props) -> list[str]:
        """The violations of one resource (none for a resource of another type)."""
        if resource_type not in self.resource_types:
            return []
        return list(self.check(resource_type, props))

    def policy(self) -> ResourceValidationPolicy:
        """The pulumi-policy object the engine runs: the same ``validate``, over the engine's args."""

        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            for message in self.validate(args.resource_type, args.props):
                report_violation(message, None)

        return ResourceValidationPolicy(
            name=self.name, description=self.description, validate=validate, enforcement_level=self.enforcement_level
        )


@dataclass(frozen=True)
class StackRule:
    """A rule over the whole stack (what one resource cannot show: coverage of every region, links between
    resources). ``advisory`` as for ``ResourceRule``."""

    name: str
    description: str
    check: StackCheck
    advisory: str | None = None

    @property
    def enforcement_level(self) -> EnforcementLevel:
        return _level(self.advisory)

    def validate(self, resources: Iterable[StackResource]) -> list[StackViolation]:
        return list(self.check(Stack(tuple(resources))))

    def policy(self) -> StackValidationPolicy:
        """The pulumi-policy object the engine runs: the same ``validate``, over the engine's resources."""

        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            for violation in self.validate(from_policy_resources(args.resources)):
                report_violation(violation.message, violation.urn)

        return StackValidationPolicy(
            name=self.name, description=self.description, validate=validate, enforcement_level=self.enforcement_level
        )


Rule = ResourceRule | StackRule


def resource_rule(
    name: str, description: str, *resource_types: str, advisory: str | None = None
) -> Callable[[ResourceCheck], ResourceRule]:
    """Decorator: the function becomes the ``check`` of a resource rule over ``resource_types``."""

    def wrap(check: ResourceCheck) -> ResourceRule:
        return ResourceRule(name, description, resource_types, check, advisory)

    return wrap


def stack_rule(name: str, description: str, *, advisory: str | None = None) -> Callable[[StackCheck], StackRule]:
    """Decorator: the function becomes the ``check`` of a stack rule."""

    def wrap(check: StackCheck) -> StackRule:
        return StackRule(name, description, check, advisory)

    return wrap


Messages = Iterator[str]
Violations = Iterator[StackViolation]
