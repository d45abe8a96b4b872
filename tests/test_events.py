"""Events through EventBridge (components/events.py), under the mocks: every region's bus, rule, target, DLQ and queue
policies, and the global endpoint over the primary's and a secondary's bus, routed by the gate the runbook flips.

The runbook's side (``ops failover`` closing the gate the endpoint reads) is tests/functions/test_eventbridge.py's.
"""

from __future__ import annotations

import json

import pytest

from components.events import (
    EVENTS_PRINCIPAL,
    TARGET_MAXIMUM_EVENT_AGE_SECONDS,
    TARGET_MAXIMUM_RETRY_ATTEMPTS,
    bus_name,
    endpoint_regions,
    event_pattern,
    rule_name,
)
from components.policies import region_key_policy
from planning.budget import EVENTBRIDGE_REPLICATION_SECONDS, budget_of
from planning.cost import cost_of, render_cost
from planning.diagram import build_diagram
from planning.harness import ProgramRun, Resource
from tests.support.mock_ids import mock_arn
from tests.support.program import THREE_REGIONS, ProgramRunner

BUS = "aws:cloudwatch/eventBus:EventBus"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
ENDPOINT = "aws:cloudwatch/eventEndpoint:EventEndpoint"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
GATE = "aws:route53/healthCheck:HealthCheck"


@pytest.fixture(scope="module")
def three_region_run(run_stack: ProgramRunner) -> ProgramRun:
    """Three regions with ARC routing controls (the run tests/test_iam_grants.py shares)."""
    return run_stack("prod", **THREE_REGIONS, trafficControl="routingControl")


def _queue(run: ProgramRun, region: str, suffix: str) -> Resource:
    return next(q for q in run.of_type(QUEUE, region) if q.name == f"{region}-app-{suffix}")


def _check_region(run: ProgramRun, region: str) -> None:
    prefix = run.config.name_prefix
    [bus] = run.of_type(BUS, region)
    [rule] = run.of_type(RULE, region)
    [target] = run.of_type(TARGET, region)
    assert bus.inputs["name"] == bus_name(prefix)
    assert (rule.inputs["name"], rule.inputs["eventBusName"]) == (rule_name(prefix), bus_name(prefix))
    assert json.loads(rule.inputs["eventPattern"]) == json.loads(event_pattern(run.config.project))
    events_queue, dlq = _queue(run, region, "events"), _queue(run, region, "events-dlq")
    assert target.inputs["arn"] == mock_arn(events_queue)
    assert target.inputs["deadLetterConfig"] == {"arn": mock_arn(dlq)}
    assert target.inputs["retryPolicy"] == {
        "maximumEventAgeInSeconds": TARGET_MAXIMUM_EVENT_AGE_SECONDS,
        "maximumRetryAttempts": TARGET_MAXIMUM_RETRY_ATTEMPTS,
    }
    rule_arn = mock_arn(rule)
    policies = {p.inputs["queueUrl"].rsplit("/", 1)[-1]: p.policy() for p in run.of_type(QUEUE_POLICY, region)}
    assert set(policies) == {events_queue.inputs["name"], dlq.inputs["name"]}
    for queue in (events_queue, dlq):
        (statement,) = policies[queue.inputs["name"]]["Statement"]
        assert statement == {
            "Sid": "RuleSendsEvents",
            "Effect": "Allow",
            "Principal": {"Service": EVENTS_PRINCIPAL},
            "Action": "sqs:SendMessage",
            "Resource": mock_arn(queue),
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        }
    assert target.dependencies and {d.rsplit("::", 1)[-1] for d in target.dependencies} >= {
        f"{region}-events-queue-policy",
        f"{region}-events-dlq-policy",
    }


def test_every_region_has_the_bus_rule_target_dlq_and_queue_policies_admitting_only_its_rule(
    stack_run: ProgramRun, three_region_run: ProgramRun
) -> None:
    for run in (stack_run, three_region_run):
        for region in run.region_order:
            _check_region(run, region)


def _check_endpoint(run: ProgramRun) -> None:
    primary, secondary = endpoint_regions(run.region_order, run.config.primary.name)
    [endpoint] = run.of_type(ENDPOINT)
    assert endpoint.region == run.region_order[0]  # the home provider: a new primary moves nothing
    buses = {bus.region: bus for bus in run.of_type(BUS)}
    assert endpoint.inputs["eventBuses"] == [{"eventBusArn": mock_arn(buses[r])} for r in (primary, secondary)]
    failover = endpoint.inputs["routingConfig"]["failoverConfig"]
    gate_id = run.outputs["runbookTopology"]["trafficGates"][primary]
    assert failover == {
        "primary": {"healthCheck": f"arn:aws:route53:::healthcheck/{gate_id}"},
        "secondary": {"route": secondary},
    }
    assert endpoint.inputs["replicationConfig"] == {"state": "ENABLED"}
    [role] = [r for r in run.of_type(ROLE) if r.name == "events-endpoint-replication-role"]
    assert endpoint.inputs["roleArn"] == mock_arn(role)
    (trust,) = role.policy("assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": EVENTS_PRINCIPAL}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    [policy] = [p for p in run.of_type(ROLE_POLICY) if p.name == "events-endpoint-replication-policy"]
    (grant,) = policy.policy()["Statement"]
    assert grant["Action"] == ["events:PutEvents"]
    assert grant["Resource"] == sorted(mock_arn(buses[r]) for r in (primary, secondary))


def test_the_endpoint_names_the_primarys_and_a_secondarys_bus_and_the_primarys_traffic_gate(
    stack_run: ProgramRun, three_region_run: ProgramRun, run_stack: ProgramRunner
) -> None:
    for run in (stack_run, three_region_run):
        _check_endpoint(run)
    assert run_stack("prod", primaryRegion="eu-west-1").of_type(ENDPOINT)[0].inputs["routingConfig"]["failoverConfig"][
        "secondary"
    ] == {"route": "us-east-1"}


def test_the_topology_gate_is_the_gate_of_the_primary_in_either_traffic_control(
    stack_run: ProgramRun, three_region_run: ProgramRun
) -> None:
    for run in (stack_run, three_region_run):
        primary = run.config.primary.name
        gate_id = run.outputs["runbookTopology"]["trafficGates"][primary]
        [gate] = [g for g in run.of_type(GATE) if f"{g.name}-id" == gate_id]
        assert gate.inputs["tags"]["region"] == primary and gate.inputs["type"] == "CALCULATED"


def test_the_endpoint_spans_the_primary_and_the_first_other_region() -> None:
    assert endpoint_regions(["a", "b"], "b") == ("b", "a")
    assert endpoint_regions(["a", "b", "c"], "a") == ("a", "b")
    assert endpoint_regions(["a", "b", "c"], "c") == ("c", "a")
    with pytest.raises(ValueError, match="two regions including the primary 'x'"):
        endpoint_regions(["a", "b"], "x")


def test_eventbridge_rules_of_this_account_and_region_may_use_the_queues_key() -> None:
    policy = region_key_policy("aws", "123456789012", "eu-west-1")
    (statement,) = [s for s in policy["Statement"] if s["Sid"] == "EventBridgeRulesSendToEncryptedQueues"]
    assert statement["Principal"] == {"Service": EVENTS_PRINCIPAL}
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:events:eu-west-1:123456789012:rule/*"},
    }


def test_the_endpoint_is_exported_for_producers(stack_run: ProgramRun) -> None:
    exported = stack_run.outputs["eventsEndpoint"]
    assert exported["busName"] == bus_name(stack_run.config.name_prefix)
    assert exported["regions"] == list(endpoint_regions(stack_run.region_order, stack_run.config.primary.name))


def test_the_diagram_draws_the_endpoint_its_buses_and_the_replication_between_them(three_region_run: ProgramRun) -> None:
    edges = {(e.kind, e.tail, e.head, e.label) for e in build_diagram(three_region_run).edges}
    assert {
        ("events", "global/events-endpoint", "us-east-1/events", "primary"),
        ("events", "global/events-endpoint", "eu-west-1/events", "secondary"),
        ("replication", "us-east-1/events", "eu-west-1/events", "EventBridge, async, RPO 420 s"),
        ("health", "global/events-endpoint", "global/traffic-us-east-1", "health"),
    } <= edges
    assert not any("ap-southeast-2/events" in (tail, head) for _, tail, head, _ in edges)  # not one of the endpoint's two


def test_the_budget_gives_the_events_replication_its_documented_rpo(stack_run: ProgramRun) -> None:
    [row] = [row for row in budget_of(stack_run).rpo if row.store == "EventBridge events"]
    assert (row.planned, row.unplanned) == (0.0, EVENTBRIDGE_REPLICATION_SECONDS)
    assert "asynchronous" in row.basis


def test_the_cost_table_prices_the_events_and_their_replication_by_usage(stack_run: ProgramRun) -> None:
    cost = cost_of(stack_run)
    assert cost.usage == (
        "EventBridge events ($1.00 per million put, $1.00 per million more replicated by the global endpoint, "
        "and the inter-region data transfer)",
    )
    assert render_cost(cost)[-1].endswith(cost.usage[0])
