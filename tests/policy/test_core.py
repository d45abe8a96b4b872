"""The rule model (policy/core.py): the prop helpers, regions, and the adapters to pulumi-policy's objects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policy import core
from policy.core import PROVIDER_TYPE, Stack, StackViolation
from tests.support.policy_cases import provider, resource

QUEUE = "aws:sqs/queue:Queue"


@core.resource_rule("test-queue-named", "Queues have a name.", QUEUE)
def queue_named(resource_type: str, props: core.Props) -> core.Messages:
    if not props.get("name"):
        yield "name must be set"


@core.stack_rule("test-one-queue-per-region", "Every region has a queue.", advisory="a test of advisory rules")
def one_queue_per_region(stack: Stack) -> core.Violations:
    covered = {q.region for q in stack.of_type(QUEUE)}
    for region in stack.regions():
        if region not in covered:
            yield StackViolation(f"no queue in {region}")
    for queue in stack.of_type(QUEUE):
        if queue.region not in stack.regions():
            yield StackViolation(f"queue {queue.name} is outside the stack's regions", queue.urn)


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def engine_provider(region: str, role: str = "primary") -> PolicyProviderResource:
    tags = json.dumps({"tags": {"role": role}})
    props = unknown_checking_proxy({"region": region, "defaultTags": tags})
    return PolicyProviderResource(PROVIDER_TYPE, props, f"urn:provider::{region}", f"aws-{region}")


def engine_resource(name: str, provider: PolicyProviderResource | None, /, **props: Any) -> PolicyResource:
    return PolicyResource(QUEUE, unknown_checking_proxy(props), f"urn:queue::{name}", name, options(), provider, None, [], {})


def test_get_walks_mappings_and_stops_at_anything_else() -> None:
    props = {"a": {"b": {"c": 1}}, "list": [1]}
    assert core.get(props, "a", "b", "c") == 1
    assert core.get(props, "a", "x", "c") is None
    assert core.get(props, "list", "b") is None


def test_blocks_take_one_block_or_a_list_of_them() -> None:
    assert core.blocks({"a": 1}) == [{"a": 1}]
    assert core.blocks([{"a": 1}, "junk", {"b": 2}]) == [{"a": 1}, {"b": 2}]
    assert core.blocks(None) == [] and core.blocks("text") == []
    assert core.block(None) == {} and core.block([{"a": 1}, {"b": 2}]) == {"a": 1}


def test_scalars_accept_the_strings_providers_take() -> None:
    assert core.flag("true") is True and core.flag("FALSE") is False and core.flag(True) is True
    assert core.flag(None) is None and core.flag("yes") is None
    assert core.number(14.0) == 14.0 and core.number("7") == 7.0 and core.number(True) is None and core.number("x") is None
    assert core.strings("a") == ["a"] and core.strings(["a", 1, "b"]) == ["a", "b"] and core.strings(None) == []


def test_documents_parse_json_objects_only() -> None:
    assert core.document('{"Statement": {"Effect": "Allow"}}') == {"Statement": {"Effect": "Allow"}}
    assert core.document("[1]") is None and core.document("{oops") is None and core.document(None) is None
    assert core.statements(core.document('{"Statement": {"Effect": "Allow"}}')) == [{"Effect": "Allow"}]


def test_everyone_is_a_star_principal_or_a_star_among_the_aws_principals() -> None:
    assert core.everyone("*") and core.everyone({"AWS": "*"}) and core.everyone({"AWS": ["arn:aws:iam::1:root", "*"]})
    assert not core.everyone({"AWS": "arn:aws:iam::1:root"}) and not core.everyone({"Service": "*"}) and not core.everyone(None)


def test_arns_give_their_region_and_bucket_name() -> None:
    assert core.arn_region("arn:aws:kms:eu-west-1:123456789012:key/k") == "eu-west-1"
    assert core.arn_region("arn:aws:s3:::bucket") is None and core.arn_region("key-id") is None
    assert core.bucket_name("arn:aws:s3:::data") == "data" and core.bucket_name("data") == "data" and core.bucket_name("") is None


def test_an_unknown_value_counts_as_set_and_is_skipped_where_it_cannot_be_read() -> None:
    props = unknown_checking_proxy({"kmsKeyId": UNKNOWN_STRING_VALUE, "empty": "", "list": ["a", UNKNOWN_STRING_VALUE]})
    assert core.given(props, "kmsKeyId") and not core.given(props, "empty") and not core.given(props, "missing")
    assert core.known(props, "kmsKeyId") is None
    assert dict(core.known_items(props)) == {"empty": "", "list": props["list"]}
    assert list(core.known_elements(props["list"])) == ["a"]
    with pytest.raises(UnknownValueError):
        props.get("kmsKeyId")


def test_a_resource_rule_checks_only_its_types() -> None:
    assert queue_named.validate(QUEUE, {}) == ["name must be set"]
    assert queue_named.validate("aws:sns/topic:Topic", {}) == []
    assert queue_named.enforcement_level is EnforcementLevel.MANDATORY


def test_the_stack_regions_are_the_providers_less_the_edge_one() -> None:
    stack = Stack((provider("eu-west-1"), provider("us-east-1", role="edge"), provider("eu-central-1"), provider("eu-west-1")))
    assert stack.regions() == ["eu-west-1", "eu-central-1"]


def test_a_resource_may_set_its_own_region() -> None:
    assert core.resource_region({"region": "eu-west-1"}, "us-east-1") == "eu-west-1"
    assert core.resource_region({}, "us-east-1") == "us-east-1"


def test_resource_policy_reports_every_message_through_the_engine_callback() -> None:
    policy = queue_named.policy()
    assert isinstance(policy, ResourceValidationPolicy)
    assert (policy.name, policy.description, policy.enforcement_level) == (
        "test-queue-named",
        "Queues have a name.",
        EnforcementLevel.MANDATORY,
    )
    reported: list[tuple[str, str | None]] = []
    args = ResourceValidationArgs(QUEUE, unknown_checking_proxy({}), "urn:q", "q", options(), None)
    policy.validate(args, lambda message, urn: reported.append((message, urn)))
    assert reported == [("name must be set", None)]


def test_stack_policy_sees_regions_from_the_engines_providers() -> None:
    policy = one_queue_per_region.policy()
    assert isinstance(policy, StackValidationPolicy)
    assert policy.enforcement_level is EnforcementLevel.ADVISORY
    east, west, edge = engine_provider("us-east-1"), engine_provider("eu-west-1"), engine_provider("us-west-2", role="edge")
    resources = [engine_resource("east-queue", east, name="q"), engine_resource("edge-queue", edge, name="q")]
    # The engine's list need not hold the providers; the west provider comes only from a resource that uses it.
    resources.append(
        PolicyResource("aws:sns/topic:Topic", unknown_checking_proxy({}), "urn:t", "t", options(), west, None, [], {})
    )
    reported: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs(resources), lambda message, urn: reported.append((message, urn)))
    assert reported == [
        ("no queue in eu-west-1", None),
        ("queue edge-queue is outside the stack's regions", "urn:queue::edge-queue"),
    ]


def test_engine_resources_keep_their_dependencies_and_own_region() -> None:
    east = engine_provider("us-east-1")
    queue = engine_resource("queue", east, region="eu-west-1")
    mapping = PolicyResource(QUEUE, unknown_checking_proxy({}), "urn:m", "m", options(), east, None, [queue], {})
    found = {r.urn: r for r in core.from_policy_resources([queue, mapping])}
    assert found["urn:queue::queue"].region == "eu-west-1"
    assert found["urn:m"].dependencies == ("urn:queue::queue",)
    assert found["urn:provider::us-east-1"].region == "us-east-1"


def test_stack_lookups() -> None:
    bucket = resource("aws:s3/bucket:Bucket", "data", bucket="data")
    block = resource(core.S3_PUBLIC_ACCESS_BLOCK, "pab", depends_on=[bucket], bucket="data")
    logging = resource(core.S3_LOGGING[0], "logging", bucket="data", targetBucket="arn:aws:s3:::logs")
    stack = Stack((bucket, block, logging))
    assert core.attached(stack, (core.S3_PUBLIC_ACCESS_BLOCK,), bucket) == [block]
    assert core.log_target_buckets(stack) == {"logs"}
    assert stack.depends_on(block, bucket) and not stack.depends_on(bucket, block)
