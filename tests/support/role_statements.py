"""What the tests expect of every function's role, the application's and the runbook's alike, written out here
rather than read from the components, so a change to the program's grants shows in a test."""

from __future__ import annotations

from typing import Any

# The key actions of a role that writes the items table (its items are encrypted with the region's key).
TABLE_WRITER_KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"]
# The AWS managed policies every function role carries (components/app.py FUNCTION_MANAGED_POLICIES; the state
# machine's role the X-Ray one), by their name after "arn:<partition>:iam::aws:policy/", with their documents as AWS
# publishes them (AWS managed policy reference: AWSLambdaVPCAccessExecutionRole v3 of 2024-01-05,
# AWSXRayDaemonWriteAccess v2 of 2024-02-13). tests/test_iam_grants.py evaluates a role with them.
MANAGED_POLICY_DOCUMENTS = {
    "service-role/AWSLambdaVPCAccessExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSLambdaVPCAccessExecutionPermissions",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                "Resource": "*",
            }
        ],
    },
    "AWSXRayDaemonWriteAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSXRayDaemonWriteAccess",
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:GetSamplingStatisticSummaries",
                ],
                "Resource": ["*"],
            }
        ],
    },
}
FUNCTION_MANAGED_POLICIES = ["service-role/AWSLambdaVPCAccessExecutionRole", "AWSXRayDaemonWriteAccess"]


def environment_key_statement(region: str, account_id: str, key_arn: str, function_name: str) -> dict[str, Any]:
    """The last statement of every function role's inline policy: decrypting its own environment, through Lambda."""
    return {
        "Sid": "EnvironmentKeyThroughLambda",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [key_arn],
        "Condition": {
            "StringEquals": {
                "kms:ViaService": f"lambda.{region}.amazonaws.com",
                "kms:EncryptionContext:aws:lambda:FunctionArn": f"arn:aws:lambda:{region}:{account_id}:function:{function_name}",
            }
        },
    }
