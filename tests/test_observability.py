"""Alarm topics, alarms on every replication path and region, and the dashboard."""

from __future__ import annotations

import json
from itertools import permutations

from components.app_functions import function_alarms
from components.observability import dashboard_body
from planning.harness import ACCOUNT_ID, ProgramRun
from tests.support.program import ProgramRunner

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"


def _alarms(run: ProgramRun) -> dict[str, dict]:  # type: ignore[type-arg]
    return {a.inputs["name"]: {**a.inputs, "region": a.region} for a in run.of_type(ALARM)}


def test_an_encrypted_topic_per_region_with_the_configured_subscriptions(stack_run: ProgramRun) -> None:
    topics = {t.region: t for t in stack_run.of_type(TOPIC)}
    assert set(topics) == set(stack_run.regions())
    for region, topic in topics.items():
        key = stack_run.one("aws:kms/key:Key", region)
        assert topic.inputs["kmsMasterKeyId"] == f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key.name}"
    subscriptions = stack_run.of_type("aws:sns/topicSubscription:TopicSubscription")
    expected = ["oncall@example.com"] if stack_run.stack == "prod" else []
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == sorted(expected * len(topics))
    assert all(s.inputs["protocol"] == "email" for s in subscriptions)


def test_every_replication_pair_is_watched_in_its_source_region(stack_run: ProgramRun) -> None:
    alarms = _alarms(stack_run)
    prefix = f"multi-region-{stack_run.stack}"
    for source, destination in permutations(stack_run.regions(), 2):
        pair = f"{source}-to-{destination}"
        dynamo = alarms[f"{prefix}-dynamodb-replication-{pair}"]
        assert dynamo["region"] == source
        assert (dynamo["namespace"], dynamo["metricName"]) == ("AWS/DynamoDB", "ReplicationLatency")
        assert dynamo["dimensions"] == {"TableName": f"{prefix}-items", "ReceivingRegion": destination}
        for kind, metric in (("failed", "OperationsFailedReplication"), ("latency", "ReplicationLatency")):
            s3 = alarms[f"{prefix}-s3-{kind}-{pair}"]
            assert (s3["region"], s3["namespace"], s3["metricName"]) == (source, "AWS/S3", metric)
            assert s3["dimensions"]["RuleId"] == f"to-{destination}"
            assert s3["dimensions"]["SourceBucket"].startswith(f"{prefix}-{source}-")
            assert s3["dimensions"]["DestinationBucket"].startswith(f"{prefix}-{destination}-")


def test_aurora_lag_and_memorydb_alarms_in_every_region(stack_run: ProgramRun) -> None:
    alarms = _alarms(stack_run)
    prefix = f"multi-region-{stack_run.stack}"
    for region in stack_run.regions():
        lag = alarms[f"{prefix}-aurora-lag-{region}"]
        assert lag["metricName"] == "AuroraGlobalDBReplicationLag" and lag["region"] == region
        assert lag["dimensions"] == {"DBClusterIdentifier": f"{region}-aurora-cluster-id"}
        for kind, metric in (("cpu", "EngineCPUUtilization"), ("memory", "DatabaseMemoryUsagePercentage")):
            alarm = alarms[f"{prefix}-memorydb-{kind}-{region}"]
            assert (alarm["namespace"], alarm["metricName"], alarm["region"]) == ("AWS/MemoryDB", metric, region)
            assert alarm["dimensions"] == {"ClusterName": prefix}


def test_health_check_alarms_live_in_us_east_1_and_notify_a_topic_there(run_stack: ProgramRunner) -> None:
    for run in (
        run_stack("prod"),
        run_stack(
            "prod", regions=["eu-west-1", "ap-southeast-2"], vpcCidrs=["10.1.0.0/16", "10.2.0.0/16"], primaryRegion="eu-west-1"
        ),
    ):
        alarms = _alarms(run)
        # The endpoint checks: the traffic gates over them are the runbook's switches, not alarmed.
        checks = {c.name: c for c in run.of_type("aws:route53/healthCheck:HealthCheck") if c.inputs["type"] == "HTTPS"}
        assert len(checks) == len(run.region_order)
        health = {name: a for name, a in alarms.items() if "-health-" in name}
        assert len(health) == len(checks)
        for alarm in health.values():
            assert alarm["region"] == "us-east-1"
            assert alarm["metricName"] == "HealthCheckStatus" and alarm["comparisonOperator"] == "LessThanThreshold"
            assert alarm["dimensions"]["HealthCheckId"] in {f"{n}-id" for n in checks}
            assert alarm["treatMissingData"] == "breaching"
        assert "us-east-1" in {t.region for t in run.of_type(TOPIC)}


def test_a_stack_without_us_east_1_gets_an_edge_key_for_its_alarm_topic(run_stack: ProgramRunner) -> None:
    run = run_stack(
        "prod", regions=["eu-west-1", "ap-southeast-2"], vpcCidrs=["10.1.0.0/16", "10.2.0.0/16"], primaryRegion="eu-west-1"
    )
    (key,) = [k for k in run.of_type("aws:kms/key:Key") if k.region == "us-east-1"]  # one edge key, shared with the CDN logs
    assert key.inputs["enableKeyRotation"] is True
    sids = [s["Sid"] for s in key.policy()["Statement"]]
    assert sids == ["AccountAdministration", "CloudWatchLogsInThisRegion", "CloudWatchAlarmsPublishToEncryptedTopic"]
    (topic,) = [t for t in run.of_type(TOPIC) if t.region == "us-east-1"]
    assert topic.inputs["kmsMasterKeyId"] == f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/{key.name}"


def test_every_function_and_failure_queue_is_alarmed_in_its_region(stack_run: ProgramRun) -> None:
    alarms = _alarms(stack_run)
    prefix = f"multi-region-{stack_run.stack}"
    functions = {f.inputs["name"] for f in stack_run.of_type("aws:lambda/function:Function")}
    queues = {q.inputs["name"] for q in stack_run.of_type("aws:sqs/queue:Queue")}
    for region in stack_run.regions():
        for function in ("processor", "stream", "api"):
            for kind, metric in (("errors", "Errors"), ("throttles", "Throttles")):
                alarm = alarms[f"{prefix}-{function}-{kind}-{region}"]
                assert (alarm["region"], alarm["namespace"], alarm["metricName"]) == (region, "AWS/Lambda", metric)
                assert (alarm["statistic"], alarm["comparisonOperator"], alarm["threshold"]) == ("Sum", "GreaterThanThreshold", 0)
                assert (alarm["period"], alarm["evaluationPeriods"]) == (300, 1)
                assert alarm["dimensions"] == {"FunctionName": f"{prefix}-{function}"}
                assert alarm["dimensions"]["FunctionName"] in functions, "the alarm watches a deployed function"
        for queue in ("events-dlq", "stream-failures"):
            alarm = alarms[f"{prefix}-{queue}-{region}"]
            assert (alarm["region"], alarm["namespace"]) == (region, "AWS/SQS")
            assert alarm["metricName"] == "ApproximateNumberOfMessagesVisible"
            assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
            assert alarm["dimensions"] == {"QueueName": f"{prefix}-{queue}"}
            assert alarm["dimensions"]["QueueName"] in queues, "the alarm watches a deployed queue"
    assert not any(f"{prefix}-events-{r}" in alarms for r in stack_run.regions()), "the events queue itself is not alarmed"


def test_every_alarm_notifies_its_regions_topic_on_alarm_and_ok(stack_run: ProgramRun) -> None:
    topics = {t.region: f"arn:aws:sns:{t.region}:{ACCOUNT_ID}:topic/{t.name}" for t in stack_run.of_type(TOPIC)}
    for alarm in stack_run.of_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topics[alarm.region]]
        assert alarm.inputs["okActions"] == [topics[alarm.region]]


def test_one_dashboard_shows_each_family_per_region_side_by_side(stack_run: ProgramRun) -> None:
    (dashboard,) = stack_run.of_type("aws:cloudwatch/dashboard:Dashboard")
    assert dashboard.inputs["dashboardName"] == f"multi-region-{stack_run.stack}"
    body = json.loads(dashboard.inputs["dashboardBody"])
    regions = stack_run.regions()
    rows: dict[int, list[dict]] = {}  # type: ignore[type-arg]
    for widget in body["widgets"]:
        rows.setdefault(widget["y"], []).append(widget)
    assert len(rows) == 6, "DynamoDB, Aurora, S3, MemoryDB, functions and DLQ, health checks"
    for row in rows.values():
        assert [w["x"] for w in row] == sorted(w["x"] for w in row)
        assert len(row) == len(regions)
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert f"Aurora global replication lag in {regions[1]}" in titles
    prefix = f"multi-region-{stack_run.stack}"
    functions_row = [w["properties"] for w in rows[4 * 6]]
    assert [(p["title"], p["region"]) for p in functions_row] == [(f"Functions and DLQ in {r}", r) for r in regions]
    for widget in functions_row:
        # The three functions' metrics written out, then any further entry's, one per alarm it asks for.
        written = {f"{prefix}-{function}" for function in ("processor", "stream", "api")}
        assert widget["metrics"] == [
            *(
                ["AWS/Lambda", metric, "FunctionName", f"{prefix}-{function}", {"stat": "Sum"}]
                for function in ("processor", "stream", "api")
                for metric in ("Errors", "Throttles")
            ),
            *(
                ["AWS/Lambda", alarm.kind.capitalize(), "FunctionName", alarm.dimensions["FunctionName"], {"stat": "Sum"}]
                for alarm in function_alarms(prefix, widget["region"])
                if alarm.dimensions["FunctionName"] not in written
            ),
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"{prefix}-events-dlq"],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"{prefix}-stream-failures"],
        ]


def test_dashboard_body_has_one_widget_per_region_and_family() -> None:
    body = dashboard_body(
        regions=["us-east-1", "eu-west-1", "ap-southeast-2"],
        table_name="t",
        aurora_clusters=["a", "b", "c"],
        memorydb_clusters=["m", "n", "o"],
        buckets=["x", "y", "z"],
        health_checks={"us-east-1": "h1", "eu-west-1": "h2", "ap-southeast-2": "h3"},
        edge_region="us-east-1",
        rule_id=lambda r: f"to-{r}",
    )
    assert len(body["widgets"]) == 15
    dynamo = body["widgets"][0]["properties"]
    assert dynamo["region"] == "us-east-1"
    assert [m[-1] for m in dynamo["metrics"]] == ["eu-west-1", "ap-southeast-2"]
    s3 = body["widgets"][6]["properties"]
    assert len(s3["metrics"]) == 4, "latency and failures towards each of the two other regions"
    assert all(w["properties"]["region"] == "us-east-1" for w in body["widgets"][12:])


def test_dashboard_body_adds_a_functions_row_before_the_health_checks() -> None:
    body = dashboard_body(
        regions=["us-east-1", "eu-west-1"],
        table_name="t",
        aurora_clusters=["a", "b"],
        memorydb_clusters=["m", "n"],
        buckets=["x", "y"],
        health_checks={"us-east-1": "h1", "eu-west-1": "h2"},
        edge_region="us-east-1",
        rule_id=lambda r: f"to-{r}",
        functions=["p-processor"],
        failure_queues=["p-events-dlq"],
    )
    assert len(body["widgets"]) == 12
    functions = [w["properties"] for w in body["widgets"][8:10]]
    assert [(w["title"], w["region"]) for w in functions] == [
        ("Functions and DLQ in us-east-1", "us-east-1"),
        ("Functions and DLQ in eu-west-1", "eu-west-1"),
    ]
    assert functions[1]["metrics"] == [
        ["AWS/Lambda", "Errors", "FunctionName", "p-processor", {"stat": "Sum"}],
        ["AWS/Lambda", "Throttles", "FunctionName", "p-processor", {"stat": "Sum"}],
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "p-events-dlq"],
    ]
    assert body["widgets"][10]["properties"]["title"] == "Health check of us-east-1"


LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def test_every_log_group_keeps_its_logs_the_configured_days(stack_run: ProgramRun) -> None:
    """One key, logRetentionDays, sets every group: flow, function, API access, EKS control plane, runbook function
    and state machine, CDN access logs, the web ACL's logs; the committed stacks keep a year."""
    groups = stack_run.of_type(LOG_GROUP)
    regions = stack_run.config.region_names
    # Per region: flow logs, 3 functions, API access, EKS control plane, runbook function and state machine, the master
    # secret's rotation function; at the edge: the CDN's access logs and the web ACL's logs.
    assert len(groups) == 9 * len(regions) + 2
    assert {g.name: g.inputs["retentionInDays"] for g in groups} == {g.name: 365 for g in groups}
    assert stack_run.config.log_retention_days == 365


def test_another_retention_reaches_every_log_group(run_stack: ProgramRunner) -> None:
    run = run_stack("dev", logRetentionDays=731)
    groups = run.of_type(LOG_GROUP)
    assert groups
    assert {g.name: g.inputs["retentionInDays"] for g in groups} == {g.name: 731 for g in groups}
