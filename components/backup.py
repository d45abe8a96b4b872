"""AWS Backup in one region: a vault under the region's key, a daily plan copying to another region's vault, and a
selection of the region's Aurora cluster, data bucket and (in the table's home region) the DynamoDB table.

Replication is not backup: a bad write or a delete reaches every region in a second; a recovery point does not. The
vault and role come with the region's foundation, the plan and selection with the application layer (after the table
and every region's vault). Why, and each store's restore path: docs/design/data-stores.md, docs/failover.md.

Example:
    >>> RegionalBackup("us-east-1-backup", args, pulumi.ResourceOptions(parent=stack)).add_plan(plan_args)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.compute import attach_managed_policies
from components.config import BackupConfig
from components.policies import assume_role_policy

# What the role AWS Backup assumes needs (AWS Backup developer guide, "Managed policies for AWS Backup"): backups and
# restores of Aurora and DynamoDB (service-role/ path), and the S3 ones, which the two service-role policies leave out.
BACKUP_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Backup",
    "AWSBackupServiceRolePolicyForS3Restore",
)
# Daily at 05:00 UTC, outside Aurora's default backup window; started within an hour, done within eight.
DAILY_SCHEDULE = "cron(0 5 * * ? *)"
START_WINDOW_MINUTES = 60
COMPLETION_WINDOW_MINUTES = 480
RULE_NAME = "daily"


def vault_name(name_prefix: str) -> str:
    """The vault's name, ``<project>-<stack>``: the same in every region, as vault names are regional."""
    return name_prefix


def copy_destination(region: str, regions: Sequence[str], primary: str) -> str:
    """The region whose vault receives the copy of ``region``'s recovery points: the primary's for every other region,
    and for the primary the region after it in config order (so each region's backups survive its loss).

    Example:
        >>> copy_destination("us-east-1", ["us-east-1", "eu-west-1", "ap-southeast-2"], "us-east-1")
        'eu-west-1'
        >>> copy_destination("ap-southeast-2", ["us-east-1", "eu-west-1", "ap-southeast-2"], "us-east-1")
        'us-east-1'
    """
    if region != primary:
        return primary
    return regions[(list(regions).index(region) + 1) % len(regions)]


@dataclass(frozen=True)
class RegionalBackupArgs:
    """Parameters
    ----------
    region: the region of the inherited provider.
    name_prefix: ``<project>-<stack>``, the vault's name and the prefix of the plan's and the selection's.
    key_arn: the region's KMS key, which encrypts the vault's recovery points.
    backup: retention and vault lock from the stack config.
    protect: protect the vault and keep it on delete (production).
    """

    region: str
    name_prefix: str
    key_arn: pulumi.Input[str]
    backup: BackupConfig
    protect: bool


@dataclass(frozen=True)
class BackupPlanArgs:
    """Parameters
    ----------
    copy_vault_arn: the vault in another region that receives a copy of every recovery point.
    resources: ARNs of what the plan backs up (the region's Aurora cluster and data bucket, the table in its home).
    """

    copy_vault_arn: pulumi.Input[str]
    resources: Sequence[pulumi.Input[str]]


class RegionalBackup(pulumi.ComponentResource):
    """The region's backup vault (its key; locked by config) and the role AWS Backup assumes; ``add_plan`` adds the
    daily plan and its selection once the stores and the other regions' vaults exist."""

    vault: aws.backup.Vault
    vault_arn: pulumi.Output[str]
    lock: aws.backup.VaultLockConfiguration | None
    role: aws.iam.Role
    policies: list[aws.iam.RolePolicyAttachment]
    plan: aws.backup.Plan
    selection: aws.backup.Selection

    def __init__(self, name: str, args: RegionalBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:backup:RegionalBackup", name, None, opts)
        self._name, self._args = name, args
        self.vault = aws.backup.Vault(
            f"{name}-vault",
            name=vault_name(args.name_prefix),
            kms_key_arn=args.key_arn,
            # A vault holding recovery points cannot be deleted anyway; unprotected (dev) it goes with its points.
            force_destroy=not args.protect,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.vault_arn = self.vault.arn
        self.lock = self._lock(name, args.backup)
        self.role, self.policies = self._role(name)

    def _lock(self, name: str, backup: BackupConfig) -> aws.backup.VaultLockConfiguration | None:
        """Governance: min/max retention only (removable with IAM permission). Compliance: also the days it stays
        changeable, after which AWS makes it immutable for good."""
        if not backup.locked:
            return None
        return aws.backup.VaultLockConfiguration(
            f"{name}-vault-lock",
            backup_vault_name=self.vault.name,
            min_retention_days=backup.lock_min_retention_days,
            max_retention_days=backup.lock_max_retention_days,
            changeable_for_days=backup.lock_changeable_for_days if backup.vault_lock == "compliance" else None,
            opts=pulumi.ResourceOptions(parent=self.vault, protect=self._args.protect),
        )

    def _role(self, name: str) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        """The role AWS Backup assumes to back up and restore, with exactly the AWS managed policies it documents."""
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        role = aws.iam.Role(
            f"{name}-role",
            description=f"AWS Backup backs up and restores the {self._args.region} stores",
            assume_role_policy=account_id.apply(lambda account: json.dumps(assume_role_policy("backup.amazonaws.com", account))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        policies = attach_managed_policies(f"{name}-role", role, BACKUP_POLICIES, partition)
        return role, policies

    def add_plan(self, args: BackupPlanArgs) -> None:
        """The daily plan into this region's vault with a copy to ``copy_vault_arn``, and the selection of
        ``resources`` (both kept ``retention_days``)."""
        prefix, retention = self._args.name_prefix, self._args.backup.retention_days
        self.plan = aws.backup.Plan(
            f"{self._name}-plan",
            name=f"{prefix}-daily",
            rules=[
                aws.backup.PlanRuleArgs(
                    rule_name=RULE_NAME,
                    target_vault_name=self.vault.name,
                    schedule=DAILY_SCHEDULE,
                    start_window=START_WINDOW_MINUTES,
                    completion_window=COMPLETION_WINDOW_MINUTES,
                    lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=retention),
                    copy_actions=[
                        aws.backup.PlanRuleCopyActionArgs(
                            destination_vault_arn=args.copy_vault_arn,
                            lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(delete_after=retention),
                        )
                    ],
                )
            ],
            # The lock must be in place before the first recovery point, so none escapes it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.lock] if self.lock else None),
        )
        self.selection = aws.backup.Selection(
            f"{self._name}-selection",
            name=f"{prefix}-stores",
            plan_id=self.plan.id,
            iam_role_arn=self.role.arn,
            resources=list(args.resources),
            opts=pulumi.ResourceOptions(parent=self.plan, depends_on=self.policies),
        )
        self.register_outputs(
            {"vault_arn": self.vault_arn, "plan_id": self.plan.id, "selection_id": self.selection.id, "role_arn": self.role.arn}
        )
