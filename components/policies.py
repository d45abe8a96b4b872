"""Pure builders of IAM and KMS policy documents (plain dicts), tested without Pulumi."""

from __future__ import annotations

from typing import Any

Policy = dict[str, Any]


def assume_role_policy(service: str, account_id: str) -> Policy:
    """Trust policy letting one AWS service assume a role, only on behalf of this account."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def region_key_policy(partition: str, account_id: str, region: str) -> Policy:
    """Key policy of a region's KMS key.

    The account root keeps administration (so IAM policies can grant use and the key can never be locked
    out); CloudWatch Logs of this region may use the key only for this account's log groups, bound by the
    encryption context AWS sets on every log-group operation.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogsInThisRegion",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}
                },
            },
        ],
    }


def flow_log_delivery_policy(log_group_arn: str) -> Policy:
    """What the VPC flow-logs service needs to write into one log group, and nothing more."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            }
        ],
    }
