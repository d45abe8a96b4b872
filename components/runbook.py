"""The failover runbook of one region: its function, Step Functions state machine, SSM topology and alarms.

``FailoverRunbook`` (``<region>-runbook``) deploys the runbook function ``<project>-<stack>-runbook`` on the
application's package (an ``AppFunction``), the STANDARD state machine ``<project>-<stack>-failover`` over it
(``runbook_definition.py``), the topology in ``/<project>/<stack>/runbook-topology`` and alarms on failed or timed-out
runs. The function's role is derived from the topology (``runbook_function_policy``); the state machine's role may
only invoke it, trace and deliver its logs. Why: docs/design/runbook.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.app import AppFunction, AppFunctionArgs, log_group_name, own_logs_statement
from components.app_config import SSM_TIER, SSM_TYPE
from components.observability import AlarmRule, metric_alarm
from components.packaging import Package
from components.policies import (
    XRAY_WRITE_POLICY,
    Policy,
    allow_statement,
    assume_role_policy,
    dynamodb_key_statements,
    managed_policy_arn,
)
from components.runbook_definition import state_machine_definition
from components.table import regional_table_arn
from functions.runbook.model import TRAFFIC_HEALTH_CHECK_GATE, TRAFFIC_ROUTING_CONTROL, Topology
from functions.shared.state_cache import FENCE_SETTLE_SECONDS

RUNBOOK = "runbook"
HANDLER = "functions.runbook.handler.handle"
RUNBOOK_TIMEOUT_SECONDS = 60
# A task waits a little longer than the function may run, so a function timeout is reported as the function's.
TASK_TIMEOUT_MARGIN_SECONDS = 30
# After the drain: the Aurora switchover or failover (minutes), the traffic shift and the activation, with retries.
PROMOTION_BUDGET_SECONDS = 3600
STATE_MACHINE_TYPE = "STANDARD"
STATE_MACHINE_LOG_LEVEL = "ALL"
# An SSM String parameter of the Standard tier, and a Lambda function's whole environment, hold at most 4 KB.
TOPOLOGY_MAX_BYTES = 4096

LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
AURORA_ACTIONS = ("rds:DescribeGlobalClusters", "rds:SwitchoverGlobalCluster", "rds:FailoverGlobalCluster")
GATE_ACTIONS = ("route53:GetHealthCheck", "route53:UpdateHealthCheck")
ROUTING_CONTROL_ACTIONS = (
    "route53-recovery-cluster:GetRoutingControlState",
    "route53-recovery-cluster:UpdateRoutingControlState",
    "route53-recovery-cluster:UpdateRoutingControlStates",
)
METRIC_ACTIONS = ("cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics")

EXECUTIONS_FAILED = AlarmRule("AWS/States", "ExecutionsFailed", "Sum", "GreaterThanThreshold", 0, 60, 1, "count")
EXECUTIONS_TIMED_OUT = AlarmRule("AWS/States", "ExecutionsTimedOut", "Sum", "GreaterThanThreshold", 0, 60, 1, "count")
ALARMS = {"failed": EXECUTIONS_FAILED, "timed-out": EXECUTIONS_TIMED_OUT}


# ---- pure builders: names and settings --------------------------------------------------------------


def runbook_function_name(name_prefix: str) -> str:
    """Example:
    >>> runbook_function_name("multi-region-prod")
    'multi-region-prod-runbook'
    """
    return f"{name_prefix}-{RUNBOOK}"


def state_machine_name(name_prefix: str) -> str:
    """Example:
    >>> state_machine_name("multi-region-prod")
    'multi-region-prod-failover'
    """
    return f"{name_prefix}-failover"


def state_machine_log_group_name(machine_name: str) -> str:
    """Under ``/aws/vendedlogs/``, as AWS recommends for vended logs: CloudWatch Logs then needs no resource policy
    per log group (their size is capped per account)."""
    return f"/aws/vendedlogs/states/{machine_name}"


def state_machine_arn(partition: str, region: str, account_id: str, machine_name: str) -> str:
    return f"arn:{partition}:states:{region}:{account_id}:stateMachine:{machine_name}"


def topology_parameter_name(project: str, stack: str) -> str:
    """Example:
    >>> topology_parameter_name("multi-region", "prod")
    '/multi-region/prod/runbook-topology'
    """
    return f"/{project}/{stack}/runbook-topology"


def execution_timeout_seconds(drain_timeout_seconds: int) -> int:
    """The whole run's bound: the drain may take its full timeout, the promotion and the rest ``PROMOTION_BUDGET_SECONDS``.

    Example:
        >>> execution_timeout_seconds(300)
        3900
    """
    return drain_timeout_seconds + PROMOTION_BUDGET_SECONDS


def global_cluster_arn(partition: str, account_id: str, global_cluster_id: str) -> str:
    """An Aurora global cluster's ARN (global: no region)."""
    return f"arn:{partition}:rds::{account_id}:global-cluster:{global_cluster_id}"


def health_check_arn(partition: str, health_check_id: str) -> str:
    """A Route53 health check's ARN, as IAM names it (global: no region, no account)."""
    return f"arn:{partition}:route53:::healthcheck/{health_check_id}"


# ---- pure builders: the topology ---------------------------------------------------------------------


def build_topology(
    *,
    regions: Sequence[str],
    table_name: str,
    global_cluster_id: str,
    cluster_arns: Mapping[str, str],
    traffic_control: str,
    traffic_gates: Mapping[str, str],
    routing_controls: Mapping[str, str] | None,
    routing_control_endpoints: Mapping[str, str] | None,
    drain_timeout_seconds: int,
    fence_settle_seconds: float = FENCE_SETTLE_SECONDS,
) -> Topology:
    """The runbook's ``Topology`` from the deployment's values (``Topology`` validates it: one cluster and one gate or
    routing control per region). The gates are carried in both traffic-control modes, for operators to read; with
    ``routingControl`` the runbook flips the controls, not the gates. The fence settle time is rounded up to whole
    seconds."""
    return Topology(
        regions=tuple(regions),
        table_name=table_name,
        global_cluster_id=global_cluster_id,
        cluster_arns=dict(cluster_arns),
        traffic_control=traffic_control,
        traffic_gates=dict(traffic_gates),
        routing_controls=dict(routing_controls or {}),
        routing_control_endpoints=dict(routing_control_endpoints or {}),
        drain_timeout_seconds=drain_timeout_seconds,
        fence_settle_seconds=math.ceil(fence_settle_seconds),
    )


def topology_json(topology: Topology) -> str:
    """``topology.to_json()``, refused when it would not fit in an SSM Standard parameter or a Lambda environment.

    Raises
    ------
    ValueError
        The JSON is over ``TOPOLOGY_MAX_BYTES``. With identifiers at their real lengths it is about 0.6 KB for two
        regions with gates and 2.6 KB for six with routing controls (tests/test_runbook.py).
    """
    text = topology.to_json()
    size = len(text.encode())
    if size > TOPOLOGY_MAX_BYTES:
        raise ValueError(
            f"the runbook topology is {size} bytes; allowed: at most {TOPOLOGY_MAX_BYTES} (SSM Standard, Lambda env)"
        )
    return text


def runbook_topology(
    *,
    regions: Sequence[str],
    table_name: str,
    global_cluster_id: str,
    cluster_arns: Mapping[str, pulumi.Input[str]],
    traffic_control: str,
    traffic_gates: Mapping[str, pulumi.Input[str]],
    routing_controls: Mapping[str, pulumi.Input[str]],
    routing_control_endpoints: pulumi.Input[Mapping[str, str]] | None,
    drain_timeout_seconds: int,
) -> pulumi.Output[str]:
    """The topology JSON once the deployment's outputs are known (``build_topology``, ``topology_json``)."""
    values = pulumi.Output.all(
        clusters=dict(cluster_arns),
        gates=dict(traffic_gates),
        controls=dict(routing_controls),
        endpoints=routing_control_endpoints if routing_control_endpoints is not None else {},
    )
    return values.apply(
        lambda v: topology_json(
            build_topology(
                regions=regions,
                table_name=table_name,
                global_cluster_id=global_cluster_id,
                cluster_arns=v["clusters"],
                traffic_control=traffic_control,
                traffic_gates=v["gates"],
                routing_controls=v["controls"],
                routing_control_endpoints=v["endpoints"],
                drain_timeout_seconds=drain_timeout_seconds,
            )
        )
    )


# ---- pure builders: IAM -------------------------------------------------------------------------------


def runbook_function_policy(
    topology: Topology, *, partition: str, account_id: str, region: str, log_group: str, table_keys: Mapping[str, str]
) -> Policy:
    """The runbook function's inline policy (see the module notes), for the function in ``region``; ``table_keys``: the
    key encrypting the table in each region of the topology.

    Raises
    ------
    ValueError
        A region of the topology has no table key.
    """
    missing = [r for r in topology.regions if r not in table_keys]
    if missing:
        raise ValueError(f"no table key for {', '.join(missing)}; table keys for: {', '.join(table_keys) or 'no region'}")
    statements = [
        allow_statement(
            "StateAndRunRecordsInEveryRegion",
            TABLE_ACTIONS,
            [regional_table_arn(partition, r, account_id, topology.table_name) for r in topology.regions],
        ),
        # The fence, the run record and the drain marker are conditional writes: each region's key, to read and write.
        *dynamodb_key_statements("TableKeyThroughDynamoDB", {r: table_keys[r] for r in topology.regions}, writes=True),
        allow_statement(
            "AuroraGlobalCluster",
            AURORA_ACTIONS,
            [
                global_cluster_arn(partition, account_id, topology.global_cluster_id),
                *(topology.cluster_arns[r] for r in topology.regions),
            ],
        ),
    ]
    if topology.traffic_control == TRAFFIC_HEALTH_CHECK_GATE:
        statements.append(
            allow_statement(
                "TrafficGates", GATE_ACTIONS, [health_check_arn(partition, topology.traffic_gates[r]) for r in topology.regions]
            )
        )
    elif topology.traffic_control == TRAFFIC_ROUTING_CONTROL:
        statements.append(
            allow_statement("RoutingControls", ROUTING_CONTROL_ACTIONS, [topology.routing_controls[r] for r in topology.regions])
        )
    statements += [
        allow_statement("ReplicationMetrics", METRIC_ACTIONS, ["*"]),
        own_logs_statement(partition, region, account_id, log_group),
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def state_machine_policy(function_arn: str) -> Policy:
    """The state machine's inline policy: invoke the runbook function, deliver its logs (its traces: the managed
    ``XRAY_WRITE_POLICY``)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            allow_statement("InvokeRunbookFunction", ["lambda:InvokeFunction"], [function_arn]),
            allow_statement("LogDelivery", LOG_DELIVERY_ACTIONS, ["*"]),
        ],
    }


# ---- the component ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailoverRunbookArgs:
    """Parameters
    ----------
    region: the region of the provider in ``opts``.
    name_prefix: ``<project>-<stack>``: the function and the state machine are named after it.
    parameter_name: the SSM parameter holding the topology (``topology_parameter_name``).
    topology: the topology JSON (``runbook_topology``), the same in every region.
    package: the application's built Lambda package.
    key_arn: the region's KMS key (both log groups, the function's environment and the topology parameter).
    table_key_arns: the key encrypting the table in each region (``GlobalTable.key_arns``): the runbook reads and
        writes every region's replica.
    private_subnet_ids, security_group_id: the region's private subnets and application security group.
    log_retention_days: of both log groups (``logRetentionDays``).
    execution_timeout_seconds: the bound of one execution (``execution_timeout_seconds``).
    alarm_topic_arn: the region's alarm topic.
    """

    region: str
    name_prefix: str
    parameter_name: str
    topology: pulumi.Input[str]
    package: Package
    key_arn: pulumi.Input[str]
    table_key_arns: Mapping[str, pulumi.Input[str]]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    log_retention_days: int
    execution_timeout_seconds: int
    alarm_topic_arn: pulumi.Input[str]


class FailoverRunbook(pulumi.ComponentResource):
    """The region's failover runbook: function, state machine, topology parameter and alarms (module notes)."""

    function: AppFunction
    state_machine_log_group: aws.cloudwatch.LogGroup
    state_machine_role: aws.iam.Role
    state_machine_role_policy: aws.iam.RolePolicy
    state_machine_tracing: aws.iam.RolePolicyAttachment
    state_machine: aws.sfn.StateMachine
    topology_parameter: aws.ssm.Parameter
    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: FailoverRunbookArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:failover:FailoverRunbook", name, None, opts)
        self.component_name, self.args = name, args
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id
        self.partition = aws.get_partition_output(opts=invoke).partition
        self._topology_parameter()
        self._function()
        self._state_machine()
        self._alarms()
        self.register_outputs(
            {
                "state_machine_arn": self.state_machine.arn,
                "function_name": self.function.function.name,
                "topology_parameter": self.topology_parameter.name,
            }
        )

    def _topology_parameter(self) -> None:
        """The topology in SSM, the same in every region, for operators and tools without the Pulumi backend: a
        SecureString under the region's key, so the key policy and IAM decide who reads the map of the deployment
        (``ops`` reads it with decryption). A preview still shows how a change moves the topology, in the runbook
        function's ``RUNBOOK_TOPOLOGY`` environment."""
        args = self.args
        self.topology_parameter = aws.ssm.Parameter(
            f"{self.component_name}-topology",
            name=args.parameter_name,
            description=f"The failover runbook's topology of {args.name_prefix} (functions.runbook.model.Topology)",
            type=SSM_TYPE,
            tier=SSM_TIER,
            key_id=args.key_arn,
            value=args.topology,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _function(self) -> None:
        """The runbook function on the application's package, its role derived from the topology."""
        args = self.args
        function_name = runbook_function_name(args.name_prefix)
        policy = pulumi.Output.all(
            partition=self.partition,
            account_id=self.account_id,
            topology=args.topology,
            table_keys=dict(args.table_key_arns),
        ).apply(
            lambda v: json.dumps(
                runbook_function_policy(
                    Topology.from_json(v["topology"]),
                    partition=v["partition"],
                    account_id=v["account_id"],
                    region=args.region,
                    log_group=log_group_name(function_name),
                    table_keys=v["table_keys"],
                )
            )
        )
        self.function = AppFunction(
            f"{self.component_name}-lambda",
            AppFunctionArgs(
                function_name=function_name,
                service=RUNBOOK,
                region=args.region,
                handler=HANDLER,
                package=args.package,
                policy=policy,
                environment={"RUNBOOK_TOPOLOGY": args.topology},
                timeout_seconds=RUNBOOK_TIMEOUT_SECONDS,
                reserved_concurrency=-1,
                log_retention_days=args.log_retention_days,
                key_arn=args.key_arn,
                private_subnet_ids=args.private_subnet_ids,
                security_group_id=args.security_group_id,
            ),
            pulumi.ResourceOptions(parent=self),
        )

    def _state_machine_role(self, machine_name: str) -> None:
        """The state machine's log group, and its role: trusted by this state machine only, invoking the function."""
        name, args = self.component_name, self.args
        self.state_machine_log_group = aws.cloudwatch.LogGroup(
            f"{name}-state-machine-logs",
            name=state_machine_log_group_name(machine_name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.state_machine_role = aws.iam.Role(
            f"{name}-state-machine-role",
            description=f"Execution role of the state machine {machine_name}",
            assume_role_policy=pulumi.Output.all(self.partition, self.account_id).apply(
                lambda v: json.dumps(
                    assume_role_policy(
                        "states.amazonaws.com", v[1], source_arn=state_machine_arn(v[0], args.region, v[1], machine_name)
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.state_machine_role_policy = aws.iam.RolePolicy(
            f"{name}-state-machine-policy",
            role=self.state_machine_role.id,
            policy=self.function.function.arn.apply(lambda arn: json.dumps(state_machine_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self.state_machine_role),
        )
        self.state_machine_tracing = aws.iam.RolePolicyAttachment(
            f"{name}-state-machine-xray-write",
            role=self.state_machine_role.id,
            policy_arn=self.partition.apply(lambda partition: managed_policy_arn(partition, XRAY_WRITE_POLICY)),
            opts=pulumi.ResourceOptions(parent=self.state_machine_role),
        )

    def _state_machine(self) -> None:
        """The STANDARD state machine over the function, every event logged with its data, traced."""
        args = self.args
        machine_name = state_machine_name(args.name_prefix)
        self._state_machine_role(machine_name)
        self.state_machine = aws.sfn.StateMachine(
            f"{self.component_name}-state-machine",
            name=machine_name,
            type=STATE_MACHINE_TYPE,
            role_arn=self.state_machine_role.arn,
            definition=self.function.function.arn.apply(
                lambda arn: json.dumps(
                    state_machine_definition(
                        arn,
                        timeout_seconds=args.execution_timeout_seconds,
                        task_timeout_seconds=RUNBOOK_TIMEOUT_SECONDS + TASK_TIMEOUT_MARGIN_SECONDS,
                    )
                )
            ),
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level=STATE_MACHINE_LOG_LEVEL,
                include_execution_data=True,
                # Step Functions takes the log group's ARN with the ":*" of its streams.
                log_destination=pulumi.Output.concat(self.state_machine_log_group.arn, ":*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
            # Step Functions checks the role's log-delivery permissions when it creates the state machine.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.state_machine_role_policy, self.state_machine_tracing, self.state_machine_log_group]
            ),
        )

    def _alarms(self) -> None:
        """A failed or timed-out run alarms the region's topic: an operator decides."""
        args = self.args
        machine_name = state_machine_name(args.name_prefix)
        self.alarms = [
            metric_alarm(
                f"{self.component_name}-executions-{kind}",
                name=f"{machine_name}-{kind}-{args.region}",
                rule=rule,
                description=f"A failover run in {args.region} {kind.replace('-', ' ')}: an operator decides",
                dimensions={"StateMachineArn": self.state_machine.arn},
                topic_arn=args.alarm_topic_arn,
                opts=pulumi.ResourceOptions(parent=self.state_machine),
            )
            for kind, rule in ALARMS.items()
        ]
