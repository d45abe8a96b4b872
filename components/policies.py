"""Pure builders of IAM and KMS policy documents (plain dicts), tested without Pulumi."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Policy = dict[str, Any]

# What a caller of DynamoDB needs on the customer managed key of a table it reads or writes: DynamoDB decrypts the
# table key with the caller's permissions on every read, and a write also encrypts and generates data keys (the set
# AWS's own key policy for DynamoDB grants its callers, less ReEncrypt*, CreateGrant and DescribeKey, which only
# creating a table or a replica or changing its key takes: the deployer's job). ``GenerateDataKey*`` is named form by
# form, the symmetric ones (the key pairs are for asymmetric keys, which DynamoDB never uses), so no function role
# carries a wildcard action. Streams are encrypted with the table's key, so their readers decrypt too.
DYNAMODB_READ_KEY_ACTIONS = ("kms:Decrypt",)
DYNAMODB_WRITE_KEY_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext")

# The AWS managed policies AWS documents for a Lambda function in a VPC with active tracing (and for a state machine
# that traces): their actions have no resource to name, so no inline statement of ours grants them on "*". The
# documents (service-role/AWSLambdaVPCAccessExecutionRole v3, AWSXRayDaemonWriteAccess v2) are written out in
# tests/support/role_statements.py; docs/design/key-grants.md says what they add.
LAMBDA_VPC_ACCESS_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"
XRAY_WRITE_POLICY = "AWSXRayDaemonWriteAccess"


def assume_role_policy(service: str, account_id: str | None = None, *, source_arn: str | None = None) -> Policy:
    """Trust policy letting one AWS service assume a role; with ``account_id`` only on behalf of this account, and with
    ``source_arn`` only for that resource (the confused-deputy conditions, for the services that set them).

    Example:
        >>> assume_role_policy("lambda.amazonaws.com")["Statement"]
        [{'Effect': 'Allow', 'Principal': {'Service': 'lambda.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]
    """
    statement: Policy = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    condition: Policy = {}
    if account_id is not None:
        condition["StringEquals"] = {"aws:SourceAccount": account_id}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def managed_policy_arn(partition: str, policy: str) -> str:
    """ARN of an AWS managed policy in the given partition (``aws``, ``aws-cn``, ``aws-us-gov``).

    Example:
        >>> managed_policy_arn("aws-cn", XRAY_WRITE_POLICY)
        'arn:aws-cn:iam::aws:policy/AWSXRayDaemonWriteAccess'
    """
    return f"arn:{partition}:iam::aws:policy/{policy}"


def allow_statement(sid: str, actions: Sequence[str], resources: Sequence[str], condition: Policy | None = None) -> Policy:
    """One ``Allow`` statement of an identity policy (``Condition`` only when given)."""
    statement: Policy = {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
    if condition:
        statement["Condition"] = condition
    return statement


def dynamodb_key_statements(sid: str, keys: Mapping[str, str], *, writes: bool) -> list[Policy]:
    """Use of each region's table key through DynamoDB of that region only (``kms:ViaService``): one statement per
    region, so a key is never usable through another region's DynamoDB. ``keys``: key ARN by region; ``writes``:
    the caller also writes (``DYNAMODB_WRITE_KEY_ACTIONS``), else it only reads.

    Example:
        >>> (s,) = dynamodb_key_statements("TableKey", {"eu-west-1": "arn:aws:kms:eu-west-1:1:key/k"}, writes=False)
        >>> s["Sid"], s["Action"], s["Condition"]
        ('TableKeyEuWest1', ['kms:Decrypt'], {'StringEquals': {'kms:ViaService': 'dynamodb.eu-west-1.amazonaws.com'}})
    """
    actions = DYNAMODB_WRITE_KEY_ACTIONS if writes else DYNAMODB_READ_KEY_ACTIONS
    return [
        allow_statement(
            f"{sid}{region_sid(region)}",
            actions,
            [key],
            {"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}},
        )
        for region, key in keys.items()
    ]


def lambda_function_arn(partition: str, region: str, account_id: str, function_name: str) -> str:
    """A function's (unqualified) ARN, known from its name before the function exists."""
    return f"arn:{partition}:lambda:{region}:{account_id}:function:{function_name}"


def environment_key_statement(key_arn: str, function_arn: str, region: str) -> Policy:
    """Decrypting a function's environment, encrypted with the region's key: Lambda decrypts it with the function's
    role when it starts an execution environment, through Lambda of this region, with the function's ARN as the
    encryption context it sets (``aws:lambda:FunctionArn``); so the role can decrypt no other function's environment
    and nothing else encrypted with the key.

    Example:
        >>> s = environment_key_statement("arn:aws:kms:eu-west-1:1:key/k", "arn:aws:lambda:eu-west-1:1:function:f", "eu-west-1")
        >>> s["Action"], s["Condition"]["StringEquals"]["kms:ViaService"]
        (['kms:Decrypt'], 'lambda.eu-west-1.amazonaws.com')
    """
    return allow_statement(
        "EnvironmentKeyThroughLambda",
        ["kms:Decrypt"],
        [key_arn],
        {
            "StringEquals": {
                "kms:ViaService": f"lambda.{region}.amazonaws.com",
                "kms:EncryptionContext:aws:lambda:FunctionArn": function_arn,
            }
        },
    )


def region_sid(region: str) -> str:
    """A region's name as a statement id may carry it (letters and digits only).

    Example:
        >>> region_sid("ap-southeast-2")
        'ApSoutheast2'
    """
    return "".join(part.capitalize() for part in region.split("-"))


def region_key_policy(partition: str, account_id: str, region: str) -> Policy:
    """Key policy of a region's KMS key.

    The account root keeps administration (so IAM policies can grant use and the key can never be locked
    out); CloudWatch Logs of this region may use the key only for this account's log groups, bound by the
    encryption context AWS sets on every log-group operation. CloudFront distributions of this account may
    decrypt, for reads of the SSE-KMS origin buckets. CloudWatch alarms of this account and region may publish
    to the alarm topic encrypted with the key.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            _account_administration(partition, account_id),
            _cloudwatch_logs(partition, account_id, region),
            {
                # The CDN reads the SSE-KMS bucket objects through origin access control. The key exists before the
                # distribution (which needs the bucket), so naming its exact ARN here would be a cycle: this admits
                # the distributions of this account only, and each bucket's policy is the exact gate (it admits
                # one distribution ARN; a distribution it does not admit reads nothing, so decrypts nothing).
                "Sid": "CloudFrontOriginDecrypt",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"ArnLike": {"AWS:SourceArn": f"arn:{partition}:cloudfront::{account_id}:distribution/*"}},
            },
            _cloudwatch_alarms(partition, account_id, region),
            _eventbridge_to_queues(partition, account_id, region),
        ],
    }


def _eventbridge_to_queues(partition: str, account_id: str, region: str) -> dict[str, Any]:
    """EventBridge rules of this account and region may send to the SSE-KMS queues (the events queue and its DLQ, rule
    targets: docs/design/events.md); each queue's policy is the exact gate, admitting its one rule."""
    return _service_for_account(
        "EventBridgeRulesSendToEncryptedQueues",
        "events.amazonaws.com",
        ["kms:Decrypt", "kms:GenerateDataKey"],
        account_id,
        f"arn:{partition}:events:{region}:{account_id}:rule/*",
    )


def _service_for_account(sid: str, service: str, actions: list[str], account_id: str, source_arn: str) -> dict[str, Any]:
    """A key statement letting ``service`` use the key on behalf of this account's resources matching ``source_arn``
    only (the conditions stop a confused deputy)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": actions,
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}, "ArnLike": {"aws:SourceArn": source_arn}},
    }


def edge_key_policy(partition: str, account_id: str, region: str) -> Policy:
    """Key policy of the us-east-1 key of a stack that has no region there: it encrypts only what the edge keeps in
    us-east-1 (CloudFront's access-log group and the health-check alarm topic), so no CloudFront decrypt grant."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            _account_administration(partition, account_id),
            _cloudwatch_logs(partition, account_id, region),
            _cloudwatch_alarms(partition, account_id, region),
        ],
    }


def _cloudwatch_logs(partition: str, account_id: str, region: str) -> dict[str, Any]:
    """The cryptographic actions only: every request must carry a log group of this account as its encryption context,
    which a ``Describe*`` request never carries (so granting it here could never take effect). The context is a
    string (``StringLike``; ``ArnLike`` compares it the same way but is typed for ARN keys)."""
    return {
        "Sid": "CloudWatchLogsInThisRegion",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {
            "StringLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}
        },
    }


def _account_administration(partition: str, account_id: str) -> dict[str, Any]:
    return {
        "Sid": "AccountAdministration",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def _cloudwatch_alarms(partition: str, account_id: str, region: str) -> dict[str, Any]:
    """CloudWatch needs the key of an SSE-KMS topic to publish alarm notifications into it; only for alarms of
    this account in this region (the conditions stop a confused deputy)."""
    return _service_for_account(
        "CloudWatchAlarmsPublishToEncryptedTopic",
        "cloudwatch.amazonaws.com",
        ["kms:Decrypt", "kms:GenerateDataKey*"],
        account_id,
        f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:*",
    )


def flow_log_delivery_policy(log_group_arn: str) -> Policy:
    """What the VPC flow-logs service needs to write into one log group, and nothing more. ``DescribeLogGroups``
    (in AWS's policy for the flow-logs role) lists the account's groups: IAM authorises it on ``*`` alone."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            allow_statement("DescribeOwnLogGroup", ["logs:DescribeLogStreams"], [log_group_arn]),
            allow_statement("WriteOwnLogGroup", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]),
            allow_statement("ListLogGroups", ["logs:DescribeLogGroups"], ["*"]),
        ],
    }
