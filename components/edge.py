"""CloudFront in front of the regional buckets: an origin group that fails over from the primary region's bucket
to the next region's, behind ``cdn.<domain>`` with a us-east-1 certificate, logging every request.

``Cdn`` (under the us-east-1 provider, after every region's bucket exists) owns the distribution, its origin access
control, certificate, DNS names, access-log delivery, its WAF web ACL (with the log of what the ACL blocks) and its
security response headers. The grants it needs elsewhere are composed by the caller:
each origin bucket's policy admits it (``origin_read_statement``) and every region's key lets CloudFront decrypt.
Why two origins, reads only, and vended logs: docs/design/edge-and-dns.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.policies import Policy
from components.storage import RegionalBucket

# AWS managed cache policy (its ID is fixed): cache on the path only, with gzip and brotli.
CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
# The regions' public summaries (the status page's data) go to each region's API: AWS's managed policies that cache as
# the origin's Cache-Control says (the summary's few seconds) and forward everything but the Host header (API Gateway
# answers only for its own host name).
USE_ORIGIN_CACHE_CONTROL_POLICY_ID = "83da9c7e-98b4-4e11-a168-04f0df8e2c65"
ALL_VIEWER_EXCEPT_HOST_POLICY_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
API_ORIGIN_PROTOCOL = "https-only"
API_ORIGIN_TLS = ("TLSv1.2",)
# The security headers of every response, the stack's own policy (AWS's managed SecurityHeadersPolicy sends HSTS
# without includeSubDomains and preload, and lets the origin's frame options win): HSTS for a year with
# subdomains and preload, nosniff, no framing, no referrer path to other origins, and the XSS filter in block mode.
HSTS_MAX_AGE_SECONDS = 31_536_000
FRAME_OPTION = "DENY"
REFERRER_POLICY = "strict-origin-when-cross-origin"
# The web ACL: AWS managed rule groups (no subscription fee), each with its rules' own actions (override "none"),
# and a rate limit per client IP address. Order is priority: the cheap IP reputation list and the rate limit first,
# so that known-bad and flooding clients are stopped before the larger groups inspect them.
WAF_VENDOR = "AWS"
WAF_IP_REPUTATION = "AWSManagedRulesAmazonIpReputationList"
WAF_COMMON = "AWSManagedRulesCommonRuleSet"
WAF_KNOWN_BAD_INPUTS = "AWSManagedRulesKnownBadInputsRuleSet"
WAF_RATE_RULE = "rate-limit-per-ip"
WAF_RATE_WINDOW_SECONDS = 300
# What the web ACL's log keeps: the requests a rule blocked or counted (every request is in the access logs already).
WAF_LOGGED_ACTIONS = ("BLOCK", "COUNT")
ORIGIN_GROUP_ID = "regional-buckets"
# Origin groups fail over only for these methods; allowing any other would make CloudFront refuse the behavior.
ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")
CACHED_METHODS = ("GET", "HEAD")
SERVER_ERRORS = (500, 502, 503, 504)
# A bucket that lacks an object answers 403 to CloudFront (it may not list the bucket), so 403 means "missing"
# as much as 404 does: both fail over to the replica when the config asks for it.
MISSING_OBJECT = (403, 404)
MINIMUM_TLS_POLICY = "TLSv1.2_2021"
DEFAULT_ROOT_OBJECT = "index.html"
# Vended logs into CloudWatch Logs; JSON keeps every field queryable in Logs Insights.
ACCESS_LOG_FORMAT = "json"
CERTIFICATE_VALIDATION_TTL = 60


# ---- pure builders -------------------------------------------------------------------------------


def cdn_origin_regions(regions: Sequence[str], primary: str) -> tuple[str, str]:
    """The two regions whose buckets the origin group reads, in failover order: the primary, then the first
    other region in ``regions`` (CloudFront origin groups take exactly two origins).

    Raises
    ------
    ValueError
        ``primary`` is not among ``regions``, or there is no other region.
    """
    if primary not in regions:
        raise ValueError(f"primary region {primary!r} is not one of {list(regions)}")
    others = [region for region in regions if region != primary]
    if not others:
        raise ValueError("an origin group needs a second region")
    return primary, others[0]


def failover_status_codes(on_missing: bool) -> list[int]:
    """Origin responses on which CloudFront retries the request on the second origin."""
    return [*SERVER_ERRORS, *(MISSING_OBJECT if on_missing else ())]


def origin_id(region: str) -> str:
    """The origin ID of a region's bucket inside the distribution."""
    return f"s3-{region}"


def api_origin_id(region: str) -> str:
    """The origin ID of a region's HTTP API inside the distribution."""
    return f"api-{region}"


def region_path_pattern(region: str) -> str:
    """The paths CloudFront sends to a region's API: ``/regions/<region>/*`` (the public summary's route)."""
    return f"/regions/{region}/*"


def origin_read_statement(bucket_arn: str, distribution_arn: str) -> dict[str, Any]:
    """Bucket-policy statement letting exactly one distribution read objects through origin access control."""
    return {
        "Sid": "CloudFrontOriginRead",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": f"{bucket_arn}/*",
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
    }


def access_log_delivery_policy(partition: str, account_id: str, region: str, log_group_arn: str) -> Policy:
    """Resource policy of the access-log group: the log delivery service may write streams into this group only,
    for deliveries of this account in this region. It is the policy CloudWatch Logs would otherwise add by itself,
    kept here so that it is reviewed and removed with the stack."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSLogDeliveryWrite",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group_arn}:log-stream:*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:logs:{region}:{account_id}:*"},
                },
            }
        ],
    }


def web_acl_rules(metric_prefix: str, rate_limit: int) -> list[aws.wafv2.WebAclRuleArgs]:
    """The web ACL's rules in priority order: IP reputation, the rate limit, the common rule set, known bad inputs
    (which holds the Log4j rules). Each reports CloudWatch metrics ``<metric_prefix>-<rule>`` and samples requests.
    ``rate_limit`` counts per IP address in 5 minutes (the config checks it is in WAF's range, 10 to 2,000,000,000).
    """

    def visibility(rule: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
        return aws.wafv2.WebAclRuleVisibilityConfigArgs(
            cloudwatch_metrics_enabled=True, metric_name=f"{metric_prefix}-{rule}", sampled_requests_enabled=True
        )

    def managed(group: str, priority: int) -> aws.wafv2.WebAclRuleArgs:
        return aws.wafv2.WebAclRuleArgs(
            name=group,
            priority=priority,
            # "none": the group's own rule actions apply (an empty block, whose generated class has an untyped __init__).
            override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
                none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()  # type: ignore[no-untyped-call]
            ),
            statement=aws.wafv2.WebAclRuleStatementArgs(
                managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                    name=group, vendor_name=WAF_VENDOR
                )
            ),
            visibility_config=visibility(group),
        )

    rate = aws.wafv2.WebAclRuleArgs(
        name=WAF_RATE_RULE,
        priority=1,
        action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                limit=rate_limit, aggregate_key_type="IP", evaluation_window_sec=WAF_RATE_WINDOW_SECONDS
            )
        ),
        visibility_config=visibility(WAF_RATE_RULE),
    )
    return [managed(WAF_IP_REPUTATION, 0), rate, managed(WAF_COMMON, 2), managed(WAF_KNOWN_BAD_INPUTS, 3)]


def waf_log_group_name(prefix: str) -> str:
    """WAF logs only to CloudWatch log groups whose name starts with ``aws-waf-logs-``."""
    return f"aws-waf-logs-{prefix}-cdn"


# ---- component -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CdnArgs:
    """Parameters
    ----------
    hostname: the name viewers use, ``cdn.<domain>``; the certificate and the alias records are for it. ``None`` for a
        stack without a domain: viewers use the distribution's own ``*.cloudfront.net`` name and certificate.
    zone_id: the public hosted zone of the domain (certificate validation and alias records go there; ``None``
        without a domain).
    origins: the two origin buckets in failover order (see ``cdn_origin_regions``).
    failover_on_missing: also fail over on 403 and 404, not only on 5xx.
    price_class: CloudFront price class (which edge locations serve).
    log_retention_days: how long the access logs are kept.
    log_key_arn: a KMS key of the provider's region (us-east-1) for the access-log group (that region's key, or one
        of its own when us-east-1 is not a region of the stack).
    waf_rate_limit: requests one client IP address may send in 5 minutes before the web ACL blocks it (10 to
        2,000,000,000).
    apis: each region's HTTP API host (``<id>.execute-api.<region>.amazonaws.com``): ``/regions/<region>/*`` goes there,
        read-only (the status page's summaries, ``components/status_page.py``).
    """

    hostname: str | None
    zone_id: pulumi.Input[str] | None
    origins: Sequence[RegionalBucket]
    failover_on_missing: bool
    price_class: str
    log_retention_days: int
    log_key_arn: pulumi.Input[str]
    waf_rate_limit: int
    apis: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class Cdn(pulumi.ComponentResource):
    """A CloudFront distribution over the regional buckets, with origin failover. Give it the us-east-1 provider:
    CloudFront uses ACM certificates only from us-east-1 and delivers its logs there.

    Both origins are signed with one origin access control (SigV4, always), so the buckets stay private: each
    origin bucket's policy must admit ``distribution_arn`` (``origin_read_statement``). Viewers are redirected to
    HTTPS and need TLS 1.2 or later (``TLSv1.2_2021``) on ``hostname``, whose certificate is validated by DNS in
    the zone. Access logs go through CloudWatch Logs vended-log delivery (standard logging v2) into a log group:
    the legacy S3 logging would need bucket ACLs, which the stack's buckets disable. A WAF web ACL (scope CLOUDFRONT,
    so in us-east-1) filters every request: AWS's IP reputation list, a rate limit per IP address, the common rule set
    and known bad inputs; what it blocks or counts is logged to ``aws-waf-logs-<project>-<stack>-cdn``. Every response
    carries the security headers of ``response_headers_policy``.

    Example:
        >>> Cdn("cdn", CdnArgs("cdn.app.example.com", zone.zone_id, [primary_bucket, replica_bucket], True,
        ...                    "PriceClass_100", 365, edge_key.arn, 2000), pulumi.ResourceOptions(provider=edge))
    """

    distribution: aws.cloudfront.Distribution
    distribution_arn: pulumi.Output[str]
    domain_name: pulumi.Output[str]
    hostname: str | None
    origin_access_control: aws.cloudfront.OriginAccessControl
    log_group: aws.cloudwatch.LogGroup
    web_acl: aws.wafv2.WebAcl
    waf_log_group: aws.cloudwatch.LogGroup
    response_headers_policy: aws.cloudfront.ResponseHeadersPolicy

    def __init__(self, name: str, args: CdnArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:edge:Cdn", name, None, opts)
        if len(args.origins) != 2:
            raise ValueError(f"a CloudFront origin group takes exactly two origins, got {len(args.origins)}")
        self.hostname = args.hostname
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{pulumi.get_project()}-{pulumi.get_stack()}"

        self.origin_access_control = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            name=f"{prefix}-buckets",
            description=f"{prefix}: signed reads from the regional buckets",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        certificate_arn = self._certificate(name, args.hostname, args.zone_id) if args.hostname and args.zone_id else None
        self.web_acl = self._web_acl(name, args, prefix)
        self.response_headers_policy = self._response_headers_policy(name, prefix)
        self.distribution = self._distribution(name, args, prefix, certificate_arn)
        self.distribution_arn = self.distribution.arn
        self.domain_name = self.distribution.domain_name
        if args.hostname and args.zone_id:
            self._alias_records(name, args.hostname, args.zone_id)
        self.log_group = self._access_logs(name, args, prefix)
        self.waf_log_group = self._waf_logs(name, args, prefix)

        self.register_outputs(
            {
                "distribution_id": self.distribution.id,
                "distribution_arn": self.distribution_arn,
                "domain_name": self.domain_name,
                "hostname": self.hostname,
                "origin_regions": [bucket.region for bucket in args.origins],
                "access_log_group": self.log_group.name,
                "web_acl_arn": self.web_acl.arn,
                "waf_log_group": self.waf_log_group.name,
            }
        )

    def _distribution(
        self, name: str, args: CdnArgs, prefix: str, certificate_arn: pulumi.Output[str] | None
    ) -> aws.cloudfront.Distribution:
        """The distribution: both buckets as origins signed by the origin access control, one origin group over them."""
        primary, secondary = args.origins
        return aws.cloudfront.Distribution(
            f"{name}-distribution",
            # CloudFront takes at most 128 characters here, so no hostname (up to 253).
            comment=f"{prefix}: {primary.region} bucket, failing over to {secondary.region}",
            enabled=True,
            aliases=[args.hostname] if args.hostname else [],
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=origin_id(bucket.region),
                    domain_name=bucket.bucket_regional_domain_name,
                    origin_access_control_id=self.origin_access_control.id,
                )
                for bucket in args.origins
            ]
            + [_api_origin(region, host) for region, host in args.apis.items()],
            origin_groups=[_origin_group(args)],
            ordered_cache_behaviors=[self._api_behavior(region) for region in args.apis],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=ORIGIN_GROUP_ID,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=list(ALLOWED_METHODS),
                cached_methods=list(CACHED_METHODS),
                cache_policy_id=CACHING_OPTIMIZED_POLICY_ID,
                response_headers_policy_id=self.response_headers_policy.id,
                compress=True,
            ),
            default_root_object=DEFAULT_ROOT_OBJECT,
            price_class=args.price_class,
            http_version="http2and3",
            is_ipv6_enabled=True,
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(restriction_type="none")
            ),
            viewer_certificate=_viewer_certificate(certificate_arn),
            # WAFv2 takes the web ACL's ARN here (WAF Classic took its ID).
            web_acl_id=self.web_acl.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _api_behavior(self, region: str) -> aws.cloudfront.DistributionOrderedCacheBehaviorArgs:
        """``/regions/<region>/*`` to the region's API: reads only, HTTPS, cached as the API's Cache-Control says."""
        return aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
            path_pattern=region_path_pattern(region),
            target_origin_id=api_origin_id(region),
            viewer_protocol_policy="redirect-to-https",
            allowed_methods=list(ALLOWED_METHODS),
            cached_methods=list(CACHED_METHODS),
            cache_policy_id=USE_ORIGIN_CACHE_CONTROL_POLICY_ID,
            origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_POLICY_ID,
            response_headers_policy_id=self.response_headers_policy.id,
            compress=True,
        )

    def _web_acl(self, name: str, args: CdnArgs, prefix: str) -> aws.wafv2.WebAcl:
        """The distribution's web ACL: allow by default, the managed groups and the rate limit of ``web_acl_rules``."""
        return aws.wafv2.WebAcl(
            f"{name}-web-acl",
            name=f"{prefix}-cdn",
            description=f"{prefix}: CloudFront's managed protections and rate limit",
            scope="CLOUDFRONT",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=web_acl_rules(f"{prefix}-cdn", args.waf_rate_limit),
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=f"{prefix}-cdn", sampled_requests_enabled=True
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _response_headers_policy(self, name: str, prefix: str) -> aws.cloudfront.ResponseHeadersPolicy:
        """The security headers on every response, overriding what the origin sends."""
        headers = aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigArgs(
            strict_transport_security=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurityArgs(
                access_control_max_age_sec=HSTS_MAX_AGE_SECONDS, include_subdomains=True, preload=True, override=True
            ),
            content_type_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigContentTypeOptionsArgs(override=True),
            frame_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigFrameOptionsArgs(
                frame_option=FRAME_OPTION, override=True
            ),
            referrer_policy=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigReferrerPolicyArgs(
                referrer_policy=REFERRER_POLICY, override=True
            ),
            xss_protection=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigXssProtectionArgs(
                protection=True, mode_block=True, override=True
            ),
        )
        return aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-security-headers",
            name=f"{prefix}-security-headers",
            comment=f"{prefix}: HSTS, nosniff, no framing, referrer policy",
            security_headers_config=headers,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _alias_records(self, name: str, hostname: str, zone_id: pulumi.Input[str]) -> None:
        """``A`` and ``AAAA`` alias records of the hostname to the distribution."""
        for record_type in ("A", "AAAA"):
            aws.route53.Record(
                f"{name}-alias-{record_type.lower()}",
                zone_id=zone_id,
                name=hostname,
                type=record_type,
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=self.distribution.domain_name,
                        zone_id=self.distribution.hosted_zone_id,
                        evaluate_target_health=False,
                    )
                ],
                opts=pulumi.ResourceOptions(parent=self.distribution),
            )

    def _certificate(self, name: str, hostname: str, zone_id: pulumi.Input[str]) -> pulumi.Output[str]:
        """A DNS-validated certificate for the hostname (in us-east-1, through the inherited provider); returns its
        ARN once ACM has issued it, so the distribution waits for a usable certificate."""
        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=hostname,
            validation_method="DNS",
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_certificate = pulumi.ResourceOptions(parent=certificate)
        # One name on the certificate, so one validation record.
        option = certificate.domain_validation_options.apply(lambda options: options[0])
        record = aws.route53.Record(
            f"{name}-certificate-validation-record",
            zone_id=zone_id,
            name=option.apply(lambda o: o.resource_record_name or ""),
            type=option.apply(lambda o: o.resource_record_type or ""),
            records=[option.apply(lambda o: o.resource_record_value or "")],
            ttl=CERTIFICATE_VALIDATION_TTL,
            # ACM gives the same record to every certificate for this name: another stack may own it already.
            allow_overwrite=True,
            opts=in_certificate,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=in_certificate,
        )
        return validation.certificate_arn

    def _access_logs(self, name: str, args: CdnArgs, prefix: str) -> aws.cloudwatch.LogGroup:
        """Standard logging (v2): the distribution as a delivery source, a log group as the destination."""
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            # Under /aws/vendedlogs/, the prefix AWS suggests for groups that receive vended logs.
            name=f"/aws/vendedlogs/cloudfront/{prefix}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.log_key_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_log_group = pulumi.ResourceOptions(parent=log_group)
        delivery_policy = self._delivery_policy(f"{name}-access-logs-policy", log_group)
        destination = aws.cloudwatch.LogDeliveryDestination(
            f"{name}-access-logs-destination",
            name=f"{prefix}-cdn-access-logs",
            output_format=ACCESS_LOG_FORMAT,
            delivery_destination_configuration=aws.cloudwatch.LogDeliveryDestinationDeliveryDestinationConfigurationArgs(
                destination_resource_arn=log_group.arn
            ),
            opts=in_log_group,
        )
        source = aws.cloudwatch.LogDeliverySource(
            f"{name}-access-logs-source",
            name=f"{prefix}-cdn-access-logs",
            log_type="ACCESS_LOGS",
            resource_arn=self.distribution.arn,
            opts=pulumi.ResourceOptions(parent=self.distribution),
        )
        aws.cloudwatch.LogDelivery(
            f"{name}-access-logs-delivery",
            delivery_source_name=source.name,
            delivery_destination_arn=destination.arn,
            opts=pulumi.ResourceOptions(parent=source, depends_on=[delivery_policy]),
        )
        return log_group

    def _delivery_policy(self, resource_name: str, log_group: aws.cloudwatch.LogGroup) -> aws.cloudwatch.LogResourcePolicy:
        """The log group's resource policy of ``access_log_delivery_policy``, a child of the group."""
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        return aws.cloudwatch.LogResourcePolicy(
            resource_name,
            resource_arn=log_group.arn,
            policy_document=pulumi.Output.all(partition, account_id, region, log_group.arn).apply(
                lambda v: json.dumps(access_log_delivery_policy(v[0], v[1], v[2], v[3]))
            ),
            opts=pulumi.ResourceOptions(parent=log_group),
        )

    def _waf_logs(self, name: str, args: CdnArgs, prefix: str) -> aws.cloudwatch.LogGroup:
        """The web ACL's log: the requests it blocked or counted, in a group of the access logs' retention and key."""
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-waf-logs",
            name=waf_log_group_name(prefix),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.log_key_arn,
            opts=pulumi.ResourceOptions(parent=self.web_acl),
        )
        # WAF delivers through the log delivery service, which needs the same grant as the access logs.
        delivery_policy = self._delivery_policy(f"{name}-waf-logs-policy", log_group)
        keep = aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterArgs(
            behavior="KEEP",
            requirement="MEETS_ANY",
            conditions=[
                aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterConditionArgs(
                    action_condition=aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterConditionActionConditionArgs(
                        action=action
                    )
                )
                for action in WAF_LOGGED_ACTIONS
            ],
        )
        aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-waf-logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[log_group.arn],
            logging_filter=aws.wafv2.WebAclLoggingConfigurationLoggingFilterArgs(default_behavior="DROP", filters=[keep]),
            opts=pulumi.ResourceOptions(parent=log_group, depends_on=[delivery_policy]),
        )
        return log_group


def _origin_group(args: CdnArgs) -> aws.cloudfront.DistributionOriginGroupArgs:
    """The group over both origins, in failover order, failing over on 5xx (and on 403/404 when asked)."""
    return aws.cloudfront.DistributionOriginGroupArgs(
        origin_id=ORIGIN_GROUP_ID,
        failover_criteria=aws.cloudfront.DistributionOriginGroupFailoverCriteriaArgs(
            status_codes=failover_status_codes(args.failover_on_missing)
        ),
        members=[aws.cloudfront.DistributionOriginGroupMemberArgs(origin_id=origin_id(bucket.region)) for bucket in args.origins],
    )


def _api_origin(region: str, host: pulumi.Input[str]) -> aws.cloudfront.DistributionOriginArgs:
    """A region's HTTP API as a custom origin, over HTTPS with TLS 1.2 only."""
    return aws.cloudfront.DistributionOriginArgs(
        origin_id=api_origin_id(region),
        domain_name=host,
        custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
            http_port=80,
            https_port=443,
            origin_protocol_policy=API_ORIGIN_PROTOCOL,
            origin_ssl_protocols=list(API_ORIGIN_TLS),
        ),
    )


def _viewer_certificate(certificate_arn: pulumi.Output[str] | None) -> aws.cloudfront.DistributionViewerCertificateArgs:
    """The hostname's certificate with TLS 1.2 or later; without a domain, CloudFront's own certificate, whose TLS
    policy AWS fixes."""
    if certificate_arn is None:
        return aws.cloudfront.DistributionViewerCertificateArgs(cloudfront_default_certificate=True)
    return aws.cloudfront.DistributionViewerCertificateArgs(
        acm_certificate_arn=certificate_arn, ssl_support_method="sni-only", minimum_protocol_version=MINIMUM_TLS_POLICY
    )
