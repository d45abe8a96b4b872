"""Deletion protection, point-in-time recovery and backups: no single call deletes the data, and what is lost can be
recovered. Replication is not backup (a bad write or a delete replicates to every region in a second): every Aurora
cluster, DynamoDB table and data bucket is in an AWS Backup selection, into a vault under a customer managed key.

Deletion protection is a production property: the dev stack is built to be torn down
(``protectStatefulResources: false``), so ``policy/config/dev.json`` turns the deletion-protection rules off for
it, as ``pulumi preview --stack dev --policy-pack policy --policy-pack-config policy/config/dev.json`` does.
Backups and point-in-time recovery stay on everywhere; the compliance lock of the backup vaults is production's too.
"""

from __future__ import annotations

from policy.core import (
    DYNAMODB_TABLE,
    EKS_CLUSTER,
    ELASTICACHE_GROUP,
    MEMORYDB_CLUSTER,
    RDS_CLUSTER,
    RDS_GLOBAL_CLUSTER,
    RDS_INSTANCE,
    S3_BUCKET,
    S3_VERSIONING,
    SECRET,
    Messages,
    Props,
    Stack,
    StackResource,
    StackViolation,
    Violations,
    attached,
    block,
    blocks,
    bucket_of,
    flag,
    get,
    given,
    known,
    known_elements,
    log_target_buckets,
    number,
    resource_rule,
    stack_rule,
)

BACKUP_VAULT = "aws:backup/vault:Vault"
BACKUP_VAULT_LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
BACKUP_SELECTION = "aws:backup/selection:Selection"

MIN_BACKUP_DAYS = 7.0
MIN_RECOVERY_WINDOW_DAYS = 7.0
MIN_SNAPSHOT_DAYS = 1.0


@resource_rule(
    "rds-deletion-protection",
    "Aurora clusters, the global cluster and RDS instances have deletion protection on.",
    RDS_CLUSTER,
    RDS_GLOBAL_CLUSTER,
    RDS_INSTANCE,
)
def rds_deletion_protection(resource_type: str, props: Props) -> Messages:
    if flag(props.get("deletionProtection")) is not True:
        yield "deletionProtection must be true"


@resource_rule(
    "dynamodb-deletion-protection",
    "DynamoDB tables and every replica have deletion protection on.",
    DYNAMODB_TABLE,
)
def dynamodb_deletion_protection(resource_type: str, props: Props) -> Messages:
    if flag(props.get("deletionProtectionEnabled")) is not True:
        yield "deletionProtectionEnabled must be true"
    for replica in blocks(props.get("replicas")):
        if flag(replica.get("deletionProtectionEnabled")) is not True:
            yield f"the replica in {replica.get('regionName')} must set deletionProtectionEnabled"


@resource_rule(
    "eks-deletion-protection",
    "EKS clusters have deletion protection on.",
    EKS_CLUSTER,
)
def eks_deletion_protection(resource_type: str, props: Props) -> Messages:
    if flag(props.get("deletionProtection")) is not True:
        yield "deletionProtection must be true"


@resource_rule(
    "secret-recovery-window",
    "Deleted secrets stay recoverable for at least 7 days (no immediate deletion).",
    SECRET,
)
def secret_recovery_window(resource_type: str, props: Props) -> Messages:
    days = number(props.get("recoveryWindowInDays"))
    # Unset means the AWS default of 30 days; 0 deletes at once.
    if days is not None and days < MIN_RECOVERY_WINDOW_DAYS:
        yield f"recoveryWindowInDays is {days:g}; at least {MIN_RECOVERY_WINDOW_DAYS:g}"


@resource_rule(
    "s3-bucket-no-force-destroy",
    "S3 buckets cannot be deleted with their objects in them.",
    *S3_BUCKET,
)
def s3_bucket_no_force_destroy(resource_type: str, props: Props) -> Messages:
    if flag(props.get("forceDestroy")) is True:
        yield "forceDestroy must be false: a destroy would delete every object and version"


@resource_rule(
    "rds-final-snapshot",
    "Deleting an Aurora cluster or RDS instance takes a final snapshot first.",
    RDS_CLUSTER,
    RDS_INSTANCE,
)
def rds_final_snapshot(resource_type: str, props: Props) -> Messages:
    if flag(props.get("skipFinalSnapshot")) is True:
        yield "skipFinalSnapshot must be false"
    elif not given(props, "finalSnapshotIdentifier"):
        yield "finalSnapshotIdentifier must be set"


@resource_rule(
    "dynamodb-pitr",
    "DynamoDB tables and every replica have point-in-time recovery on.",
    DYNAMODB_TABLE,
)
def dynamodb_pitr(resource_type: str, props: Props) -> Messages:
    if flag(get(block(props.get("pointInTimeRecovery")), "enabled")) is not True:
        yield "pointInTimeRecovery.enabled must be true"
    for replica in blocks(props.get("replicas")):
        if flag(replica.get("pointInTimeRecovery")) is not True:
            yield f"the replica in {replica.get('regionName')} must set pointInTimeRecovery"


@resource_rule(
    "rds-backup-retention",
    "Aurora clusters and RDS instances keep automated backups for at least 7 days.",
    RDS_CLUSTER,
    RDS_INSTANCE,
)
def rds_backup_retention(resource_type: str, props: Props) -> Messages:
    days = number(props.get("backupRetentionPeriod"))
    if days is None or days < MIN_BACKUP_DAYS:
        yield f"backupRetentionPeriod is {props.get('backupRetentionPeriod')!r}; at least {MIN_BACKUP_DAYS:g} days"


@resource_rule(
    "cache-snapshots",
    "MemoryDB and ElastiCache keep automatic snapshots.",
    MEMORYDB_CLUSTER,
    ELASTICACHE_GROUP,
)
def cache_snapshots(resource_type: str, props: Props) -> Messages:
    days = number(props.get("snapshotRetentionLimit"))
    if days is None or days < MIN_SNAPSHOT_DAYS:
        yield f"snapshotRetentionLimit is {props.get('snapshotRetentionLimit')!r}; at least {MIN_SNAPSHOT_DAYS:g}"


@resource_rule(
    "s3-versioning-enabled",
    "S3 versioning is enabled (it keeps overwritten and deleted objects, and replication requires it).",
    *S3_VERSIONING,
)
def s3_versioning_enabled(resource_type: str, props: Props) -> Messages:
    status = get(block(props.get("versioningConfiguration")), "status")
    if status != "Enabled":
        yield f"versioningConfiguration.status is {status!r}; it must be 'Enabled'"


@stack_rule(
    "s3-bucket-versioned",
    "Every S3 bucket is versioned, the access-log buckets too: a log deleted or overwritten stays recoverable.",
)
def s3_bucket_versioned(stack: Stack) -> Violations:
    for bucket in stack.of_type(*S3_BUCKET):
        if flag(get(block(bucket.props.get("versioning")), "enabled")) is True:
            continue
        statuses = [get(block(v.props.get("versioningConfiguration")), "status") for v in attached(stack, S3_VERSIONING, bucket)]
        if "Enabled" not in statuses:
            yield StackViolation(
                f"bucket {bucket.name} is not versioned (no versioning configuration with status Enabled)", bucket.urn
            )


def _selected(store: StackResource, selections: list[StackResource]) -> bool:
    """A selection names the store: by a known ARN among its ``resources``, or (in preview, where the ARN is not known
    yet) by depending on it, which an input holding the store's ARN makes it do."""
    arn = known(store.props, "arn")
    return any(
        store.urn in selection.dependencies
        or (arn is not None and arn in list(known_elements(known(selection.props, "resources") or [])))
        for selection in selections
    )


@stack_rule(
    "backup-covers-every-store",
    "Every Aurora cluster, DynamoDB table and data bucket is in an AWS Backup selection: replication copies a bad "
    "write or a delete to every region, a recovery point does not.",
)
def backup_covers_every_store(stack: Stack) -> Violations:
    selections = stack.of_type(BACKUP_SELECTION)
    log_buckets = log_target_buckets(stack)
    stores = [
        *stack.of_type(RDS_CLUSTER, DYNAMODB_TABLE),
        *(b for b in stack.of_type(*S3_BUCKET) if bucket_of(b) not in log_buckets),
    ]
    for store in stores:
        if not _selected(store, selections):
            yield StackViolation(f"{store.name} is in no AWS Backup selection: nothing recovers it from a bad write", store.urn)


@resource_rule(
    "backup-vault-customer-key",
    "Backup vaults encrypt recovery points with a customer managed KMS key (the region's key), not the AWS managed one.",
    BACKUP_VAULT,
)
def backup_vault_customer_key(resource_type: str, props: Props) -> Messages:
    if not given(props, "kmsKeyArn"):
        yield "kmsKeyArn must name a customer managed key; without it AWS Backup uses its AWS managed key"


@stack_rule(
    "backup-vault-compliance-lock",
    "Every backup vault has a vault lock in compliance mode (changeableForDays set), so no one can delete a recovery "
    "point before it expires.",
)
def backup_vault_compliance_lock(stack: Stack) -> Violations:
    locks = stack.of_type(BACKUP_VAULT_LOCK)
    for vault in stack.of_type(BACKUP_VAULT):
        name = known(vault.props, "name")
        mine = [
            lock
            for lock in locks
            if vault.urn in lock.dependencies or (name is not None and known(lock.props, "backupVaultName") == name)
        ]
        if not mine:
            yield StackViolation(f"vault {vault.name} has no vault lock", vault.urn)
        elif not any(given(lock.props, "changeableForDays") for lock in mine):
            yield StackViolation(f"vault {vault.name} is locked in governance mode; production needs compliance mode", vault.urn)


RULES = (
    rds_deletion_protection,
    dynamodb_deletion_protection,
    eks_deletion_protection,
    secret_recovery_window,
    s3_bucket_no_force_destroy,
    rds_final_snapshot,
    dynamodb_pitr,
    rds_backup_retention,
    cache_snapshots,
    s3_versioning_enabled,
    s3_bucket_versioned,
    backup_covers_every_store,
    backup_vault_customer_key,
    backup_vault_compliance_lock,
)

DELETION_PROTECTION = tuple(
    rule.name
    for rule in (
        rds_deletion_protection,
        dynamodb_deletion_protection,
        eks_deletion_protection,
        secret_recovery_window,
        s3_bucket_no_force_destroy,
        rds_final_snapshot,
        backup_vault_compliance_lock,
    )
)
"""The rules a stack built to be torn down (dev) turns off in its policy config."""
