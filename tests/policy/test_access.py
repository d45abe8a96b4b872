"""Public-access rules (policy/access.py): each passes a minimal compliant input and fails a bad one."""

from __future__ import annotations

from typing import Any

import pytest

from policy import access
from policy.core import (
    DISTRIBUTION,
    EKS_CLUSTER,
    LAMBDA_FUNCTION,
    RDS_CLUSTER_INSTANCE,
    RDS_INSTANCE,
    S3_ACCOUNT_PUBLIC_ACCESS_BLOCK,
    S3_PUBLIC_ACCESS_BLOCK,
    Rule,
    StackResource,
)
from tests.support.policy_cases import (
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
RDS_CLUSTER = "aws:rds/cluster:Cluster"
SUBNET = "aws:ec2/subnet:Subnet"
BLOCK_ALL: dict[str, Any] = dict.fromkeys(access.PUBLIC_ACCESS_FLAGS, True)
HALF_BLOCKED: dict[str, Any] = {"blockPublicAcls": True, "blockPublicPolicy": True}
DATA = resource(BUCKET, "data", bucket="data")
MASTER = resource("aws:secretsmanager/secret:Secret", "master", name="p/aurora/master")


def _rotation(**props: Any) -> StackResource:
    """A rotation of MASTER by a function (``rotationLambdaArn=None``: by none)."""
    props = {"rotationLambdaArn": "arn:aws:lambda:us-east-1:1:function:rotation", **props}
    return resource(
        access.SECRET_ROTATION, "master-rotation", depends_on=[MASTER], **{k: v for k, v in props.items() if v is not None}
    )


def waf_group(name: str, override: str = "none") -> dict[str, Any]:
    return {
        "name": name,
        "overrideAction": {override: {}},
        "statement": {"managedRuleGroupStatement": {"name": name, "vendorName": "AWS"}},
    }


RATE_RULE: dict[str, Any] = {
    "name": "rate",
    "action": {"block": {}},
    "statement": {"rateBasedStatement": {"limit": 2000, "aggregateKeyType": "IP"}},
}
FULL_ACL: dict[str, Any] = {"scope": "CLOUDFRONT", "rules": [*map(waf_group, access.REQUIRED_WAF_GROUPS), RATE_RULE]}


def ingress(protocol: str, port: float, cidr: str) -> dict[str, Any]:
    return {"protocol": protocol, "fromPort": port, "toPort": port, "cidrBlocks": [cidr]}


CASES: Cases = {
    "s3-public-access-block-complete": ResourceCases(
        passing=[(S3_PUBLIC_ACCESS_BLOCK, {"bucket": "data", **BLOCK_ALL}), (S3_ACCOUNT_PUBLIC_ACCESS_BLOCK, BLOCK_ALL)],
        failing=[
            (S3_PUBLIC_ACCESS_BLOCK, {"bucket": "data", **HALF_BLOCKED}, "ignorePublicAcls, restrictPublicBuckets must be true")
        ],
    ),
    "s3-bucket-public-access-blocked": StackCases(
        passing=[
            stack(DATA, resource(S3_PUBLIC_ACCESS_BLOCK, "data-pab", bucket="data", **BLOCK_ALL)),
            stack(DATA, resource(S3_ACCOUNT_PUBLIC_ACCESS_BLOCK, "account-pab", **BLOCK_ALL)),
        ],
        failing=[
            (stack(DATA), "bucket data has no public access block"),
            (
                stack(DATA, resource(S3_ACCOUNT_PUBLIC_ACCESS_BLOCK, "account-pab", **HALF_BLOCKED)),
                "bucket data has no public access",
            ),
        ],
    ),
    "secret-rotation": StackCases(
        passing=[
            stack(MASTER, _rotation(rotationRules={"automaticallyAfterDays": 30})),
            stack(MASTER, _rotation(rotationRules={"scheduleExpression": "rate(10 days)"})),
        ],
        failing=[
            (stack(MASTER), "secret master has no SecretRotation"),
            (
                stack(MASTER, _rotation(rotationRules={"automaticallyAfterDays": 400})),
                "automaticallyAfterDays is 400; allowed: 1 to 365",
            ),
            (stack(MASTER, _rotation(rotationLambdaArn=None, rotationRules={})), "names no rotationLambdaArn"),
        ],
    ),
    "eks-endpoint-private": ResourceCases(
        passing=[
            (EKS_CLUSTER, {"vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False}}),
            (
                EKS_CLUSTER,
                {
                    "vpcConfig": {
                        "endpointPrivateAccess": True,
                        "endpointPublicAccess": True,
                        "publicAccessCidrs": ["203.0.113.0/24"],
                    }
                },
            ),
        ],
        failing=[
            (EKS_CLUSTER, {"vpcConfig": {"endpointPrivateAccess": True}}, "publicAccessCidrs"),
            (
                EKS_CLUSTER,
                {"vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}},
                "without 0.0.0.0/0",
            ),
            (
                EKS_CLUSTER,
                {"vpcConfig": {"endpointPrivateAccess": False, "endpointPublicAccess": False}},
                "endpointPrivateAccess",
            ),
        ],
    ),
    "security-group-public-ingress-https-only": ResourceCases(
        passing=[
            (
                access.SECURITY_GROUP,
                {
                    "ingress": [ingress("tcp", 443.0, "0.0.0.0/0"), ingress("tcp", 5432.0, "10.10.0.0/16")],
                    "egress": [ingress("-1", 0.0, "0.0.0.0/0")],
                },
            ),
            (access.DEFAULT_SECURITY_GROUP, {"ingress": [], "egress": []}),
            (access.SECURITY_GROUP_RULE, {"type": "egress", **ingress("-1", 0.0, "0.0.0.0/0")}),
            (access.INGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrIpv6": "::/0"}),
        ],
        failing=[
            (access.SECURITY_GROUP, {"ingress": [ingress("tcp", 22.0, "0.0.0.0/0")]}, "on tcp ports 22-22"),
            (
                access.DEFAULT_SECURITY_GROUP,
                {"ingress": [{"protocol": "-1", "ipv6CidrBlocks": ["::/0"]}]},
                "::/0 on -1 all ports",
            ),
            (access.SECURITY_GROUP_RULE, {"type": "ingress", **ingress("tcp", 80.0, "0.0.0.0/0")}, "ports 80-80"),
            (access.INGRESS_RULE, {"ipProtocol": "udp", "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": "0.0.0.0/0"}, "udp"),
        ],
    ),
    "rds-not-publicly-accessible": ResourceCases(
        passing=[(RDS_CLUSTER_INSTANCE, {"publiclyAccessible": False}), (RDS_INSTANCE, {})],
        failing=[(RDS_CLUSTER_INSTANCE, {"publiclyAccessible": True}, "publiclyAccessible")],
    ),
    "subnet-no-auto-public-ip": ResourceCases(
        passing=[(SUBNET, {"mapPublicIpOnLaunch": False})],
        failing=[(SUBNET, {"mapPublicIpOnLaunch": True}, "mapPublicIpOnLaunch")],
    ),
    "lambda-in-vpc": ResourceCases(
        passing=[(LAMBDA_FUNCTION, {"vpcConfig": {"subnetIds": ["subnet-1"], "securityGroupIds": ["sg-1"]}})],
        failing=[
            (LAMBDA_FUNCTION, {"runtime": "python3.13"}, "vpcConfig"),
            (LAMBDA_FUNCTION, {"vpcConfig": {"subnetIds": ["subnet-1"], "securityGroupIds": []}}, "securityGroupIds"),
        ],
    ),
    "cloudfront-origin-access-control": ResourceCases(
        passing=[
            (
                DISTRIBUTION,
                {
                    "origins": [
                        {"originId": "s3", "domainName": "data.s3.us-east-1.amazonaws.com", "originAccessControlId": "oac"},
                        {"originId": "api", "domainName": "api.example.com"},
                    ]
                },
            )
        ],
        failing=[
            (DISTRIBUTION, {"origins": [{"originId": "s3", "domainName": "data.s3.eu-west-1.amazonaws.com"}]}, "S3 origin s3")
        ],
    ),
    "memorydb-user-iam-authentication": ResourceCases(
        passing=[(access.MEMORYDB_USER, {"userName": "app", "authenticationMode": {"type": "iam"}})],
        failing=[
            (
                access.MEMORYDB_USER,
                {"userName": "app", "authenticationMode": {"type": "password", "passwords": ["x" * 32]}},
                "must be 'iam'",
            ),
            (access.MEMORYDB_USER, {"userName": "app"}, "authenticationMode.type is None"),
        ],
    ),
    "aurora-iam-database-authentication": ResourceCases(
        passing=[
            (RDS_CLUSTER, {"engine": "aurora-postgresql", "iamDatabaseAuthenticationEnabled": True}),
            (RDS_CLUSTER, {"engine": "neptune"}),
        ],
        failing=[
            (RDS_CLUSTER, {"engine": "aurora-postgresql"}, "iamDatabaseAuthenticationEnabled must be true"),
            (RDS_CLUSTER, {"engine": "aurora-mysql", "iamDatabaseAuthenticationEnabled": False}, "iamDatabaseAuthentication"),
        ],
    ),
    "cloudfront-web-acl": ResourceCases(
        passing=[(DISTRIBUTION, {"webAclId": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/cdn/1"})],
        failing=[(DISTRIBUTION, {"origins": []}, "webAclId must be the ARN of a WAFv2 web ACL")],
    ),
    "waf-managed-rules-and-rate-limit": ResourceCases(
        passing=[
            (access.WEB_ACL, FULL_ACL),
            # A regional web ACL (an ALB's, say) is not the edge's: not judged here.
            (access.WEB_ACL, {"scope": "REGIONAL", "rules": []}),
        ],
        failing=[
            (
                access.WEB_ACL,
                {**FULL_ACL, "rules": [waf_group("AWSManagedRulesCommonRuleSet"), RATE_RULE]},
                "AWSManagedRulesKnownBadInputsRuleSet",
            ),
            (
                access.WEB_ACL,
                {**FULL_ACL, "rules": [waf_group(g, "count") for g in access.REQUIRED_WAF_GROUPS] + [RATE_RULE]},
                "must have overrideAction none",
            ),
            (access.WEB_ACL, {**FULL_ACL, "rules": [*map(waf_group, access.REQUIRED_WAF_GROUPS)]}, "no rate-based rule"),
            (
                access.WEB_ACL,
                {**FULL_ACL, "rules": [*map(waf_group, access.REQUIRED_WAF_GROUPS), {**RATE_RULE, "action": {"count": {}}}]},
                "no rate-based rule blocks",
            ),
        ],
    ),
    "cloudfront-response-headers-policy": ResourceCases(
        passing=[
            (
                DISTRIBUTION,
                {
                    "defaultCacheBehavior": {"responseHeadersPolicyId": "headers"},
                    "orderedCacheBehaviors": [{"pathPattern": "/img/*", "responseHeadersPolicyId": "headers"}],
                },
            )
        ],
        failing=[
            (DISTRIBUTION, {"defaultCacheBehavior": {"targetOriginId": "s3"}}, "defaultCacheBehavior has no responseHeaders"),
            (
                DISTRIBUTION,
                {
                    "defaultCacheBehavior": {"responseHeadersPolicyId": "headers"},
                    "orderedCacheBehaviors": [{"pathPattern": "/img/*"}],
                },
                "orderedCacheBehaviors /img/* has no",
            ),
        ],
    ),
    "api-stage-throttled": ResourceCases(
        passing=[(access.API_STAGE, {"defaultRouteSettings": {"throttlingRateLimit": 500, "throttlingBurstLimit": 1000}})],
        failing=[
            (access.API_STAGE, {"name": "$default"}, "defaultRouteSettings.throttlingRateLimit must be a positive limit"),
            (
                access.API_STAGE,
                {"defaultRouteSettings": {"throttlingRateLimit": 500, "throttlingBurstLimit": 0}},
                "throttlingBurstLimit must be",
            ),
        ],
    ),
    "api-anonymous-routes-read-only": ResourceCases(
        passing=[
            (access.API_ROUTE, {"routeKey": "GET /regions/{region}/status", "authorizationType": "NONE"}),
            (access.API_ROUTE, {"routeKey": "POST /events", "authorizationType": "AWS_IAM"}),
        ],
        failing=[
            (access.API_ROUTE, {"routeKey": "POST /events", "authorizationType": "NONE"}, "'POST /events' takes anonymous"),
            (access.API_ROUTE, {"routeKey": "DELETE /items/{id}"}, "may only be GET or HEAD"),  # NONE is the default
        ],
    ),
}


def test_every_rule_has_passing_and_failing_cases() -> None:
    check_cases(access.RULES, CASES)


def test_lambda_in_vpc_is_advisory_and_says_why() -> None:
    assert access.lambda_in_vpc.enforcement_level.value == "advisory"
    assert "runbook" in str(access.lambda_in_vpc.advisory)


@pytest.mark.parametrize(("rule", "item"), passing(access.RULES, CASES))
def test_rule_passes(rule: Rule, item: Any) -> None:
    run_passing(rule, item)


@pytest.mark.parametrize(("rule", "item"), failing(access.RULES, CASES))
def test_rule_fails(rule: Rule, item: Any) -> None:
    run_failing(rule, item)
