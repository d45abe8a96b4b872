"""The regional API endpoint: one API Gateway HTTP API per region, reachable as ``api.<domain>``.

``RegionalApi`` (under a RegionalStack) is an HTTP API with an auto-deployed ``$default`` stage logging JSON to an
encrypted log group and, with a domain, a regional certificate validated in the hosted zone and the custom domain
``api.<domain>`` mapped to the stage. Its routes come with the application layer. Why the execute-api endpoint stays
on and every region writes the same validation record: docs/design/edge-and-dns.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

DEFAULT_STAGE = "$default"
TLS_POLICY = "TLS_1_2"
VALIDATION_RECORD_TTL = 60


# ---- pure builders -------------------------------------------------------------------------------


def api_hostname(domain_name: str) -> str:
    """The public name of the API: ``api.<domain>``, the same in every region."""
    return f"api.{domain_name}"


def execute_api_host(api_endpoint: str) -> str:
    """The host of an HTTP API's default endpoint, from the ``https://...`` URL API Gateway reports.

    Example:
        >>> execute_api_host("https://a1b2c3.execute-api.eu-west-1.amazonaws.com")
        'a1b2c3.execute-api.eu-west-1.amazonaws.com'
    """
    host = api_endpoint.removeprefix("https://").rstrip("/")
    if not host or "/" in host or "://" in host:
        raise ValueError(f"not an https API endpoint: {api_endpoint!r}")
    return host


def health_url(host: str, path: str) -> str:
    """The URL the health checks request: HTTPS, the given host, the configured path."""
    return f"https://{host}{path}"


def access_log_format() -> str:
    """One JSON object per request, with what an operator needs to follow a request across regions."""
    return json.dumps(
        {
            "requestId": "$context.requestId",
            "requestTime": "$context.requestTime",
            "ip": "$context.identity.sourceIp",
            "httpMethod": "$context.httpMethod",
            "routeKey": "$context.routeKey",
            "path": "$context.path",
            "status": "$context.status",
            "protocol": "$context.protocol",
            "responseLength": "$context.responseLength",
            "integrationLatency": "$context.integrationLatency",
            "integrationError": "$context.integrationErrorMessage",
            "domainName": "$context.domainName",
        },
        separators=(",", ":"),
    )


def _required(value: str | None, what: str) -> str:
    if not value:
        raise ValueError(f"the provider returned no {what}")
    return value


# ---- the component -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionalApiArgs:
    """Parameters
    ----------
    api_name: the API's name, ``<project>-<stack>``, the same in every region (API names are regional).
    domain_name: the stack's domain; the API answers as ``api.<domain_name>``. ``None``: no custom domain (no
        certificate either); clients use the API's own ``execute-api`` endpoint.
    zone_id: the public hosted zone of ``domain_name``, where the certificate's validation record goes (``None``
        without a domain).
    key_arn: the region's KMS key, which encrypts the access-log group.
    health_check_path: the path of the health endpoint, for ``health_url``.
    throttle_rate_limit: steady requests per second the stage accepts (every route, the health route too) before
        answering 429; WAF does not attach to HTTP APIs, so this bounds what a flood costs (docs/design/edge-and-dns.md).
    throttle_burst_limit: the stage's burst, the token bucket's size.
    log_retention_days: of the access-log group (``logRetentionDays``).
    protect: production: keep the shared validation record when this region's stack is removed.
    """

    api_name: str
    domain_name: str | None
    zone_id: pulumi.Input[str] | None
    key_arn: pulumi.Input[str]
    health_check_path: str
    throttle_rate_limit: int
    throttle_burst_limit: int
    log_retention_days: int
    protect: bool


class RegionalApi(pulumi.ComponentResource):
    """An HTTP API with its ``$default`` stage and, when the stack has a domain, the custom domain ``api.<domain>``
    in one region (``custom_domain_target`` is then where the API records point; ``None`` without a domain).

    Example:
        >>> RegionalApi("us-east-1-api", RegionalApiArgs("multi-region-prod", "app.example.com", zone.zone_id,
        ...             key.arn, "/health", 500, 1000, 365,
        ...             protect=True), pulumi.ResourceOptions(parent=regional_stack))
    """

    api: aws.apigatewayv2.Api
    stage: aws.apigatewayv2.Stage
    access_logs: aws.cloudwatch.LogGroup
    hostname: str | None
    api_endpoint_host: pulumi.Output[str]
    custom_domain_target: pulumi.Output[str] | None
    health_url: pulumi.Output[str]

    def __init__(self, name: str, args: RegionalApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:api:RegionalApi", name, None, opts)
        self.hostname = api_hostname(args.domain_name) if args.domain_name else None

        self.api = aws.apigatewayv2.Api(
            f"{name}-api",
            name=args.api_name,
            protocol_type="HTTP",
            description=f"{args.api_name}: the regional API" + (f" behind {self.hostname}" if self.hostname else ""),
            # The Route53 health checks probe this endpoint (docs/design/edge-and-dns.md).
            disable_execute_api_endpoint=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{args.api_name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            opts=pulumi.ResourceOptions(parent=self.api),
        )
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=self.api.id,
            name=DEFAULT_STAGE,
            auto_deploy=True,
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=self.access_logs.arn, format=access_log_format()
            ),
            # Every route, the unsigned health route too; a route's own settings would override these.
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_rate_limit=args.throttle_rate_limit, throttling_burst_limit=args.throttle_burst_limit
            ),
            opts=pulumi.ResourceOptions(parent=self.api),
        )

        self.api_endpoint_host = self.api.api_endpoint.apply(execute_api_host)
        self.health_url = self.api_endpoint_host.apply(lambda host: health_url(host, args.health_check_path))
        self.custom_domain_target = (
            self._custom_domain(name, self.hostname, args.zone_id, args.protect) if self.hostname and args.zone_id else None
        )
        self.register_outputs(
            {
                "hostname": self.hostname,
                "api_id": self.api.id,
                "api_endpoint_host": self.api_endpoint_host,
                "custom_domain_target": self.custom_domain_target,
                "health_url": self.health_url,
            }
        )

    def _custom_domain(self, name: str, hostname: str, zone_id: pulumi.Input[str], protect: bool) -> pulumi.Output[str]:
        """``api.<domain>`` on this API: a DNS-validated certificate, the custom domain and its mapping to the stage.
        Returns the custom domain's target name (what the API records point at)."""
        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=hostname,
            validation_method="DNS",
            opts=pulumi.ResourceOptions(parent=self),
        )
        validation = certificate.domain_validation_options.apply(lambda options: options[0])
        validation_record = aws.route53.Record(
            f"{name}-cert-validation",
            zone_id=zone_id,
            name=validation.apply(lambda o: _required(o.resource_record_name, "validation record name")),
            type=validation.apply(lambda o: _required(o.resource_record_type, "validation record type")),
            records=[validation.apply(lambda o: _required(o.resource_record_value, "validation record value"))],
            ttl=VALIDATION_RECORD_TTL,
            # Every region's certificate asks for this same record (docs/design/edge-and-dns.md).
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=certificate, retain_on_delete=protect),
        )
        certificate_validation = aws.acm.CertificateValidation(
            f"{name}-cert-issued",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[validation_record.fqdn],
            opts=pulumi.ResourceOptions(parent=certificate),
        )

        custom_domain = aws.apigatewayv2.DomainName(
            f"{name}-domain",
            domain_name=hostname,
            domain_name_configuration=aws.apigatewayv2.DomainNameDomainNameConfigurationArgs(
                # The validated ARN, so the domain waits for the certificate to be issued.
                certificate_arn=certificate_validation.certificate_arn,
                endpoint_type="REGIONAL",
                security_policy=TLS_POLICY,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.apigatewayv2.ApiMapping(
            f"{name}-mapping",
            api_id=self.api.id,
            domain_name=custom_domain.domain_name,
            stage=self.stage.name,
            opts=pulumi.ResourceOptions(parent=custom_domain),
        )
        return custom_domain.domain_name_configuration.apply(lambda c: _required(c.target_domain_name, "target domain name"))
