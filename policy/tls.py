"""Encryption in transit: TLS 1.2 or newer on every endpoint clients reach, and no plaintext path to the data."""

from __future__ import annotations

from policy.core import (
    DISTRIBUTION,
    ELASTICACHE_GROUP,
    MEMORYDB_CLUSTER,
    MEMORYDB_MULTI_REGION,
    S3_BUCKET,
    S3_POLICY,
    Messages,
    Props,
    Stack,
    StackViolation,
    Violations,
    attached,
    block,
    blocks,
    document,
    everyone,
    flag,
    get,
    resource_rule,
    stack_rule,
    statements,
    strings,
)

# CloudFront security policies that accept only TLS 1.2 or newer (TLSv1.2_2018 ... TLSv1.2_2025, TLSv1.3_2025).
CLOUDFRONT_TLS_PREFIXES = ("TLSv1.2_", "TLSv1.3")
HTTPS_VIEWER_POLICIES = ("redirect-to-https", "https-only")
OLD_ORIGIN_PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1")
TLS_1_0_POLICY = "TLS_1_0"


@resource_rule(
    "cache-tls-in-transit",
    "MemoryDB (a Multi-Region cluster too) and ElastiCache accept only TLS connections.",
    MEMORYDB_CLUSTER,
    MEMORYDB_MULTI_REGION,
    ELASTICACHE_GROUP,
)
def cache_tls_in_transit(resource_type: str, props: Props) -> Messages:
    if resource_type in (MEMORYDB_CLUSTER, MEMORYDB_MULTI_REGION):
        # MemoryDB defaults to TLS; only an explicit false turns it off (and that cannot be undone in place).
        if flag(props.get("tlsEnabled")) is False:
            yield "tlsEnabled must not be false"
    elif flag(props.get("transitEncryptionEnabled")) is not True:
        yield "transitEncryptionEnabled must be true"


@resource_rule(
    "cloudfront-tls-1-2",
    "CloudFront viewers connect with TLS 1.2 or newer, on a certificate of our own whenever the distribution serves a "
    "name of our own (a stack without a domain has only CloudFront's own name, whose policy AWS fixes).",
    DISTRIBUTION,
)
def cloudfront_tls_1_2(resource_type: str, props: Props) -> Messages:
    certificate = block(props.get("viewerCertificate"))
    if flag(certificate.get("cloudfrontDefaultCertificate")) is True:
        if props.get("aliases"):
            yield "the default *.cloudfront.net certificate allows TLSv1: use an ACM certificate (us-east-1) for the aliases"
        return
    version = certificate.get("minimumProtocolVersion")
    if not isinstance(version, str) or not version.startswith(CLOUDFRONT_TLS_PREFIXES):
        yield f"viewerCertificate.minimumProtocolVersion is {version!r}; use TLSv1.2_2021 or newer"


@resource_rule(
    "cloudfront-https-only",
    "CloudFront serves viewers over HTTPS only and reaches custom origins over HTTPS with TLS 1.2.",
    DISTRIBUTION,
)
def cloudfront_https_only(resource_type: str, props: Props) -> Messages:
    behaviors = [("default", block(props.get("defaultCacheBehavior")))]
    behaviors += [(str(b.get("pathPattern")), b) for b in blocks(props.get("orderedCacheBehaviors"))]
    for path, behavior in behaviors:
        policy = behavior.get("viewerProtocolPolicy")
        if policy not in HTTPS_VIEWER_POLICIES:
            yield f"the {path} cache behavior has viewerProtocolPolicy {policy!r}; allowed: {', '.join(HTTPS_VIEWER_POLICIES)}"
    for origin in blocks(props.get("origins")):
        custom = block(origin.get("customOriginConfig"))
        if not custom:
            continue
        if custom.get("originProtocolPolicy") != "https-only":
            yield f"origin {origin.get('originId')} must use originProtocolPolicy 'https-only'"
        old = sorted(set(strings(custom.get("originSslProtocols"))) & set(OLD_ORIGIN_PROTOCOLS))
        if old:
            yield f"origin {origin.get('originId')} allows {', '.join(old)}; allow TLSv1.2 only"


@resource_rule(
    "api-domain-tls-1-2",
    "API Gateway custom domains refuse TLS 1.0.",
    "aws:apigatewayv2/domainName:DomainName",
    "aws:apigateway/domainName:DomainName",
)
def api_domain_tls_1_2(resource_type: str, props: Props) -> Messages:
    if resource_type == "aws:apigateway/domainName:DomainName":
        policies = [props.get("securityPolicy")]
    else:
        policies = [c.get("securityPolicy") for c in blocks(props.get("domainNameConfiguration"))] or [None]
    for policy in policies:
        if not isinstance(policy, str) or policy == TLS_1_0_POLICY:
            yield f"securityPolicy is {policy!r}; use TLS_1_2 (or a newer enhanced policy)"


def _denies_insecure_transport(statement: Props) -> bool:
    """A ``Deny`` of every S3 action (or all actions) to everyone when ``aws:SecureTransport`` is false."""
    condition = {str(key).lower(): value for key, value in block(get(statement, "Condition", "Bool")).items()}
    return (
        statement.get("Effect") == "Deny"
        and everyone(statement.get("Principal"))
        and bool({"s3:*", "*"} & set(strings(statement.get("Action"))))
        and str(condition.get("aws:securetransport")).lower() == "false"
    )


@stack_rule(
    "s3-bucket-tls-only",
    "Every S3 bucket's policy denies requests that do not use TLS (aws:SecureTransport false).",
)
def s3_bucket_tls_only(stack: Stack) -> Violations:
    for bucket in stack.of_type(*S3_BUCKET):
        policies = attached(stack, (S3_POLICY,), bucket)
        if not any(_denies_insecure_transport(s) for p in policies for s in statements(document(p.props.get("policy")))):
            yield StackViolation(f"bucket {bucket.name} has no bucket policy denying aws:SecureTransport false", bucket.urn)


RULES = (cache_tls_in_transit, cloudfront_tls_1_2, cloudfront_https_only, api_domain_tls_1_2, s3_bucket_tls_only)
