"""Multi-region: every stateful store in (or replicated to) every region, and every failover path in place.

The stack's regions are those of its AWS providers (``Stack.regions``). What these rules demand is what a
failover needs: the data already in the surviving region (DynamoDB replicas, Aurora members of the global
cluster, S3 replication with replication time control, secrets readable there), the same regional stores there
(parity), each region's KMS key used only in its region, CloudFront failing over between regional origins, and
DNS that moves clients off a failed region within a minute (health checks, TTL at most 60 s); events through a
global endpoint that replicates and fails over, and rule targets that keep what they cannot deliver.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policy.core import (
    DISTRIBUTION,
    DYNAMODB_TABLE,
    ELASTICACHE_GROUP,
    KMS_KEY,
    MEMORYDB_CLUSTER,
    MEMORYDB_MULTI_REGION,
    RDS_CLUSTER,
    RDS_GLOBAL_CLUSTER,
    RECORD,
    S3_BUCKET,
    S3_REPLICATION,
    SECRET,
    SQS_QUEUE,
    SSM_PARAMETER,
    Messages,
    Props,
    Stack,
    StackResource,
    StackViolation,
    Violations,
    arn_region,
    attached,
    block,
    blocks,
    bucket_name,
    bucket_of,
    flag,
    get,
    given,
    known,
    known_elements,
    known_items,
    log_target_buckets,
    number,
    resource_rule,
    stack_rule,
)

EVENT_ENDPOINT = "aws:cloudwatch/eventEndpoint:EventEndpoint"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
MAX_HEALTH_CHECKED_TTL = 60.0
RTC_MINUTES = 15.0  # the only value S3 Replication Time Control accepts
FAILOVER_STATUS_CODES = frozenset({500.0, 502.0, 503.0, 504.0})
ROUTING_POLICIES = ("failoverRoutingPolicies", "latencyRoutingPolicies")
# Stores that each region keeps for itself; a region without its share cannot take over.
REGIONAL_STORES = (RDS_CLUSTER, MEMORYDB_CLUSTER, ELASTICACHE_GROUP, *S3_BUCKET, SQS_QUEUE, KMS_KEY)
# A regional endpoint in an origin's domain name: bucket.s3.<region>.amazonaws.com, ...execute-api.<region>...
_ENDPOINT_REGION = re.compile(r"\.(?:s3|s3-website|execute-api)[.-]([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com")


def _missing(regions: list[str], covered: set[Any]) -> list[str]:
    return [region for region in regions if region not in covered]


def _enabled_rules(props: Props) -> list[Mapping[str, Any]]:
    """The enabled rules of a bucket replication configuration."""
    return [rule for rule in blocks(props.get("rules")) if rule.get("status") == "Enabled"]


def _bucket_regions(stack: Stack) -> dict[str | None, str | None]:
    """Each bucket's name, with the region it lives in (where a replication rule's destination bucket is)."""
    return {bucket_of(b): b.region for b in stack.of_type(*S3_BUCKET)}


@stack_rule(
    "dynamodb-replicated-to-every-region",
    "Every DynamoDB table is a global table with a replica in every region of the stack.",
)
def dynamodb_replicated_to_every_region(stack: Stack) -> Violations:
    regions = stack.regions()
    for table in stack.of_type(DYNAMODB_TABLE):
        covered = {table.region} | {replica.get("regionName") for replica in blocks(table.props.get("replicas"))}
        missing = _missing(regions, covered)
        if missing:
            yield StackViolation(f"table {table.name} has no replica in {', '.join(missing)}", table.urn)


@stack_rule(
    "aurora-member-in-every-region",
    "Every Aurora cluster belongs to a global cluster, and every global cluster has a member in every region.",
)
def aurora_member_in_every_region(stack: Stack) -> Violations:
    regions = stack.regions()
    clusters = stack.of_type(RDS_CLUSTER)
    globals_by_id = {str(g.props.get("globalClusterIdentifier")): g for g in stack.of_type(RDS_GLOBAL_CLUSTER)}
    identifiers = list(globals_by_id)
    for cluster in clusters:
        identifier = cluster.props.get("globalClusterIdentifier")
        if not identifier:
            yield StackViolation(
                f"cluster {cluster.name} is not a member of a global cluster: its data lives only in {cluster.region}",
                cluster.urn,
            )
        elif str(identifier) not in identifiers:
            identifiers.append(str(identifier))
    for identifier in identifiers:
        covered = {c.region for c in clusters if str(c.props.get("globalClusterIdentifier")) == identifier}
        missing = _missing(regions, covered)
        if missing:
            owner = globals_by_id.get(identifier)
            yield StackViolation(
                f"global cluster {identifier} has no member cluster in {', '.join(missing)}", owner.urn if owner else None
            )


# What every member of a MemoryDB Multi-Region cluster must share with it (MemoryDB developer guide, "Prerequisites
# and limitations"); the ACL, key, snapshots and maintenance window may differ per member.
MULTI_REGION_SHARED = ("engine", "engineVersion", "nodeType", "numShards")


@stack_rule(
    "memorydb-multi-region-member-in-every-region",
    "A MemoryDB Multi-Region cluster has a member in every region, each with its engine, version, node type and shards.",
)
def memorydb_multi_region_member_in_every_region(stack: Stack) -> Violations:
    clusters = stack.of_type(MEMORYDB_MULTI_REGION)
    for multi in clusters:
        name = known(multi.props, "multiRegionClusterName")
        members = [
            c
            for c in stack.of_type(MEMORYDB_CLUSTER)
            if given(c.props, "multiRegionClusterName")
            and (len(clusters) == 1 or name is None or known(c.props, "multiRegionClusterName") in (None, name))
        ]
        missing = _missing(stack.regions(), {c.region for c in members})
        if missing:
            yield StackViolation(f"MemoryDB Multi-Region cluster {multi.name} has no member in {', '.join(missing)}", multi.urn)
        for member in members:
            for key in MULTI_REGION_SHARED:
                theirs, ours = known(multi.props, key), known(member.props, key)
                if theirs is not None and ours is not None and str(theirs) != str(ours):
                    yield StackViolation(
                        f"MemoryDB cluster {member.name}: {key} {ours} differs from its Multi-Region cluster's {theirs}",
                        member.urn,
                    )


@stack_rule(
    "s3-replicated-to-every-region",
    "Every S3 bucket but the log buckets replicates to a bucket in every other region of the stack.",
)
def s3_replicated_to_every_region(stack: Stack) -> Violations:
    regions = stack.regions()
    log_buckets = log_target_buckets(stack)
    bucket_regions = _bucket_regions(stack)
    for bucket in stack.of_type(*S3_BUCKET):
        if bucket.region not in regions or bucket_of(bucket) in log_buckets:
            continue
        destinations = {
            bucket_regions.get(bucket_name(get(rule, "destination", "bucket")))
            for config in attached(stack, (S3_REPLICATION,), bucket)
            for rule in _enabled_rules(config.props)
        }
        missing = _missing([r for r in regions if r != bucket.region], destinations)
        if missing:
            yield StackViolation(f"bucket {bucket.name} does not replicate to a bucket in {', '.join(missing)}", bucket.urn)


@stack_rule(
    "stateful-stores-in-every-region",
    "Every region has the same regional stores (Aurora clusters, caches, buckets, queues, KMS keys) as any other.",
)
def stateful_stores_in_every_region(stack: Stack) -> Violations:
    regions = stack.regions()
    for resource_type in REGIONAL_STORES:
        counts = Counter(r.region for r in stack.of_type(resource_type) if r.region in regions)
        if not counts:
            continue
        fullest, most = counts.most_common(1)[0]
        for region in regions:
            if counts[region] < most:
                yield StackViolation(
                    f"{region} has {counts[region]} {resource_type} where {fullest} has {most}: a failover to {region} "
                    "would find them missing"
                )


@stack_rule(
    "secrets-available-in-every-region",
    "Every secret can be read in every region: replicated there, or one per region (named after its region).",
)
def secrets_available_in_every_region(stack: Stack) -> Violations:
    regions = stack.regions()
    secrets = [s for s in stack.of_type(SECRET) if s.region in regions]
    names = {s.name for s in secrets}
    for secret in secrets:
        replicas = {replica.get("region") for replica in blocks(secret.props.get("replicas"))}
        missing = _missing(regions, {secret.region} | replicas)
        if missing and not replicas and secret.region and secret.region in secret.name:
            # A region-local secret (e.g. the password of that region's cache): each region needs its own twin.
            missing = [r for r in missing if secret.name.replace(secret.region, r) not in names]
        if missing:
            yield StackViolation(
                f"secret {secret.name} cannot be read in {', '.join(missing)}: add replicas there, or a secret per region",
                secret.urn,
            )


@stack_rule(
    "parameters-in-every-region",
    "Every SSM parameter exists under its name in every region, with the same value where it is known: the stack "
    "writes configuration to each region, so a failover finds what it left.",
)
def parameters_in_every_region(stack: Stack) -> Violations:
    regions = stack.regions()
    by_name: dict[str, dict[str | None, StackResource]] = {}
    for parameter in stack.of_type(SSM_PARAMETER):
        if parameter.region in regions:
            by_name.setdefault(str(known(parameter.props, "name")), {})[parameter.region] = parameter
    for name, members in by_name.items():
        first = next(iter(members.values()))
        missing = _missing(regions, set(members))
        if missing:
            yield StackViolation(f"parameter {name} is missing in {', '.join(missing)}: a failover there finds none", first.urn)
        values = {region: value for region, p in members.items() if (value := known(p.props, "value")) is not None}
        if len(set(map(str, values.values()))) > 1:
            yield StackViolation(
                f"parameter {name} holds different values in {', '.join(sorted(str(r) for r in values))}: the regions "
                "would run with different configuration",
                first.urn,
            )


def _origin_region(origin: Mapping[str, Any] | None) -> str | None:
    match = _ENDPOINT_REGION.search(str(known(origin, "domainName")))
    return match.group(1) if match else None


@stack_rule(
    "cdn-origin-failover",
    "CloudFront serves from an origin group that fails over on 5xx between origins in two regions.",
)
def cdn_origin_failover(stack: Stack) -> Violations:
    distributions = stack.of_type(DISTRIBUTION)
    if not distributions:
        yield StackViolation("the stack has no CloudFront distribution, so static content has no origin failover")
    for distribution in distributions:
        origins = {o.get("originId"): o for o in blocks(distribution.props.get("origins"))}
        groups = {g.get("originId"): g for g in blocks(distribution.props.get("originGroups"))}
        target = block(distribution.props.get("defaultCacheBehavior")).get("targetOriginId")
        group = groups.get(target)
        if group is None:
            yield StackViolation(
                f"distribution {distribution.name} serves from {target!r}, which is not an origin group", distribution.urn
            )
            continue
        codes = {number(c) for c in get(block(group.get("failoverCriteria")), "statusCodes") or []}
        if not codes & FAILOVER_STATUS_CODES:
            yield StackViolation(
                f"origin group {target} of {distribution.name} must fail over on 500, 502, 503 or 504", distribution.urn
            )
        members = [m.get("originId") for m in blocks(group.get("members"))]
        member_regions = [_origin_region(origins.get(m)) for m in members]
        if len(members) < 2:
            yield StackViolation(f"origin group {target} of {distribution.name} needs two origins", distribution.urn)
        elif None not in member_regions and len(set(member_regions)) < 2:
            yield StackViolation(
                f"both origins of {target} in {distribution.name} are in {member_regions[0]}: a regional outage takes both",
                distribution.urn,
            )


def _routed(props: Props) -> bool:
    return any(blocks(props.get(key)) for key in ROUTING_POLICIES)


@resource_rule(
    "dns-routing-health-checked",
    "Every failover or latency DNS record has a health check (or is an alias that evaluates target health).",
    RECORD,
)
def dns_routing_health_checked(resource_type: str, props: Props) -> Messages:
    if not _routed(props) or given(props, "healthCheckId"):
        return
    if not any(flag(alias.get("evaluateTargetHealth")) is True for alias in blocks(props.get("aliases"))):
        yield "healthCheckId must be set: without one Route53 keeps answering with a failed region"


@resource_rule(
    "dns-ttl-with-health-checks",
    "Health-checked and failover/latency DNS records have a TTL of at most 60 s.",
    RECORD,
)
def dns_ttl_with_health_checks(resource_type: str, props: Props) -> Messages:
    ttl = number(props.get("ttl"))
    if (given(props, "healthCheckId") or _routed(props)) and ttl is not None and ttl > MAX_HEALTH_CHECKED_TTL:
        yield f"ttl is {ttl:g} s; at most {MAX_HEALTH_CHECKED_TTL:g} s, or resolvers keep a failed region's answer"


def _record_key(record: StackResource) -> tuple[str, str, str]:
    """The record set a record belongs to. A zone created by the same deployment is known only after it, and is
    the same zone for all the stack's records, so an unknown zone id still groups them correctly."""
    props = record.props
    return (str(known(props, "zoneId")), str(known(props, "name")).rstrip(".").lower(), str(known(props, "type")))


@stack_rule(
    "dns-routing-covers-every-region",
    "Traffic is routed by DNS failover (one PRIMARY, one SECONDARY per name) or by latency over every region.",
)
def dns_routing_covers_every_region(stack: Stack) -> Violations:
    regions = stack.regions()
    records = [r for r in stack.of_type(RECORD) if _routed(r.props)]
    if not records:
        yield StackViolation("no failover or latency DNS records: moving clients off a failed region would need a DNS edit")
    failover: dict[tuple[str, str, str], list[str]] = {}
    latency: dict[tuple[str, str, str], set[Any]] = {}
    for record in records:
        key = _record_key(record)
        for policy in blocks(record.props.get("failoverRoutingPolicies")):
            failover.setdefault(key, []).append(str(policy.get("type")))
        for policy in blocks(record.props.get("latencyRoutingPolicies")):
            latency.setdefault(key, set()).add(policy.get("region"))
    for (_, name, _), roles in failover.items():
        if sorted(roles) != ["PRIMARY", "SECONDARY"]:
            yield StackViolation(f"failover records of {name} are {sorted(roles)}; exactly one PRIMARY and one SECONDARY")
    for (_, name, _), covered in latency.items():
        missing = _missing(regions, covered)
        if missing:
            yield StackViolation(f"latency records of {name} leave out {', '.join(missing)}")


@resource_rule(
    "s3-replication-time-control",
    "S3 replication rules use Replication Time Control (15 minutes) with replication metrics.",
    S3_REPLICATION,
)
def s3_replication_time_control(resource_type: str, props: Props) -> Messages:
    rules = _enabled_rules(props)
    if not rules:
        yield "no enabled replication rule"
    for rule in rules:
        destination = block(rule.get("destination"))
        rtc = block(destination.get("replicationTime"))
        metrics = block(destination.get("metrics"))
        if rtc.get("status") != "Enabled" or number(get(rtc, "time", "minutes")) != RTC_MINUTES:
            yield f"rule {rule.get('id')}: destination.replicationTime must be Enabled with time.minutes 15"
        if metrics.get("status") != "Enabled" or number(get(metrics, "eventThreshold", "minutes")) != RTC_MINUTES:
            yield f"rule {rule.get('id')}: destination.metrics must be Enabled with eventThreshold.minutes 15"


@resource_rule(
    "s3-replication-kms-objects",
    "S3 replication copies SSE-KMS objects and re-encrypts them with a key of the destination region.",
    S3_REPLICATION,
)
def s3_replication_kms_objects(resource_type: str, props: Props) -> Messages:
    for rule in _enabled_rules(props):
        selected = get(block(rule.get("sourceSelectionCriteria")), "sseKmsEncryptedObjects", "status")
        if selected != "Enabled":
            yield f"rule {rule.get('id')}: sourceSelectionCriteria.sseKmsEncryptedObjects must be Enabled (else skipped)"
        if not given(block(rule.get("destination")), "encryptionConfiguration", "replicaKmsKeyId"):
            yield f"rule {rule.get('id')}: destination.encryptionConfiguration.replicaKmsKeyId must name the destination's key"


@resource_rule(
    "s3-replication-delete-markers",
    "S3 replication replicates delete markers, so a delete in one region is a delete in every region.",
    S3_REPLICATION,
)
def s3_replication_delete_markers(resource_type: str, props: Props) -> Messages:
    for rule in _enabled_rules(props):
        if get(block(rule.get("deleteMarkerReplication")), "status") != "Enabled":
            yield f"rule {rule.get('id')}: deleteMarkerReplication.status must be Enabled"


def _kms_arns(value: Any, region: str | None, path: str) -> Iterator[tuple[str, str, str | None]]:
    """Every KMS key ARN in ``value`` as (path, ARN, region it must be in). A nested block naming its own region
    (a table replica's ``regionName``, a secret replica's ``region``) expects a key of that region. A replication
    rule's ``replicaKmsKeyId`` belongs to the destination; ``_replica_key_regions`` checks it."""
    if isinstance(value, str):
        if value.startswith("arn:") and value.split(":")[2:3] == ["kms"]:
            yield path, value, region
    elif isinstance(value, Mapping):
        items = dict(known_items(value))
        own = items.get("regionName") or items.get("region")
        inner = own if path and isinstance(own, str) else region
        for key, item in items.items():
            if key != "replicaKmsKeyId":
                yield from _kms_arns(item, inner, f"{path}.{key}" if path else key)
    elif isinstance(value, Sequence):
        for index, item in enumerate(known_elements(value)):
            yield from _kms_arns(item, region, f"{path}[{index}]")


def _replica_key_regions(config: StackResource, bucket_regions: Mapping[str | None, str | None]) -> Violations:
    for rule in blocks(config.props.get("rules")):
        destination = block(rule.get("destination"))
        key = known(destination, "encryptionConfiguration", "replicaKmsKeyId")
        expected = bucket_regions.get(bucket_name(known(destination, "bucket")))
        if expected and arn_region(key) and arn_region(key) != expected:
            yield StackViolation(
                f"{config.name} rule {rule.get('id')} re-encrypts into {expected} with a key of {arn_region(key)}", config.urn
            )


@stack_rule(
    "kms-key-in-own-region",
    "Every resource is encrypted with a KMS key of its own region (keys are regional; a replica uses its region's).",
)
def kms_key_in_own_region(stack: Stack) -> Violations:
    for resource in stack.resources:
        if resource.region is None:
            continue
        for path, arn, expected in _kms_arns(resource.props, resource.region, ""):
            if expected and arn_region(arn) != expected:
                yield StackViolation(
                    f"{resource.type} {resource.name}: {path} is a key of {arn_region(arn)}, not of {expected}", resource.urn
                )
    bucket_regions = _bucket_regions(stack)
    for config in stack.of_type(S3_REPLICATION):
        yield from _replica_key_regions(config, bucket_regions)


@resource_rule(
    "events-endpoint-replicated",
    "An EventBridge global endpoint replicates its events to its secondary (with a role) and fails over on a health check.",
    EVENT_ENDPOINT,
)
def events_endpoint_replicated(resource_type: str, props: Props) -> Messages:
    if get(block(props.get("replicationConfig")), "state") != "ENABLED":
        yield "replicationConfig.state must be ENABLED: without it a failed primary keeps the events it has not delivered"
    if not given(props, "roleArn"):
        yield "roleArn must name the role replication puts events with"
    if not given(block(get(block(props.get("routingConfig")), "failoverConfig")), "primary", "healthCheck"):
        yield "routingConfig.failoverConfig.primary.healthCheck must be set: it is what moves the events to the secondary"


@resource_rule(
    "event-target-dead-letter-queue",
    "Every EventBridge rule target has a dead-letter queue: an event it cannot deliver is kept, not dropped.",
    EVENT_TARGET,
)
def event_target_dead_letter_queue(resource_type: str, props: Props) -> Messages:
    if not given(block(props.get("deadLetterConfig")), "arn"):
        yield "deadLetterConfig.arn must name a queue: after its retries EventBridge drops an event it could not deliver"


RULES = (
    dynamodb_replicated_to_every_region,
    aurora_member_in_every_region,
    memorydb_multi_region_member_in_every_region,
    s3_replicated_to_every_region,
    stateful_stores_in_every_region,
    secrets_available_in_every_region,
    parameters_in_every_region,
    cdn_origin_failover,
    dns_routing_health_checked,
    dns_ttl_with_health_checks,
    dns_routing_covers_every_region,
    s3_replication_time_control,
    s3_replication_kms_objects,
    s3_replication_delete_markers,
    kms_key_in_own_region,
    events_endpoint_replicated,
    event_target_dead_letter_queue,
)
