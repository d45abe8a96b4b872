"""Encryption at rest: every store encrypted, with a customer-managed KMS key wherever one can be named.

A customer-managed key (rather than an AWS-managed ``aws/<service>`` key) is what lets the key policy decide who
may decrypt, lets S3 re-encrypt replicas with the destination region's key, and lets a cross-region member of a
global database or table be encrypted at all: KMS keys are regional, so every region names its own.
"""

from __future__ import annotations

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
    S3_BUCKET,
    S3_ENCRYPTION,
    SECRET,
    SQS_QUEUE,
    SSM_PARAMETER,
    Messages,
    Props,
    Stack,
    StackViolation,
    Violations,
    attached,
    block,
    blocks,
    bucket_of,
    flag,
    get,
    given,
    log_target_buckets,
    resource_rule,
    stack_rule,
    strings,
)

S3_ALGORITHMS = ("aws:kms", "aws:kms:dsse", "AES256")
SYMMETRIC_KEY_SPEC = "SYMMETRIC_DEFAULT"


@resource_rule(
    "rds-storage-encrypted",
    "Aurora and RDS storage is encrypted, with a customer-managed KMS key of the cluster's own region.",
    RDS_CLUSTER,
    RDS_GLOBAL_CLUSTER,
    RDS_INSTANCE,
)
def rds_storage_encrypted(resource_type: str, props: Props) -> Messages:
    if flag(props.get("storageEncrypted")) is not True:
        yield "storageEncrypted must be true (it cannot be turned on after creation)"
    if resource_type != RDS_GLOBAL_CLUSTER and not given(props, "kmsKeyId"):
        yield "kmsKeyId must name a customer-managed key: a secondary region's member needs a key of its own region"


@resource_rule(
    "dynamodb-encrypted-with-cmk",
    "DynamoDB tables and every replica are encrypted with a customer-managed KMS key of their region.",
    DYNAMODB_TABLE,
)
def dynamodb_encrypted_with_cmk(resource_type: str, props: Props) -> Messages:
    sse = block(props.get("serverSideEncryption"))
    if flag(sse.get("enabled")) is not True or not given(sse, "kmsKeyArn"):
        yield "serverSideEncryption must be enabled with a kmsKeyArn (a customer-managed key)"
    for replica in blocks(props.get("replicas")):
        if not given(replica, "kmsKeyArn"):
            yield f"the replica in {replica.get('regionName')} has no kmsKeyArn (a key of that region)"


@resource_rule(
    "s3-default-encryption",
    "S3 default encryption rules name SSE-KMS or SSE-S3.",
    *S3_ENCRYPTION,
)
def s3_default_encryption(resource_type: str, props: Props) -> Messages:
    rules = blocks(props.get("rules"))
    if not rules:
        yield "no encryption rule: set applyServerSideEncryptionByDefault"
    for rule in rules:
        algorithm = get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
        if algorithm not in S3_ALGORITHMS:
            yield f"sseAlgorithm is {algorithm!r}; allowed: {', '.join(S3_ALGORITHMS)}"


@resource_rule(
    "kms-key-rotation",
    "Symmetric customer-managed KMS keys rotate their key material every year.",
    KMS_KEY,
)
def kms_key_rotation(resource_type: str, props: Props) -> Messages:
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or SYMMETRIC_KEY_SPEC
    if spec == SYMMETRIC_KEY_SPEC and flag(props.get("enableKeyRotation")) is not True:
        yield "enableKeyRotation must be true"


@resource_rule(
    "cache-encrypted-at-rest",
    "MemoryDB and ElastiCache data (and snapshots) are encrypted at rest with a customer-managed KMS key.",
    MEMORYDB_CLUSTER,
    ELASTICACHE_GROUP,
)
def cache_encrypted_at_rest(resource_type: str, props: Props) -> Messages:
    if resource_type == MEMORYDB_CLUSTER:
        if not given(props, "kmsKeyArn"):
            yield "kmsKeyArn must name a customer-managed key (MemoryDB otherwise uses an AWS-owned key)"
        return
    if flag(props.get("atRestEncryptionEnabled")) is not True:
        yield "atRestEncryptionEnabled must be true"
    if not given(props, "kmsKeyId"):
        yield "kmsKeyId must name a customer-managed key"


@resource_rule(
    "eks-secrets-encrypted",
    "EKS encrypts Kubernetes secrets with a customer-managed KMS key (envelope encryption).",
    EKS_CLUSTER,
)
def eks_secrets_encrypted(resource_type: str, props: Props) -> Messages:
    configs = blocks(props.get("encryptionConfig"))
    if not any("secrets" in strings(c.get("resources")) and given(c, "provider", "keyArn") for c in configs):
        yield "encryptionConfig must cover resources ['secrets'] with provider.keyArn"


@resource_rule(
    "sqs-queue-encrypted",
    "SQS queues are encrypted at rest (a KMS key, or SQS-managed SSE).",
    SQS_QUEUE,
)
def sqs_queue_encrypted(resource_type: str, props: Props) -> Messages:
    if not given(props, "kmsMasterKeyId") and flag(props.get("sqsManagedSseEnabled")) is not True:
        yield "set kmsMasterKeyId (preferred) or sqsManagedSseEnabled"


@resource_rule(
    "sns-topic-encrypted",
    "SNS topics are encrypted with a KMS key.",
    "aws:sns/topic:Topic",
)
def sns_topic_encrypted(resource_type: str, props: Props) -> Messages:
    if not given(props, "kmsMasterKeyId"):
        yield "kmsMasterKeyId must be set"


@resource_rule(
    "secret-encrypted-with-cmk",
    "Secrets Manager secrets and every replica use a customer-managed KMS key of their region.",
    SECRET,
)
def secret_encrypted_with_cmk(resource_type: str, props: Props) -> Messages:
    if not given(props, "kmsKeyId"):
        yield "kmsKeyId must name a customer-managed key (the aws/secretsmanager key cannot be granted to others)"
    for replica in blocks(props.get("replicas")):
        if not given(replica, "kmsKeyId"):
            yield f"the replica in {replica.get('region')} has no kmsKeyId (a key of that region)"


@resource_rule(
    "log-group-encrypted",
    "CloudWatch log groups are encrypted with a customer-managed KMS key.",
    LOG_GROUP,
)
def log_group_encrypted(resource_type: str, props: Props) -> Messages:
    if not given(props, "kmsKeyId"):
        yield "kmsKeyId must be set: logs carry request data"


@resource_rule(
    "lambda-environment-encrypted-with-cmk",
    "A Lambda function with environment variables encrypts them with a customer-managed KMS key (kmsKeyArn).",
    LAMBDA_FUNCTION,
)
def lambda_environment_encrypted_with_cmk(resource_type: str, props: Props) -> Messages:
    if block(props.get("environment")).get("variables") and not given(props, "kmsKeyArn"):
        yield "kmsKeyArn must name a customer-managed key: the environment names the stack's resources"


@resource_rule(
    "ssm-parameter-encrypted-with-cmk",
    "SSM parameters are SecureStrings under a customer-managed KMS key (keyId), so the key decides who reads them.",
    SSM_PARAMETER,
)
def ssm_parameter_encrypted_with_cmk(resource_type: str, props: Props) -> Messages:
    if props.get("type") != "SecureString":
        yield f"type must be SecureString, not {props.get('type')!r}"
    elif not given(props, "keyId"):
        yield "keyId must name a customer-managed key (the aws/ssm key cannot be granted to others)"


@resource_rule(
    "ebs-volumes-encrypted",
    "EBS volumes (launch templates, instances, standalone volumes) are encrypted.",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/instance:Instance",
    "aws:ebs/volume:Volume",
)
def ebs_volumes_encrypted(resource_type: str, props: Props) -> Messages:
    if resource_type == "aws:ebs/volume:Volume":
        if flag(props.get("encrypted")) is not True:
            yield "encrypted must be true"
        return
    if resource_type == "aws:ec2/instance:Instance":
        devices = [*blocks(props.get("rootBlockDevice")), *blocks(props.get("ebsBlockDevices"))]
        named = [(d.get("deviceName") or "root", d) for d in devices]
    else:
        named = [(d.get("deviceName"), block(d.get("ebs"))) for d in blocks(props.get("blockDeviceMappings")) if d.get("ebs")]
    for device, settings in named:
        if flag(settings.get("encrypted")) is not True:
            yield f"the EBS volume {device} must set encrypted"


@stack_rule(
    "s3-bucket-encrypted",
    "Every S3 bucket has a default-encryption configuration, SSE-KMS unless it receives server access logs.",
)
def s3_bucket_encrypted(stack: Stack) -> Violations:
    log_buckets = log_target_buckets(stack)
    for bucket in stack.of_type(*S3_BUCKET):
        configs = attached(stack, S3_ENCRYPTION, bucket)
        if not configs:
            yield StackViolation(f"bucket {bucket.name} has no server-side encryption configuration", bucket.urn)
            continue
        if bucket_of(bucket) in log_buckets:
            continue
        algorithms = {
            get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
            for c in configs
            for rule in blocks(c.props.get("rules"))
        }
        if not algorithms or not algorithms <= {"aws:kms", "aws:kms:dsse"}:
            yield StackViolation(
                f"bucket {bucket.name} must use SSE-KMS (aws:kms), found {sorted(str(a) for a in algorithms)}: only a KMS key "
                "lets replication re-encrypt with the destination region's key and the key policy decide who reads",
                bucket.urn,
            )


RULES = (
    rds_storage_encrypted,
    dynamodb_encrypted_with_cmk,
    s3_default_encryption,
    kms_key_rotation,
    cache_encrypted_at_rest,
    eks_secrets_encrypted,
    sqs_queue_encrypted,
    sns_topic_encrypted,
    secret_encrypted_with_cmk,
    log_group_encrypted,
    lambda_environment_encrypted_with_cmk,
    ssm_parameter_encrypted_with_cmk,
    ebs_volumes_encrypted,
    s3_bucket_encrypted,
)
