"""API traffic: a Route53 health check per region, a traffic gate over it (the failover runbook's switch), and the
api.<domain> failover or latency records, each tied to the gate of the region it sends clients to."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import MAX_TTL_WITH_HEALTH_CHECKS, StackConfig
from components.dns import GATE_CLOSED, GATE_OPEN, RecordSpec, endpoint_map, gate_name, plan_records, standby_hostname
from planning.harness import ProgramRun, Resource, stack_config
from tests.support.mock_ids import zone_id_of
from tests.support.program import DEV_DOMAIN, THREE_REGIONS, ProgramRunner

HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
DOMAIN = "aws:apigatewayv2/domainName:DomainName"
API_TRAFFIC = "multi-region:dns:ApiTraffic"
REGIONAL_API = "multi-region:api:RegionalApi"

FAILOVER_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "prod": ("prod", {}),
    "dev": ("dev", DEV_DOMAIN),
    "prod-3-failover": ("prod", {**THREE_REGIONS, "routingMode": "failover"}),
    "dev-3-failover-eu-primary": ("dev", {**THREE_REGIONS, **DEV_DOMAIN, "primaryRegion": "eu-west-1"}),
}
LATENCY_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "prod-3-latency": ("prod", {**THREE_REGIONS, "routingMode": "latency"}),
    "dev-latency": ("dev", {**DEV_DOMAIN, "routingMode": "latency"}),
}
CASES = {**FAILOVER_CASES, **LATENCY_CASES}

Case = tuple[ProgramRun, StackConfig]


def _case(cases: dict[str, tuple[str, dict[str, Any]]], key: str, run_stack: ProgramRunner) -> Case:
    stack, overrides = cases[key]
    return run_stack(stack, **overrides), stack_config(stack, overrides)


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest, run_stack: ProgramRunner) -> Case:
    """An update-mode run, with the config it ran with, of every routing shape."""
    return _case(CASES, request.param, run_stack)


@pytest.fixture(scope="module", params=list(FAILOVER_CASES))
def failover_case(request: pytest.FixtureRequest, run_stack: ProgramRunner) -> Case:
    return _case(FAILOVER_CASES, request.param, run_stack)


@pytest.fixture(scope="module", params=list(LATENCY_CASES))
def latency_case(request: pytest.FixtureRequest, run_stack: ProgramRunner) -> Case:
    return _case(LATENCY_CASES, request.param, run_stack)


# ---- helpers ---------------------------------------------------------------------------------------


def api_records(run: ProgramRun) -> list[Resource]:
    """The records of ApiTraffic (the certificate validation and CDN records live elsewhere)."""
    component = run.one(API_TRAFFIC)
    return [r for r in run.descendants(component) if r.type == RECORD]


def record(run: ProgramRun, key: str) -> Resource:
    found = [r for r in api_records(run) if r.name == f"api-traffic-{key}"]
    assert len(found) == 1, f"expected one record api-traffic-{key}, found {len(found)}"
    return found[0]


def checks_by_id(run: ProgramRun) -> dict[str, Resource]:
    """Health checks (endpoint checks, gates, recovery-control checks) by the id the mocks give them."""
    return {f"{check.name}-id": check for check in run.of_type(HEALTH_CHECK)}


def endpoint_checks(run: ProgramRun) -> list[Resource]:
    """The HTTPS checks of the regions' health endpoints (not the gates over them)."""
    return [check for check in run.of_type(HEALTH_CHECK) if check.inputs["type"] == "HTTPS"]


def gates(run: ProgramRun) -> list[Resource]:
    return [check for check in run.of_type(HEALTH_CHECK) if check.inputs["type"] == "CALCULATED"]


def execute_api_host(run: ProgramRun, region: str) -> str:
    return str(run.outputs["regionalEndpoints"][region]["apiEndpoint"]).removeprefix("https://")


def custom_domain_target(run: ProgramRun, region: str) -> str:
    """The target the mocks give the region's api.<domain> custom domain."""
    component = run.one(REGIONAL_API, region)
    domain = next(r for r in run.descendants(component) if r.type == DOMAIN)
    return f"d-{domain.name}-id.execute-api.{region}.amazonaws.com"


def target_region(run: ProgramRun, config: StackConfig, resource: Resource) -> str:
    """The region whose custom domain a CNAME record points at."""
    (value,) = resource.inputs["records"]
    matches = [region for region in config.region_names if custom_domain_target(run, region) == value]
    assert len(matches) == 1, f"{resource.name} points at {value}, no region's custom domain"
    return matches[0]


def assert_cname_to_region(run: ProgramRun, config: StackConfig, resource: Resource, region: str) -> None:
    """A CNAME to ``region``'s custom domain with the configured TTL, tied to that region's gate, whose one child is
    the region's health check."""
    assert resource.inputs["type"] == "CNAME"
    assert resource.inputs["zoneId"] == zone_id_of(config)
    assert resource.inputs["records"] == [custom_domain_target(run, region)]
    assert resource.inputs["ttl"] == config.routing.dns_ttl_seconds
    assert resource.inputs["ttl"] <= MAX_TTL_WITH_HEALTH_CHECKS
    assert "aliases" not in resource.inputs
    gate = checks_by_id(run)[resource.inputs["healthCheckId"]]
    assert gate.name == f"api-traffic-{region}-gate" and gate.inputs["tags"]["region"] == region
    (child,) = gate.inputs["childHealthchecks"]
    check = checks_by_id(run)[child]
    assert check.inputs["fqdn"] == execute_api_host(run, region)
    assert check.inputs["tags"]["region"] == region


# ---- the pure plan ---------------------------------------------------------------------------------


def test_plan_two_region_failover_identifies_records_by_role() -> None:
    assert plan_records("api.x.com", ["us-east-1", "eu-west-1"], "us-east-1", "failover") == (
        RecordSpec("primary", "api.x.com", "primary", failover="PRIMARY", target_region="us-east-1"),
        RecordSpec("secondary", "api.x.com", "secondary", failover="SECONDARY", target_region="eu-west-1"),
    )


def test_plan_flip_changes_only_the_targets() -> None:
    before = plan_records("api.x.com", ["us-east-1", "eu-west-1", "ap-southeast-2"], "us-east-1", "failover")
    after = plan_records("api.x.com", ["us-east-1", "eu-west-1", "ap-southeast-2"], "eu-west-1", "failover")
    identity = [(r.key, r.hostname, r.set_identifier, r.failover, r.latency_region, r.alias_to) for r in before]
    assert identity == [(r.key, r.hostname, r.set_identifier, r.failover, r.latency_region, r.alias_to) for r in after]
    assert (before[0].target_region, after[0].target_region) == ("us-east-1", "eu-west-1")


def test_plan_three_region_failover_falls_back_to_a_latency_set() -> None:
    regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
    plan = plan_records("api.x.com", regions, "eu-west-1", "failover")
    by_key = {r.key: r for r in plan}
    assert by_key["primary"] == RecordSpec("primary", "api.x.com", "primary", failover="PRIMARY", target_region="eu-west-1")
    assert by_key["secondary"] == RecordSpec(
        "secondary", "api.x.com", "secondary", failover="SECONDARY", alias_to="standby.api.x.com"
    )
    for region in regions:
        assert by_key[f"standby-{region}"] == RecordSpec(
            f"standby-{region}", "standby.api.x.com", region, latency_region=region, target_region=region
        )
    assert len(plan) == 2 + len(regions)
    assert [r.failover for r in plan if r.hostname == "api.x.com"] == ["PRIMARY", "SECONDARY"]


def test_plan_latency_has_one_record_per_region() -> None:
    plan = plan_records("api.x.com", ["us-east-1", "eu-west-1", "ap-southeast-2"], "us-east-1", "latency")
    assert [(r.key, r.set_identifier, r.latency_region, r.target_region, r.failover) for r in plan] == [
        (region, region, region, region, None) for region in ("us-east-1", "eu-west-1", "ap-southeast-2")
    ]
    assert {r.hostname for r in plan} == {"api.x.com"}


@pytest.mark.parametrize(
    ("regions", "primary", "mode", "message"),
    [
        (["us-east-1", "eu-west-1"], "us-east-1", "weighted", "routing mode 'weighted'"),
        (["us-east-1"], "us-east-1", "failover", "two or more regions"),
        (["us-east-1", "eu-west-1"], "us-west-2", "latency", "including the primary"),
    ],
)
def test_plan_refuses_what_route53_cannot_route(regions: list[str], primary: str, mode: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_records("api.x.com", regions, primary, mode)


def test_standby_hostname_is_under_the_api_hostname() -> None:
    assert standby_hostname("api.x.com") == "standby.api.x.com"


# ---- health checks ---------------------------------------------------------------------------------


def test_one_https_health_check_per_region_on_its_execute_api_host(case: Case) -> None:
    run, config = case
    component = run.one(API_TRAFFIC)
    checks = endpoint_checks(run)
    assert sorted(c.name for c in checks) == sorted(f"api-traffic-{region}-health" for region in config.region_names)
    for region in config.region_names:
        check = next(c for c in checks if c.name == f"api-traffic-{region}-health")
        assert check.parent == component.urn
        assert check.inputs["type"] == "HTTPS"
        assert check.inputs["fqdn"] == execute_api_host(run, region)
        assert check.inputs["fqdn"].endswith(f".execute-api.{region}.amazonaws.com")
        assert check.inputs["port"] == 443
        assert check.inputs["resourcePath"] == config.edge.health_check_path
        assert check.inputs["requestInterval"] == config.edge.health_check_interval_seconds
        assert check.inputs["failureThreshold"] == config.edge.health_check_failure_threshold
        assert check.inputs["enableSni"] is True
        assert check.inputs["measureLatency"] is True
        assert "regions" not in check.inputs  # every Route53 checker region
        assert check.inputs["tags"] == {"Name": f"multi-region-{config.stack}-api-{region}", "region": region}


def test_health_check_settings_follow_the_stack(run_stack: ProgramRunner) -> None:
    prod, dev = run_stack("prod"), run_stack("dev", **DEV_DOMAIN)
    assert {c.inputs["requestInterval"] for c in endpoint_checks(prod)} == {10}
    assert {c.inputs["requestInterval"] for c in endpoint_checks(dev)} == {30}
    assert {r.inputs["ttl"] for r in api_records(prod)} == {60}
    assert {r.inputs["ttl"] for r in api_records(dev)} == {30}


def test_route53_lives_under_the_home_regions_provider(case: Case) -> None:
    run, config = case
    home = config.region_names[0]
    component = run.one(API_TRAFFIC)
    provider = run.by_urn(component.provider or "")
    assert (provider.name, provider.inputs["region"]) == (f"aws-{home}", home)
    for resource in [*run.of_type(HEALTH_CHECK), *api_records(run)]:
        assert resource.region == home
        assert resource.parent == component.urn


# ---- records ---------------------------------------------------------------------------------------


def test_failover_records_primary_to_the_primary_and_secondary_elsewhere(failover_case: Case) -> None:
    run, config = failover_case
    assert config.routing.mode == "failover"
    hostname = f"api.{config.edge.domain_name}"
    primary, secondary = record(run, "primary"), record(run, "secondary")
    assert primary.inputs["name"] == secondary.inputs["name"] == hostname
    assert primary.inputs["failoverRoutingPolicies"] == [{"type": "PRIMARY"}]
    assert secondary.inputs["failoverRoutingPolicies"] == [{"type": "SECONDARY"}]
    assert (primary.inputs["setIdentifier"], secondary.inputs["setIdentifier"]) == ("primary", "secondary")
    assert_cname_to_region(run, config, primary, config.primary.name)
    on_name = [r for r in api_records(run) if r.inputs["name"] == hostname]
    assert sorted(r.name for r in on_name) == ["api-traffic-primary", "api-traffic-secondary"]
    others = [region for region in config.region_names if region != config.primary.name]
    if len(others) == 1:
        assert_cname_to_region(run, config, secondary, others[0])
        assert len(api_records(run)) == 2
        return
    standby = f"standby.{hostname}"
    assert secondary.inputs["aliases"] == [{"name": standby, "zoneId": zone_id_of(config), "evaluateTargetHealth": True}]
    assert "ttl" not in secondary.inputs and "records" not in secondary.inputs
    members = [r for r in api_records(run) if r.inputs["name"] == standby]
    assert sorted(r.name for r in members) == sorted(f"api-traffic-standby-{region}" for region in config.region_names)
    for region in config.region_names:
        member = record(run, f"standby-{region}")
        assert member.inputs["latencyRoutingPolicies"] == [{"region": region}]
        assert member.inputs["setIdentifier"] == region
        assert_cname_to_region(run, config, member, region)
        # The alias is created once the record set it names exists.
        assert member.urn in secondary.dependencies


def test_latency_records_one_per_region_each_with_its_check(latency_case: Case) -> None:
    run, config = latency_case
    assert config.routing.mode == "latency"
    records = api_records(run)
    assert sorted(r.name for r in records) == sorted(f"api-traffic-{region}" for region in config.region_names)
    for region in config.region_names:
        latency = record(run, region)
        assert latency.inputs["name"] == f"api.{config.edge.domain_name}"
        assert latency.inputs["latencyRoutingPolicies"] == [{"region": region}]
        assert latency.inputs["setIdentifier"] == region
        assert "failoverRoutingPolicies" not in latency.inputs
        assert_cname_to_region(run, config, latency, region)


def test_every_cname_is_tied_to_the_gate_of_the_region_it_points_at(case: Case) -> None:
    run, config = case
    checks = checks_by_id(run)
    cnames = [r for r in api_records(run) if "records" in r.inputs]
    assert cnames
    for resource in cnames:
        region = target_region(run, config, resource)
        assert checks[resource.inputs["healthCheckId"]].name == f"api-traffic-{region}-gate"


# ---- traffic gates ---------------------------------------------------------------------------------


def test_gate_names_differ_by_traffic_control() -> None:
    assert gate_name("api-traffic", "eu-west-1", "healthCheckGate") == "api-traffic-eu-west-1-gate"
    assert gate_name("api-traffic", "eu-west-1", "routingControl") == "api-traffic-eu-west-1-control-gate"
    with pytest.raises(ValueError, match="allowed: healthCheckGate, routingControl"):
        gate_name("api-traffic", "eu-west-1", "dns")
    assert (GATE_OPEN, GATE_CLOSED) == (1, 2)


def test_one_open_gate_per_region_over_its_health_check_left_to_the_runbook(case: Case) -> None:
    """healthCheckGate: threshold 1 at creation, then the runbook's (a deploy never reopens a closed gate)."""
    run, config = case
    component = run.one(API_TRAFFIC)
    checks = checks_by_id(run)
    assert sorted(g.name for g in gates(run)) == sorted(f"api-traffic-{region}-gate" for region in config.region_names)
    for region in config.region_names:
        gate = next(g for g in gates(run) if g.name == f"api-traffic-{region}-gate")
        assert gate.parent == component.urn
        assert gate.inputs["childHealthchecks"] == [f"api-traffic-{region}-health-id"]
        assert checks[f"api-traffic-{region}-health-id"].inputs["type"] == "HTTPS"
        assert gate.inputs["childHealthThreshold"] == 1
        assert gate.ignore_changes == ("childHealthThreshold",)
        assert gate.inputs["tags"]["region"] == region and gate.inputs["tags"]["trafficControl"] == "healthCheckGate"
    assert run.of_type("aws:route53recoverycontrol/cluster:Cluster") == []


ROUTING_CONTROL_CASES: dict[str, dict[str, Any]] = {
    "failover": {**THREE_REGIONS, "trafficControl": "routingControl"},
    "latency-without-health-checks": {
        **THREE_REGIONS,
        "trafficControl": "routingControl",
        "routingMode": "latency",
        "healthChecksEnabled": False,
        "dnsTtlSeconds": 120,
    },
}


@pytest.mark.parametrize("key", list(ROUTING_CONTROL_CASES))
def test_routing_control_gates_need_the_endpoint_and_the_control(run_stack: ProgramRunner, key: str) -> None:
    """routingControl: an ARC cluster, a panel, a control and a recovery-control check per region; each gate requires
    all of its children (threshold = their number), and Pulumi owns that threshold."""
    overrides = ROUTING_CONTROL_CASES[key]
    run, config = run_stack("prod", **overrides), stack_config("prod", overrides)
    prefix = "multi-region-prod"
    home = config.region_names[0]
    cluster = run.one("aws:route53recoverycontrol/cluster:Cluster")
    panel = run.one("aws:route53recoverycontrol/controlPanel:ControlPanel")
    assert cluster.inputs == {"name": prefix} and cluster.region == home
    assert panel.inputs == {
        "clusterArn": f"arn:aws:route53recoverycontrol:{home}:123456789012:cluster/{cluster.name}",
        "name": prefix,
    }
    assert panel.parent == cluster.urn
    controls = run.of_type("aws:route53recoverycontrol/routingControl:RoutingControl")
    assert sorted(c.inputs["name"] for c in controls) == sorted(f"{prefix}-{region}" for region in config.region_names)
    checks = checks_by_id(run)
    for region in config.region_names:
        control = next(c for c in controls if c.inputs["name"] == f"{prefix}-{region}")
        assert control.inputs["controlPanelArn"].endswith(f"controlpanel/{panel.name}")
        recovery = checks[f"api-traffic-{region}-recovery-control-id"]
        assert recovery.inputs["type"] == "RECOVERY_CONTROL"
        assert recovery.inputs["routingControlArn"].endswith(f"routingcontrol/{control.name}")
        gate = checks[f"api-traffic-{region}-control-gate-id"]
        expected = [f"api-traffic-{region}-recovery-control-id"]
        if config.routing.health_checks_enabled:
            expected.insert(0, f"api-traffic-{region}-health-id")
        assert gate.inputs["childHealthchecks"] == expected
        assert gate.inputs["childHealthThreshold"] == len(expected)
        assert gate.ignore_changes == ()
    assert len(endpoint_checks(run)) == (3 if config.routing.health_checks_enabled else 0)
    for resource in api_records(run):
        if "records" in resource.inputs:
            region = target_region(run, config, resource)
            assert resource.inputs["healthCheckId"] == f"api-traffic-{region}-control-gate-id"
            assert resource.inputs["ttl"] == config.routing.dns_ttl_seconds


def test_endpoint_map_names_each_arc_endpoint_by_region() -> None:
    import pulumi_aws as aws

    endpoint = aws.route53recoverycontrol.outputs.ClusterClusterEndpoint
    assert endpoint_map([endpoint(endpoint="https://a/v1", region="us-west-2")]) == {"us-west-2": "https://a/v1"}
    with pytest.raises(ValueError, match="no endpoints"):
        endpoint_map([])


# ---- moving the primary ----------------------------------------------------------------------------


def route53_identity(run: ProgramRun) -> dict[tuple[str, str], tuple[Any, ...]]:
    """What a change must not touch for Route53 resources to be updated in place: for each (type, name),
    the parent and provider, and for records the zone, name, type and set identifier."""
    identity: dict[tuple[str, str], tuple[Any, ...]] = {}
    for resource in run.resources:
        if resource.type.startswith("aws:route53/"):
            fields = tuple(resource.inputs.get(k) for k in ("zoneId", "name", "type", "setIdentifier", "measureLatency"))
            identity[(resource.type, resource.name)] = (resource.parent, resource.provider, *fields)
    return identity


@pytest.mark.parametrize("overrides", [{}, {**THREE_REGIONS, "routingMode": "failover"}], ids=["two-regions", "three-regions"])
def test_moving_the_primary_updates_route53_in_place(run_stack: ProgramRunner, overrides: dict[str, Any]) -> None:
    before = run_stack("prod", **overrides)
    after = run_stack("prod", **overrides, primaryRegion="eu-west-1")
    assert route53_identity(before) == route53_identity(after)
    assert record(before, "primary").inputs["records"] == [custom_domain_target(before, "us-east-1")]
    assert record(after, "primary").inputs["records"] == [custom_domain_target(after, "eu-west-1")]
    assert record(after, "primary").inputs["healthCheckId"] == "api-traffic-eu-west-1-gate-id"
    assert record(after, "primary").inputs["failoverRoutingPolicies"] == [{"type": "PRIMARY"}]
    if not overrides:
        assert record(after, "secondary").inputs["records"] == [custom_domain_target(after, "us-east-1")]
        assert record(after, "secondary").inputs["healthCheckId"] == "api-traffic-us-east-1-gate-id"


# ---- outputs and preview ---------------------------------------------------------------------------


def test_outputs_api_hostname(case: Case) -> None:
    run, config = case
    assert run.outputs["apiHostname"] == f"api.{config.edge.domain_name}"


def test_preview_registers_checks_and_records(run_stack: ProgramRunner, preview_run: ProgramRun) -> None:
    update = run_stack(preview_run.stack)
    assert sorted(c.name for c in preview_run.of_type(HEALTH_CHECK)) == sorted(c.name for c in update.of_type(HEALTH_CHECK))
    assert sorted(r.name for r in api_records(preview_run)) == sorted(r.name for r in api_records(update))
    assert len(endpoint_checks(preview_run)) == len(gates(preview_run)) == len(preview_run.regions())
    assert len(api_records(preview_run)) == (2 if preview_run.config and preview_run.config.edge.domain_name else 0)


def test_preview_registers_a_three_region_failover(run_stack: ProgramRunner) -> None:
    overrides: dict[str, Any] = {**THREE_REGIONS, "routingMode": "failover"}
    preview, update = run_stack("prod", preview=True, **overrides), run_stack("prod", **overrides)
    assert sorted(r.name for r in api_records(preview)) == sorted(r.name for r in api_records(update))
    assert len(api_records(preview)) == 5
    assert len(endpoint_checks(preview)) == len(gates(preview)) == 3


def test_without_a_domain_the_regions_are_checked_and_gated_but_no_record_moves_clients(run_stack: ProgramRunner) -> None:
    """Dev has no domain: each region's health endpoint is still probed on its regional endpoint, and its gate still
    exists for the runbook and the alarms, but there is no api.<domain> record for them to steer."""
    run = run_stack("dev")
    assert run.config is not None and run.config.edge.domain_name is None
    checks = endpoint_checks(run)
    assert sorted(c.inputs["fqdn"] for c in checks) == sorted(execute_api_host(run, r) for r in run.config.region_names)
    assert len(gates(run)) == len(run.config.region_names)
    assert api_records(run) == []
    assert not run.of_type(RECORD) and not run.of_type("aws:acm/certificate:Certificate") and not run.of_type(DOMAIN)
    assert not run.of_type("aws:route53/zone:Zone")
    assert run.outputs["apiHostname"] is None
    assert "hostedZoneNameServers" not in run.outputs


def test_a_created_zone_exports_its_name_servers_to_delegate_to(run_stack: ProgramRunner) -> None:
    run = run_stack("dev", **DEV_DOMAIN)
    assert run.outputs["hostedZoneNameServers"] == ["ns-1.dns-zone.example"]
    assert "hostedZoneNameServers" not in run_stack("prod").outputs  # a looked-up zone is delegated already
