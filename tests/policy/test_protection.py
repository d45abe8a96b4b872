"""Deletion-protection, point-in-time-recovery and backup rules (policy/protection.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy import protection
from policy.core import (
    DYNAMODB_TABLE,
    EKS_CLUSTER,
    ELASTICACHE_GROUP,
    MEMORYDB_CLUSTER,
    RDS_CLUSTER,
    RDS_GLOBAL_CLUSTER,
    RDS_INSTANCE,
    S3_VERSIONING,
    SECRET,
    Rule,
)
from policy.protection import BACKUP_SELECTION, BACKUP_VAULT, BACKUP_VAULT_LOCK
from tests.support.policy_cases import (
    KEY_EAST,
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
VERSIONING, VERSIONING_V2 = S3_VERSIONING
REPLICA = {"regionName": "eu-west-1"}
LOGGING = "aws:s3/bucketLogging:BucketLogging"

CLUSTER_EAST = resource(RDS_CLUSTER, "east-cluster", arn="arn:aws:rds:us-east-1:1:cluster:east")
TABLE_EAST = resource(DYNAMODB_TABLE, "items", arn="arn:aws:dynamodb:us-east-1:1:table/items")
DATA_BUCKET = resource(BUCKET, "east-data", bucket="east-data")
LOG_BUCKET = resource(BUCKET, "east-logs", bucket="east-logs")
ACCESS_LOGS = resource(LOGGING, "east-logging", bucket="east-data", targetBucket="east-logs")
STORES = (CLUSTER_EAST, TABLE_EAST, DATA_BUCKET, LOG_BUCKET, ACCESS_LOGS)
# By known ARN (the cluster, the table) and, as in a preview, by dependency only (the bucket).
SELECTION = resource(
    BACKUP_SELECTION,
    "east-selection",
    depends_on=[DATA_BUCKET],
    resources=["arn:aws:rds:us-east-1:1:cluster:east", "arn:aws:dynamodb:us-east-1:1:table/items"],
)
VAULT = resource(BACKUP_VAULT, "east-vault", name="app-prod", kmsKeyArn=KEY_EAST)
COMPLIANCE = resource(BACKUP_VAULT_LOCK, "east-lock", backupVaultName="app-prod", minRetentionDays=7.0, changeableForDays=3.0)
GOVERNANCE = resource(BACKUP_VAULT_LOCK, "east-lock", depends_on=[VAULT], minRetentionDays=7.0)
ENABLED, SUSPENDED = {"status": "Enabled"}, {"status": "Suspended"}
LOG_BUCKET = resource(BUCKET, "logs", bucket="logs")

CASES: Cases = {
    "rds-deletion-protection": ResourceCases(
        passing=[
            (RDS_CLUSTER, {"deletionProtection": True}),
            (RDS_GLOBAL_CLUSTER, {"deletionProtection": True}),
            (RDS_INSTANCE, {"deletionProtection": True}),
        ],
        failing=[
            (RDS_CLUSTER, {}, "deletionProtection"),
            (RDS_GLOBAL_CLUSTER, {"deletionProtection": False}, "deletionProtection"),
        ],
    ),
    "dynamodb-deletion-protection": ResourceCases(
        passing=[
            (DYNAMODB_TABLE, {"deletionProtectionEnabled": True, "replicas": [{**REPLICA, "deletionProtectionEnabled": True}]})
        ],
        failing=[
            (DYNAMODB_TABLE, {"deletionProtectionEnabled": False}, "deletionProtectionEnabled must be true"),
            (DYNAMODB_TABLE, {"deletionProtectionEnabled": True, "replicas": [REPLICA]}, "replica in eu-west-1"),
        ],
    ),
    "eks-deletion-protection": ResourceCases(
        passing=[(EKS_CLUSTER, {"deletionProtection": True})],
        failing=[(EKS_CLUSTER, {"deletionProtection": False}, "deletionProtection")],
    ),
    "secret-recovery-window": ResourceCases(
        passing=[(SECRET, {}), (SECRET, {"recoveryWindowInDays": 30.0})],
        failing=[(SECRET, {"recoveryWindowInDays": 0.0}, "recoveryWindowInDays is 0")],
    ),
    "s3-bucket-no-force-destroy": ResourceCases(
        passing=[(BUCKET, {"forceDestroy": False})],
        failing=[(BUCKET, {"forceDestroy": True}, "forceDestroy")],
    ),
    "rds-final-snapshot": ResourceCases(
        passing=[
            (RDS_CLUSTER, {"skipFinalSnapshot": False, "finalSnapshotIdentifier": "final"}),
            (RDS_INSTANCE, {"finalSnapshotIdentifier": "f"}),
        ],
        failing=[
            (RDS_CLUSTER, {"skipFinalSnapshot": True, "finalSnapshotIdentifier": "final"}, "skipFinalSnapshot"),
            (RDS_CLUSTER, {"skipFinalSnapshot": False}, "finalSnapshotIdentifier"),
        ],
    ),
    "dynamodb-pitr": ResourceCases(
        passing=[
            (DYNAMODB_TABLE, {"pointInTimeRecovery": {"enabled": True}, "replicas": [{**REPLICA, "pointInTimeRecovery": True}]})
        ],
        failing=[
            (DYNAMODB_TABLE, {"pointInTimeRecovery": {"enabled": False}}, "pointInTimeRecovery.enabled"),
            (DYNAMODB_TABLE, {"pointInTimeRecovery": {"enabled": True}, "replicas": [REPLICA]}, "replica in eu-west-1"),
        ],
    ),
    "rds-backup-retention": ResourceCases(
        passing=[(RDS_CLUSTER, {"backupRetentionPeriod": 14.0}), (RDS_INSTANCE, {"backupRetentionPeriod": 7.0})],
        failing=[(RDS_CLUSTER, {}, "backupRetentionPeriod is None"), (RDS_CLUSTER, {"backupRetentionPeriod": 1.0}, "at least 7")],
    ),
    "cache-snapshots": ResourceCases(
        passing=[(MEMORYDB_CLUSTER, {"snapshotRetentionLimit": 7.0}), (ELASTICACHE_GROUP, {"snapshotRetentionLimit": 1.0})],
        failing=[
            (MEMORYDB_CLUSTER, {"snapshotRetentionLimit": 0.0}, "snapshotRetentionLimit is 0.0"),
            (ELASTICACHE_GROUP, {}, "None"),
        ],
    ),
    "s3-versioning-enabled": ResourceCases(
        passing=[
            (VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}),
            (VERSIONING_V2, {"versioningConfiguration": {"status": "Enabled"}}),
        ],
        failing=[(VERSIONING, {"versioningConfiguration": {"status": "Suspended"}}, "'Suspended'")],
    ),
    "s3-bucket-versioned": StackCases(
        passing=[
            stack(LOG_BUCKET, resource(VERSIONING, "logs-versioning", bucket="logs", versioningConfiguration=ENABLED)),
            stack(resource(BUCKET, "legacy", bucket="legacy", versioning={"enabled": True})),
        ],
        failing=[
            (stack(LOG_BUCKET), "bucket logs is not versioned"),
            (
                stack(LOG_BUCKET, resource(VERSIONING, "logs-suspended", bucket="logs", versioningConfiguration=SUSPENDED)),
                "bucket logs is not versioned",
            ),
            (
                stack(LOG_BUCKET, resource(VERSIONING, "other-versioning", bucket="other", versioningConfiguration=ENABLED)),
                "bucket logs is not versioned",
            ),
        ],
    ),
    "backup-covers-every-store": StackCases(
        passing=[stack(*STORES, SELECTION), stack()],
        failing=[
            (stack(*STORES), "east-cluster is in no AWS Backup selection"),
            (stack(*STORES, resource(BACKUP_SELECTION, "partial", depends_on=[CLUSTER_EAST, DATA_BUCKET])), "items is in no"),
            (stack(*STORES, resource(BACKUP_SELECTION, "partial", depends_on=[CLUSTER_EAST, TABLE_EAST])), "east-data is in no"),
        ],
    ),
    "backup-vault-customer-key": ResourceCases(
        passing=[(BACKUP_VAULT, {"name": "app-prod", "kmsKeyArn": KEY_EAST})],
        failing=[(BACKUP_VAULT, {"name": "app-prod"}, "kmsKeyArn must name a customer managed key")],
    ),
    "backup-vault-compliance-lock": StackCases(
        passing=[stack(VAULT, COMPLIANCE)],
        failing=[
            (stack(VAULT), "vault east-vault has no vault lock"),
            (stack(VAULT, GOVERNANCE), "governance mode; production needs compliance mode"),
            (stack(VAULT, resource(BACKUP_VAULT_LOCK, "other", backupVaultName="other", changeableForDays=3.0)), "no vault lock"),
        ],
    ),
}


def test_every_rule_has_passing_and_failing_cases() -> None:
    check_cases(protection.RULES, CASES)


def test_dev_policy_config_turns_off_exactly_the_deletion_protection_rules() -> None:
    config = json.loads((Path(protection.__file__).parent / "config" / "dev.json").read_text())
    # Besides deletion protection, only the DNS routing rule, which a stack without a domain (dev) cannot meet.
    assert config == {**dict.fromkeys(protection.DELETION_PROTECTION, "disabled"), "dns-routing-covers-every-region": "disabled"}
    assert "dynamodb-pitr" not in config and "rds-backup-retention" not in config


@pytest.mark.parametrize(("rule", "item"), passing(protection.RULES, CASES))
def test_rule_passes(rule: Rule, item: Any) -> None:
    run_passing(rule, item)


@pytest.mark.parametrize(("rule", "item"), failing(protection.RULES, CASES))
def test_rule_fails(rule: Rule, item: Any) -> None:
    run_failing(rule, item)
