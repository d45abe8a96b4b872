"""Deletion protection, point-in-time recovery and backups: no single call deletes the data, and what is lost can be
recovered.

Deletion protection is a production property: the dev stack is built to be torn down
(``protectStatefulResources: false``), so ``policy/config/dev.json`` turns the deletion-protection rules off for
it, as ``pulumi preview --stack dev --policy-pack policy --policy-pack-config policy/config/dev.json`` does.
Backups and point-in-time recovery stay on everywhere.
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
    StackViolation,
    Violations,
    attached,
    block,
    blocks,
    flag,
    get,
    given,
    number,
    resource_rule,
    stack_rule,
)

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
    )
)
"""The rules a stack built to be torn down (dev) turns off in its policy config."""
