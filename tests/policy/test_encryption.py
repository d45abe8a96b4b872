"""Encryption-at-rest rules (policy/encryption.py): each passes a minimal compliant input and fails a bad one."""

from __future__ import annotations

from typing import Any

import pytest

from policy import encryption
from policy.core import (
    DYNAMODB_TABLE,
    EKS_CLUSTER,
    ELASTICACHE_GROUP,
    KMS_KEY,
    LAMBDA_FUNCTION,
    LOG_GROUP,
    MEMORYDB_CLUSTER,
    RDS_CLUSTER,
    RDS_GLOBAL_CLUSTER,
    RDS_INSTANCE,
    S3_ENCRYPTION,
    SECRET,
    SQS_QUEUE,
    Rule,
)
from tests.support.policy_cases import (
    KEY_EAST,
    KEY_WEST,
    Cases,
    ResourceCases,
    StackCases,
    check_cases,
    failing,
    passing,
    resource,
    run_failing,
    run_passing,
    stack,
)

BUCKET = "aws:s3/bucket:Bucket"
PARAMETER = "aws:ssm/parameter:Parameter"
SSE, SSE_V2 = S3_ENCRYPTION
LOGGING = "aws:s3/bucketLogging:BucketLogging"
TOPIC = "aws:sns/topic:Topic"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
VOLUME = "aws:ebs/volume:Volume"
INSTANCE = "aws:ec2/instance:Instance"
TABLE_SSE = {"enabled": True, "kmsKeyArn": KEY_EAST}


def sse(name: str, algorithm: str) -> Any:
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm}}]
    return resource(SSE, f"{name}-sse", bucket=name, rules=rules)


DATA = resource(BUCKET, "data", bucket="data")
LOGS = resource(BUCKET, "logs", bucket="logs")
DATA_LOGGING = resource(LOGGING, "data-logging", bucket="data", targetBucket="logs")

CASES: Cases = {
    "rds-storage-encrypted": ResourceCases(
        passing=[
            (RDS_CLUSTER, {"storageEncrypted": True, "kmsKeyId": KEY_EAST}),
            (RDS_GLOBAL_CLUSTER, {"storageEncrypted": True}),
            (RDS_INSTANCE, {"storageEncrypted": True, "kmsKeyId": KEY_EAST}),
        ],
        failing=[
            (RDS_CLUSTER, {"storageEncrypted": False, "kmsKeyId": KEY_EAST}, "storageEncrypted must be true"),
            (RDS_CLUSTER, {"storageEncrypted": True}, "kmsKeyId"),
            (RDS_GLOBAL_CLUSTER, {}, "storageEncrypted must be true"),
        ],
    ),
    "dynamodb-encrypted-with-cmk": ResourceCases(
        passing=[
            (
                DYNAMODB_TABLE,
                {"serverSideEncryption": TABLE_SSE, "replicas": [{"regionName": "eu-west-1", "kmsKeyArn": KEY_WEST}]},
            )
        ],
        failing=[
            (
                DYNAMODB_TABLE,
                {"serverSideEncryption": {"enabled": True}},
                "serverSideEncryption must be enabled with a kmsKeyArn",
            ),
            (
                DYNAMODB_TABLE,
                {"serverSideEncryption": TABLE_SSE, "replicas": [{"regionName": "eu-west-1"}]},
                "replica in eu-west-1",
            ),
        ],
    ),
    "s3-default-encryption": ResourceCases(
        passing=[
            (SSE, {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_EAST}}]}),
            (SSE_V2, {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}),
        ],
        failing=[
            (SSE, {"rules": []}, "no encryption rule"),
            (SSE, {"rules": [{"bucketKeyEnabled": True}]}, "sseAlgorithm is None"),
        ],
    ),
    "kms-key-rotation": ResourceCases(
        passing=[(KMS_KEY, {"enableKeyRotation": True}), (KMS_KEY, {"customerMasterKeySpec": "RSA_2048"})],
        failing=[
            (KMS_KEY, {}, "enableKeyRotation"),
            (KMS_KEY, {"keySpec": "SYMMETRIC_DEFAULT", "enableKeyRotation": False}, "enableKeyRotation"),
        ],
    ),
    "cache-encrypted-at-rest": ResourceCases(
        passing=[
            (MEMORYDB_CLUSTER, {"kmsKeyArn": KEY_EAST}),
            (ELASTICACHE_GROUP, {"atRestEncryptionEnabled": True, "kmsKeyId": KEY_EAST}),
        ],
        failing=[
            (MEMORYDB_CLUSTER, {"tlsEnabled": True}, "kmsKeyArn"),
            (ELASTICACHE_GROUP, {"atRestEncryptionEnabled": False, "kmsKeyId": KEY_EAST}, "atRestEncryptionEnabled"),
            (ELASTICACHE_GROUP, {"atRestEncryptionEnabled": True}, "kmsKeyId"),
        ],
    ),
    "eks-secrets-encrypted": ResourceCases(
        passing=[
            (EKS_CLUSTER, {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY_EAST}}}),
            (EKS_CLUSTER, {"encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": KEY_EAST}}]}),
        ],
        failing=[
            (EKS_CLUSTER, {}, "encryptionConfig"),
            (EKS_CLUSTER, {"encryptionConfig": {"resources": [], "provider": {"keyArn": KEY_EAST}}}, "encryptionConfig"),
        ],
    ),
    "sqs-queue-encrypted": ResourceCases(
        passing=[(SQS_QUEUE, {"kmsMasterKeyId": KEY_EAST}), (SQS_QUEUE, {"sqsManagedSseEnabled": True})],
        failing=[(SQS_QUEUE, {}, "kmsMasterKeyId"), (SQS_QUEUE, {"sqsManagedSseEnabled": False}, "sqsManagedSseEnabled")],
    ),
    "sns-topic-encrypted": ResourceCases(
        passing=[(TOPIC, {"kmsMasterKeyId": KEY_EAST})],
        failing=[(TOPIC, {"name": "alarms"}, "kmsMasterKeyId")],
    ),
    "secret-encrypted-with-cmk": ResourceCases(
        passing=[(SECRET, {"kmsKeyId": KEY_EAST, "replicas": [{"region": "eu-west-1", "kmsKeyId": KEY_WEST}]})],
        failing=[
            (SECRET, {}, "kmsKeyId must name"),
            (SECRET, {"kmsKeyId": KEY_EAST, "replicas": [{"region": "eu-west-1"}]}, "replica in eu-west-1"),
        ],
    ),
    "log-group-encrypted": ResourceCases(
        passing=[(LOG_GROUP, {"kmsKeyId": KEY_EAST, "retentionInDays": 90.0})],
        failing=[(LOG_GROUP, {"retentionInDays": 90.0}, "kmsKeyId")],
    ),
    "lambda-environment-encrypted-with-cmk": ResourceCases(
        passing=[
            (LAMBDA_FUNCTION, {"environment": {"variables": {"TABLE_NAME": "items"}}, "kmsKeyArn": KEY_EAST}),
            (LAMBDA_FUNCTION, {"handler": "app.handle"}),
        ],
        failing=[(LAMBDA_FUNCTION, {"environment": {"variables": {"TABLE_NAME": "items"}}}, "kmsKeyArn must name")],
    ),
    "ssm-parameter-encrypted-with-cmk": ResourceCases(
        passing=[(PARAMETER, {"type": "SecureString", "keyId": KEY_EAST, "tier": "Standard"})],
        failing=[
            (PARAMETER, {"type": "String", "insecureValue": "{}"}, "type must be SecureString, not 'String'"),
            (PARAMETER, {"type": "SecureString"}, "keyId must name"),
        ],
    ),
    "ebs-volumes-encrypted": ResourceCases(
        passing=[
            (LAUNCH_TEMPLATE, {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]}),
            (VOLUME, {"encrypted": True}),
            (
                INSTANCE,
                {"rootBlockDevice": {"encrypted": True}, "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": True}]},
            ),
        ],
        failing=[
            (LAUNCH_TEMPLATE, {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 50.0}}]}, "/dev/xvda"),
            (VOLUME, {"size": 10.0}, "encrypted must be true"),
            (INSTANCE, {"rootBlockDevice": {"encrypted": False}}, "root"),
        ],
    ),
    "s3-bucket-encrypted": StackCases(
        passing=[stack(DATA, sse("data", "aws:kms"), LOGS, sse("logs", "AES256"), DATA_LOGGING)],
        failing=[
            (stack(DATA), "bucket data has no server-side encryption"),
            (stack(DATA, sse("data", "AES256")), "bucket data must use SSE-KMS"),
        ],
    ),
}


def test_every_rule_has_passing_and_failing_cases() -> None:
    check_cases(encryption.RULES, CASES)


@pytest.mark.parametrize(("rule", "item"), passing(encryption.RULES, CASES))
def test_rule_passes(rule: Rule, item: Any) -> None:
    run_passing(rule, item)


@pytest.mark.parametrize(("rule", "item"), failing(encryption.RULES, CASES))
def test_rule_fails(rule: Rule, item: Any) -> None:
    run_failing(rule, item)
