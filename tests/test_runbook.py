"""The failover runbook in every region (components/runbook.py): function, state machine, topology parameter, alarms
and least-privilege roles, asserted per region on the update-mode runs of prod, dev, a 3-region stack and a 3-region
stack with Route53 ARC routing controls; and the preview runs, which prove the program survives unknown outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.packaging import LAMBDA_RUNTIME
from components.policies import region_sid
from components.runbook import (
    LOG_DELIVERY_ACTIONS,
    TOPOLOGY_MAX_BYTES,
    build_topology,
    execution_timeout_seconds,
    global_cluster_arn,
    health_check_arn,
    runbook_function_name,
    runbook_function_policy,
    state_machine_log_group_name,
    state_machine_name,
    topology_json,
    topology_parameter_name,
)
from components.runbook_definition import step_states
from functions.runbook.model import STEPS, Topology
from planning.harness import ACCOUNT_ID, UNKNOWN, ProgramRun, Resource
from planning.tfplan import SECRET_SIG, SECRET_SIG_KEY
from policy.iam import WILDCARD_RESOURCE_ACTIONS
from tests.support.asl import validate_asl
from tests.support.mock_ids import mock_arn
from tests.support.program import THREE_REGIONS, ProgramRunner
from tests.support.role_statements import FUNCTION_MANAGED_POLICIES, TABLE_WRITER_KEY_ACTIONS, environment_key_statement

COMPONENT = "multi-region:failover:FailoverRunbook"
FUNCTION = "aws:lambda/function:Function"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
PARAMETER = "aws:ssm/parameter:Parameter"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
ROUTING_CONTROL = "aws:route53recoverycontrol/routingControl:RoutingControl"
EXPECTED_PER_REGION = {FUNCTION: 1, STATE_MACHINE: 1, PARAMETER: 1, LOG_GROUP: 2, ROLE: 2, ROLE_POLICY: 2, ALARM: 2}

# The same overrides as tests/test_dns.py, so the session shares the runs.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "prod": ("prod", {}),
    "dev": ("dev", {}),
    "prod-3-regions": ("prod", {**THREE_REGIONS, "routingMode": "failover"}),
    "prod-3-routing-control": ("prod", {**THREE_REGIONS, "trafficControl": "routingControl"}),
}


@pytest.fixture(scope="module", params=list(CASES))
def run(request: pytest.FixtureRequest, run_stack: ProgramRunner) -> ProgramRun:
    stack, overrides = CASES[request.param]
    return run_stack(stack, **overrides)


@pytest.fixture(scope="module")
def routing_control_run(run_stack: ProgramRunner) -> ProgramRun:
    stack, overrides = CASES["prod-3-routing-control"]
    return run_stack(stack, **overrides)


# ---- helpers -------------------------------------------------------------------------------------------------


def _prefix(run: ProgramRun) -> str:
    return f"multi-region-{run.stack}"


def _component(run: ProgramRun, region: str) -> Resource:
    (component,) = [r for r in run.of_type(COMPONENT) if r.name == f"{region}-runbook"]
    return component


def _members(run: ProgramRun, region: str) -> list[Resource]:
    return list(run.descendants(_component(run, region)))


def _one(run: ProgramRun, region: str, type_: str) -> Resource:
    (found,) = [r for r in _members(run, region) if r.type == type_]
    return found


def _named(run: ProgramRun, name: str) -> Resource:
    (found,) = [r for r in run.resources if r.name == name]
    return found


def _key_arn(region: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{region}-kms-key"


def _function(run: ProgramRun, region: str) -> Resource:
    return _named(run, f"{region}-runbook-lambda-function")


def _topology_text(run: ProgramRun, region: str) -> str:
    value = _one(run, region, PARAMETER).inputs["value"]
    # The provider marks a parameter's value secret: the engine receives it in Pulumi's secret wrapper.
    assert value.get(SECRET_SIG_KEY) == SECRET_SIG, "the topology parameter's value is a secret"
    return str(value["value"])


def _gate_ids(run: ProgramRun) -> dict[str, str]:
    """Region -> its traffic gate: the calculated check its records are tied to (a stack without a domain has the
    gates and no record)."""
    gates = {c.inputs["tags"]["region"]: f"{c.name}-id" for c in run.of_type(HEALTH_CHECK) if c.inputs["type"] == "CALCULATED"}
    checks = {f"{c.name}-id": c for c in run.of_type(HEALTH_CHECK)}
    for record in run.of_type(RECORD):
        check = checks.get(str(record.inputs.get("healthCheckId")))
        if check is not None:
            assert gates[check.inputs["tags"]["region"]] == f"{check.name}-id"
    return gates


# ---- one runbook per region ----------------------------------------------------------------------------------


def test_one_runbook_per_region_under_its_provider(run: ProgramRun) -> None:
    assert sorted(c.name for c in run.of_type(COMPONENT)) == sorted(f"{r}-runbook" for r in run.region_order)
    for region in run.region_order:
        component = _component(run, region)
        assert component.region == region
        assert component.parent == next(s.urn for s in run.of_type("multi-region:regional:RegionalStack") if s.name == region)
        provider = run.by_urn(component.provider or "")
        assert provider.inputs["region"] == region
        members = _members(run, region)
        assert all(m.region == region for m in members)
        counts = {t: sum(1 for m in members if m.type == t) for t in EXPECTED_PER_REGION}
        assert counts == EXPECTED_PER_REGION
    # The topology parameters (each region also holds the application's runtime settings, test_app_config.py).
    topology = [p for p in run.of_type(PARAMETER) if p.inputs["name"].endswith("/runbook-topology")]
    assert len(run.of_type(STATE_MACHINE)) == len(topology) == len(run.region_order)


def test_the_function_runs_the_runbook_handler_on_the_apps_package(run: ProgramRun) -> None:
    assert run.config is not None
    prefix = _prefix(run)
    app_function = _named(run, f"{run.region_order[0]}-app-api-function")
    for region in run.region_order:
        inputs = _function(run, region).inputs
        assert inputs["name"] == runbook_function_name(prefix) == f"{prefix}-runbook"
        assert inputs["handler"] == "functions.runbook.handler.handle"
        assert (inputs["runtime"], inputs["architectures"]) == (LAMBDA_RUNTIME, ["arm64"])
        assert inputs["tracingConfig"] == {"mode": "Active"}
        assert (inputs["code"], inputs["sourceCodeHash"]) == (app_function.inputs["code"], app_function.inputs["sourceCodeHash"])
        assert inputs["timeout"] == 60 and inputs["reservedConcurrentExecutions"] == -1
        subnets = sorted(f"{region}-net-private-{i}-id" for i in range(3))
        assert sorted(inputs["vpcConfig"]["subnetIds"]) == subnets
        assert inputs["vpcConfig"]["securityGroupIds"] == [f"{region}-app-sg-id"]
        variables = inputs["environment"]["variables"]
        powertools = ["POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_LOGGER_SAMPLE_RATE"]
        assert sorted(variables) == sorted(["RUNBOOK_TOPOLOGY", *powertools]), "AWS_REGION is Lambda's own (reserved)"
        assert variables["POWERTOOLS_SERVICE_NAME"] == "runbook"
        assert variables["RUNBOOK_TOPOLOGY"] == _topology_text(run, region)
        assert inputs["kmsKeyArn"] == _key_arn(region)
        logs = _named(run, f"{region}-runbook-lambda-logs")
        assert logs.inputs == {
            "name": f"/aws/lambda/{prefix}-runbook",
            "retentionInDays": run.config.log_retention_days,
            "kmsKeyId": _key_arn(region),
        }
        assert logs.urn in _function(run, region).dependencies


def test_the_state_machine_logs_everything_encrypted_and_traces(run: ProgramRun) -> None:
    assert run.config is not None
    prefix = _prefix(run)
    for region in run.region_order:
        machine = _one(run, region, STATE_MACHINE)
        logs = _named(run, f"{region}-runbook-state-machine-logs")
        assert machine.inputs["name"] == state_machine_name(prefix) == f"{prefix}-failover"
        assert machine.inputs["type"] == "STANDARD"
        assert machine.inputs["loggingConfiguration"] == {
            "level": "ALL",
            "includeExecutionData": True,
            "logDestination": f"{mock_arn(logs)}:*",
        }
        assert machine.inputs["tracingConfiguration"] == {"enabled": True}
        assert logs.inputs == {
            "name": f"/aws/vendedlogs/states/{prefix}-failover",
            "retentionInDays": run.config.log_retention_days,
            "kmsKeyId": _key_arn(region),
        }
        role = _named(run, f"{region}-runbook-state-machine-role")
        assert machine.inputs["roleArn"] == mock_arn(role)
        assert _named(run, f"{region}-runbook-state-machine-policy").urn in machine.dependencies


def test_the_definition_runs_every_step_through_this_regions_function(run: ProgramRun) -> None:
    assert run.config is not None
    for region in run.region_order:
        definition = json.loads(_one(run, region, STATE_MACHINE).inputs["definition"])
        assert validate_asl(definition) == []
        assert definition["TimeoutSeconds"] == run.config.failover.drain_timeout_seconds + 3600
        for step in STEPS:
            task = definition["States"][step_states(step).task]
            assert task["Parameters"]["FunctionName"] == mock_arn(_function(run, region))
            assert task["TimeoutSeconds"] == 60 + 30


def test_the_topology_parameter_is_a_standard_secure_string_under_the_regions_key(run: ProgramRun) -> None:
    for region in run.region_order:
        parameter = _one(run, region, PARAMETER)
        assert parameter.inputs["name"] == f"/multi-region/{run.stack}/runbook-topology"
        assert (parameter.inputs["type"], parameter.inputs["tier"]) == ("SecureString", "Standard")
        assert parameter.inputs["keyId"] == _key_arn(region)
        assert "insecureValue" not in parameter.inputs, "not valid with a SecureString"
        assert len(_topology_text(run, region).encode()) <= TOPOLOGY_MAX_BYTES
    assert len({_topology_text(run, region) for region in run.region_order}) == 1, "the same topology everywhere"


def test_the_topology_names_every_regions_cluster_and_gate(run: ProgramRun) -> None:
    assert run.config is not None
    topology = Topology.from_json(_topology_text(run, run.region_order[0]))
    assert topology.regions == tuple(run.region_order)
    assert topology.table_name == f"{_prefix(run)}-items"
    assert topology.global_cluster_id == _prefix(run)
    assert dict(topology.cluster_arns) == {r: mock_arn(_named(run, f"{r}-aurora-cluster")) for r in run.region_order}
    assert dict(topology.traffic_gates) == _gate_ids(run)
    assert set(topology.traffic_gates) == set(run.region_order)
    assert topology.traffic_control == run.config.failover.traffic_control
    assert topology.drain_timeout_seconds == run.config.failover.drain_timeout_seconds
    assert topology.fence_settle_seconds == 20  # functions.shared.state_cache.FENCE_SETTLE_SECONDS
    assert Topology.from_json(run.outputs["runbookTopology"]) == topology
    if topology.traffic_control == "healthCheckGate":
        assert (dict(topology.routing_controls), dict(topology.routing_control_endpoints)) == ({}, {})


def test_routing_controls_and_arc_endpoints_are_in_the_topology(routing_control_run: ProgramRun) -> None:
    run = routing_control_run
    topology = Topology.from_json(_topology_text(run, run.region_order[0]))
    assert topology.traffic_control == "routingControl"
    controls = {c.inputs["name"].removeprefix(f"{_prefix(run)}-"): mock_arn(c) for c in run.of_type(ROUTING_CONTROL)}
    assert dict(topology.routing_controls) == controls and set(controls) == set(run.region_order)
    assert sorted(topology.routing_control_endpoints) == [
        "ap-northeast-1",
        "ap-southeast-2",
        "eu-west-1",
        "us-east-1",
        "us-west-2",
    ]
    assert all(url.startswith("https://") for url in topology.routing_control_endpoints.values())
    assert all(gate.endswith("-control-gate-id") for gate in topology.traffic_gates.values())


# ---- IAM ------------------------------------------------------------------------------------------------------


def _expected_function_policy(run: ProgramRun, region: str) -> list[dict[str, Any]]:
    """Written out by hand, from the brief's list, so that a change in the builders shows here."""
    assert run.config is not None
    prefix, regions = _prefix(run), run.region_order
    statements: list[tuple[str, list[str], list[str]]] = [
        (
            "StateAndRunRecordsInEveryRegion",
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [f"arn:aws:dynamodb:{r}:{ACCOUNT_ID}:table/{prefix}-items" for r in regions],
        ),
        (
            "AuroraGlobalCluster",
            ["rds:DescribeGlobalClusters", "rds:SwitchoverGlobalCluster", "rds:FailoverGlobalCluster"],
            [
                f"arn:aws:rds::{ACCOUNT_ID}:global-cluster:{prefix}",
                *(f"arn:aws:rds:{r}:{ACCOUNT_ID}:cluster/{r}-aurora-cluster" for r in regions),
            ],
        ),
    ]
    if run.config.failover.traffic_control == "healthCheckGate":
        statements.append(
            (
                "TrafficGates",
                ["route53:GetHealthCheck", "route53:UpdateHealthCheck"],
                [f"arn:aws:route53:::healthcheck/api-traffic-{r}-gate-id" for r in regions],
            )
        )
    else:
        controls = {c.inputs["name"]: mock_arn(c) for c in run.of_type(ROUTING_CONTROL)}
        statements.append(
            (
                "RoutingControls",
                [
                    "route53-recovery-cluster:GetRoutingControlState",
                    "route53-recovery-cluster:UpdateRoutingControlState",
                    "route53-recovery-cluster:UpdateRoutingControlStates",
                ],
                [controls[f"{prefix}-{r}"] for r in regions],
            )
        )
    statements += [
        ("ReplicationMetrics", ["cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics"], ["*"]),
        (
            "OwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:/aws/lambda/{prefix}-runbook:*"],
        ),
    ]
    expected = [{"Sid": sid, "Effect": "Allow", "Action": a, "Resource": r} for sid, a, r in statements]
    # Right after the table: each region's key, through DynamoDB of that region only.
    expected[1:1] = [
        {
            "Sid": f"TableKeyThroughDynamoDB{region_sid(r)}",
            "Effect": "Allow",
            "Action": TABLE_WRITER_KEY_ACTIONS,
            "Resource": [_key_arn(r)],
            "Condition": {"StringEquals": {"kms:ViaService": f"dynamodb.{r}.amazonaws.com"}},
        }
        for r in regions
    ]
    expected.append(environment_key_statement(region, ACCOUNT_ID, _key_arn(region), f"{prefix}-runbook"))
    return expected


def test_the_function_policy_refuses_a_region_without_a_table_key(run: ProgramRun) -> None:
    region = run.region_order[0]
    topology = Topology.from_json(_topology_text(run, region))
    keys = {r: _key_arn(r) for r in run.region_order[1:]}
    with pytest.raises(ValueError, match=f"no table key for {region}; table keys for: "):
        runbook_function_policy(
            topology, partition="aws", account_id=ACCOUNT_ID, region=region, log_group="/aws/lambda/x", table_keys=keys
        )


def test_the_function_role_names_exactly_this_stacks_resources(run: ProgramRun) -> None:
    for region in run.region_order:
        policy = _named(run, f"{region}-runbook-lambda-policy")
        assert policy.inputs["role"] == f"{region}-runbook-lambda-role-id"
        document = policy.policy()
        assert document["Statement"] == _expected_function_policy(run, region)
        wildcards = {s["Sid"] for s in document["Statement"] if "*" in s["Resource"]}
        assert wildcards == {"ReplicationMetrics"}
        attached = [a for a in run.of_type(ATTACHMENT) if a.inputs["role"] == f"{region}-runbook-lambda-role-id"]
        assert sorted(a.inputs["policyArn"] for a in attached) == sorted(
            f"arn:aws:iam::aws:policy/{p}" for p in FUNCTION_MANAGED_POLICIES
        )
        trust = _named(run, f"{region}-runbook-lambda-role").policy("assumeRolePolicy")
        assert trust["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]


def test_the_state_machine_role_may_invoke_only_the_runbook_function(run: ProgramRun) -> None:
    prefix = _prefix(run)
    for region in run.region_order:
        policy = _named(run, f"{region}-runbook-state-machine-policy")
        assert policy.inputs["role"] == f"{region}-runbook-state-machine-role-id"
        assert policy.policy()["Statement"] == [
            {
                "Sid": "InvokeRunbookFunction",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [mock_arn(_function(run, region))],
            },
            {
                "Sid": "LogDelivery",
                "Effect": "Allow",
                "Action": list(LOG_DELIVERY_ACTIONS),
                "Resource": ["*"],
            },
        ]
        # Its traces: AWS's managed X-Ray policy, attached before the state machine is created.
        (tracing,) = [a for a in run.of_type(ATTACHMENT) if a.inputs["role"] == f"{region}-runbook-state-machine-role-id"]
        assert tracing.inputs["policyArn"] == "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
        assert tracing.urn in _one(run, region, STATE_MACHINE).dependencies
        trust = _named(run, f"{region}-runbook-state-machine-role").policy("assumeRolePolicy")
        assert trust["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{prefix}-failover"},
                },
            }
        ]


def test_the_state_machine_role_asks_on_star_exactly_what_the_policy_pack_allows_on_star() -> None:
    """The pack keeps its own list of the actions that have no resource-level permissions (it imports nothing of the
    program): the log-delivery actions must be the same there and here, or the pack flags the role."""
    allowed = {a for a in WILDCARD_RESOURCE_ACTIONS if a.startswith("logs:")}
    assert {a.lower() for a in LOG_DELIVERY_ACTIONS} == allowed


# ---- alarms and outputs ---------------------------------------------------------------------------------------


def test_failed_and_timed_out_runs_alarm_the_regions_topic(run: ProgramRun) -> None:
    prefix = _prefix(run)
    for region in run.region_order:
        topic = _named(run, f"observability-alarms-{region}")
        machine = _one(run, region, STATE_MACHINE)
        alarms = {a.inputs["metricName"]: a for a in _members(run, region) if a.type == ALARM}
        assert sorted(alarms) == ["ExecutionsFailed", "ExecutionsTimedOut"]
        for metric, kind in (("ExecutionsFailed", "failed"), ("ExecutionsTimedOut", "timed-out")):
            alarm = alarms[metric]
            assert alarm.inputs["name"] == f"{prefix}-failover-{kind}-{region}"
            assert (alarm.inputs["namespace"], alarm.inputs["statistic"]) == ("AWS/States", "Sum")
            assert (alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == ("GreaterThanThreshold", 0)
            assert alarm.inputs["dimensions"] == {"StateMachineArn": mock_arn(machine)}
            assert alarm.inputs["alarmActions"] == alarm.inputs["okActions"] == [mock_arn(topic)]


def test_outputs_name_each_regions_state_machine(run: ProgramRun) -> None:
    assert run.outputs["failoverRunbooks"] == {r: mock_arn(_one(run, r, STATE_MACHINE)) for r in run.region_order}
    for kept in ("tableName", "application", "apiHostname", "regionalEndpoints", "dashboard", "regions", "primaryRegion"):
        assert kept in run.outputs


def test_preview_registers_the_runbook_with_its_topology_unknown(run_stack: ProgramRunner, preview_run: ProgramRun) -> None:
    update = run_stack(preview_run.stack)
    for region in update.region_order:
        assert sorted((m.type, m.name) for m in _members(preview_run, region)) == sorted(
            (m.type, m.name) for m in _members(update, region)
        )
        parameter = _one(preview_run, region, PARAMETER)
        assert parameter.inputs["name"] == topology_parameter_name("multi-region", preview_run.stack)
        assert _one(preview_run, region, STATE_MACHINE).inputs["name"] == f"multi-region-{preview_run.stack}-failover"
    assert preview_run.outputs["runbookTopology"] is UNKNOWN
    assert set(preview_run.outputs["failoverRunbooks"]) == set(update.region_order)


def test_preview_registers_the_routing_controls_with_their_endpoints_unknown(
    run_stack: ProgramRunner, routing_control_run: ProgramRun
) -> None:
    stack, overrides = CASES["prod-3-routing-control"]
    preview = run_stack(stack, preview=True, **overrides)
    assert preview.error is None
    assert sorted((r.type, r.name) for r in preview.resources) == sorted((r.type, r.name) for r in routing_control_run.resources)
    assert preview.outputs["runbookTopology"] is UNKNOWN


# ---- pure builders --------------------------------------------------------------------------------------------


def test_names() -> None:
    assert runbook_function_name("multi-region-prod") == "multi-region-prod-runbook"
    assert state_machine_name("multi-region-prod") == "multi-region-prod-failover"
    assert state_machine_log_group_name("multi-region-prod-failover") == "/aws/vendedlogs/states/multi-region-prod-failover"
    assert topology_parameter_name("multi-region", "dev") == "/multi-region/dev/runbook-topology"
    assert execution_timeout_seconds(600) == 4200
    assert (
        global_cluster_arn("aws", ACCOUNT_ID, "multi-region-prod")
        == f"arn:aws:rds::{ACCOUNT_ID}:global-cluster:multi-region-prod"
    )
    assert health_check_arn("aws-cn", "abc") == "arn:aws-cn:route53:::healthcheck/abc"


SIX_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1")


def _largest_topology(regions: tuple[str, ...] = SIX_REGIONS, name: str = "multi-region-production") -> Topology:
    """Six regions with routing controls, every identifier at its real length."""
    return build_topology(
        regions=regions,
        table_name=f"{name}-items",
        global_cluster_id=name,
        cluster_arns={r: f"arn:aws:rds:{r}:{ACCOUNT_ID}:cluster:{r}-aurora-cluster-a1b2c3d" for r in regions},
        traffic_control="routingControl",
        traffic_gates={r: "c0ffee00-1234-4321-abcd-0123456789ab" for r in regions},
        routing_controls={
            r: f"arn:aws:route53-recovery-control::{ACCOUNT_ID}:controlpanel/{'a' * 32}/routingcontrol/{'b' * 16}"
            for r in regions
        },
        routing_control_endpoints={
            r: f"https://{'c' * 8}.route53-recovery-cluster.{r}.amazonaws.com/v1"
            for r in ("us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "ap-southeast-2")
        },
        drain_timeout_seconds=3600,
        fence_settle_seconds=12.5,
    )


def test_the_largest_topology_fits_a_standard_parameter_and_a_lambda_environment() -> None:
    topology = _largest_topology()
    text = topology_json(topology)
    assert len(text.encode()) < TOPOLOGY_MAX_BYTES - 512, f"{len(text.encode())} bytes leave too little headroom"
    assert Topology.from_json(text) == topology
    assert topology.fence_settle_seconds == 13, "rounded up"


def test_a_topology_over_4_kb_is_refused() -> None:
    with pytest.raises(ValueError, match="allowed: at most 4096"):
        topology_json(_largest_topology(name="x" * 1000))
