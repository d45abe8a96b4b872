"""The regional API endpoint: HTTP API, $default stage with encrypted access logs, the api.<domain> custom domain
and its certificate, in every region."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.api import (
    access_log_format,
    api_hostname,
    execute_api_host,
    health_url,
)
from components.config import StackConfig
from planning.harness import ACCOUNT_ID, ProgramRun, Resource, stack_config
from tests.support.mock_ids import zone_id_of
from tests.support.program import DEV_DOMAIN, THREE_REGIONS, ProgramRunner

API = "aws:apigatewayv2/api:Api"
STAGE = "aws:apigatewayv2/stage:Stage"
DOMAIN = "aws:apigatewayv2/domainName:DomainName"
MAPPING = "aws:apigatewayv2/apiMapping:ApiMapping"
CERT = "aws:acm/certificate:Certificate"
CERT_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
REGIONAL_API = "multi-region:api:RegionalApi"
REGIONAL_STACK = "multi-region:regional:RegionalStack"

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "prod": ("prod", {}),
    "dev": ("dev", DEV_DOMAIN),
    "prod-3-latency": ("prod", {**THREE_REGIONS, "routingMode": "latency"}),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest, run_stack: ProgramRunner) -> tuple[ProgramRun, StackConfig]:
    """An update-mode run with the config it ran with."""
    stack, overrides = CASES[request.param]
    return run_stack(stack, **overrides), stack_config(stack, overrides)


# ---- helpers ---------------------------------------------------------------------------------------


def fake_arn(service: str, kind: str, region: str, name: str) -> str:
    """The ARN the mocks give a resource (as ``planning.harness`` builds it)."""
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{kind}/{name}"


def only(resources: list[Resource], what: str) -> Resource:
    assert len(resources) == 1, f"expected one {what}, found {[r.name for r in resources]}"
    return resources[0]


def part(run: ProgramRun, type_: str, region: str) -> Resource:
    """The one resource of ``type_`` in the region's RegionalApi (the CDN has a certificate in us-east-1 too)."""
    component = run.one(REGIONAL_API, region)
    return only([r for r in run.descendants(component) if r.type == type_], f"{type_} of {component.name}")


# ---- pure builders ---------------------------------------------------------------------------------


def test_api_hostname_is_api_under_the_domain() -> None:
    assert api_hostname("app.example.com") == "api.app.example.com"


def test_execute_api_host_strips_the_scheme() -> None:
    assert execute_api_host("https://abc123.execute-api.eu-west-1.amazonaws.com") == "abc123.execute-api.eu-west-1.amazonaws.com"
    assert execute_api_host("https://abc123.execute-api.eu-west-1.amazonaws.com/") == "abc123.execute-api.eu-west-1.amazonaws.com"


@pytest.mark.parametrize("endpoint", ["", "https://", "http://abc.execute-api.us-east-1.amazonaws.com", "https://a/b"])
def test_execute_api_host_refuses_anything_but_an_https_host(endpoint: str) -> None:
    with pytest.raises(ValueError, match="not an https API endpoint"):
        execute_api_host(endpoint)


def test_health_url_is_https_on_the_host_and_path() -> None:
    assert (
        health_url("abc.execute-api.us-east-1.amazonaws.com", "/health")
        == "https://abc.execute-api.us-east-1.amazonaws.com/health"
    )


def test_access_log_format_is_one_json_object_of_context_variables() -> None:
    document = json.loads(access_log_format())
    assert document["requestId"] == "$context.requestId"
    assert document["status"] == "$context.status"
    assert document["ip"] == "$context.identity.sourceIp"
    assert document["integrationError"] == "$context.integrationErrorMessage"
    assert all(value.startswith("$context.") for value in document.values())


# ---- one API per region ----------------------------------------------------------------------------


def test_each_region_has_one_api_component_under_its_regional_stack(case: tuple[ProgramRun, StackConfig]) -> None:
    run, config = case
    assert run.regions() == list(config.region_names)
    for region in config.region_names:
        component = run.one(REGIONAL_API, region)
        assert component.name == f"{region}-api"
        assert run.by_urn(component.parent or "").type == REGIONAL_STACK
        assert run.by_urn(component.parent or "").name == region
        below = {r.type for r in run.descendants(component)}
        assert below == {API, STAGE, LOG_GROUP, CERT, RECORD, CERT_VALIDATION, DOMAIN, MAPPING}
        assert all(r.region == region for r in run.descendants(component))


def test_http_api_keeps_its_execute_api_endpoint_for_the_health_checks(case: tuple[ProgramRun, StackConfig]) -> None:
    run, config = case
    for region in config.region_names:
        api = part(run, API, region)
        assert api.inputs["protocolType"] == "HTTP"
        assert api.inputs["name"] == f"multi-region-{config.stack}"
        assert api.inputs["disableExecuteApiEndpoint"] is False


def test_default_stage_auto_deploys_and_logs_to_an_encrypted_group(case: tuple[ProgramRun, StackConfig]) -> None:
    run, config = case
    for region in config.region_names:
        api, stage = part(run, API, region), part(run, STAGE, region)
        log_group = only([g for g in run.of_type(LOG_GROUP, region) if g.parent == api.urn], f"access-log group in {region}")
        assert stage.parent == api.urn
        assert stage.inputs["name"] == "$default"
        assert stage.inputs["apiId"] == f"{api.name}-id"
        assert stage.inputs["autoDeploy"] is True
        settings = stage.inputs["accessLogSettings"]
        assert settings["destinationArn"] == fake_arn("cloudwatch", "loggroup", region, log_group.name)
        assert json.loads(settings["format"]) == json.loads(access_log_format())
        assert log_group.inputs["name"] == f"/aws/apigateway/multi-region-{config.stack}"
        assert log_group.inputs["retentionInDays"] == config.log_retention_days
        assert log_group.inputs["kmsKeyId"] == run.outputs["regions"][region]["kmsKeyArn"]
        assert region in log_group.inputs["kmsKeyId"]


def test_every_route_is_throttled_by_the_stage(case: tuple[ProgramRun, StackConfig]) -> None:
    """WAF does not attach to HTTP APIs: the stage's default route throttle bounds a flood in every region, on the
    signed routes and the anonymous health route alike (no route has settings of its own that would lift it)."""
    run, config = case
    for region in config.region_names:
        stage = part(run, STAGE, region)
        assert stage.inputs["defaultRouteSettings"] == {
            "throttlingRateLimit": config.app.api_throttle_rate_limit,
            "throttlingBurstLimit": config.app.api_throttle_burst_limit,
        }
        assert not stage.inputs.get("routeSettings")


def test_the_stage_throttle_comes_from_the_config(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", apiThrottleRateLimit=50, apiThrottleBurstLimit=25)
    for region in ("us-east-1", "eu-west-1"):
        settings = part(run, STAGE, region).inputs["defaultRouteSettings"]
        assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (50, 25)


def test_certificate_per_region_for_the_api_hostname_validated_in_the_zone(case: tuple[ProgramRun, StackConfig]) -> None:
    run, config = case
    hostname = f"api.{config.edge.domain_name}"
    names = set()
    for region in config.region_names:
        cert = part(run, CERT, region)
        assert cert.inputs["domainName"] == hostname
        assert cert.inputs["validationMethod"] == "DNS"
        assert "subjectAlternativeNames" not in cert.inputs

        record = part(run, RECORD, region)
        assert record.parent == cert.urn
        assert record.inputs["zoneId"] == zone_id_of(config)
        assert record.inputs["type"] == "CNAME"
        assert record.inputs["name"] == f"_acm-mock.{hostname}."
        assert record.inputs["records"] == [f"_acm-mock.{hostname}.acm-validations.aws."]
        # The same record in every region: each region's resource may overwrite the others'.
        assert record.inputs["allowOverwrite"] is True
        names.add(record.inputs["name"])

        issued = part(run, CERT_VALIDATION, region)
        assert issued.parent == cert.urn
        assert issued.inputs["certificateArn"] == fake_arn("acm", "certificate", region, cert.name)
        assert issued.inputs["validationRecordFqdns"] == [f"_acm-mock.{hostname}"]
    assert len(names) == 1


def test_shared_validation_record_is_kept_on_delete_in_prod_only(run_stack: ProgramRunner) -> None:
    for stack, overrides, kept in (("prod", {}, True), ("dev", DEV_DOMAIN, False)):
        run = run_stack(stack, **overrides)
        for region in run.regions():
            record = part(run, RECORD, region)
            assert record.retain_on_delete is kept
            assert not record.protect


def test_custom_domain_is_regional_tls_1_2_with_the_regions_certificate(case: tuple[ProgramRun, StackConfig]) -> None:
    run, config = case
    for region in config.region_names:
        domain, cert = part(run, DOMAIN, region), part(run, CERT, region)
        assert domain.inputs["domainName"] == f"api.{config.edge.domain_name}"
        configuration = domain.inputs["domainNameConfiguration"]
        assert configuration["endpointType"] == "REGIONAL"
        assert configuration["securityPolicy"] == "TLS_1_2"
        assert configuration["certificateArn"] == fake_arn("acm", "certificate", region, cert.name)
        # The domain waits for the certificate to be issued.
        assert any(dep == part(run, CERT_VALIDATION, region).urn for dep in domain.dependencies)


def test_custom_domain_maps_to_the_default_stage_of_the_regions_api(case: tuple[ProgramRun, StackConfig]) -> None:
    run, config = case
    for region in config.region_names:
        mapping, domain = part(run, MAPPING, region), part(run, DOMAIN, region)
        assert mapping.parent == domain.urn
        assert mapping.inputs["apiId"] == f"{part(run, API, region).name}-id"
        assert mapping.inputs["stage"] == "$default"
        assert mapping.inputs["domainName"] == f"api.{config.edge.domain_name}"
        assert "apiMappingKey" not in mapping.inputs


def test_outputs_name_the_api_and_each_regions_endpoint_and_health_url(case: tuple[ProgramRun, StackConfig]) -> None:
    run, config = case
    assert run.outputs["apiHostname"] == f"api.{config.edge.domain_name}"
    endpoints = run.outputs["regionalEndpoints"]
    assert list(endpoints) == list(config.region_names)
    for region in config.region_names:
        host = f"{part(run, API, region).name}-id.execute-api.{region}.amazonaws.com"
        assert endpoints[region] == {
            "apiEndpoint": f"https://{host}",
            "healthUrl": f"https://{host}{config.edge.health_check_path}",
        }
        assert run.outputs["regions"][region]["apiEndpoint"] == f"https://{host}"


def test_preview_registers_the_api_of_every_region(preview_run: ProgramRun) -> None:
    with_domain = preview_run.config is not None and preview_run.config.edge.domain_name is not None
    assert preview_run.regions() == preview_run.region_order
    for region in preview_run.regions():
        for type_ in (API, STAGE, LOG_GROUP, *((CERT, RECORD, CERT_VALIDATION, DOMAIN, MAPPING) if with_domain else ())):
            assert part(preview_run, type_, region).region == region


def test_without_a_domain_the_api_answers_on_its_own_endpoint_only(run_stack: ProgramRunner) -> None:
    run = run_stack("dev")
    assert run.regions() == run.region_order
    for region in run.regions():
        component = run.one(REGIONAL_API, region)
        assert {r.type for r in run.descendants(component)} == {API, STAGE, LOG_GROUP}
        assert part(run, API, region).inputs["disableExecuteApiEndpoint"] is False
        assert run.outputs["regionalEndpoints"][region]["healthUrl"].endswith(".amazonaws.com/health")
