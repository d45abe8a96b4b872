"""What the tests expect of every function's role, the application's and the runbook's alike, written out here
rather than read from the components, so a change to the program's grants shows in a test."""

from __future__ import annotations

# The key actions of a role that writes the items table (its items are encrypted with the region's key).
TABLE_WRITER_KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"]
# Every function's role (the application's and the runbook's) traces and, in a VPC, manages its network interfaces,
# on * (neither has resource-level permissions): (Sid, actions, resources).
TRACING_AND_VPC_STATEMENTS = [
    ("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
    (
        "VpcNetworkInterfaces",
        [
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ],
        ["*"],
    ),
]
