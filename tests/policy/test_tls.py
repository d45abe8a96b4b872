"""TLS rules (policy/tls.py): each passes a minimal compliant input and fails a bad one."""

from __future__ import annotations

from typing import Any

import pytest

from policy import tls
from policy.core import DISTRIBUTION, ELASTICACHE_GROUP, MEMORYDB_CLUSTER, MEMORYDB_MULTI_REGION, S3_POLICY, Rule
from tests.support.policy_cases import (
    Cases,
    ResourceCases,
    StackCases,
    check_cases,
    doc,
    failing,
    passing,
    resource,
    run_failing,
    run_passing,
    stack,
)

BUCKET = "aws:s3/bucket:Bucket"
API_DOMAIN_V2 = "aws:apigatewayv2/domainName:DomainName"
API_DOMAIN_V1 = "aws:apigateway/domainName:DomainName"
CERTIFICATE = {"acmCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/c", "minimumProtocolVersion": "TLSv1.2_2021"}
HTTPS_BEHAVIOR = {"viewerProtocolPolicy": "redirect-to-https"}
DENY_PLAINTEXT = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
DENY_PLAINTEXT_TO_AWS_STAR = {**DENY_PLAINTEXT, "Principal": {"AWS": ["*"]}}
ALLOW_READ = {"Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject", "Resource": "*"}
DATA = resource(BUCKET, "data", bucket="data")


def origin(policy: str, protocols: list[str]) -> dict[str, Any]:
    return {"originId": "api", "customOriginConfig": {"originProtocolPolicy": policy, "originSslProtocols": protocols}}


CASES: Cases = {
    "cache-tls-in-transit": ResourceCases(
        passing=[
            (MEMORYDB_CLUSTER, {"tlsEnabled": True}),
            (MEMORYDB_CLUSTER, {"name": "cache"}),
            (ELASTICACHE_GROUP, {"transitEncryptionEnabled": True}),
            (MEMORYDB_MULTI_REGION, {"tlsEnabled": True}),
        ],
        failing=[
            (MEMORYDB_CLUSTER, {"tlsEnabled": False}, "tlsEnabled"),
            (ELASTICACHE_GROUP, {}, "transitEncryptionEnabled"),
            (MEMORYDB_MULTI_REGION, {"tlsEnabled": False}, "tlsEnabled"),
        ],
    ),
    "cloudfront-tls-1-2": ResourceCases(
        passing=[
            (DISTRIBUTION, {"viewerCertificate": CERTIFICATE}),
            # No name of our own (a stack without a domain): only CloudFront's, on its certificate.
            (DISTRIBUTION, {"aliases": [], "viewerCertificate": {"cloudfrontDefaultCertificate": True}}),
        ],
        failing=[
            (
                DISTRIBUTION,
                {"aliases": ["cdn.app.example.com"], "viewerCertificate": {"cloudfrontDefaultCertificate": True}},
                "default *.cloudfront.net certificate",
            ),
            (
                DISTRIBUTION,
                {"viewerCertificate": {**CERTIFICATE, "minimumProtocolVersion": "TLSv1_2016"}},
                "minimumProtocolVersion",
            ),
        ],
    ),
    "cloudfront-https-only": ResourceCases(
        passing=[
            (
                DISTRIBUTION,
                {
                    "defaultCacheBehavior": HTTPS_BEHAVIOR,
                    "orderedCacheBehaviors": [{"pathPattern": "/api/*", "viewerProtocolPolicy": "https-only"}],
                    "origins": [
                        origin("https-only", ["TLSv1.2"]),
                        {"originId": "s3", "domainName": "b.s3.us-east-1.amazonaws.com"},
                    ],
                },
            )
        ],
        failing=[
            (DISTRIBUTION, {"defaultCacheBehavior": {"viewerProtocolPolicy": "allow-all"}}, "the default cache behavior"),
            (
                DISTRIBUTION,
                {
                    "defaultCacheBehavior": HTTPS_BEHAVIOR,
                    "orderedCacheBehaviors": [{"pathPattern": "/api/*", "viewerProtocolPolicy": "allow-all"}],
                },
                "the /api/* cache behavior",
            ),
            (DISTRIBUTION, {"defaultCacheBehavior": HTTPS_BEHAVIOR, "origins": [origin("http-only", ["TLSv1.2"])]}, "https-only"),
            (
                DISTRIBUTION,
                {"defaultCacheBehavior": HTTPS_BEHAVIOR, "origins": [origin("https-only", ["TLSv1", "TLSv1.2"])]},
                "allows TLSv1",
            ),
        ],
    ),
    "api-domain-tls-1-2": ResourceCases(
        passing=[
            (API_DOMAIN_V2, {"domainNameConfiguration": {"securityPolicy": "TLS_1_2", "endpointType": "REGIONAL"}}),
            (API_DOMAIN_V1, {"securityPolicy": "TLS_1_2"}),
        ],
        failing=[
            (API_DOMAIN_V2, {"domainNameConfiguration": {"securityPolicy": "TLS_1_0"}}, "'TLS_1_0'"),
            (API_DOMAIN_V2, {"domainName": "api.example.com"}, "securityPolicy is None"),
            (API_DOMAIN_V1, {"securityPolicy": "TLS_1_0"}, "'TLS_1_0'"),
        ],
    ),
    "s3-bucket-tls-only": StackCases(
        passing=[
            stack(DATA, resource(S3_POLICY, "data-policy", bucket="data", policy=doc(DENY_PLAINTEXT, ALLOW_READ))),
            stack(
                DATA,
                resource(S3_POLICY, "data-policy", bucket="data", policy=doc(DENY_PLAINTEXT_TO_AWS_STAR)),
            ),
        ],
        failing=[
            (stack(DATA), "bucket data has no bucket policy denying"),
            (
                stack(DATA, resource(S3_POLICY, "data-policy", bucket="data", policy=doc(ALLOW_READ))),
                "bucket data has no bucket policy",
            ),
            (
                stack(DATA, resource(S3_POLICY, "other-policy", bucket="other", policy=doc(DENY_PLAINTEXT))),
                "bucket data has no bucket policy",
            ),
        ],
    ),
}


def test_every_rule_has_passing_and_failing_cases() -> None:
    check_cases(tls.RULES, CASES)


@pytest.mark.parametrize(("rule", "item"), passing(tls.RULES, CASES))
def test_rule_passes(rule: Rule, item: Any) -> None:
    run_passing(rule, item)


@pytest.mark.parametrize(("rule", "item"), failing(tls.RULES, CASES))
def test_rule_fails(rule: Rule, item: Any) -> None:
    run_failing(rule, item)
