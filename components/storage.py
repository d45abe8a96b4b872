"""S3 in every region: one hardened bucket per region, replicated to every other region's bucket.

``RegionalBucket`` (under a RegionalStack) is the region's data bucket and the access-log bucket it logs to;
``attach_data_bucket_policy`` gives the data bucket its one policy; ``BucketReplication`` (one per source region,
made after every bucket exists) replicates one region's bucket to all the others. The policy documents are built
by the pure functions at the top and tested without Pulumi. Why replication stands apart from the bucket:
docs/design/data-stores.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.policies import Policy, assume_role_policy

# S3 bucket names are global and at most 63 characters long.
MAX_BUCKET_NAME_LENGTH = 63
# Server access logs go under this prefix of the log bucket (the log-delivery grant is scoped to it).
ACCESS_LOG_PREFIX = "access-logs/"
ABORT_INCOMPLETE_UPLOADS_DAYS = 7
# Where access logs move as they age: to Standard-IA after 30 days (its minimum age), then to Glacier Flexible Retrieval
# 60 days later (S3 asks 30 in Standard-IA first); a step comes only when it falls before the logs expire.
ACCESS_LOG_TRANSITIONS: tuple[tuple[int, str], ...] = ((30, "STANDARD_IA"), (90, "GLACIER"))
ACCESS_LOG_LIFECYCLE_RULE = "archive-then-expire-access-logs"
# S3 Replication Time Control: 15 minutes is the only threshold S3 offers, for both the SLA and the metrics.
REPLICATION_TIME_MINUTES = 15


# ---- pure builders -------------------------------------------------------------------------------


def bucket_name(project: str, stack: str, region: str, account_id: str, suffix: str = "") -> str:
    """Globally unique, deterministic bucket name: ``<project>-<stack>-<region>-<account>[-suffix]``.

    Raises
    ------
    ValueError
        The name would exceed S3's 63 characters (a long stack name): shorten the stack name.
    """
    name = "-".join(part for part in (project, stack, region, account_id, suffix) if part)
    if len(name) > MAX_BUCKET_NAME_LENGTH:
        raise ValueError(f"bucket name {name!r} is {len(name)} characters; S3 allows {MAX_BUCKET_NAME_LENGTH}")
    return name


def access_log_transitions(retention_days: int) -> list[tuple[int, str]]:
    """The steps of ``ACCESS_LOG_TRANSITIONS`` an access log takes before it expires at ``retention_days`` (S3
    refuses a transition on or after the expiration).

    Example:
        >>> access_log_transitions(365)
        [(30, 'STANDARD_IA'), (90, 'GLACIER')]
        >>> access_log_transitions(60)
        [(30, 'STANDARD_IA')]
    """
    return [(days, storage_class) for days, storage_class in ACCESS_LOG_TRANSITIONS if days < retention_days]


def replication_rule_id(destination_region: str) -> str:
    """The id of the replication rule towards one region (alarms and the dashboard name it too)."""
    return f"to-{destination_region}"


def bucket_arn(partition: str, name: str) -> str:
    """The ARN of a general-purpose bucket (S3 bucket ARNs carry neither region nor account)."""
    return f"arn:{partition}:s3:::{name}"


def tls_only_statement(bucket_arn: str) -> dict[str, Any]:
    """Deny every request to the bucket and its objects that is not made over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def data_bucket_policy(bucket_arn: str, extra_statements: Sequence[Mapping[str, Any]] = ()) -> Policy:
    """Bucket policy of a region's data bucket: TLS only, plus ``extra_statements``.

    S3 keeps one policy per bucket, so every grant on the data bucket must be composed here; the CloudFront
    origin access control's read grant (conditioned on the distribution's ARN) is meant to be passed in as an
    extra statement.
    """
    return {"Version": "2012-10-17", "Statement": [tls_only_statement(bucket_arn), *(dict(s) for s in extra_statements)]}


def access_log_bucket_policy(log_bucket_arn: str, source_bucket_arn: str, account_id: str, prefix: str) -> Policy:
    """Bucket policy of an access-log bucket: TLS only, and S3 log delivery may write the logs of one source
    bucket of this account under ``prefix`` (ACLs are disabled, so the grant must be a policy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            tls_only_statement(log_bucket_arn),
            {
                "Sid": "S3ServerAccessLogDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{log_bucket_arn}/{prefix}*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": source_bucket_arn},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
        ],
    }


@dataclass(frozen=True)
class ReplicaSide:
    """One bucket of a replication: its region, bucket ARN and the ARN of the region's KMS key."""

    region: str
    bucket_arn: str
    key_arn: str


def _kms_conditions(side: ReplicaSide) -> dict[str, Any]:
    # With S3 Bucket Keys the encryption context is the bucket ARN, without them the object ARN: allow both,
    # and only through S3 in the bucket's own region.
    return {
        "StringEquals": {"kms:ViaService": f"s3.{side.region}.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [side.bucket_arn, f"{side.bucket_arn}/*"]},
    }


def replication_role_policy(source: ReplicaSide, destinations: Sequence[ReplicaSide]) -> Policy:
    """What S3 replication needs from one source bucket to the ``destinations``, on those buckets and keys only.

    Read the source's configuration and object versions, decrypt with the source key; replicate objects,
    delete markers and tags into each destination and encrypt with that destination's key. ``kms:Decrypt`` on
    the destination key lets S3 verify the destination's Bucket Key.
    """
    ordered = sorted(destinations, key=lambda d: d.region)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadSourceConfiguration",
            "Effect": "Allow",
            "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
            "Resource": source.bucket_arn,
        },
        {
            "Sid": "ReadSourceObjectVersions",
            "Effect": "Allow",
            "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
            "Resource": f"{source.bucket_arn}/*",
        },
        {
            "Sid": "DecryptWithSourceKey",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": source.key_arn,
            "Condition": _kms_conditions(source),
        },
    ]
    for destination in ordered:
        sid = "".join(part.capitalize() for part in destination.region.split("-"))
        statements += [
            {
                "Sid": f"ReplicateInto{sid}",
                "Effect": "Allow",
                "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                "Resource": f"{destination.bucket_arn}/*",
            },
            {
                "Sid": f"EncryptWith{sid}Key",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": destination.key_arn,
                "Condition": _kms_conditions(destination),
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


# ---- components ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionalBucketArgs:
    """Parameters
    ----------
    region: the region of the inherited provider.
    key_arn: this region's KMS key (SSE-KMS with bucket keys).
    noncurrent_version_days: how long noncurrent versions are kept (in the log bucket too).
    log_retention_days: how long access logs are kept (``logRetentionDays``) before they expire.
    protect: Pulumi protection and retain on delete (production); without it the buckets can be emptied and
        deleted by ``pulumi destroy`` (dev).
    """

    region: str
    key_arn: pulumi.Input[str]
    noncurrent_version_days: int
    log_retention_days: int
    protect: bool


class RegionalBucket(pulumi.ComponentResource):
    """The region's versioned, encrypted, private bucket, and the bucket its access logs go to.

    Data bucket: versioning, SSE-KMS with the region's key and S3 Bucket Keys, public access blocked, ACLs
    disabled (bucket owner enforced), noncurrent versions expired after ``noncurrent_version_days`` and
    incomplete uploads aborted, server access logs delivered to the log bucket. Its policy (TLS only, plus the
    CloudFront read grant on origin buckets) is attached afterwards with ``attach_data_bucket_policy``: S3 keeps
    one policy per bucket and the CloudFront grant names a distribution that itself needs this bucket.
    The log bucket is SSE-S3 (S3 cannot deliver access logs into a bucket whose default encryption is
    SSE-KMS), private, TLS-only, and writable only by S3 log delivery for this data bucket (a bucket policy: ACLs are
    disabled); versioned, so a log deleted or overwritten stays recoverable for ``noncurrent_version_days``; its logs
    move to Standard-IA then Glacier (``access_log_transitions``) and expire after ``log_retention_days``. It has no
    Object Lock default retention and no Requester Pays, which S3 refuses in a log target.

    ``versioning`` is exposed because replication in either direction must wait for it.
    """

    bucket_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    key_arn: pulumi.Input[str]
    region: str
    bucket: aws.s3.Bucket
    bucket_regional_domain_name: pulumi.Output[str]
    versioning: aws.s3.BucketVersioning
    data_access_block: aws.s3.BucketPublicAccessBlock
    data_policy_name: str
    log_bucket: aws.s3.Bucket
    log_bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: RegionalBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:storage:RegionalBucket", name, None, opts)
        self.key_arn = args.key_arn
        self.region = args.region
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        self._data_bucket(name, args, account_id, partition)
        self.data_policy_name = f"{name}-data-policy"
        log_policy = self._log_bucket(name, args, account_id, partition)
        aws.s3.BucketLogging(
            f"{name}-data-logging",
            bucket=self.bucket_name,
            target_bucket=self.log_bucket_name,
            target_prefix=ACCESS_LOG_PREFIX,
            target_object_key_format=aws.s3.BucketLoggingTargetObjectKeyFormatArgs(
                partitioned_prefix=aws.s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                    partition_date_source="EventTime"
                )
            ),
            opts=pulumi.ResourceOptions(parent=self.bucket, depends_on=[log_policy]),
        )
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "bucket_regional_domain_name": self.bucket_regional_domain_name,
                "key_arn": self.key_arn,
                "log_bucket_name": self.log_bucket_name,
            }
        )

    def _data_bucket(
        self, name: str, args: RegionalBucketArgs, account_id: pulumi.Output[str], partition: pulumi.Output[str]
    ) -> None:
        """The data bucket: versioned, SSE-KMS with the region's key and bucket keys, private, with its lifecycle."""
        project, stack = pulumi.get_project(), pulumi.get_stack()
        self.bucket = aws.s3.Bucket(
            f"{name}-data",
            bucket=account_id.apply(lambda account: bucket_name(project, stack, args.region, account)),
            force_destroy=not args.protect,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = pulumi.Output.all(partition, self.bucket_name).apply(lambda v: bucket_arn(v[0], v[1]))
        self.bucket_regional_domain_name = self.bucket.bucket_regional_domain_name
        in_bucket = pulumi.ResourceOptions(parent=self.bucket)
        self.versioning = self._versioned(f"{name}-data", self.bucket, self.bucket_name)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-data-encryption",
            bucket=self.bucket_name,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=args.key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=in_bucket,
        )
        self.data_access_block = self._private(f"{name}-data", self.bucket, self.bucket_name)
        self._lifecycle(name, args.noncurrent_version_days)

    def _lifecycle(self, name: str, noncurrent_version_days: int) -> None:
        """Noncurrent versions expire, bare delete markers go, incomplete multipart uploads are aborted."""
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-data-lifecycle",
            bucket=self.bucket_name,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=noncurrent_version_days
                    ),
                    # Delete markers left with no versions behind them only slow listings down.
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-multipart-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS
                    ),
                ),
            ],
            opts=pulumi.ResourceOptions(parent=self.bucket, depends_on=[self.versioning]),
        )

    def _log_bucket(
        self, name: str, args: RegionalBucketArgs, account_id: pulumi.Output[str], partition: pulumi.Output[str]
    ) -> aws.s3.BucketPolicy:
        """The access-log bucket (SSE-S3, private) and its policy, which the data bucket's logging waits for."""
        project, stack = pulumi.get_project(), pulumi.get_stack()
        self.log_bucket = aws.s3.Bucket(
            f"{name}-logs",
            bucket=account_id.apply(lambda account: bucket_name(project, stack, args.region, account, "logs")),
            force_destroy=not args.protect,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.log_bucket_name = self.log_bucket.bucket
        log_bucket_arn = pulumi.Output.all(partition, self.log_bucket_name).apply(lambda v: bucket_arn(v[0], v[1]))
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-logs-encryption",
            bucket=self.log_bucket_name,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self.log_bucket),
        )
        log_access_block = self._private(f"{name}-logs", self.log_bucket, self.log_bucket_name)
        self._log_lifecycle(name, args)
        return aws.s3.BucketPolicy(
            f"{name}-logs-policy",
            bucket=self.log_bucket_name,
            policy=pulumi.Output.all(log_bucket_arn, self.bucket_arn, account_id).apply(
                lambda v: json.dumps(access_log_bucket_policy(v[0], v[1], v[2], ACCESS_LOG_PREFIX))
            ),
            opts=pulumi.ResourceOptions(parent=self.log_bucket, depends_on=[log_access_block]),
        )

    def _log_lifecycle(self, name: str, args: RegionalBucketArgs) -> None:
        """The log bucket versioned, and one rule over every log: transitions as they age, expiry after
        ``log_retention_days`` (which also removes the delete markers left alone), noncurrent versions expired after
        ``noncurrent_version_days``, incomplete uploads aborted."""
        versioning = self._versioned(f"{name}-logs", self.log_bucket, self.log_bucket_name)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-logs-lifecycle",
            bucket=self.log_bucket_name,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id=ACCESS_LOG_LIFECYCLE_RULE,
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(days=days, storage_class=storage_class)
                        for days, storage_class in access_log_transitions(args.log_retention_days)
                    ],
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.log_retention_days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_version_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self.log_bucket, depends_on=[versioning]),
        )

    @staticmethod
    def _versioned(name: str, bucket: aws.s3.Bucket, name_output: pulumi.Output[str]) -> aws.s3.BucketVersioning:
        """Versioning on: an overwritten or deleted object stays as a noncurrent version (replication needs it too)."""
        return aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=name_output,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=pulumi.ResourceOptions(parent=bucket),
        )

    @staticmethod
    def _private(name: str, bucket: aws.s3.Bucket, name_output: pulumi.Output[str]) -> aws.s3.BucketPublicAccessBlock:
        """Block every form of public access and disable ACLs (the bucket owner owns every object)."""
        in_bucket = pulumi.ResourceOptions(parent=bucket)
        access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=name_output,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=in_bucket,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=name_output,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=pulumi.ResourceOptions(parent=bucket, depends_on=[access_block]),
        )
        return access_block


def attach_data_bucket_policy(
    bucket: RegionalBucket, extra_statements: pulumi.Input[Sequence[Mapping[str, Any]]] = ()
) -> aws.s3.BucketPolicy:
    """Attach the one policy of ``bucket``'s data bucket: deny requests without TLS, plus ``extra_statements``
    (e.g. the CloudFront origin read grant). Call it exactly once per RegionalBucket, after every resource a
    statement names exists; without it the data bucket has no policy at all.

    The policy keeps the logical name and parent it had when ``RegionalBucket`` created it, so stacks deployed
    before the move see no change in its URN.
    """
    return aws.s3.BucketPolicy(
        bucket.data_policy_name,
        bucket=bucket.bucket_name,
        policy=pulumi.Output.all(bucket.bucket_arn, extra_statements).apply(lambda v: json.dumps(data_bucket_policy(v[0], v[1]))),
        # S3 rejects concurrent configuration changes on one bucket, so the policy waits for the access block.
        opts=pulumi.ResourceOptions(parent=bucket.bucket, depends_on=[bucket.data_access_block]),
    )


@dataclass(frozen=True)
class BucketReplicationArgs:
    """Parameters
    ----------
    source: this region's bucket.
    destinations: every other region's bucket, by region.
    """

    source: RegionalBucket
    destinations: dict[str, RegionalBucket]


class BucketReplication(pulumi.ComponentResource):
    """Replication from one region's bucket to every other region's bucket (created after all buckets,
    so two-way replication needs no cycle). Give it the source region's provider.

    One rule per destination: every object (empty filter), delete markers, SSE-KMS objects re-encrypted with
    the destination region's key, Replication Time Control (15 minutes) with its metrics, and replica
    modification sync so that metadata changes made on a replica flow back. The role may act only on these
    buckets and keys.
    """

    role: aws.iam.Role
    configuration: aws.s3.BucketReplicationConfig

    def __init__(self, name: str, args: BucketReplicationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:storage:BucketReplication", name, None, opts)
        source = args.source
        destinations = [args.destinations[region] for region in sorted(args.destinations)]
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"S3 replication from the {source.region} bucket to {', '.join(sorted(args.destinations))}",
            assume_role_policy=account_id.apply(lambda account: json.dumps(assume_role_policy("s3.amazonaws.com", account))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        sides = [_side(bucket) for bucket in [source, *destinations]]
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=pulumi.Output.all(*sides).apply(lambda s: json.dumps(replication_role_policy(s[0], s[1:]))),
            opts=pulumi.ResourceOptions(parent=self.role),
        )

        self.configuration = aws.s3.BucketReplicationConfig(
            f"{name}-config",
            bucket=source.bucket_name,
            role=self.role.arn,
            rules=[_rule(priority, destination) for priority, destination in enumerate(destinations, start=1)],
            # Versioning must be on at both ends before S3 accepts the rules, and the role must be able to act.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[source.versioning, *(d.versioning for d in destinations), role_policy]
            ),
        )
        self.register_outputs(
            {
                "role_arn": self.role.arn,
                "source_bucket": source.bucket_name,
                "destination_buckets": {d.region: d.bucket_name for d in destinations},
            }
        )


def _side(bucket: RegionalBucket) -> pulumi.Output[ReplicaSide]:
    return pulumi.Output.all(bucket.bucket_arn, bucket.key_arn).apply(lambda v: ReplicaSide(bucket.region, v[0], v[1]))


def _rule(priority: int, destination: RegionalBucket) -> aws.s3.BucketReplicationConfigRuleArgs:
    return aws.s3.BucketReplicationConfigRuleArgs(
        id=replication_rule_id(destination.region),
        priority=priority,
        status="Enabled",
        filter=aws.s3.BucketReplicationConfigRuleFilterArgs(),
        delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(status="Enabled"),
        source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
            sse_kms_encrypted_objects=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                status="Enabled"
            ),
            replica_modifications=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaReplicaModificationsArgs(
                status="Enabled"
            ),
        ),
        destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
            bucket=destination.bucket_arn,
            encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                replica_kms_key_id=destination.key_arn
            ),
            replication_time=aws.s3.BucketReplicationConfigRuleDestinationReplicationTimeArgs(
                status="Enabled",
                time=aws.s3.BucketReplicationConfigRuleDestinationReplicationTimeTimeArgs(minutes=REPLICATION_TIME_MINUTES),
            ),
            metrics=aws.s3.BucketReplicationConfigRuleDestinationMetricsArgs(
                status="Enabled",
                event_threshold=aws.s3.BucketReplicationConfigRuleDestinationMetricsEventThresholdArgs(
                    minutes=REPLICATION_TIME_MINUTES
                ),
            ),
        ),
    )
