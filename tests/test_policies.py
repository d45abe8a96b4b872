"""Pure policy documents, without Pulumi."""

from components.policies import (
    allow_statement,
    assume_role_policy,
    dynamodb_key_statements,
    edge_key_policy,
    flow_log_delivery_policy,
    region_key_policy,
)


def test_key_policy_keeps_account_administration() -> None:
    policy = region_key_policy("aws", "123456789012", "eu-west-1")
    admin = next(s for s in policy["Statement"] if s["Sid"] == "AccountAdministration")
    assert admin["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert admin["Action"] == "kms:*"


def test_key_policy_lets_only_this_regions_logs_use_the_key_for_this_account() -> None:
    policy = region_key_policy("aws", "123456789012", "eu-west-1")
    logs = next(s for s in policy["Statement"] if s["Sid"] == "CloudWatchLogsInThisRegion")
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert (
        logs["Condition"]["StringLike"]["kms:EncryptionContext:aws:logs:arn"] == "arn:aws:logs:eu-west-1:123456789012:log-group:*"
    )
    # A Describe* request carries no encryption context: under this condition it could never be allowed.
    assert logs["Action"] == ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
    assert "kms:*" not in logs["Action"]


def test_trust_policy_is_bound_to_the_account() -> None:
    policy = assume_role_policy("vpc-flow-logs.amazonaws.com", "123456789012")
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_trust_policy_without_an_account_names_one_service_and_only_assume_role() -> None:
    assert assume_role_policy("eks.amazonaws.com") == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }


def test_trust_policy_bound_to_one_source_resource() -> None:
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:m"
    (statement,) = assume_role_policy("states.amazonaws.com", "123456789012", source_arn=arn)["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": arn},
    }


def test_allow_statement_carries_a_condition_only_when_given() -> None:
    assert allow_statement("Read", ("s3:GetObject",), ("arn:aws:s3:::b/*",)) == {
        "Sid": "Read",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::b/*"],
    }
    condition = {"Bool": {"aws:SecureTransport": "true"}}
    assert allow_statement("Read", ["s3:GetObject"], ["*"], condition)["Condition"] == condition


def test_flow_log_delivery_is_scoped_to_one_log_group_and_lists_groups_on_star_only() -> None:
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:flow"
    describe, write, listing = flow_log_delivery_policy(arn)["Statement"]
    assert (describe["Action"], describe["Resource"]) == (["logs:DescribeLogStreams"], [arn])
    assert (write["Action"], write["Resource"]) == (["logs:CreateLogStream", "logs:PutLogEvents"], [f"{arn}:*"])
    # DescribeLogGroups has no resource type in IAM: scoped to an ARN it would never take effect.
    assert (listing["Action"], listing["Resource"]) == (["logs:DescribeLogGroups"], ["*"])


def test_dynamodb_key_statements_bind_each_key_to_dynamodb_of_its_own_region() -> None:
    keys = {"us-east-1": "arn:aws:kms:us-east-1:1:key/a", "eu-west-1": "arn:aws:kms:eu-west-1:1:key/b"}
    east, west = dynamodb_key_statements("TableKey", keys, writes=True)
    assert east["Sid"] == "TableKeyUsEast1" and east["Resource"] == [keys["us-east-1"]]
    assert east["Condition"] == {"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}}
    assert west["Resource"] == [keys["eu-west-1"]]
    assert west["Condition"] == {"StringEquals": {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"}}
    assert east["Action"] == ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"]
    (reader,) = dynamodb_key_statements("TableKey", {"us-east-1": keys["us-east-1"]}, writes=False)
    assert reader["Action"] == ["kms:Decrypt"]


def test_key_policy_lets_only_this_accounts_cloudfront_distributions_decrypt() -> None:
    policy = region_key_policy("aws", "123456789012", "eu-west-1")
    cloudfront = next(s for s in policy["Statement"] if s["Sid"] == "CloudFrontOriginDecrypt")
    assert cloudfront["Effect"] == "Allow"
    assert cloudfront["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert cloudfront["Action"] == "kms:Decrypt"
    assert cloudfront["Condition"] == {"ArnLike": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/*"}}
    china = region_key_policy("aws-cn", "123456789012", "cn-north-1")
    assert next(s for s in china["Statement"] if s["Sid"] == "CloudFrontOriginDecrypt")["Condition"]["ArnLike"] == {
        "AWS:SourceArn": "arn:aws-cn:cloudfront::123456789012:distribution/*"
    }


def test_cloudwatch_may_publish_to_encrypted_topics_only_for_this_accounts_alarms_in_the_region() -> None:
    policy = region_key_policy("aws", "123456789012", "eu-west-1")
    alarms = next(s for s in policy["Statement"] if s["Sid"] == "CloudWatchAlarmsPublishToEncryptedTopic")
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*"},
    }
    edge = edge_key_policy("aws", "123456789012", "us-east-1")
    sids = [s["Sid"] for s in edge["Statement"]]
    assert sids == ["AccountAdministration", "CloudWatchLogsInThisRegion", "CloudWatchAlarmsPublishToEncryptedTopic"]
