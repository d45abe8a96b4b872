"""Alarms and the dashboard: each region's alarm topic and alarms (built under its RegionalStack) and the stack's one
dashboard (under the GlobalStack).

An alarm lives in the region whose metric it watches and notifies that region's topic (encrypted with its key); a
Route53 health-check alarm lives in us-east-1, where those metrics are, and notifies the topic there. Resource names
keep the ``observability-`` prefix of the component that once held them, and an alias to it, so deployed alarms keep
their URNs. Thresholds and why: docs/design/observability.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.app import FAILURE_QUEUES, queue_name
from components.app_functions import ERRORS, THROTTLES, function_alarms, function_name, function_names
from components.providers import EDGE_REGION


@dataclass(frozen=True)
class AlarmRule:
    """One CloudWatch alarm rule (metric, statistic, threshold), the same in every region it applies to."""

    namespace: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    period: int
    evaluation_periods: int
    unit_note: str
    treat_missing_data: str = "notBreaching"


DYNAMODB_REPLICATION_LATENCY = AlarmRule(
    "AWS/DynamoDB", "ReplicationLatency", "Average", "GreaterThanThreshold", 60_000, 300, 2, "ms"
)
# Emitted by secondary clusters only; after a switchover another cluster emits it, so every member has one.
AURORA_GLOBAL_LAG = AlarmRule("AWS/RDS", "AuroraGlobalDBReplicationLag", "Average", "GreaterThanThreshold", 5_000, 60, 3, "ms")
S3_FAILED_REPLICATION = AlarmRule("AWS/S3", "OperationsFailedReplication", "Sum", "GreaterThanThreshold", 0, 300, 1, "count")
# Replication time control promises 15 minutes; alarm as soon as an object takes longer.
S3_REPLICATION_LATENCY = AlarmRule("AWS/S3", "ReplicationLatency", "Maximum", "GreaterThanThreshold", 900, 300, 1, "s")
HEALTH_CHECK_STATUS = AlarmRule(
    "AWS/Route53", "HealthCheckStatus", "Minimum", "LessThanThreshold", 1, 60, 1, "1 healthy / 0 not", "breaching"
)
MEMORYDB_CPU = AlarmRule("AWS/MemoryDB", "EngineCPUUtilization", "Average", "GreaterThanThreshold", 80, 300, 3, "%")
MEMORYDB_MEMORY = AlarmRule("AWS/MemoryDB", "DatabaseMemoryUsagePercentage", "Average", "GreaterThanThreshold", 80, 300, 3, "%")
# A function error is an invocation that failed as a whole (a crash or a timeout; records that fail on their own are
# reported as batch item failures, not errors); a throttle is an invocation refused for want of concurrency. Any
# message in a failure queue is an event (or a stream batch) given up on.
LAMBDA_ERRORS = AlarmRule("AWS/Lambda", "Errors", "Sum", "GreaterThanThreshold", 0, 300, 1, "count")
LAMBDA_THROTTLES = AlarmRule("AWS/Lambda", "Throttles", "Sum", "GreaterThanThreshold", 0, 300, 1, "count")
# The rule of each alarm kind the function table names (components/app_functions.py).
FUNCTION_ALARM_RULES = {ERRORS: LAMBDA_ERRORS, THROTTLES: LAMBDA_THROTTLES}
FAILED_MESSAGES = AlarmRule(
    "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "GreaterThanThreshold", 0, 300, 1, "messages"
)


def metric_alarm(
    resource_name: str,
    *,
    name: str,
    rule: AlarmRule,
    description: str,
    dimensions: Mapping[str, pulumi.Input[str]],
    topic_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> aws.cloudwatch.MetricAlarm:
    """The alarm of ``rule`` on the metric with ``dimensions``, notifying ``topic_arn`` when it fires and when it clears;
    its description ends with the rule, so the page says what crossed which threshold."""
    return aws.cloudwatch.MetricAlarm(
        resource_name,
        name=name,
        alarm_description=f"{description} ({rule.metric} {rule.comparison} {rule.threshold:g} {rule.unit_note})",
        namespace=rule.namespace,
        metric_name=rule.metric,
        statistic=rule.statistic,
        comparison_operator=rule.comparison,
        threshold=rule.threshold,
        period=rule.period,
        evaluation_periods=rule.evaluation_periods,
        treat_missing_data=rule.treat_missing_data,
        dimensions=dict(dimensions),
        alarm_actions=[topic_arn],
        ok_actions=[topic_arn],
        opts=opts,
    )


@dataclass(frozen=True)
class Peer:
    """Another region, as this region's replication alarms name it: its name and its data bucket."""

    region: str
    bucket_name: pulumi.Input[str]


@dataclass(frozen=True)
class RegionAlarmsArgs:
    """Parameters
    ----------
    region: the region the alarms watch and live in.
    name_prefix: ``<project>-<stack>``: alarm names start with it (the application's names are built from it).
    topic: the region's alarm topic (``alarm_topic``); every alarm is its child and notifies it.
    table_name: the global table (replication from this region to each peer).
    aurora_cluster_id, memorydb_cluster_name, bucket_name: this region's member cluster, cache and data bucket.
    peers: every other region, in config order.
    replication_rule_id: the S3 replication rule id towards a destination region.
    """

    region: str
    name_prefix: str
    topic: aws.sns.Topic
    table_name: pulumi.Input[str]
    aurora_cluster_id: pulumi.Input[str]
    memorydb_cluster_name: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    peers: Sequence[Peer]
    replication_rule_id: Callable[[str], str]


FORMER_COMPONENT = "observability"
FORMER_COMPONENT_TYPE = "multi-region:observability:Observability"


def former_component_urn() -> pulumi.Output[str]:
    """The URN of the component that held every topic, alarm and the dashboard before the GlobalStack/RegionalStack
    tree: what their aliases name as their old parent."""
    return pulumi.create_urn(FORMER_COMPONENT, FORMER_COMPONENT_TYPE)


def _moved_from(parent: pulumi.Input[str]) -> list[pulumi.Input[pulumi.Alias | str]]:
    return [pulumi.Alias(parent=parent)]


def alarm_topic(
    region: str,
    *,
    name_prefix: str,
    key_arn: pulumi.Input[str],
    alarm_emails: Sequence[str],
    opts: pulumi.ResourceOptions,
) -> aws.sns.Topic:
    """The alarm topic of ``region`` (``opts`` gives its parent and provider), with an email subscription for each
    of ``alarm_emails``."""
    topic = aws.sns.Topic(
        f"{FORMER_COMPONENT}-alarms-{region}",
        name=f"{name_prefix}-alarms",
        kms_master_key_id=key_arn,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=_moved_from(former_component_urn()))),
    )
    for index, email in enumerate(alarm_emails):
        aws.sns.TopicSubscription(
            f"{FORMER_COMPONENT}-alarms-{region}-email-{index}",
            topic=topic.arn,
            protocol="email",
            endpoint=email,
            opts=pulumi.ResourceOptions(parent=topic, provider=opts.provider),
        )
    return topic


def _alarm(
    args: RegionAlarmsArgs, suffix: str, rule: AlarmRule, dimensions: Mapping[str, pulumi.Input[str]], description: str
) -> aws.cloudwatch.MetricAlarm:
    """An alarm of the region, under its topic (so under its provider), notifying the topic."""
    return metric_alarm(
        f"{FORMER_COMPONENT}-{suffix}",
        name=f"{args.name_prefix}-{suffix}",
        rule=rule,
        description=description,
        dimensions=dimensions,
        topic_arn=args.topic.arn,
        opts=pulumi.ResourceOptions(parent=args.topic),
    )


def replication_alarms(args: RegionAlarmsArgs) -> list[aws.cloudwatch.MetricAlarm]:
    """DynamoDB and S3 replication from this region to each peer: behind, failed, late."""
    alarms = []
    for peer in args.peers:
        pair = f"{args.region}-to-{peer.region}"
        table = {"TableName": args.table_name, "ReceivingRegion": peer.region}
        alarms.append(
            _alarm(
                args,
                f"dynamodb-replication-{pair}",
                DYNAMODB_REPLICATION_LATENCY,
                table,
                f"DynamoDB replication {pair} is behind",
            )
        )
        s3 = {
            "SourceBucket": args.bucket_name,
            "DestinationBucket": peer.bucket_name,
            "RuleId": args.replication_rule_id(peer.region),
        }
        alarms.append(_alarm(args, f"s3-failed-{pair}", S3_FAILED_REPLICATION, s3, f"S3 replication {pair} failed"))
        alarms.append(_alarm(args, f"s3-latency-{pair}", S3_REPLICATION_LATENCY, s3, f"S3 replication {pair} is late"))
    return alarms


def region_alarms(args: RegionAlarmsArgs) -> list[aws.cloudwatch.MetricAlarm]:
    """Every alarm of the region but its health check's: replication from it, its Aurora member's lag, its cache, and
    its application layer (functions and failure queues, whose names are fixed: ``components/app.py``)."""
    r = args.region
    alarms = replication_alarms(args)
    alarms.append(
        _alarm(
            args,
            f"aurora-lag-{r}",
            AURORA_GLOBAL_LAG,
            {"DBClusterIdentifier": args.aurora_cluster_id},
            f"Aurora in {r} lags the writer",
        )
    )
    cache = {"ClusterName": args.memorydb_cluster_name}
    alarms.append(_alarm(args, f"memorydb-cpu-{r}", MEMORYDB_CPU, cache, f"MemoryDB in {r} is CPU-bound"))
    alarms.append(_alarm(args, f"memorydb-memory-{r}", MEMORYDB_MEMORY, cache, f"MemoryDB in {r} is nearly full"))
    for alarm in function_alarms(args.name_prefix, r):
        rule = FUNCTION_ALARM_RULES[alarm.kind]
        alarms.append(_alarm(args, alarm.suffix, rule, alarm.dimensions, alarm.description))
    for queue in FAILURE_QUEUES:
        dimensions = {"QueueName": queue_name(args.name_prefix, queue)}
        alarms.append(
            _alarm(args, f"{queue}-{r}", FAILED_MESSAGES, dimensions, f"The {queue} queue in {r} holds messages given up on")
        )
    return alarms


def health_alarm(
    region: str,
    *,
    name_prefix: str,
    check_id: pulumi.Input[str],
    edge_topic: aws.sns.Topic,
    opts: pulumi.ResourceOptions,
) -> aws.cloudwatch.MetricAlarm:
    """The alarm on ``region``'s Route53 health check. ``opts`` gives its parent (the region's RegionalStack) and the
    us-east-1 provider, where the metric is; it notifies ``edge_topic``, the alarm topic in us-east-1. It was a child
    of that topic under the former component, which its alias names."""
    former_topic = pulumi.create_urn(f"{FORMER_COMPONENT}-alarms-{EDGE_REGION}", "aws:sns/topic:Topic", former_component_urn())
    return metric_alarm(
        f"{FORMER_COMPONENT}-health-{region}",
        name=f"{name_prefix}-health-{region}",
        rule=HEALTH_CHECK_STATUS,
        description=f"{region} fails its Route53 health check",
        dimensions={"HealthCheckId": check_id},
        topic_arn=edge_topic.arn,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=_moved_from(former_topic))),
    )


@dataclass(frozen=True)
class DashboardArgs:
    """Parameters
    ----------
    name_prefix: the dashboard's name.
    regions: every region, in config order (the column order).
    table_name: the global table.
    aurora_clusters, memorydb_clusters, buckets: each region's, in the order of ``regions``.
    health_check_ids: Route53 health check per region (none for a stack without them).
    replication_rule_id: the S3 replication rule id towards a destination region.
    """

    name_prefix: str
    regions: Sequence[str]
    table_name: pulumi.Input[str]
    aurora_clusters: Sequence[pulumi.Input[str]]
    memorydb_clusters: Sequence[pulumi.Input[str]]
    buckets: Sequence[pulumi.Input[str]]
    health_check_ids: Mapping[str, pulumi.Input[str]]
    replication_rule_id: Callable[[str], str]


def dashboard(args: DashboardArgs, opts: pulumi.ResourceOptions) -> aws.cloudwatch.Dashboard:
    """The stack's dashboard (``dashboard_body``) once the names it shows are known; ``opts`` gives its parent and
    the home region's provider."""
    names = pulumi.Output.all(
        table=args.table_name,
        clusters=list(args.aurora_clusters),
        caches=list(args.memorydb_clusters),
        buckets=list(args.buckets),
        checks={r: args.health_check_ids[r] for r in args.regions if r in args.health_check_ids},
    )
    body = names.apply(
        lambda n: json.dumps(
            dashboard_body(
                regions=args.regions,
                table_name=n["table"],
                aurora_clusters=n["clusters"],
                memorydb_clusters=n["caches"],
                buckets=n["buckets"],
                health_checks=n["checks"],
                edge_region=EDGE_REGION,
                rule_id=args.replication_rule_id,
                functions=[function_name(args.name_prefix, f) for f in function_names()],
                failure_queues=[queue_name(args.name_prefix, q) for q in FAILURE_QUEUES],
            )
        )
    )
    return aws.cloudwatch.Dashboard(
        f"{FORMER_COMPONENT}-dashboard",
        dashboard_name=args.name_prefix,
        dashboard_body=body,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=_moved_from(former_component_urn()))),
    )


Widget = tuple[str, str, list[list[Any]]]  # title, region, metrics


def dashboard_body(
    *,
    regions: Sequence[str],
    table_name: str,
    aurora_clusters: Sequence[str],
    memorydb_clusters: Sequence[str],
    buckets: Sequence[str],
    health_checks: Mapping[str, str],
    edge_region: str,
    rule_id: Callable[[str], str],
    functions: Sequence[str] = (),
    failure_queues: Sequence[str] = (),
) -> dict[str, Any]:
    """The CloudWatch dashboard: one row per metric family, one widget per region, left to right in config order.

    ``functions`` and ``failure_queues`` are the application's function and failure-queue names, the same in every
    region: a row shows each region's function errors and throttles (sums) and messages in its failure queues.

    Example:
        >>> body = dashboard_body(regions=["us-east-1", "eu-west-1"], table_name="t", aurora_clusters=["a", "b"],
        ...     memorydb_clusters=["m", "n"], buckets=["x", "y"], health_checks={}, edge_region="us-east-1",
        ...     rule_id=lambda r: f"to-{r}")
        >>> [w["properties"]["title"] for w in body["widgets"][:2]]
        ['DynamoDB replication latency from us-east-1', 'DynamoDB replication latency from eu-west-1']
    """
    rows = [
        _table_row(regions, table_name),
        [
            (f"Aurora global replication lag in {r}", r, [["AWS/RDS", "AuroraGlobalDBReplicationLag", "DBClusterIdentifier", c]])
            for r, c in zip(regions, aurora_clusters, strict=True)
        ],
        _bucket_row(regions, buckets, rule_id),
        [
            (
                f"MemoryDB CPU and memory in {r}",
                r,
                [
                    ["AWS/MemoryDB", "EngineCPUUtilization", "ClusterName", c],
                    ["AWS/MemoryDB", "DatabaseMemoryUsagePercentage", "ClusterName", c],
                ],
            )
            for r, c in zip(regions, memorydb_clusters, strict=True)
        ],
    ]
    if functions or failure_queues:
        rows.append(_application_row(regions, functions, failure_queues))
    if health_checks:
        rows.append(
            [
                (f"Health check of {r}", edge_region, [["AWS/Route53", "HealthCheckStatus", "HealthCheckId", check]])
                for r, check in health_checks.items()
            ]
        )
    return {"widgets": _widgets(rows, width=max(6, 24 // max(1, len(regions))))}


def _table_row(regions: Sequence[str], table_name: str) -> list[Widget]:
    return [
        (
            f"DynamoDB replication latency from {src}",
            src,
            [
                ["AWS/DynamoDB", "ReplicationLatency", "TableName", table_name, "ReceivingRegion", dst]
                for dst in regions
                if dst != src
            ],
        )
        for src in regions
    ]


def _bucket_row(regions: Sequence[str], buckets: Sequence[str], rule_id: Callable[[str], str]) -> list[Widget]:
    return [
        (
            f"S3 replication from {src}",
            src,
            [
                ["AWS/S3", metric_name, "SourceBucket", buckets[i], "DestinationBucket", buckets[j], "RuleId", rule_id(dst)]
                for j, dst in enumerate(regions)
                if dst != src
                for metric_name in ("ReplicationLatency", "OperationsFailedReplication")
            ],
        )
        for i, src in enumerate(regions)
    ]


def _application_row(regions: Sequence[str], functions: Sequence[str], failure_queues: Sequence[str]) -> list[Widget]:
    return [
        (
            f"Functions and DLQ in {r}",
            r,
            [
                *(["AWS/Lambda", m, "FunctionName", f, {"stat": "Sum"}] for f in functions for m in ("Errors", "Throttles")),
                *(["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q] for q in failure_queues),
            ],
        )
        for r in regions
    ]


def _widgets(rows: Sequence[Sequence[Widget]], width: int) -> list[dict[str, Any]]:
    """Each row's widgets side by side, 6 units high."""
    return [
        {
            "type": "metric",
            "x": x * width,
            "y": y * 6,
            "width": width,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "metrics": metrics,
                "stat": "Maximum",
                "period": 60,
                "view": "timeSeries",
            },
        }
        for y, row in enumerate(rows)
        for x, (title, region, metrics) in enumerate(row)
    ]
