"""The program's synthesized plan as the Terraform plan JSON (``terraform show -json``) that checkov's ``terraform_plan``
framework reads: pulumi-aws is generated from the Terraform AWS provider, so the mapping is mechanical.

Type tokens become Terraform types (``aws:lambda/function:Function``: ``aws_lambda_function``), camelCase inputs
snake_case attributes, objects blocks (lists of objects) but map attributes, and an input holding another resource's id
or ARN an unknown value with a ``references`` expression: what checkov's graph checks connect resources by.

Example:
    >>> to_tfplan(run_program("prod", preview=False))["planned_values"]["root_module"]["resources"][0]["type"]
    'aws_kms_key'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from planning.harness import PROVIDER_TYPE, ProgramRun, Resource, _computed_outputs, _fake_arn

FORMAT_VERSION = "1.2"
TERRAFORM_VERSION = "1.9.8"
# Pulumi's wrapper of a secret value in recorded inputs (the SDK's ``_special_sig_key`` and secret signature).
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

# Type tokens whose Terraform name is not the mechanical one (pulumi-aws renamed them).
TYPE_EXCEPTIONS = {
    "aws:rds/subnetGroup:SubnetGroup": "aws_db_subnet_group",
    "aws:rds/instance:Instance": "aws_db_instance",
    "aws:rds/parameterGroup:ParameterGroup": "aws_db_parameter_group",
    "aws:rds/proxy:Proxy": "aws_db_proxy",
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": "aws_s3_bucket_replication_configuration",
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": "aws_sqs_queue_redrive_allow_policy",
    "aws:sqs/redrivePolicy:RedrivePolicy": "aws_sqs_queue_redrive_policy",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "aws_iam_openid_connect_provider",
    "aws:apigateway/restApi:RestApi": "aws_api_gateway_rest_api",
}
# Modules whose Terraform types carry no module prefix.
UNPREFIXED_MODULES = frozenset({"index", "ec2"})
# Inputs Pulumi renamed, per type token: {pulumi name: Terraform attribute}.
PROPERTY_EXCEPTIONS: dict[str, dict[str, str]] = {
    "aws:lambda/function:Function": {"name": "function_name"},
    "aws:lambda/permission:Permission": {"function": "function_name"},
}
# Repeated blocks Pulumi names in the plural (Terraform's block name is singular); applied to lists of objects only.
PLURAL_BLOCKS = {
    "rules": "rule",
    "replicas": "replica",
    "attributes": "attribute",
    "origins": "origin",
    "originGroups": "origin_group",
    "members": "member",
    "aliases": "alias",
    "failoverRoutingPolicies": "failover_routing_policy",
    "latencyRoutingPolicies": "latency_routing_policy",
    "orderedCacheBehaviors": "ordered_cache_behavior",
    "customErrorResponses": "custom_error_response",
    "transitions": "transition",
    "noncurrentVersionTransitions": "noncurrent_version_transition",
    "copyActions": "copy_action",
    "selectionTags": "selection_tag",
    "globalSecondaryIndexes": "global_secondary_index",
    "parameters": "parameter",
}
# Objects that are Terraform map attributes, not blocks: kept as objects, their keys as written.
MAP_ATTRIBUTES = frozenset({"tags", "tagsAll", "variables", "dimensions"})
# Inputs that name the resource itself, which another resource may hold (besides its id, ARN and computed outputs).
IDENTITY_INPUTS = ("name", "arn")
# When one value is held by several resources an input depends on (a bucket's name is also its versioning resource's
# ``bucket``), the reference goes to the attribute ranked first: the resource's id or ARN, then what the provider
# computes, then its given name.
RANKS = {"id": 0, "arn": 0, "name": 2}
COMPUTED_RANK = 1


class TfPlanError(ValueError):
    """The run cannot be written as a Terraform plan (e.g. a preview run, whose ids and ARNs are unknown)."""


def terraform_type(token: str) -> str:
    """The Terraform resource type of a Pulumi type token.

    Example:
        >>> terraform_type("aws:cloudwatch/logGroup:LogGroup"), terraform_type("aws:ec2/vpc:Vpc")
        ('aws_cloudwatch_log_group', 'aws_vpc')
    """
    if token in TYPE_EXCEPTIONS:
        return TYPE_EXCEPTIONS[token]
    try:
        provider, middle, name = token.split(":")
        module = middle.split("/", 1)[0]
    except ValueError:
        raise TfPlanError(f"type token {token!r} is not provider:module/name:Name") from None
    parts = [provider] if module in UNPREFIXED_MODULES else [provider, module]
    # pulumi-random repeats its provider in each name (RandomPassword is Terraform's random_password).
    return "_".join([*parts, snake(name).removeprefix(f"{provider}_")])


def snake(name: str) -> str:
    """camelCase or PascalCase as snake_case; a run of capitals is one word (``KMSKey`` is ``kms_key``).

    Example:
        >>> snake("kmsKeyArn"), snake("BucketV2"), snake("retentionInDays")
        ('kms_key_arn', 'bucket_v2', 'retention_in_days')
    """
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", words)
    return words.lower()


@dataclass(frozen=True)
class Reference:
    """An input that holds another resource's attribute: Terraform's ``<address>.<attribute>`` expression."""

    address: str
    attribute: str

    @property
    def text(self) -> str:
        return f"{self.address}.{self.attribute}"

    def expression(self) -> list[str]:
        """The references of a Terraform configuration expression: the attribute, then the resource."""
        return [self.text, self.address]


@dataclass
class _Converted:
    """One resource's attribute tree split as Terraform splits it: known values, unknown flags, reference expressions."""

    values: dict[str, Any]
    unknown: dict[str, Any]
    expressions: dict[str, Any]


def to_tfplan(run: ProgramRun) -> dict[str, Any]:
    """The Terraform plan JSON (``terraform show -json``) of an update-mode run: every custom resource created.

    Raises
    ------
    TfPlanError: ``run`` is a preview run (references could not be told from unknown values).
    """
    if run.preview:
        raise TfPlanError("a preview run has no ids or ARNs to connect resources by; run the program with preview=False")
    resources = [r for r in run.custom() if r.type != PROVIDER_TYPE]
    addresses = _addresses(resources)
    identities = {r.urn: _identities(r, addresses[r.urn]) for r in resources}
    planned, changes, configured = [], [], []
    for resource in resources:
        tf_type, _, name = addresses[resource.urn].partition(".")
        known = _known_values(identities.get(urn, {}) for urn in resource.dependencies)
        converted = convert_inputs(resource.type, resource.inputs, known)
        common = {"address": addresses[resource.urn], "mode": "managed", "type": tf_type, "name": name}
        provider = f"registry.terraform.io/hashicorp/{tf_type.split('_', 1)[0]}"
        planned.append({**common, "provider_name": provider, "schema_version": 0, "values": converted.values})
        changes.append(
            {
                **common,
                "provider_name": provider,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": converted.values,
                    "after_unknown": converted.unknown,
                },
            }
        )
        configured.append({**common, "provider_config_key": _provider_key(resource, run), "expressions": converted.expressions})
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {"root_module": {"resources": configured}},
    }


def convert_inputs(token: str, inputs: Mapping[str, Any], known: Mapping[str, Reference]) -> _Converted:
    """A resource's Pulumi inputs as Terraform attributes; values in ``known`` (another resource's attribute, by
    value) become references."""
    renames = PROPERTY_EXCEPTIONS.get(token, {})
    if "code" in inputs and isinstance(inputs["code"], Mapping) and "fileArchive" in inputs["code"]:
        inputs = {**{k: v for k, v in inputs.items() if k != "code"}, "filename": inputs["code"]["fileArchive"]}
    return _convert_object(inputs, known, renames)


def _convert_object(inputs: Mapping[str, Any], known: Mapping[str, Reference], renames: Mapping[str, str]) -> _Converted:
    out = _Converted({}, {}, {})
    for key, raw in inputs.items():
        value = _plain(raw)
        if value is None:
            continue
        refs = _references(value, known)
        if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
            attribute = renames.get(key) or PLURAL_BLOCKS.get(key) or snake(key)
            blocks = [_convert_object(item, known, {}) for item in value]
            out.values[attribute] = [block.values for block in blocks]
            out.unknown[attribute] = [block.unknown for block in blocks]
            if any(block.expressions for block in blocks):
                out.expressions[attribute] = [block.expressions for block in blocks]
            continue
        attribute = renames.get(key) or snake(key)
        if refs:
            # Terraform knows another resource's id or ARN only after it is created: unknown, with its expression
            # (checkov puts the expression in the value's place and connects the resources it names).
            out.unknown[attribute] = True
            out.expressions[attribute] = {"references": [part for ref in refs for part in ref.expression()]}
        elif isinstance(value, Mapping) and key in MAP_ATTRIBUTES:
            out.values[attribute] = {str(k): _scalar(v) for k, v in value.items()}
        elif isinstance(value, Mapping):
            block = _convert_object(value, known, {})
            out.values[attribute] = [block.values]
            out.unknown[attribute] = [block.unknown]
            if block.expressions:
                out.expressions[attribute] = [block.expressions]
        else:
            out.values[attribute] = _scalar(value)
    return out


def _plain(value: Any) -> Any:
    """A recorded input without Pulumi's secret wrapper; whole floats as integers, in lists too."""
    if isinstance(value, Mapping) and value.get(SECRET_SIG_KEY) == SECRET_SIG:
        return _plain(value.get("value"))
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _references(value: Any, known: Mapping[str, Reference]) -> list[Reference]:
    """The references a value is: a string that is a known attribute, or a list of strings that holds at least one."""
    if isinstance(value, str):
        return [known[value]] if value in known else []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [known[item] for item in value if item in known]
    return []


def _addresses(resources: Iterable[Resource]) -> dict[str, str]:
    """Each resource's Terraform address, ``<type>.<name>`` (a name repeated within a type gets ``_2``, ``_3``...)."""
    taken: set[str] = set()
    found: dict[str, str] = {}
    for resource in resources:
        name = re.sub(r"[^A-Za-z0-9_-]", "_", resource.name)
        if not re.match(r"[A-Za-z_]", name):
            name = f"r_{name}"
        base = f"{terraform_type(resource.type)}.{name}"
        address, count = base, 1
        while address in taken:
            count += 1
            address = f"{base}_{count}"
        taken.add(address)
        found[resource.urn] = address
    return found


def _known_values(identities: Iterable[Mapping[str, Reference]]) -> dict[str, Reference]:
    """The values an input may hold, each with the reference of the best-ranked attribute holding it."""
    best: dict[str, Reference] = {}
    for found in identities:
        for value, reference in found.items():
            if value not in best or _rank(reference) < _rank(best[value]):
                best[value] = reference
    return best


def _rank(reference: Reference) -> int:
    return RANKS.get(reference.attribute, COMPUTED_RANK)


def _identities(resource: Resource, address: str) -> dict[str, Reference]:
    """What another resource may hold of ``resource``, by value: its id, ARN, given name and the outputs the mocks
    compute, each as a reference to the Terraform attribute."""
    region = resource.region or str(resource.inputs.get("region", "us-east-1"))
    resource_id = f"{resource.name}-id"
    values: dict[str, str] = {}
    for key in IDENTITY_INPUTS:
        given = _plain(resource.inputs.get(key))
        if isinstance(given, str):
            values.setdefault(given, snake(key))
    for key, value in _computed_outputs(resource.type, resource.name, resource_id, region, resource.inputs).items():
        if isinstance(value, str):
            values.setdefault(value, snake(key))
    values.setdefault(str(resource.inputs.get("arn", _fake_arn(resource.type, resource.name, region))), "arn")
    values[resource_id] = "id"
    # A bucket's id is its name, as Terraform's S3 resources read it.
    if resource.type == "aws:s3/bucket:Bucket" and isinstance(resource.inputs.get("bucket"), str):
        values[resource.inputs["bucket"]] = "id"
    return {value: Reference(address, attribute) for value, attribute in values.items()}


def _provider_key(resource: Resource, run: ProgramRun) -> str:
    """The provider configuration key: ``aws.<region>`` for an AWS resource of a region, else the provider's name."""
    provider = resource.type.split(":", 1)[0]
    if provider == "aws" and resource.region and len(run.regions()) > 0:
        return f"aws.{resource.region}"
    return provider
