"""Multi-region rules (policy/multiregion.py): each passes a minimal compliant stack or input and fails a bad one."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy import multiregion
from policy.core import (
    DISTRIBUTION,
    DYNAMODB_TABLE,
    KMS_KEY,
    MEMORYDB_CLUSTER,
    MEMORYDB_MULTI_REGION,
    RDS_CLUSTER,
    RDS_GLOBAL_CLUSTER,
    RECORD,
    S3_REPLICATION,
    SECRET,
    SQS_QUEUE,
    SSM_PARAMETER,
    Rule,
    StackResource,
)
from tests.support.policy_cases import (
    KEY_EAST,
    KEY_WEST,
    Cases,
    ResourceCases,
    StackCases,
    check_cases,
    failing,
    passing,
    provider,
    resource,
    run_failing,
    run_passing,
    stack,
)

EAST, WEST, SYDNEY = "us-east-1", "eu-west-1", "ap-southeast-2"
BUCKET = "aws:s3/bucket:Bucket"
LOGGING = "aws:s3/bucketLogging:BucketLogging"


def replication_rule(destination: str, /, key: str | None = KEY_WEST, **overrides: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": f"to-{destination}",
        "status": "Enabled",
        "filter": {},
        "deleteMarkerReplication": {"status": "Enabled"},
        "sourceSelectionCriteria": {"sseKmsEncryptedObjects": {"status": "Enabled"}},
        "destination": {
            "bucket": f"arn:aws:s3:::{destination}",
            "replicationTime": {"status": "Enabled", "time": {"minutes": 15.0}},
            "metrics": {"status": "Enabled", "eventThreshold": {"minutes": 15.0}},
            "encryptionConfiguration": {"replicaKmsKeyId": key},
        },
    }
    return {**rule, **overrides}


def replication(source: str, region: str, *rules: dict[str, Any]) -> StackResource:
    return resource(S3_REPLICATION, f"{source}-replication", region, bucket=source, rules=list(rules))


def buckets() -> list[StackResource]:
    """A data bucket per region replicating to the other, and a log bucket per region."""
    return [
        resource(BUCKET, "east-data", EAST, bucket="east"),
        resource(BUCKET, "west-data", WEST, bucket="west"),
        resource(BUCKET, "east-logs", EAST, bucket="east-logs"),
        resource(BUCKET, "west-logs", WEST, bucket="west-logs"),
        resource(LOGGING, "east-logging", EAST, bucket="east", targetBucket="east-logs"),
        resource(LOGGING, "west-logging", WEST, bucket="west", targetBucket="west-logs"),
    ]


def distribution(**overrides: Any) -> StackResource:
    props: dict[str, Any] = {
        "origins": [
            {"originId": "east", "domainName": "east.s3.us-east-1.amazonaws.com"},
            {"originId": "west", "domainName": "west.s3.eu-west-1.amazonaws.com"},
        ],
        "originGroups": [
            {
                "originId": "group",
                "failoverCriteria": {"statusCodes": [500.0, 502.0, 503.0, 504.0]},
                "members": [{"originId": "east"}, {"originId": "west"}],
            }
        ],
        "defaultCacheBehavior": {"targetOriginId": "group"},
    }
    return resource(DISTRIBUTION, "cdn", EAST, **{**props, **overrides})


def record(name: str, *, failover: str | None = None, latency: str | None = None, **props: Any) -> StackResource:
    if failover:
        props["failoverRoutingPolicies"] = [{"type": failover}]
    if latency:
        props["latencyRoutingPolicies"] = [{"region": latency}]
    return resource(RECORD, f"{name}-{failover or latency}", EAST, zoneId="Z1", name=name, type="CNAME", **props)


GLOBAL = resource(RDS_GLOBAL_CLUSTER, "global", EAST, globalClusterIdentifier="app")
CACHE_SHARED = {"engine": "valkey", "engineVersion": "7.3", "nodeType": "db.r7g.xlarge", "numShards": 1}
MULTI_CACHE = resource(MEMORYDB_MULTI_REGION, "cache", EAST, multiRegionClusterName="virxk-app", **CACHE_SHARED)


def cache_member(region: str, *, unknown: bool = False, **props: Any) -> StackResource:
    """A member of MULTI_CACHE in ``region`` (the name it joins known only after the update when ``unknown``)."""
    joined = UNKNOWN_STRING_VALUE if unknown else "virxk-app"
    member = resource(MEMORYDB_CLUSTER, f"cache-{region}", region, multiRegionClusterName=joined, **{**CACHE_SHARED, **props})
    return dataclasses.replace(member, props=unknown_checking_proxy(dict(member.props))) if unknown else member


def cache_members(*regions: str, unknown: bool = False) -> list[StackResource]:
    return [cache_member(region, unknown=unknown) for region in regions]


EAST_CLUSTER = resource(RDS_CLUSTER, "east-cluster", EAST, globalClusterIdentifier="app")
WEST_CLUSTER = resource(RDS_CLUSTER, "west-cluster", WEST, globalClusterIdentifier="app")
GATED: dict[str, Any] = {"healthCheckId": "gate", "ttl": 60.0}
REPLICATED_TABLE = resource(DYNAMODB_TABLE, "items", EAST, replicas=[{"regionName": WEST, "kmsKeyArn": KEY_WEST}])
DISTRIBUTION_GROUPS = distribution().props["originGroups"]

ENDPOINT: dict[str, Any] = {
    "eventBuses": [
        {"eventBusArn": "arn:aws:events:us-east-1:1:event-bus/b"},
        {"eventBusArn": "arn:aws:events:eu-west-1:1:event-bus/b"},
    ],
    "routingConfig": {
        "failoverConfig": {"primary": {"healthCheck": "arn:aws:route53:::healthcheck/h"}, "secondary": {"route": WEST}}
    },
    "replicationConfig": {"state": "ENABLED"},
    "roleArn": "arn:aws:iam::1:role/replication",
}

CASES: Cases = {
    "dynamodb-replicated-to-every-region": StackCases(
        passing=[stack(REPLICATED_TABLE)],
        failing=[
            (stack(resource(DYNAMODB_TABLE, "items", EAST)), "table items has no replica in eu-west-1"),
            (stack(REPLICATED_TABLE, regions=(EAST, WEST, SYDNEY)), "no replica in ap-southeast-2"),
        ],
    ),
    "aurora-member-in-every-region": StackCases(
        passing=[stack(GLOBAL, EAST_CLUSTER, WEST_CLUSTER)],
        failing=[
            (stack(GLOBAL, EAST_CLUSTER), "global cluster app has no member cluster in eu-west-1"),
            (stack(GLOBAL, EAST_CLUSTER, WEST_CLUSTER, resource(RDS_CLUSTER, "solo", WEST)), "cluster solo is not a member"),
        ],
    ),
    "memorydb-multi-region-member-in-every-region": StackCases(
        passing=[stack(MULTI_CACHE, *cache_members(EAST, WEST)), stack(MULTI_CACHE, *cache_members(EAST, WEST, unknown=True))],
        failing=[
            (stack(MULTI_CACHE, *cache_members(EAST)), "MemoryDB Multi-Region cluster cache has no member in eu-west-1"),
            (
                stack(MULTI_CACHE, *cache_members(EAST), cache_member(WEST, engineVersion="7.2")),
                "MemoryDB cluster cache-eu-west-1: engineVersion 7.2 differs from its Multi-Region cluster's 7.3",
            ),
            (
                stack(MULTI_CACHE, *cache_members(EAST), resource(MEMORYDB_CLUSTER, "regional", WEST, **CACHE_SHARED)),
                "no member in eu-west-1",
            ),
        ],
    ),
    "s3-replicated-to-every-region": StackCases(
        passing=[
            stack(
                *buckets(),
                replication("east", EAST, replication_rule("west")),
                replication("west", WEST, replication_rule("east")),
            )
        ],
        failing=[
            (
                stack(*buckets(), replication("east", EAST, replication_rule("west"))),
                "bucket west-data does not replicate to a bucket in us-east-1",
            ),
            (
                stack(
                    *buckets(),
                    replication("east", EAST, replication_rule("west", status="Disabled")),
                    replication("west", WEST, replication_rule("east")),
                ),
                "bucket east-data does not replicate",
            ),
        ],
    ),
    "stateful-stores-in-every-region": StackCases(
        passing=[
            stack(resource(MEMORYDB_CLUSTER, "east-cache", EAST), resource(MEMORYDB_CLUSTER, "west-cache", WEST)),
            # A key under the edge provider (us-east-1 kept for CloudFront only) is not a region's store.
            [provider(WEST), provider("eu-central-1"), provider(EAST, role="edge"), resource(KMS_KEY, "edge-key", EAST)],
        ],
        failing=[
            (
                stack(resource(MEMORYDB_CLUSTER, "east-cache", EAST)),
                "eu-west-1 has 0 aws:memorydb/cluster:Cluster where us-east-1 has 1",
            ),
            (
                stack(resource(SQS_QUEUE, "a", EAST), resource(SQS_QUEUE, "b", EAST), resource(SQS_QUEUE, "c", WEST)),
                "eu-west-1 has 1 aws:sqs/queue:Queue where us-east-1 has 2",
            ),
        ],
    ),
    "secrets-available-in-every-region": StackCases(
        passing=[
            stack(resource(SECRET, "master", EAST, replicas=[{"region": WEST}])),
            stack(resource(SECRET, "us-east-1-cache-secret", EAST), resource(SECRET, "eu-west-1-cache-secret", WEST)),
        ],
        failing=[
            (stack(resource(SECRET, "master", EAST)), "secret master cannot be read in eu-west-1"),
            (stack(resource(SECRET, "us-east-1-cache-secret", EAST)), "cannot be read in eu-west-1"),
            (
                stack(resource(SECRET, "master", EAST, replicas=[{"region": WEST}]), regions=(EAST, WEST, SYDNEY)),
                "ap-southeast-2",
            ),
        ],
    ),
    "parameters-in-every-region": StackCases(
        passing=[
            stack(
                resource(SSM_PARAMETER, "east-config", EAST, name="/p/s/app-config", value="{}"),
                resource(SSM_PARAMETER, "west-config", WEST, name="/p/s/app-config", value="{}"),
            ),
        ],
        failing=[
            (
                stack(resource(SSM_PARAMETER, "east-config", EAST, name="/p/s/app-config", value="{}")),
                "parameter /p/s/app-config is missing in eu-west-1",
            ),
            (
                stack(
                    resource(SSM_PARAMETER, "east-config", EAST, name="/p/s/app-config", value='{"a":1}'),
                    resource(SSM_PARAMETER, "west-config", WEST, name="/p/s/app-config", value='{"a":2}'),
                ),
                "parameter /p/s/app-config holds different values in eu-west-1, us-east-1",
            ),
        ],
    ),
    "cdn-origin-failover": StackCases(
        passing=[stack(distribution())],
        failing=[
            (stack(), "no CloudFront distribution"),
            (
                stack(distribution(defaultCacheBehavior={"targetOriginId": "east"})),
                "serves from 'east', which is not an origin group",
            ),
            (
                stack(distribution(originGroups=[{**DISTRIBUTION_GROUPS[0], "failoverCriteria": {"statusCodes": [404.0]}}])),
                "must fail over on 500, 502, 503 or 504",
            ),
            (
                stack(distribution(originGroups=[{**DISTRIBUTION_GROUPS[0], "members": [{"originId": "east"}]}])),
                "needs two origins",
            ),
            (
                stack(
                    distribution(
                        origins=[
                            {"originId": "east", "domainName": "a.s3.us-east-1.amazonaws.com"},
                            {"originId": "west", "domainName": "b.s3.us-east-1.amazonaws.com"},
                        ]
                    )
                ),
                "both origins of group in cdn are in us-east-1",
            ),
        ],
    ),
    "dns-routing-health-checked": ResourceCases(
        passing=[
            (RECORD, {"failoverRoutingPolicies": [{"type": "PRIMARY"}], "healthCheckId": "gate"}),
            (
                RECORD,
                {
                    "failoverRoutingPolicies": [{"type": "SECONDARY"}],
                    "aliases": [{"name": "standby", "evaluateTargetHealth": True}],
                },
            ),
            (RECORD, {"type": "CNAME", "ttl": 300.0, "records": ["x"]}),
        ],
        failing=[
            (RECORD, {"failoverRoutingPolicies": [{"type": "PRIMARY"}]}, "healthCheckId must be set"),
            (
                RECORD,
                {"latencyRoutingPolicies": [{"region": EAST}], "aliases": [{"evaluateTargetHealth": False}]},
                "healthCheckId",
            ),
        ],
    ),
    "dns-ttl-with-health-checks": ResourceCases(
        passing=[
            (RECORD, GATED),
            (RECORD, {"ttl": 300.0, "records": ["x"]}),
            (RECORD, {"latencyRoutingPolicies": [{"region": EAST}]}),
        ],
        failing=[
            (RECORD, {**GATED, "ttl": 300.0}, "ttl is 300 s; at most 60 s"),
            (RECORD, {"latencyRoutingPolicies": [{"region": EAST}], "ttl": 120.0}, "ttl is 120 s"),
        ],
    ),
    "dns-routing-covers-every-region": StackCases(
        passing=[
            stack(record("api", failover="PRIMARY", **GATED), record("api", failover="SECONDARY", **GATED)),
            stack(record("api", latency=EAST, **GATED), record("api.", latency=WEST, **GATED)),
        ],
        failing=[
            (stack(), "no failover or latency DNS records"),
            (stack(record("api", failover="PRIMARY"), record("api.", failover="PRIMARY")), "['PRIMARY', 'PRIMARY']"),
            (stack(record("api", latency=EAST)), "latency records of api leave out eu-west-1"),
        ],
    ),
    "s3-replication-time-control": ResourceCases(
        passing=[(S3_REPLICATION, {"rules": [replication_rule("west")]})],
        failing=[
            (S3_REPLICATION, {"rules": [replication_rule("west", status="Disabled")]}, "no enabled replication rule"),
            (
                S3_REPLICATION,
                {"rules": [replication_rule("west", destination={"bucket": "arn:aws:s3:::west"})]},
                "rule to-west: destination.replicationTime must be Enabled",
            ),
            (
                S3_REPLICATION,
                {
                    "rules": [
                        replication_rule(
                            "west",
                            destination={"bucket": "w", "replicationTime": {"status": "Enabled", "time": {"minutes": 15.0}}},
                        )
                    ]
                },
                "destination.metrics must be Enabled",
            ),
        ],
    ),
    "s3-replication-kms-objects": ResourceCases(
        passing=[(S3_REPLICATION, {"rules": [replication_rule("west")]})],
        failing=[
            (
                S3_REPLICATION,
                {"rules": [replication_rule("west", sourceSelectionCriteria={})]},
                "sseKmsEncryptedObjects must be Enabled",
            ),
            (S3_REPLICATION, {"rules": [replication_rule("west", key=None)]}, "replicaKmsKeyId must name"),
        ],
    ),
    "s3-replication-delete-markers": ResourceCases(
        passing=[(S3_REPLICATION, {"rules": [replication_rule("west")]})],
        failing=[
            (
                S3_REPLICATION,
                {"rules": [replication_rule("west", deleteMarkerReplication={"status": "Disabled"})]},
                "deleteMarkerReplication.status must be Enabled",
            )
        ],
    ),
    "events-endpoint-replicated": ResourceCases(
        passing=[(multiregion.EVENT_ENDPOINT, ENDPOINT)],
        failing=[
            (multiregion.EVENT_ENDPOINT, {**ENDPOINT, "replicationConfig": {"state": "DISABLED"}}, "must be ENABLED"),
            (multiregion.EVENT_ENDPOINT, {**ENDPOINT, "roleArn": None}, "roleArn must name the role"),
            (multiregion.EVENT_ENDPOINT, {**ENDPOINT, "routingConfig": {}}, "primary.healthCheck must be set"),
        ],
    ),
    "event-target-dead-letter-queue": ResourceCases(
        passing=[(multiregion.EVENT_TARGET, {"arn": "arn:aws:sqs:us-east-1:1:events", "deadLetterConfig": {"arn": "dlq"}})],
        failing=[(multiregion.EVENT_TARGET, {"arn": "arn:aws:sqs:us-east-1:1:events"}, "deadLetterConfig.arn must name")],
    ),
    "kms-key-in-own-region": StackCases(
        passing=[
            stack(
                resource(SQS_QUEUE, "east-queue", EAST, kmsMasterKeyId=KEY_EAST),
                resource(
                    DYNAMODB_TABLE,
                    "items",
                    EAST,
                    serverSideEncryption={"kmsKeyArn": KEY_EAST},
                    replicas=[{"regionName": WEST, "kmsKeyArn": KEY_WEST}],
                ),
                resource(SECRET, "master", EAST, kmsKeyId=KEY_EAST, replicas=[{"region": WEST, "kmsKeyId": KEY_WEST}]),
                *buckets(),
                replication("east", EAST, replication_rule("west", key=KEY_WEST)),
            )
        ],
        failing=[
            (
                stack(resource(SQS_QUEUE, "west-queue", WEST, kmsMasterKeyId=KEY_EAST)),
                "west-queue: kmsMasterKeyId is a key of us-east-1",
            ),
            (
                stack(resource(DYNAMODB_TABLE, "items", EAST, replicas=[{"regionName": WEST, "kmsKeyArn": KEY_EAST}])),
                "replicas[0].kmsKeyArn is a key of us-east-1, not of eu-west-1",
            ),
            (
                stack(*buckets(), replication("east", EAST, replication_rule("west", key=KEY_EAST))),
                "rule to-west re-encrypts into eu-west-1 with a key of us-east-1",
            ),
        ],
    ),
}


def test_every_rule_has_passing_and_failing_cases() -> None:
    check_cases(multiregion.RULES, CASES)


@pytest.mark.parametrize(("rule", "item"), passing(multiregion.RULES, CASES))
def test_rule_passes(rule: Rule, item: Any) -> None:
    run_passing(rule, item)


@pytest.mark.parametrize(("rule", "item"), failing(multiregion.RULES, CASES))
def test_rule_fails(rule: Rule, item: Any) -> None:
    run_failing(rule, item)
