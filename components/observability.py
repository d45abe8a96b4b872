"""Alarms and the dashboard: every replication path, every region's health and application layer, on one page and
one pager.

Each region gets an alarm topic encrypted with that region's key, with the configured email subscriptions;
an alarm lives in the region whose metric it watches and notifies that region's topic. Route53 health-check
metrics exist only in us-east-1, so their alarms (and a topic for them, when us-east-1 is not one of the
stack's regions) live there. One dashboard per stack shows each metric family as a row with one widget per
region, side by side.

Thresholds are constants here, chosen from the recovery targets: replication that falls minutes behind, any
failed S3 replication, a health check that fails, a cache that runs hot, a function that fails or is throttled, any
message in a dead-letter (or stream-failure) queue. The application's function and queue names are fixed
(``components/app.py``), so its alarms are built from the stack's name prefix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.app import FAILURE_QUEUES, queue_name
from components.app_functions import ERRORS, THROTTLES, function_alarms, function_name, function_names


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
class RegionSignals:
    """What one region exposes to the alarms.

    Parameters
    ----------
    region: the region name.
    provider: that region's provider.
    key_arn: that region's KMS key, encrypting its alarm topic.
    aurora_cluster_id: the region's member cluster identifier.
    memorydb_cluster_name: the region's MemoryDB cluster name.
    bucket_name: the region's data bucket.
    """

    region: str
    provider: pulumi.ProviderResource
    key_arn: pulumi.Input[str]
    aurora_cluster_id: pulumi.Input[str]
    memorydb_cluster_name: pulumi.Input[str]
    bucket_name: pulumi.Input[str]


@dataclass(frozen=True)
class ObservabilityArgs:
    """Parameters
    ----------
    name_prefix: ``<project>-<stack>``: alarm, topic and dashboard names start with it.
    regions: every region's signals, in config order (the dashboard's column order).
    table_name: the global table.
    health_check_ids: Route53 health check per region.
    replication_rule_id: the S3 replication rule id towards a destination region.
    edge_region, edge_provider: us-east-1, where health-check metrics live.
    edge_key_arn: the us-east-1 KMS key for the health-check alarm topic when us-east-1 is not one of the regions
        (``__main__`` makes one edge key for this topic and CloudFront's access logs).
    alarm_emails: subscribed to every alarm topic.
    """

    name_prefix: str
    regions: Sequence[RegionSignals]
    table_name: pulumi.Input[str]
    health_check_ids: Mapping[str, pulumi.Input[str]]
    replication_rule_id: Callable[[str], str]
    edge_region: str
    edge_provider: pulumi.ProviderResource
    edge_key_arn: pulumi.Input[str]
    alarm_emails: Sequence[str] = field(default_factory=tuple)


class Observability(pulumi.ComponentResource):
    """Alarm topics per region, the alarms, and the stack's dashboard (in the first region)."""

    topics: dict[str, aws.sns.Topic]
    alarms: list[aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:observability:Observability", name, None, opts)
        self.args = args
        self.component_name = name
        self.topics = {}
        self.alarms = []
        for signals in args.regions:
            self.topics[signals.region] = self._topic(name, signals.region, signals.provider, signals.key_arn)
        if args.edge_region not in self.topics:
            self.topics[args.edge_region] = self._topic(name, args.edge_region, args.edge_provider, args.edge_key_arn)

        for source in args.regions:
            for destination in args.regions:
                if destination.region == source.region:
                    continue
                pair = f"{source.region}-to-{destination.region}"
                self._alarm(
                    f"dynamodb-replication-{pair}",
                    DYNAMODB_REPLICATION_LATENCY,
                    source.region,
                    {"TableName": args.table_name, "ReceivingRegion": destination.region},
                    f"DynamoDB replication {pair} is behind",
                )
                s3_dims = {
                    "SourceBucket": source.bucket_name,
                    "DestinationBucket": destination.bucket_name,
                    "RuleId": args.replication_rule_id(destination.region),
                }
                self._alarm(f"s3-failed-{pair}", S3_FAILED_REPLICATION, source.region, s3_dims, f"S3 replication {pair} failed")
                self._alarm(
                    f"s3-latency-{pair}", S3_REPLICATION_LATENCY, source.region, s3_dims, f"S3 replication {pair} is late"
                )
        for signals in args.regions:
            r = signals.region
            self._alarm(
                f"aurora-lag-{r}",
                AURORA_GLOBAL_LAG,
                r,
                {"DBClusterIdentifier": signals.aurora_cluster_id},
                f"Aurora in {r} lags the writer",
            )
            cache = {"ClusterName": signals.memorydb_cluster_name}
            self._alarm(f"memorydb-cpu-{r}", MEMORYDB_CPU, r, cache, f"MemoryDB in {r} is CPU-bound")
            self._alarm(f"memorydb-memory-{r}", MEMORYDB_MEMORY, r, cache, f"MemoryDB in {r} is nearly full")
            # The application's function names are fixed (components/app_functions.py), the same in every region.
            for alarm in function_alarms(args.name_prefix, r):
                self._alarm(alarm.suffix, FUNCTION_ALARM_RULES[alarm.kind], r, alarm.dimensions, alarm.description)
            for queue in FAILURE_QUEUES:
                self._alarm(
                    f"{queue}-{r}",
                    FAILED_MESSAGES,
                    r,
                    {"QueueName": queue_name(args.name_prefix, queue)},
                    f"The {queue} queue in {r} holds messages given up on",
                )
        for region, check_id in args.health_check_ids.items():
            self._alarm(
                f"health-{region}",
                HEALTH_CHECK_STATUS,
                args.edge_region,
                {"HealthCheckId": check_id},
                f"{region} fails its Route53 health check",
            )

        home = args.regions[0]
        names = pulumi.Output.all(
            table=args.table_name,
            clusters=[s.aurora_cluster_id for s in args.regions],
            caches=[s.memorydb_cluster_name for s in args.regions],
            buckets=[s.bucket_name for s in args.regions],
            checks={s.region: args.health_check_ids[s.region] for s in args.regions if s.region in args.health_check_ids},
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.name_prefix,
            dashboard_body=names.apply(
                lambda n: json.dumps(
                    dashboard_body(
                        regions=[s.region for s in args.regions],
                        table_name=n["table"],
                        aurora_clusters=n["clusters"],
                        memorydb_clusters=n["caches"],
                        buckets=n["buckets"],
                        health_checks=n["checks"],
                        edge_region=args.edge_region,
                        rule_id=args.replication_rule_id,
                        functions=[function_name(args.name_prefix, f) for f in function_names()],
                        failure_queues=[queue_name(args.name_prefix, q) for q in FAILURE_QUEUES],
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=home.provider),
        )
        self.register_outputs(
            {"topic_arns": {r: t.arn for r, t in self.topics.items()}, "dashboard_name": self.dashboard.dashboard_name}
        )

    def _topic(self, name: str, region: str, provider: pulumi.ProviderResource, key_arn: pulumi.Input[str]) -> aws.sns.Topic:
        topic = aws.sns.Topic(
            f"{name}-alarms-{region}",
            name=f"{self.args.name_prefix}-alarms",
            kms_master_key_id=key_arn,
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        for index, email in enumerate(self.args.alarm_emails):
            aws.sns.TopicSubscription(
                f"{name}-alarms-{region}-email-{index}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=pulumi.ResourceOptions(parent=topic, provider=provider),
            )
        return topic

    def _alarm(
        self,
        suffix: str,
        rule: AlarmRule,
        region: str,
        dimensions: Mapping[str, pulumi.Input[str]],
        description: str,
    ) -> None:
        """An alarm in ``region`` (under its topic, so under its provider) notifying that region's topic."""
        topic = self.topics[region]
        self.alarms.append(
            metric_alarm(
                f"{self.component_name}-{suffix}",
                name=f"{self.args.name_prefix}-{suffix}",
                rule=rule,
                description=description,
                dimensions=dimensions,
                topic_arn=topic.arn,
                opts=pulumi.ResourceOptions(parent=topic),
            )
        )


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
    width = max(6, 24 // max(1, len(regions)))
    rows: list[list[tuple[str, str, list[list[Any]]]]] = []
    rows.append(
        [
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
    )
    rows.append(
        [
            (f"Aurora global replication lag in {r}", r, [["AWS/RDS", "AuroraGlobalDBReplicationLag", "DBClusterIdentifier", c]])
            for r, c in zip(regions, aurora_clusters, strict=True)
        ]
    )
    rows.append(
        [
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
    )
    rows.append(
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
        ]
    )
    if functions or failure_queues:
        rows.append(
            [
                (
                    f"Functions and DLQ in {r}",
                    r,
                    [
                        *(
                            ["AWS/Lambda", m, "FunctionName", f, {"stat": "Sum"}]
                            for f in functions
                            for m in ("Errors", "Throttles")
                        ),
                        *(["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q] for q in failure_queues),
                    ],
                )
                for r in regions
            ]
        )
    if health_checks:
        rows.append(
            [
                (f"Health check of {r}", edge_region, [["AWS/Route53", "HealthCheckStatus", "HealthCheckId", check]])
                for r, check in health_checks.items()
            ]
        )
    widgets = []
    for y, row in enumerate(rows):
        for x, (title, region, metrics) in enumerate(row):
            widgets.append(
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
            )
    return {"widgets": widgets}
