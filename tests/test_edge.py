"""CloudFront over the regional buckets: origin failover, origin access control, TLS, DNS, access logs, and the
bucket and key policies that admit only this distribution; for prod, dev, three regions with latency routing, a
primary other than the first region, and a stack without us-east-1 (a dedicated edge provider)."""

from __future__ import annotations

import fnmatch
from typing import Any

import pulumi
import pytest

from components.config import StackConfig, load_config
from components.edge import (
    CACHING_OPTIMIZED_POLICY_ID,
    WAF_COMMON,
    WAF_IP_REPUTATION,
    WAF_KNOWN_BAD_INPUTS,
    WAF_RATE_RULE,
    Cdn,
    CdnArgs,
    access_log_delivery_policy,
    cdn_origin_regions,
    failover_status_codes,
    origin_read_statement,
)
from components.providers import edge_provider, region_provider
from components.storage import RegionalBucket, RegionalBucketArgs
from planning.harness import ACCOUNT_ID, PROVIDER_TYPE, ProgramRun, Resource, raw_config, run_component, stack_config
from tests.support.program import DEV_DOMAIN, THREE_REGIONS_LATENCY, ProgramRunner

CDN = "multi-region:edge:Cdn"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
OAC = "aws:cloudfront/originAccessControl:OriginAccessControl"
CERTIFICATE = "aws:acm/certificate:Certificate"
CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LOG_POLICY = "aws:cloudwatch/logResourcePolicy:LogResourcePolicy"
LOG_SOURCE = "aws:cloudwatch/logDeliverySource:LogDeliverySource"
LOG_DESTINATION = "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination"
LOG_DELIVERY = "aws:cloudwatch/logDelivery:LogDelivery"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KEY = "aws:kms/key:Key"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
HEADERS_POLICY = "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy"

WITHOUT_US_EAST_1 = {
    "regions": ["eu-west-1", "eu-central-1"],
    "primaryRegion": "eu-central-1",
    "vpcCidrs": ["10.110.0.0/16", "10.120.0.0/16"],
}
# Scenario: stack, config overrides, the origin regions in failover order.
SCENARIOS: dict[str, tuple[str, dict[str, Any], tuple[str, str]]] = {
    "prod": ("prod", {}, ("us-east-1", "eu-west-1")),
    "dev": ("dev", DEV_DOMAIN, ("us-east-1", "eu-west-1")),
    "prod-3-regions-latency": ("prod", THREE_REGIONS_LATENCY, ("us-east-1", "eu-west-1")),
    "prod-primary-eu-west-1": ("prod", {"primaryRegion": "eu-west-1"}, ("eu-west-1", "us-east-1")),
    "dev-without-us-east-1": ("dev", {**WITHOUT_US_EAST_1, **DEV_DOMAIN}, ("eu-central-1", "eu-west-1")),
}


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest, run_stack: ProgramRunner) -> tuple[ProgramRun, StackConfig, tuple[str, str]]:
    """An update-mode run, its validated config, and the origin regions it must have."""
    stack, overrides, origins = SCENARIOS[request.param]
    return run_stack(stack, **overrides), config_for(stack, overrides), origins


# ---- helpers ---------------------------------------------------------------------------------------


def config_for(stack: str, overrides: dict[str, Any]) -> StackConfig:
    raw, _ = raw_config(stack, overrides)
    return load_config({k.split(":", 1)[1]: v for k, v in raw.items()}, stack, "multi-region")


def cdn_component(run: ProgramRun) -> Resource:
    (component,) = run.of_type(CDN)
    return component


def child(parent: Resource, type_: str) -> Resource:
    found = [r for r in parent.children if r.type == type_]
    assert len(found) == 1, f"expected one {type_} under {parent.name}, found {len(found)}"
    return found[0]


def distribution(run: ProgramRun) -> Resource:
    return child(cdn_component(run), DISTRIBUTION)


def mock_arn(service: str, kind: str, name: str) -> str:
    """The ARN the mocks give a resource created under the us-east-1 provider."""
    return f"arn:aws:{service}:us-east-1:{ACCOUNT_ID}:{kind}/{name}"


def distribution_arn(run: ProgramRun) -> str:
    return mock_arn("cloudfront", "distribution", distribution(run).name)


def zone_id(run: ProgramRun, config: StackConfig) -> str:
    """The hosted zone's ID as the mocks give it: created (dev) or looked up (prod)."""
    assert config.edge.domain_name is not None
    if config.edge.create_hosted_zone:
        return "dns-zone-zone-id"
    return "ZMOCK" + config.edge.domain_name.replace(".", "").upper()


def data_bucket(run: ProgramRun, region: str) -> Resource:
    name = f"multi-region-{run.stack}-{region}-{ACCOUNT_ID}"
    (bucket,) = [b for b in run.of_type(BUCKET, region) if b.inputs.get("bucket") == name]
    return bucket


def bucket_arn(bucket: Resource) -> str:
    return f"arn:aws:s3:::{bucket.inputs['bucket']}"


def data_bucket_policy(run: ProgramRun, region: str) -> dict[str, Any]:
    bucket = data_bucket(run, region)
    (policy,) = [p for p in run.of_type(BUCKET_POLICY, region) if p.parent == bucket.urn]
    document: dict[str, Any] = policy.policy()
    return document


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---- the distribution ------------------------------------------------------------------------------


def test_one_distribution_under_the_us_east_1_provider(scenario: tuple[ProgramRun, StackConfig, tuple[str, str]]) -> None:
    run, config, _ = scenario
    component = cdn_component(run)
    assert run.by_urn(component.parent or "").type == "multi-region:global:GlobalStack"
    assert run.by_urn(component.provider or "").type == PROVIDER_TYPE
    assert run.by_urn(component.provider or "").inputs["region"] == "us-east-1"
    assert len(run.of_type(DISTRIBUTION)) == 1
    dist = distribution(run)
    assert dist.region == "us-east-1"
    assert dist.inputs["enabled"] is True
    assert dist.inputs["aliases"] == [f"cdn.{config.edge.domain_name}"]
    assert dist.inputs["defaultRootObject"] == "index.html"
    assert dist.inputs["priceClass"] == config.edge.cdn_price_class
    assert dist.inputs["httpVersion"] == "http2and3"
    assert dist.inputs["isIpv6Enabled"] is True
    assert dist.inputs["restrictions"] == {"geoRestriction": {"restrictionType": "none"}}


def test_price_class_comes_from_each_stacks_config(stack_run: ProgramRun) -> None:
    assert distribution(stack_run).inputs["priceClass"] == {"prod": "PriceClass_All", "dev": "PriceClass_100"}[stack_run.stack]


def test_origin_group_reads_the_primary_bucket_first_then_the_next_region(
    scenario: tuple[ProgramRun, StackConfig, tuple[str, str]],
) -> None:
    run, config, origins = scenario
    assert cdn_origin_regions(config.region_names, config.primary.name) == origins
    assert origins[0] == config.primary.name
    dist = distribution(run)
    oac = child(cdn_component(run), OAC)
    assert bucket_origins(run) == [
        {
            "originId": f"s3-{region}",
            "domainName": f"{data_bucket(run, region).inputs['bucket']}.s3.{region}.amazonaws.com",
            "originAccessControlId": f"{oac.name}-id",
        }
        for region in origins
    ]
    (group,) = dist.inputs["originGroups"]
    assert group["originId"] == "regional-buckets"
    assert group["members"] == [{"originId": f"s3-{region}"} for region in origins]
    expected_codes = [500, 502, 503, 504, 403, 404] if config.edge.cdn_failover_on_missing else [500, 502, 503, 504]
    assert group["failoverCriteria"] == {"statusCodes": expected_codes}
    assert dist.inputs["defaultCacheBehavior"]["targetOriginId"] == "regional-buckets"


def bucket_origins(run: ProgramRun) -> list[dict[str, Any]]:
    """The distribution's bucket origins (the others are the regions' APIs, for the status page's summaries)."""
    return [o for o in distribution(run).inputs["origins"] if o["originId"].startswith("s3-")]


def test_three_regions_keep_two_origins_and_the_third_region_out(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS_LATENCY)
    origin_ids = [o["originId"] for o in bucket_origins(run)]
    assert origin_ids == ["s3-us-east-1", "s3-eu-west-1"]
    assert "s3-ap-southeast-2" not in str(distribution(run).inputs)


def test_each_regions_summary_path_goes_to_its_api_read_only_over_https(run_stack: ProgramRunner) -> None:
    """``/regions/<region>/*`` to that region's API (every region, the third too), cached as the API says."""
    run = run_stack("prod", **THREE_REGIONS_LATENCY)
    dist = distribution(run)
    apis = [o for o in dist.inputs["origins"] if o["originId"].startswith("api-")]
    regions = list(run.region_order)
    assert [o["originId"] for o in apis] == [f"api-{region}" for region in regions]
    for origin, region in zip(apis, regions, strict=True):
        assert origin["domainName"] == f"{region}-api-api-id.execute-api.{region}.amazonaws.com"
        assert origin["customOriginConfig"] == {
            "httpPort": 80,
            "httpsPort": 443,
            "originProtocolPolicy": "https-only",
            "originSslProtocols": ["TLSv1.2"],
        }
    headers_policy = f"{child(cdn_component(run), HEADERS_POLICY).name}-id"
    assert dist.inputs["orderedCacheBehaviors"] == [
        {
            "pathPattern": f"/regions/{region}/*",
            "targetOriginId": f"api-{region}",
            "viewerProtocolPolicy": "redirect-to-https",
            "allowedMethods": ["GET", "HEAD", "OPTIONS"],
            "cachedMethods": ["GET", "HEAD"],
            "cachePolicyId": "83da9c7e-98b4-4e11-a168-04f0df8e2c65",
            "originRequestPolicyId": "b689b0a8-53d0-40ab-baf2-68738e2966ac",
            "responseHeadersPolicyId": headers_policy,
            "compress": True,
        }
        for region in regions
    ]


def cdn_alone(stack: str, **overrides: Any) -> ProgramRun:
    """The CDN component alone under the mocks, over its two origin buckets, as the program builds them."""
    config = stack_config(stack, overrides)

    def build() -> None:
        providers = {region.name: region_provider(config, region) for region in config.regions}
        origins = [
            RegionalBucket(
                f"{name}-bucket",
                RegionalBucketArgs(
                    name,
                    f"{name}-key-arn",
                    config.noncurrent_version_days,
                    config.log_retention_days,
                    config.protect_stateful_resources,
                ),
                pulumi.ResourceOptions(provider=providers[name]),
            )
            for name in cdn_origin_regions(config.region_names, config.primary.name)
        ]
        edge = config.edge
        args = CdnArgs(None, None, origins, edge.cdn_failover_on_missing, edge.cdn_price_class, 365, "edge-key-arn", 2000)
        Cdn("cdn", args, pulumi.ResourceOptions(provider=edge_provider(config, providers)))

    return run_component(build, stack=stack, overrides=overrides)


def test_failover_on_403_and_404_follows_the_config() -> None:
    on = cdn_alone("prod")
    off = cdn_alone("prod", cdnFailoverOnMissing=False)
    assert distribution(on).inputs["originGroups"][0]["failoverCriteria"] == {"statusCodes": [500, 502, 503, 504, 403, 404]}
    assert distribution(off).inputs["originGroups"][0]["failoverCriteria"] == {"statusCodes": [500, 502, 503, 504]}


def test_both_origins_sign_with_one_origin_access_control(scenario: tuple[ProgramRun, StackConfig, tuple[str, str]]) -> None:
    run, _, _ = scenario
    (oac,) = run.of_type(OAC)
    assert oac.parent == cdn_component(run).urn
    assert oac.inputs["originAccessControlOriginType"] == "s3"
    assert oac.inputs["signingBehavior"] == "always"
    assert oac.inputs["signingProtocol"] == "sigv4"
    origins = bucket_origins(run)
    assert len(origins) == 2
    assert {o["originAccessControlId"] for o in origins} == {f"{oac.name}-id"}
    # Origin access control, not a legacy origin access identity or a public website endpoint.
    assert not [o for o in origins if "s3OriginConfig" in o or "customOriginConfig" in o]


def test_viewers_are_redirected_to_https_and_only_read(scenario: tuple[ProgramRun, StackConfig, tuple[str, str]]) -> None:
    run, _, _ = scenario
    behavior = distribution(run).inputs["defaultCacheBehavior"]
    assert behavior["viewerProtocolPolicy"] == "redirect-to-https"
    # Origin groups fail over only for these methods.
    assert behavior["allowedMethods"] == ["GET", "HEAD", "OPTIONS"]
    assert behavior["cachedMethods"] == ["GET", "HEAD"]
    assert behavior["cachePolicyId"] == CACHING_OPTIMIZED_POLICY_ID == "658327ea-f89d-4fab-a63d-7e88639e58f6"
    assert behavior["responseHeadersPolicyId"] == f"{child(cdn_component(run), HEADERS_POLICY).name}-id"
    assert behavior["compress"] is True
    # The only other behaviors are the regions' summaries, read-only too.
    for ordered in distribution(run).inputs["orderedCacheBehaviors"]:
        assert ordered["pathPattern"].startswith("/regions/") and ordered["targetOriginId"].startswith("api-")
        assert ordered["viewerProtocolPolicy"] == "redirect-to-https"
        assert ordered["allowedMethods"] == ["GET", "HEAD", "OPTIONS"]


def test_every_response_carries_the_security_headers(scenario: tuple[ProgramRun, StackConfig, tuple[str, str]]) -> None:
    run, _, _ = scenario
    policy = child(cdn_component(run), HEADERS_POLICY)
    assert policy.region == "us-east-1"
    assert policy.inputs["name"] == f"multi-region-{run.stack}-security-headers"
    headers = policy.inputs["securityHeadersConfig"]
    # HSTS for at least a year, with subdomains and preload, replacing whatever the origin sends.
    assert headers["strictTransportSecurity"] == {
        "accessControlMaxAgeSec": 31_536_000,
        "includeSubdomains": True,
        "preload": True,
        "override": True,
    }
    assert headers["contentTypeOptions"] == {"override": True}
    assert headers["frameOptions"] == {"frameOption": "DENY", "override": True}
    assert headers["referrerPolicy"] == {"referrerPolicy": "strict-origin-when-cross-origin", "override": True}
    assert headers["xssProtection"] == {"protection": True, "modeBlock": True, "override": True}
    assert not policy.inputs.get("corsConfig")


# ---- the web ACL ----------------------------------------------------------------------------------


def test_the_distribution_is_behind_a_us_east_1_web_acl(scenario: tuple[ProgramRun, StackConfig, tuple[str, str]]) -> None:
    run, config, _ = scenario
    acl = child(cdn_component(run), WEB_ACL)
    assert acl.region == "us-east-1"
    assert acl.inputs["scope"] == "CLOUDFRONT"
    assert acl.inputs["name"] == f"multi-region-{run.stack}-cdn"
    assert acl.inputs["defaultAction"] == {"allow": {}}
    assert acl.inputs["visibilityConfig"]["cloudwatchMetricsEnabled"] is True
    # WAFv2: the distribution names the web ACL by its ARN.
    assert distribution(run).inputs["webAclId"] == mock_arn("wafv2", "webacl", acl.name)

    rules = {rule["name"]: rule for rule in acl.inputs["rules"]}
    assert [r["name"] for r in sorted(rules.values(), key=lambda r: r["priority"])] == [
        WAF_IP_REPUTATION,
        WAF_RATE_RULE,
        WAF_COMMON,
        WAF_KNOWN_BAD_INPUTS,
    ]
    for group in (WAF_IP_REPUTATION, WAF_COMMON, WAF_KNOWN_BAD_INPUTS):
        # The group's own rule actions apply: override "none", no rule set to count.
        assert rules[group]["overrideAction"] == {"none": {}}
        assert rules[group]["statement"] == {"managedRuleGroupStatement": {"name": group, "vendorName": "AWS"}}
    rate = rules[WAF_RATE_RULE]
    assert rate["action"] == {"block": {}}
    assert rate["statement"]["rateBasedStatement"] == {
        "limit": config.edge.waf_rate_limit,
        "aggregateKeyType": "IP",
        "evaluationWindowSec": 300,
    }
    for rule in rules.values():
        visibility = rule["visibilityConfig"]
        assert visibility["cloudwatchMetricsEnabled"] is True and visibility["sampledRequestsEnabled"] is True
        assert visibility["metricName"] == f"multi-region-{run.stack}-cdn-{rule['name']}"


def test_the_rate_limit_comes_from_the_config(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", wafRateLimit=300)
    (rule,) = [r for r in child(cdn_component(run), WEB_ACL).inputs["rules"] if r["name"] == WAF_RATE_RULE]
    assert rule["statement"]["rateBasedStatement"]["limit"] == 300


def test_the_web_acl_logs_what_it_blocks_or_counts(scenario: tuple[ProgramRun, StackConfig, tuple[str, str]]) -> None:
    run, config, _ = scenario
    acl = child(cdn_component(run), WEB_ACL)
    log_group = child(acl, LOG_GROUP)
    assert log_group.region == "us-east-1"
    # WAF logs only to groups named aws-waf-logs-*; same retention and key as the access logs.
    assert log_group.inputs["name"] == f"aws-waf-logs-multi-region-{run.stack}-cdn"
    access_logs = child(cdn_component(run), LOG_GROUP)
    assert log_group.inputs["retentionInDays"] == config.log_retention_days
    assert log_group.inputs["kmsKeyId"] == access_logs.inputs["kmsKeyId"]
    log_group_arn = mock_arn("cloudwatch", "loggroup", log_group.name)

    logging = child(log_group, WAF_LOGGING)
    assert logging.inputs["resourceArn"] == mock_arn("wafv2", "webacl", acl.name)
    assert logging.inputs["logDestinationConfigs"] == [log_group_arn]
    assert logging.inputs["loggingFilter"] == {
        "defaultBehavior": "DROP",
        "filters": [
            {
                "behavior": "KEEP",
                "requirement": "MEETS_ANY",
                "conditions": [{"actionCondition": {"action": "BLOCK"}}, {"actionCondition": {"action": "COUNT"}}],
            }
        ],
    }
    policy = child(log_group, LOG_POLICY)
    assert policy.inputs["resourceArn"] == log_group_arn
    assert policy.policy("policyDocument") == access_log_delivery_policy("aws", ACCOUNT_ID, "us-east-1", log_group_arn)
    assert policy.urn in logging.dependencies


# ---- TLS and DNS ----------------------------------------------------------------------------------


def test_tls_1_2_2021_with_a_us_east_1_certificate_validated_in_the_zone(
    scenario: tuple[ProgramRun, StackConfig, tuple[str, str]],
) -> None:
    run, config, _ = scenario
    hostname = f"cdn.{config.edge.domain_name}"
    certificate = child(cdn_component(run), CERTIFICATE)
    assert certificate.region == "us-east-1"
    assert certificate.inputs["domainName"] == hostname
    assert certificate.inputs["validationMethod"] == "DNS"
    assert not certificate.inputs.get("subjectAlternativeNames")

    record = child(certificate, RECORD)
    assert record.inputs["zoneId"] == zone_id(run, config)
    assert record.inputs["type"] == "CNAME"
    # The record ACM asks for (the mocks' answer for this name), under the hostname in the zone.
    assert record.inputs["name"] == f"_acm-mock.{hostname}."
    assert record.inputs["records"] == [f"_acm-mock.{hostname}.acm-validations.aws."]
    validation = child(certificate, CERTIFICATE_VALIDATION)
    certificate_arn = mock_arn("acm", "certificate", certificate.name)
    assert validation.inputs["certificateArn"] == certificate_arn
    assert validation.inputs["validationRecordFqdns"] == [f"_acm-mock.{hostname}"]

    assert distribution(run).inputs["viewerCertificate"] == {
        "acmCertificateArn": certificate_arn,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    # The distribution waits for the issued certificate, not just the request.
    assert validation.urn in distribution(run).dependencies


def test_cdn_hostname_is_an_alias_of_the_distribution_for_ipv4_and_ipv6(
    scenario: tuple[ProgramRun, StackConfig, tuple[str, str]],
) -> None:
    run, config, _ = scenario
    dist = distribution(run)
    aliases = {r.inputs["type"]: r for r in dist.children if r.type == RECORD}
    assert sorted(aliases) == ["A", "AAAA"]
    for record in aliases.values():
        assert record.inputs["zoneId"] == zone_id(run, config)
        assert record.inputs["name"] == f"cdn.{config.edge.domain_name}"
        assert record.inputs["aliases"] == [
            {"name": f"{dist.name}-id.cloudfront.net", "zoneId": "Z2FDTNDATAQYW2", "evaluateTargetHealth": False}
        ]
        assert "ttl" not in record.inputs and "records" not in record.inputs


def test_outputs_name_the_distribution_and_the_hostname(scenario: tuple[ProgramRun, StackConfig, tuple[str, str]]) -> None:
    run, config, _ = scenario
    assert run.outputs["cdnDomain"] == f"{distribution(run).name}-id.cloudfront.net"
    assert run.outputs["cdnHostname"] == f"cdn.{config.edge.domain_name}"


def test_without_a_domain_viewers_use_cloudfronts_own_name_and_certificate(run_stack: ProgramRunner) -> None:
    run = run_stack("dev")
    assert run.config is not None and run.config.edge.domain_name is None
    dist = distribution(run)
    assert dist.inputs["aliases"] == []
    assert dist.inputs["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert not [r for r in run.descendants(cdn_component(run)) if r.type in (CERTIFICATE, CERTIFICATE_VALIDATION, RECORD)]
    assert run.outputs["cdnDomain"] == f"{dist.name}-id.cloudfront.net"
    assert run.outputs["cdnHostname"] is None


# ---- access logs ----------------------------------------------------------------------------------


def test_access_logs_are_delivered_to_a_us_east_1_log_group(scenario: tuple[ProgramRun, StackConfig, tuple[str, str]]) -> None:
    run, config, _ = scenario
    component = cdn_component(run)
    log_group = child(component, LOG_GROUP)
    assert log_group.region == "us-east-1"
    assert log_group.inputs["name"] == f"/aws/vendedlogs/cloudfront/multi-region-{run.stack}"
    assert log_group.inputs["retentionInDays"] == config.log_retention_days
    if "us-east-1" in config.region_names:
        assert log_group.inputs["kmsKeyId"] == run.outputs["regions"]["us-east-1"]["kmsKeyArn"]
    else:  # a key of its own in us-east-1, with the regional key policy (CloudWatch Logs of that region may use it)
        key = next(r for r in run.resources if r.type == "aws:kms/key:Key" and r.name == "edge-kms-key")
        assert key.region == "us-east-1" and key.inputs["enableKeyRotation"] is True
        assert log_group.inputs["kmsKeyId"] == mock_arn("kms", "key", key.name)
        sids = {statement["Sid"] for statement in key.policy()["Statement"]}
        assert "CloudWatchLogsInThisRegion" in sids
    log_group_arn = mock_arn("cloudwatch", "loggroup", log_group.name)

    source = child(distribution(run), LOG_SOURCE)
    assert source.inputs["logType"] == "ACCESS_LOGS"
    assert source.inputs["resourceArn"] == distribution_arn(run)
    destination = child(log_group, LOG_DESTINATION)
    assert destination.inputs["deliveryDestinationConfiguration"] == {"destinationResourceArn": log_group_arn}
    assert destination.inputs["outputFormat"] == "json"
    delivery = child(source, LOG_DELIVERY)
    assert delivery.inputs["deliverySourceName"] == source.inputs["name"]
    assert delivery.inputs["deliveryDestinationArn"] == mock_arn("cloudwatch", "logdeliverydestination", destination.name)

    policy = child(log_group, LOG_POLICY)
    assert policy.inputs["resourceArn"] == log_group_arn
    assert policy.policy("policyDocument") == access_log_delivery_policy("aws", ACCOUNT_ID, "us-east-1", log_group_arn)
    assert policy.urn in delivery.dependencies


# ---- who may read the buckets ---------------------------------------------------------------------


def test_origin_buckets_admit_only_this_distribution_and_every_bucket_denies_plain_http(
    scenario: tuple[ProgramRun, StackConfig, tuple[str, str]],
) -> None:
    run, config, origins = scenario
    arn = distribution_arn(run)
    for region in config.region_names:
        bucket = bucket_arn(data_bucket(run, region))
        statements = data_bucket_policy(run, region)["Statement"]
        deny = statements[0]
        assert deny["Effect"] == "Deny"
        assert deny["Principal"] == "*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == [bucket, f"{bucket}/*"]
        allows = statements[1:]
        if region in origins:
            assert allows == [
                {
                    "Sid": "CloudFrontOriginRead",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:GetObject",
                    "Resource": f"{bucket}/*",
                    "Condition": {"StringEquals": {"AWS:SourceArn": arn}},
                }
            ]
        else:
            assert allows == [], f"{region} is not an origin, yet its bucket grants {allows}"
        # No other principal anywhere: every Allow is CloudFront's, bound to this one distribution.
        for statement in allows:
            assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
            assert as_list(statement["Condition"]["StringEquals"]["AWS:SourceArn"]) == [arn]


def test_every_regions_key_lets_this_accounts_distributions_decrypt(
    scenario: tuple[ProgramRun, StackConfig, tuple[str, str]],
) -> None:
    run, config, _ = scenario
    # Either origin's bucket is SSE-KMS with its own region's key, and the primary can move: every key has it.
    for region in config.region_names:
        (key,) = run.of_type(KEY, region)
        (statement,) = [s for s in key.policy()["Statement"] if s.get("Sid") == "CloudFrontOriginDecrypt"]
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert statement["Action"] == "kms:Decrypt"
        pattern = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
        assert pattern == f"arn:aws:cloudfront::{ACCOUNT_ID}:distribution/*"
        # A real distribution ARN has no region; another account's never matches.
        assert fnmatch.fnmatchcase(f"arn:aws:cloudfront::{ACCOUNT_ID}:distribution/E2EXAMPLE1", pattern)
        assert not fnmatch.fnmatchcase("arn:aws:cloudfront::210987654321:distribution/E2EXAMPLE1", pattern)


# ---- preview -------------------------------------------------------------------------------------


def test_preview_registers_the_cdn_and_every_bucket_policy(preview_run: ProgramRun) -> None:
    component = cdn_component(preview_run)
    inside = list(preview_run.descendants(component))
    assert {r.region for r in inside} == {"us-east-1"}
    counts = {type_: len([r for r in inside if r.type == type_]) for type_ in {r.type for r in inside}}
    # A domain adds the certificate, its validation record and the A and AAAA aliases (dev has none).
    domain = (
        {CERTIFICATE: 1, CERTIFICATE_VALIDATION: 1, RECORD: 3}
        if preview_run.config and preview_run.config.edge.domain_name
        else {}
    )
    assert counts == {
        DISTRIBUTION: 1,
        OAC: 1,
        **domain,
        # The access logs' and the web ACL's.
        LOG_GROUP: 2,
        LOG_POLICY: 2,
        WEB_ACL: 1,
        WAF_LOGGING: 1,
        HEADERS_POLICY: 1,
        LOG_SOURCE: 1,
        LOG_DESTINATION: 1,
        LOG_DELIVERY: 1,
    }
    for region in preview_run.regions():
        bucket = data_bucket(preview_run, region)
        assert len([p for p in preview_run.of_type(BUCKET_POLICY, region) if p.parent == bucket.urn]) == 1


# ---- pure builders -------------------------------------------------------------------------------


def test_origin_regions_are_the_primary_then_the_first_other_region() -> None:
    assert cdn_origin_regions(["us-east-1", "eu-west-1"], "us-east-1") == ("us-east-1", "eu-west-1")
    assert cdn_origin_regions(["us-east-1", "eu-west-1", "ap-southeast-2"], "eu-west-1") == ("eu-west-1", "us-east-1")
    assert cdn_origin_regions(["us-east-1", "eu-west-1", "ap-southeast-2"], "ap-southeast-2") == ("ap-southeast-2", "us-east-1")
    with pytest.raises(ValueError, match="not one of"):
        cdn_origin_regions(["us-east-1", "eu-west-1"], "us-west-2")
    with pytest.raises(ValueError, match="second region"):
        cdn_origin_regions(["us-east-1"], "us-east-1")


def test_failover_codes() -> None:
    assert failover_status_codes(False) == [500, 502, 503, 504]
    assert failover_status_codes(True) == [500, 502, 503, 504, 403, 404]


def test_origin_read_statement_names_one_distribution_and_only_objects() -> None:
    statement = origin_read_statement("arn:aws:s3:::b", "arn:aws:cloudfront::1:distribution/D")
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == "arn:aws:s3:::b/*"
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::1:distribution/D"}}


def test_access_log_delivery_policy_is_scoped_to_the_group_and_the_account() -> None:
    arn = "arn:aws:logs:us-east-1:111122223333:log-group:/aws/vendedlogs/cloudfront/x"
    (statement,) = access_log_delivery_policy("aws", "111122223333", "us-east-1", arn)["Statement"]
    assert statement["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == f"{arn}:log-stream:*"
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111122223333"},
        "ArnLike": {"aws:SourceArn": "arn:aws:logs:us-east-1:111122223333:*"},
    }
