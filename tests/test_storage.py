"""S3: the hardened bucket of every region and the replication from every region to every other."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.storage import (
    ACCESS_LOG_LIFECYCLE_RULE,
    ACCESS_LOG_PREFIX,
    ReplicaSide,
    access_log_bucket_policy,
    access_log_transitions,
    bucket_arn,
    bucket_name,
    data_bucket_policy,
    replication_role_policy,
    tls_only_statement,
)
from planning.harness import ACCOUNT_ID, ProgramRun, Resource, read_project, stack_values
from tests.support.program import ProgramRunner

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
REGIONAL_BUCKET = "multi-region:storage:RegionalBucket"
BUCKET_REPLICATION = "multi-region:storage:BucketReplication"

THREE_REGIONS = {"regions": ["us-east-1", "eu-west-1", "us-west-2"], "vpcCidrs": ["10.10.0.0/16", "10.20.0.0/16", "10.30.0.0/16"]}

TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


# ---- helpers ---------------------------------------------------------------------------------------


def key_arn(run: ProgramRun, region: str) -> str:
    """The ARN of the region's aws:kms/key:Key, as the program exports it."""
    return str(run.outputs["regions"][region]["kmsKeyArn"])


def data_bucket(run: ProgramRun, region: str) -> Resource:
    name = f"multi-region-{run.stack}-{region}-{ACCOUNT_ID}"
    found = [b for b in run.of_type(BUCKET, region) if b.inputs.get("bucket") == name]
    assert len(found) == 1, f"expected one data bucket {name} in {region}, found {len(found)}"
    return found[0]


def log_bucket(run: ProgramRun, region: str) -> Resource:
    name = f"multi-region-{run.stack}-{region}-{ACCOUNT_ID}-logs"
    found = [b for b in run.of_type(BUCKET, region) if b.inputs.get("bucket") == name]
    assert len(found) == 1, f"expected one log bucket {name} in {region}, found {len(found)}"
    return found[0]


def arn_of(bucket: Resource) -> str:
    return f"arn:aws:s3:::{bucket.inputs['bucket']}"


def config_of(run: ProgramRun, type_: str, bucket: Resource) -> Resource:
    """The one configuration resource of ``type_`` applied to ``bucket``, registered under it, in its region."""
    found = [r for r in run.of_type(type_) if r.inputs.get("bucket") == bucket.inputs["bucket"]]
    assert len(found) == 1, f"expected one {type_} on {bucket.inputs['bucket']}, found {len(found)}"
    assert found[0].parent == bucket.urn
    assert found[0].region == bucket.region
    return found[0]


def replication_of(run: ProgramRun, region: str) -> Resource:
    return run.one(REPLICATION, region)


def noncurrent_days(stack: str) -> int:
    return int({**read_project().defaults, **stack_values(stack)}["s3NoncurrentVersionDays"])


def all_values(document: Any) -> list[Any]:
    """Every leaf value of a JSON document."""
    if isinstance(document, dict):
        return [v for value in document.values() for v in all_values(value)]
    if isinstance(document, list):
        return [v for value in document for v in all_values(value)]
    return [document]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---- the regional buckets --------------------------------------------------------------------------


def test_each_region_has_one_bucket_component_with_a_data_and_a_log_bucket(stack_run: ProgramRun) -> None:
    for region in stack_run.regions():
        component = stack_run.one(REGIONAL_BUCKET, region)
        assert stack_run.by_urn(component.parent or "").type == "multi-region:regional:RegionalStack"
        assert data_bucket(stack_run, region).parent == component.urn
        assert log_bucket(stack_run, region).parent == component.urn
        assert len(stack_run.of_type(BUCKET, region)) == 2
        assert stack_run.outputs["regions"][region]["bucketName"] == data_bucket(stack_run, region).inputs["bucket"]


def test_data_bucket_is_versioned(stack_run: ProgramRun) -> None:
    for region in stack_run.regions():
        versioning = config_of(stack_run, VERSIONING, data_bucket(stack_run, region))
        assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}


def test_data_bucket_is_encrypted_with_its_regions_key_and_bucket_keys(stack_run: ProgramRun) -> None:
    for region in stack_run.regions():
        encryption = config_of(stack_run, ENCRYPTION, data_bucket(stack_run, region))
        assert encryption.inputs["rules"] == [
            {
                "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn(stack_run, region)},
                "bucketKeyEnabled": True,
            }
        ]
        assert key_arn(stack_run, region).startswith(f"arn:aws:kms:{region}:")


def test_both_buckets_block_all_public_access_and_disable_acls(stack_run: ProgramRun) -> None:
    for region in stack_run.regions():
        for bucket in (data_bucket(stack_run, region), log_bucket(stack_run, region)):
            block = config_of(stack_run, ACCESS_BLOCK, bucket)
            for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
                assert block.inputs[flag] is True, (bucket.name, flag)
            ownership = config_of(stack_run, OWNERSHIP, bucket)
            assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_data_bucket_expires_noncurrent_versions_and_aborts_uploads(stack_run: ProgramRun) -> None:
    days = noncurrent_days(stack_run.stack)
    assert days == {"prod": 90, "dev": 7}[stack_run.stack]
    for region in stack_run.regions():
        rules = {r["id"]: r for r in config_of(stack_run, LIFECYCLE, data_bucket(stack_run, region)).inputs["rules"]}
        noncurrent = rules["expire-noncurrent-versions"]
        assert noncurrent["status"] == "Enabled"
        assert noncurrent["filter"] == {}
        assert noncurrent["noncurrentVersionExpiration"] == {"noncurrentDays": days}
        assert noncurrent["expiration"] == {"expiredObjectDeleteMarker": True}
        uploads = rules["abort-incomplete-multipart-uploads"]
        assert uploads["status"] == "Enabled"
        assert uploads["filter"] == {}
        assert uploads["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}


def test_data_bucket_policy_denies_requests_without_tls(stack_run: ProgramRun) -> None:
    for region in stack_run.regions():
        bucket = data_bucket(stack_run, region)
        statements = config_of(stack_run, POLICY, bucket).policy()["Statement"]
        assert statements[0] == {**TLS_DENY, "Resource": [arn_of(bucket), f"{arn_of(bucket)}/*"]}
        # The only other grant is the CDN's read on the origin buckets (tests/test_edge.py checks it in full).
        assert [s["Sid"] for s in statements[1:]] in ([], ["CloudFrontOriginRead"])


def test_data_bucket_policy_keeps_its_urn_and_waits_for_the_access_block(stack_run: ProgramRun) -> None:
    # Attached from __main__ after the CDN, but under the same parent and name as when RegionalBucket created it,
    # so deployed stacks see no replacement.
    # (A URN is the name, the type and the chain of parent types.)
    for region in stack_run.regions():
        bucket = data_bucket(stack_run, region)
        policy = config_of(stack_run, POLICY, bucket)
        assert policy.name == f"{region}-bucket-data-policy"
        chain = []
        node = policy
        while node.parent:
            node = stack_run.by_urn(node.parent)
            chain.append(node.type)
        assert chain == [BUCKET, REGIONAL_BUCKET, "multi-region:regional:RegionalStack"]
        assert config_of(stack_run, ACCESS_BLOCK, bucket).urn in policy.dependencies


def test_data_bucket_logs_to_its_regions_log_bucket(stack_run: ProgramRun) -> None:
    for region in stack_run.regions():
        logging = config_of(stack_run, LOGGING, data_bucket(stack_run, region))
        assert logging.inputs["targetBucket"] == log_bucket(stack_run, region).inputs["bucket"]
        assert logging.inputs["targetPrefix"] == ACCESS_LOG_PREFIX
        assert logging.inputs["targetObjectKeyFormat"] == {"partitionedPrefix": {"partitionDateSource": "EventTime"}}


def test_log_bucket_is_sse_s3_tls_only_and_writable_only_by_log_delivery_for_its_data_bucket(stack_run: ProgramRun) -> None:
    for region in stack_run.regions():
        logs, data = log_bucket(stack_run, region), data_bucket(stack_run, region)
        # S3 cannot deliver server access logs into a bucket whose default encryption is SSE-KMS.
        encryption = config_of(stack_run, ENCRYPTION, logs)
        assert encryption.inputs["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        policy = config_of(stack_run, POLICY, logs).policy()
        deny, allow = policy["Statement"]
        assert deny == {**TLS_DENY, "Resource": [arn_of(logs), f"{arn_of(logs)}/*"]}
        assert allow == {
            "Sid": "S3ServerAccessLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{arn_of(logs)}/{ACCESS_LOG_PREFIX}*",
            "Condition": {"ArnLike": {"aws:SourceArn": arn_of(data)}, "StringEquals": {"aws:SourceAccount": ACCOUNT_ID}},
        }


def test_log_bucket_is_versioned_and_moves_then_expires_its_logs(stack_run: ProgramRun) -> None:
    retention, noncurrent = stack_run.config.log_retention_days, noncurrent_days(stack_run.stack)
    assert retention == 365
    for region in stack_run.regions():
        logs = log_bucket(stack_run, region)
        versioning = config_of(stack_run, VERSIONING, logs)
        assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
        lifecycle = config_of(stack_run, LIFECYCLE, logs)
        assert versioning.urn in lifecycle.dependencies
        assert lifecycle.inputs["rules"] == [
            {
                "id": ACCESS_LOG_LIFECYCLE_RULE,
                "status": "Enabled",
                "filter": {},
                "transitions": [{"days": 30, "storageClass": "STANDARD_IA"}, {"days": 90, "storageClass": "GLACIER"}],
                "expiration": {"days": 365},
                "noncurrentVersionExpiration": {"noncurrentDays": noncurrent},
                "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
            }
        ]


def test_a_short_retention_expires_the_logs_before_the_transitions_that_would_follow(run_stack: ProgramRunner) -> None:
    run = run_stack("dev", logRetentionDays=60)
    for region in run.regions():
        (rule,) = config_of(run, LIFECYCLE, log_bucket(run, region)).inputs["rules"]
        assert rule["transitions"] == [{"days": 30, "storageClass": "STANDARD_IA"}]
        assert rule["expiration"] == {"days": 60}


@pytest.mark.parametrize(
    ("retention", "steps"),
    [(1, []), (30, []), (60, [(30, "STANDARD_IA")]), (90, [(30, "STANDARD_IA")]), (120, [(30, "STANDARD_IA"), (90, "GLACIER")])],
)
def test_access_log_transitions_come_strictly_before_the_expiry(retention: int, steps: list[tuple[int, str]]) -> None:
    assert access_log_transitions(retention) == steps


def test_buckets_are_protected_in_prod_and_destroyable_in_dev(stack_run: ProgramRun) -> None:
    protected = stack_run.stack == "prod"
    for region in stack_run.regions():
        for bucket in (data_bucket(stack_run, region), log_bucket(stack_run, region)):
            assert bucket.protect is protected, bucket.name
            assert bucket.retain_on_delete is protected, bucket.name
            assert bucket.inputs["forceDestroy"] is (not protected), bucket.name


# ---- replication -------------------------------------------------------------------------------------


def check_replication(run: ProgramRun) -> None:
    """Every region's bucket replicates to every other region's bucket, re-encrypted with that region's key."""
    regions = run.regions()
    for source in regions:
        config = replication_of(run, source)
        assert config.inputs["bucket"] == data_bucket(run, source).inputs["bucket"]
        others = [r for r in regions if r != source]
        rules = config.inputs["rules"]
        assert len(rules) == len(others)
        by_destination = {rule["destination"]["bucket"]: rule for rule in rules}
        assert set(by_destination) == {arn_of(data_bucket(run, other)) for other in others}
        assert len({rule["id"] for rule in rules}) == len(rules)
        assert len({rule["priority"] for rule in rules}) == len(rules)
        for other in others:
            rule = by_destination[arn_of(data_bucket(run, other))]
            assert rule["id"] == f"to-{other}"
            assert rule["status"] == "Enabled"
            assert rule["filter"] == {}
            assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
            assert rule["sourceSelectionCriteria"]["sseKmsEncryptedObjects"] == {"status": "Enabled"}
            destination = rule["destination"]
            assert destination["encryptionConfiguration"] == {"replicaKmsKeyId": key_arn(run, other)}
            assert destination["replicationTime"] == {"status": "Enabled", "time": {"minutes": 15}}
            assert destination["metrics"] == {"status": "Enabled", "eventThreshold": {"minutes": 15}}


def test_every_bucket_replicates_to_every_other_region(stack_run: ProgramRun) -> None:
    assert len(stack_run.regions()) == 2
    check_replication(stack_run)


def test_three_regions_give_each_bucket_two_rules(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS)
    assert run.regions() == THREE_REGIONS["regions"]
    check_replication(run)
    for region in run.regions():
        assert len(replication_of(run, region).inputs["rules"]) == 2


def actions_on(statements: list[dict[str, Any]], resource: str) -> set[str]:
    """Every action the statements allow on ``resource``."""
    return {a for s in statements if resource in as_list(s["Resource"]) for a in as_list(s["Action"])}


def replication_role(run: ProgramRun, source: str) -> tuple[Resource, dict[str, Any]]:
    component = run.one(BUCKET_REPLICATION, source)
    roles = [r for r in run.of_type(ROLE, source) if r.parent == component.urn]
    assert len(roles) == 1
    policies = [p for p in run.of_type(ROLE_POLICY, source) if p.parent == roles[0].urn]
    assert len(policies) == 1
    return roles[0], policies[0].policy()


def check_role_policy(run: ProgramRun) -> None:
    regions = run.regions()
    for source in regions:
        role, policy = replication_role(run, source)
        trust = json.loads(role.inputs["assumeRolePolicy"])
        assert trust["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}},
            }
        ]
        statements = policy["Statement"]
        assert all(s["Effect"] == "Allow" for s in statements)
        source_arn = arn_of(data_bucket(run, source))
        others = [r for r in regions if r != source]
        allowed = {source_arn, f"{source_arn}/*", key_arn(run, source)}
        allowed |= {f"{arn_of(data_bucket(run, o))}/*" for o in others} | {key_arn(run, o) for o in others}
        resources = {res for s in statements for res in as_list(s["Resource"])}
        assert resources == allowed
        assert "*" not in resources

        assert actions_on(statements, source_arn) == {"s3:GetReplicationConfiguration", "s3:ListBucket"}
        assert actions_on(statements, f"{source_arn}/*") == {
            "s3:GetObjectVersionForReplication",
            "s3:GetObjectVersionAcl",
            "s3:GetObjectVersionTagging",
        }
        assert actions_on(statements, key_arn(run, source)) == {"kms:Decrypt"}
        for other in others:
            assert actions_on(statements, f"{arn_of(data_bucket(run, other))}/*") == {
                "s3:ReplicateObject",
                "s3:ReplicateDelete",
                "s3:ReplicateTags",
            }
            assert actions_on(statements, key_arn(run, other)) == {"kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"}
        for statement in statements:
            if any(a.startswith("kms:") for a in as_list(statement["Action"])):
                key_region = next(r for r in regions if statement["Resource"] == key_arn(run, r))
                assert statement["Condition"]["StringEquals"] == {"kms:ViaService": f"s3.{key_region}.amazonaws.com"}
                bucket = arn_of(data_bucket(run, key_region))
                assert statement["Condition"]["StringLike"] == {"kms:EncryptionContext:aws:s3:arn": [bucket, f"{bucket}/*"]}

        config = replication_of(run, source)
        assert config.inputs["role"].endswith(f"role/{role.name}")


def test_replication_role_acts_only_on_these_buckets_and_keys(stack_run: ProgramRun) -> None:
    check_role_policy(stack_run)


def test_replication_role_covers_every_other_region_of_three(run_stack: ProgramRunner) -> None:
    check_role_policy(run_stack("prod", **THREE_REGIONS))


def test_replication_is_created_after_the_buckets_under_the_source_regions_provider(stack_run: ProgramRun) -> None:
    for source in stack_run.regions():
        component = stack_run.one(BUCKET_REPLICATION, source)
        # In the source's RegionalStack, registered once every region's bucket exists: no bucket waits on a rule.
        parent = stack_run.by_urn(component.parent or "")
        assert (parent.type, parent.name) == ("multi-region:regional:RegionalStack", source)
        assert component.name == f"{source}-replication"
        assert stack_run.by_urn(component.provider or "").inputs["region"] == source
        config = replication_of(stack_run, source)
        assert config.parent == component.urn
        assert config.region == source
        assert config.provider == component.provider
    assert len(stack_run.of_type(REPLICATION)) == len(stack_run.regions())
    for bucket_component in stack_run.of_type(REGIONAL_BUCKET):
        assert not [r for r in stack_run.descendants(bucket_component) if r.type in (REPLICATION, BUCKET_REPLICATION)]


def test_preview_registers_the_buckets_and_replication_in_every_region(preview_run: ProgramRun) -> None:
    for region in preview_run.regions():
        assert len(preview_run.of_type(REGIONAL_BUCKET, region)) == 1
        assert len(preview_run.of_type(BUCKET, region)) == 2
        for type_ in (LOGGING, BUCKET_REPLICATION, REPLICATION):
            assert len(preview_run.of_type(type_, region)) == 1, (type_, region)
        for type_ in (VERSIONING, LIFECYCLE, ENCRYPTION, ACCESS_BLOCK, OWNERSHIP, POLICY):
            assert len(preview_run.of_type(type_, region)) == 2, (type_, region)


# ---- the pure policy builders ---------------------------------------------------------------------


def test_bucket_name_is_deterministic_and_refuses_names_s3_would_reject() -> None:
    assert bucket_name("multi-region", "prod", "eu-west-1", "123456789012") == "multi-region-prod-eu-west-1-123456789012"
    assert bucket_name("p", "s", "us-east-1", "1", "logs") == "p-s-us-east-1-1-logs"
    longest = bucket_name("multi-region", "prod", "ap-southeast-4", "123456789012", "logs")
    assert len(longest) <= 63
    with pytest.raises(ValueError, match="63"):
        bucket_name("multi-region", "a-very-long-feature-branch-stack", "ap-southeast-4", "123456789012", "logs")
    assert bucket_arn("aws", "b") == "arn:aws:s3:::b"
    assert bucket_arn("aws-cn", "b") == "arn:aws-cn:s3:::b"


def test_tls_only_statement_covers_the_bucket_and_its_objects() -> None:
    assert tls_only_statement("arn:aws:s3:::b") == {**TLS_DENY, "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}


def test_data_bucket_policy_composes_extra_statements_after_the_tls_deny() -> None:
    assert data_bucket_policy("arn:aws:s3:::b") == {"Version": "2012-10-17", "Statement": [tls_only_statement("arn:aws:s3:::b")]}
    origin_access = {
        "Sid": "CloudFrontRead",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/*",
        "Condition": {"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::1:distribution/D"}},
    }
    policy = data_bucket_policy("arn:aws:s3:::b", [origin_access])
    assert policy["Statement"] == [tls_only_statement("arn:aws:s3:::b"), origin_access]
    assert policy["Statement"][1] is not origin_access
    json.dumps(policy)


def test_access_log_bucket_policy_scopes_delivery_to_one_source_bucket_and_account() -> None:
    policy = access_log_bucket_policy("arn:aws:s3:::logs", "arn:aws:s3:::data", "111122223333", "p/")
    deny, allow = policy["Statement"]
    assert deny == tls_only_statement("arn:aws:s3:::logs")
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == "arn:aws:s3:::logs/p/*"
    assert allow["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:aws:s3:::data"},
        "StringEquals": {"aws:SourceAccount": "111122223333"},
    }


def test_replication_role_policy_names_only_the_given_buckets_and_keys() -> None:
    source = ReplicaSide("us-east-1", "arn:aws:s3:::src", "arn:aws:kms:us-east-1:1:key/a")
    west = ReplicaSide("us-west-2", "arn:aws:s3:::west", "arn:aws:kms:us-west-2:1:key/c")
    europe = ReplicaSide("eu-west-1", "arn:aws:s3:::eu", "arn:aws:kms:eu-west-1:1:key/b")
    policy = replication_role_policy(source, [west, europe])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert list(statements) == [
        "ReadSourceConfiguration",
        "ReadSourceObjectVersions",
        "DecryptWithSourceKey",
        "ReplicateIntoEuWest1",
        "EncryptWithEuWest1Key",
        "ReplicateIntoUsWest2",
        "EncryptWithUsWest2Key",
    ]
    assert statements["DecryptWithSourceKey"] == {
        "Sid": "DecryptWithSourceKey",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": "arn:aws:kms:us-east-1:1:key/a",
        "Condition": {
            "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
            # With S3 Bucket Keys the encryption context is the bucket ARN; without, the object ARN.
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": ["arn:aws:s3:::src", "arn:aws:s3:::src/*"]},
        },
    }
    assert statements["ReplicateIntoUsWest2"]["Resource"] == "arn:aws:s3:::west/*"
    assert statements["EncryptWithUsWest2Key"]["Resource"] == "arn:aws:kms:us-west-2:1:key/c"
    assert statements["EncryptWithUsWest2Key"]["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    assert statements["EncryptWithEuWest1Key"]["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": ["arn:aws:s3:::eu", "arn:aws:s3:::eu/*"]
    }
    values = all_values(policy)
    assert "*" not in values
    assert not any(isinstance(v, str) and v.startswith("s3:*") for v in values)
    assert replication_role_policy(source, [europe, west]) == policy


def test_replication_waits_for_versioning_at_both_ends(stack_run: ProgramRun) -> None:
    versionings = {config_of(stack_run, VERSIONING, data_bucket(stack_run, region)).urn for region in stack_run.regions()}
    for source in stack_run.regions():
        assert versionings <= set(replication_of(stack_run, source).dependencies)
