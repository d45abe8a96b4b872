"""AWS Backup per region (components/backup.py): vault under the region's key, lock per stack, the daily plan with its
copy to another region's vault, the selection of every store, the role's managed policies, and the config keys."""

from __future__ import annotations

from typing import Any

import pytest

from components.backup import BACKUP_POLICIES, DAILY_SCHEDULE, copy_destination
from components.config import ConfigError
from planning.harness import ProgramRun, stack_config
from tests.support.mock_ids import mock_arn
from tests.support.program import THREE_REGIONS, ProgramRunner

VAULT = "aws:backup/vault:Vault"
LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KEY = "aws:kms/key:Key"
CLUSTER = "aws:rds/cluster:Cluster"
TABLE = "aws:dynamodb/table:Table"
BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"


def _arn(run: ProgramRun, type_: str, name: str) -> str:
    """The ARN the mocks give the resource of ``type_`` named ``name``."""
    (found,) = [r for r in run.of_type(type_) if r.name == name]
    return mock_arn(found)


def test_each_region_has_one_vault_under_its_own_key(stack_run: ProgramRun) -> None:
    for region in stack_run.regions():
        vault = stack_run.one(VAULT, region)
        assert vault.inputs["name"] == stack_run.config.name_prefix  # explicit: the plan and the lock name it
        assert vault.inputs["kmsKeyArn"] == _arn(stack_run, KEY, f"{region}-kms-key")
        assert vault.protect is stack_run.config.protect_stateful_resources
        assert vault.inputs["forceDestroy"] is not stack_run.config.protect_stateful_resources


def test_prod_vaults_are_locked_in_compliance_mode_and_dev_vaults_are_not(run_stack: ProgramRunner) -> None:
    prod, dev = run_stack("prod"), run_stack("dev")
    assert dev.of_type(LOCK) == []
    backup = prod.config.backup
    assert backup.vault_lock == "compliance"
    for region in prod.regions():
        lock = prod.one(LOCK, region)
        assert lock.inputs == {
            "backupVaultName": prod.config.name_prefix,
            "minRetentionDays": backup.lock_min_retention_days,
            "maxRetentionDays": backup.lock_max_retention_days,
            "changeableForDays": backup.lock_changeable_for_days,
        }
        assert lock.parent == prod.one(VAULT, region).urn
        # The plan waits for the lock, so no recovery point is made before it.
        assert lock.urn in prod.one(PLAN, region).dependencies


def test_governance_lock_has_no_grace_time(run_stack: ProgramRunner) -> None:
    run = run_stack("dev", backupVaultLock="governance")
    for region in run.regions():
        assert "changeableForDays" not in run.one(LOCK, region).inputs


def test_plan_backs_up_daily_into_the_region_vault_and_copies_to_another_region(stack_run: ProgramRun) -> None:
    retention = stack_run.config.backup.retention_days
    expected = {"us-east-1": "eu-west-1", "eu-west-1": "us-east-1"}
    for region in stack_run.regions():
        plan = stack_run.one(PLAN, region)
        assert plan.inputs["name"] == f"{stack_run.config.name_prefix}-daily"
        (rule,) = plan.inputs["rules"]
        assert rule["targetVaultName"] == stack_run.config.name_prefix
        assert rule["schedule"] == DAILY_SCHEDULE
        assert rule["lifecycle"] == {"deleteAfter": retention}
        (copy,) = rule["copyActions"]
        destination = expected[region]
        assert copy["destinationVaultArn"] == _arn(stack_run, VAULT, f"{destination}-backup-vault")
        assert copy["lifecycle"] == {"deleteAfter": retention}


def test_three_regions_copy_the_primary_to_the_next_and_the_others_to_the_primary(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS)
    for region in run.regions():
        (rule,) = run.one(PLAN, region).inputs["rules"]
        destination = {"us-east-1": "eu-west-1", "eu-west-1": "us-east-1", "ap-southeast-2": "us-east-1"}[region]
        assert rule["copyActions"][0]["destinationVaultArn"] == _arn(run, VAULT, f"{destination}-backup-vault")


@pytest.mark.parametrize(
    ("region", "primary", "expected"),
    [("a", "a", "b"), ("b", "a", "a"), ("c", "a", "a"), ("c", "c", "a"), ("b", "c", "c")],
)
def test_copy_destination(region: str, primary: str, expected: str) -> None:
    assert copy_destination(region, ["a", "b", "c"], primary) == expected


def test_selection_covers_the_cluster_and_bucket_of_each_region_and_the_table_in_its_home(stack_run: ProgramRun) -> None:
    home = stack_run.regions()[0]
    for region in stack_run.regions():
        selection = stack_run.one(SELECTION, region)
        assert selection.inputs["name"] == f"{stack_run.config.name_prefix}-stores"
        assert selection.inputs["planId"] == f"{region}-backup-plan-id"
        assert selection.inputs["iamRoleArn"] == _arn(stack_run, "aws:iam/role:Role", f"{region}-backup-role")
        stores = [
            _arn(stack_run, CLUSTER, f"{region}-aurora-cluster"),
            _arn(stack_run, BUCKET, f"{region}-bucket-data"),
        ]
        if region == home:
            stores.append(_arn(stack_run, TABLE, "items-table"))
        assert selection.inputs["resources"] == stores
        # Each store is a dependency, so the engine (and checkov's graph) links the selection to it.
        depended = {stack_run.by_urn(urn).name for urn in selection.dependencies}
        assert {f"{region}-aurora-cluster", f"{region}-bucket-data"} <= depended
        assert ("items-table" in depended) is (region == home)


def test_backed_up_buckets_are_versioned(stack_run: ProgramRun) -> None:
    """AWS Backup for S3 requires versioning on the bucket."""
    for region in stack_run.regions():
        bucket = next(r for r in stack_run.of_type(BUCKET, region) if r.name == f"{region}-bucket-data")
        versioning = next(r for r in stack_run.of_type(VERSIONING, region) if r.parent == bucket.urn)
        assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"


def test_role_is_assumed_by_aws_backup_with_exactly_the_backup_and_restore_policies(stack_run: ProgramRun) -> None:
    for region in stack_run.regions():
        role = next(r for r in stack_run.of_type("aws:iam/role:Role", region) if r.name == f"{region}-backup-role")
        (statement,) = role.policy("assumeRolePolicy")["Statement"]
        assert statement["Principal"] == {"Service": "backup.amazonaws.com"}
        attached = sorted(r.inputs["policyArn"] for r in stack_run.of_type(ATTACHMENT, region) if r.parent == role.urn)
        assert attached == sorted(f"arn:aws:iam::aws:policy/{policy}" for policy in BACKUP_POLICIES)
        assert attached == sorted(
            [
                "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
                "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
                "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
                "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
            ]
        )
        # The selection waits for the policies: AWS Backup checks the role when the selection is created.
        selection = stack_run.one(SELECTION, region)
        assert {r.urn for r in stack_run.of_type(ATTACHMENT, region) if r.parent == role.urn} <= set(selection.dependencies)


def test_outputs_name_each_region_vault_and_restore_role(stack_run: ProgramRun) -> None:
    for region, values in stack_run.outputs["regions"].items():
        assert values["backupVaultName"] == stack_run.config.name_prefix
        assert values["backupRoleArn"] == _arn(stack_run, "aws:iam/role:Role", f"{region}-backup-role")


def test_preview_survives_unknown_arns(preview_run: ProgramRun) -> None:
    for region in preview_run.regions():
        assert len(preview_run.one(SELECTION, region).inputs["resources"]) in (2, 3)


INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "unknown lock mode",
        {"backupVaultLock": "strict"},
        ["backupVaultLock: got 'strict'", "none, governance, compliance", "not even the account root"],
    ),
    ("retention too short", {"backupRetentionDays": 1}, ["backupRetentionDays: got 1", "from 7 to 36500"]),
    (
        "retention above the lock's maximum",
        {"backupRetentionDays": 400, "backupVaultLockMaxRetentionDays": 365},
        ["backupRetentionDays: got 400", "(7 to 365) while backupVaultLock is compliance"],
    ),
    (
        "lock minimum above its maximum",
        {"backupVaultLockMinRetentionDays": 400, "backupVaultLockMaxRetentionDays": 365},
        ["backupVaultLockMinRetentionDays: got 400", "at most backupVaultLockMaxRetentionDays (365)"],
    ),
    (
        "grace time shorter than AWS's cooling-off",
        {"backupVaultLockChangeableForDays": 1},
        ["backupVaultLockChangeableForDays: got 1", "from 3 to 36500"],
    ),
]


@pytest.mark.parametrize(("overrides", "fragments"), [(o, f) for _, o, f in INVALID], ids=[case for case, _, _ in INVALID])
def test_invalid_backup_config_is_refused_naming_the_key(overrides: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        stack_config("prod", overrides)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_an_unlocked_vault_takes_any_retention() -> None:
    config = stack_config("dev", {"backupRetentionDays": 4000, "backupVaultLockMaxRetentionDays": 365})
    assert config.backup.retention_days == 4000 and not config.backup.locked
