"""API traffic: a Route53 health check per region, a traffic gate over it, and the ``api.<domain>`` records that
route by the gates.

``plan_records`` decides the records (failover by role, or latency by region); ``ApiTraffic`` builds them with the
checks and gates, under the first region's provider so a failover replaces nothing. With ``healthCheckGate`` the
runbook opens and closes each gate (Pulumi ignores its threshold); with ``routingControl`` it flips Route53 ARC
routing controls the gates include. How each mode works, and switching modes: docs/design/edge-and-dns.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.api import RegionalApi
from components.config import RoutingConfig
from functions.runbook.model import TRAFFIC_CONTROLS, TRAFFIC_HEALTH_CHECK_GATE, TRAFFIC_ROUTING_CONTROL

HEALTH_CHECK_PORT = 443
PRIMARY, SECONDARY = "PRIMARY", "SECONDARY"
# A healthCheckGate gate has one child: threshold 1 follows it, 2 (more than its children) is always unhealthy.
GATE_OPEN, GATE_CLOSED = 1, 2
# What the runbook, not Pulumi, owns on a healthCheckGate gate.
GATE_RUNBOOK_OWNED = ("childHealthThreshold",)


# ---- pure planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordSpec:
    """One Route53 record of the API.

    ``key`` names the resource (stable across a change of primary); ``hostname`` is the record name;
    ``failover`` (PRIMARY/SECONDARY) or ``latency_region`` is its routing policy. The record is either a
    CNAME to ``target_region``'s custom domain, tied to that region's health check, or an alias to the
    record set ``alias_to`` in the same zone, evaluating its health.
    """

    key: str
    hostname: str
    set_identifier: str
    failover: str | None = None
    latency_region: str | None = None
    target_region: str | None = None
    alias_to: str | None = None


def standby_hostname(hostname: str) -> str:
    """The latency set a three-or-more-region failover falls back to."""
    return f"standby.{hostname}"


def plan_records(hostname: str, regions: Sequence[str], primary: str, mode: str) -> tuple[RecordSpec, ...]:
    """The API records for ``regions`` (in config order) under routing ``mode``.

    Raises
    ------
    ValueError
        An unknown mode, fewer than two regions, or a primary not among them.

    Example:
        >>> [(r.key, r.failover, r.target_region) for r in plan_records("api.x.com", ["a", "b"], "b", "failover")]
        [('primary', 'PRIMARY', 'b'), ('secondary', 'SECONDARY', 'a')]
    """
    if len(regions) < 2 or primary not in regions:
        raise ValueError(f"need two or more regions including the primary {primary!r}; got {list(regions)}")
    if mode == "latency":
        return tuple(
            RecordSpec(key=region, hostname=hostname, set_identifier=region, latency_region=region, target_region=region)
            for region in regions
        )
    if mode != "failover":
        raise ValueError(f"routing mode {mode!r}; allowed: failover, latency")
    records = [RecordSpec(key="primary", hostname=hostname, set_identifier="primary", failover=PRIMARY, target_region=primary)]
    secondaries = [region for region in regions if region != primary]
    if len(secondaries) == 1:
        records.append(
            RecordSpec(
                key="secondary", hostname=hostname, set_identifier="secondary", failover=SECONDARY, target_region=secondaries[0]
            )
        )
        return tuple(records)
    standby = standby_hostname(hostname)
    records += [
        RecordSpec(key=f"standby-{region}", hostname=standby, set_identifier=region, latency_region=region, target_region=region)
        for region in regions
    ]
    records.append(
        RecordSpec(key="secondary", hostname=hostname, set_identifier="secondary", failover=SECONDARY, alias_to=standby)
    )
    return tuple(records)


def gate_name(component: str, region: str, traffic_control: str) -> str:
    """The resource name of ``region``'s gate: one per traffic-control mode (docs/design/edge-and-dns.md).

    Example:
        >>> gate_name("api-traffic", "eu-west-1", "healthCheckGate"), gate_name("api-traffic", "eu-west-1", "routingControl")
        ('api-traffic-eu-west-1-gate', 'api-traffic-eu-west-1-control-gate')
    """
    if traffic_control not in TRAFFIC_CONTROLS:
        raise ValueError(f"traffic control {traffic_control!r}; allowed: {', '.join(TRAFFIC_CONTROLS)}")
    suffix = "gate" if traffic_control == TRAFFIC_HEALTH_CHECK_GATE else "control-gate"
    return f"{component}-{region}-{suffix}"


def endpoint_map(endpoints: Sequence[aws.route53recoverycontrol.outputs.ClusterClusterEndpoint] | None) -> dict[str, str]:
    """The ARC cluster's endpoints as region -> URL (the runbook's ``routing_control_endpoints``).

    Raises
    ------
    ValueError
        The provider reports no endpoint (the runbook could not flip a control).
    """
    found = {str(e.region): str(e.endpoint) for e in endpoints or () if e.region and e.endpoint}
    if not found:
        raise ValueError("the Route53 ARC cluster reports no endpoints; the runbook needs at least one to set routing controls")
    return found


# ---- the component -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiTrafficArgs:
    """Parameters
    ----------
    hostname: the API's public name, ``api.<domain>``; ``None`` for a stack without a domain: the health checks and
        gates are made (the runbook and the alarms use them) but no record, so nothing moves clients between regions.
    zone_id: the public hosted zone the records go in (``None`` without a domain).
    apis: each region's ``RegionalApi``, in the order of ``regions`` in config.
    primary: the primary region (PRIMARY in failover routing).
    routing: the routing mode, DNS TTL and whether health checks are on (config validation makes failover
        routing imply health checks).
    health_check_path: the path the checks request.
    health_check_interval_seconds: seconds between probes (10 or 30).
    health_check_failure_threshold: consecutive failures before a region counts as unhealthy.
    name_prefix: ``<project>-<stack>``, for the checks' ``Name`` tags and the ARC resources' names.
    traffic_control: ``healthCheckGate`` or ``routingControl``: what the gates are made of (docs/design/edge-and-dns.md).
    """

    hostname: str | None
    zone_id: pulumi.Input[str] | None
    apis: Mapping[str, RegionalApi]
    primary: str
    routing: RoutingConfig
    health_check_path: str
    health_check_interval_seconds: int
    health_check_failure_threshold: int
    name_prefix: str
    traffic_control: str


class ApiTraffic(pulumi.ComponentResource):
    """Health checks per region, a traffic gate per region over them, and the ``api.<domain>`` failover or latency
    records tied to the gates.

    What the runbook needs: ``gate_ids`` (region -> gate id), and with ``routingControl`` also
    ``routing_control_arns`` (region -> routing control ARN) and ``routing_control_endpoints`` (ARC endpoint
    region -> URL).

    Example:
        >>> ApiTraffic("api-traffic", ApiTrafficArgs("api.app.example.com", zone.zone_id, apis, "us-east-1",
        ...            config.routing, "/health", 10, 3, "multi-region-prod", "healthCheckGate"),
        ...            pulumi.ResourceOptions(provider=providers[home_region]))
    """

    api_hostname: str | None
    traffic_control: str
    health_checks: dict[str, aws.route53.HealthCheck]
    health_check_ids: dict[str, pulumi.Output[str]]
    recovery_cluster: aws.route53recoverycontrol.Cluster | None
    control_panel: aws.route53recoverycontrol.ControlPanel | None
    routing_controls: dict[str, aws.route53recoverycontrol.RoutingControl]
    routing_control_arns: dict[str, pulumi.Output[str]]
    routing_control_endpoints: pulumi.Output[dict[str, str]] | None
    recovery_checks: dict[str, aws.route53.HealthCheck]
    gates: dict[str, aws.route53.HealthCheck]
    gate_ids: dict[str, pulumi.Output[str]]
    records: dict[str, aws.route53.Record]

    def __init__(self, name: str, args: ApiTrafficArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:dns:ApiTraffic", name, None, opts)
        self.api_hostname = args.hostname
        self.traffic_control = args.traffic_control
        if args.routing.mode == "failover" and not args.routing.health_checks_enabled:
            raise ValueError("failover routing needs health checks: Route53 refuses a non-alias PRIMARY without one")
        if args.traffic_control not in TRAFFIC_CONTROLS:
            raise ValueError(f"traffic control {args.traffic_control!r}; allowed: {', '.join(TRAFFIC_CONTROLS)}")
        if args.traffic_control == TRAFFIC_HEALTH_CHECK_GATE and not args.routing.health_checks_enabled:
            raise ValueError("a healthCheckGate gate needs the region's health check: enable health checks or use routingControl")
        specs = plan_records(args.hostname, list(args.apis), args.primary, args.routing.mode) if args.hostname else ()

        self.health_checks = {}
        if args.routing.health_checks_enabled:
            for region, api in args.apis.items():
                self.health_checks[region] = aws.route53.HealthCheck(
                    f"{name}-{region}-health",
                    type="HTTPS",
                    fqdn=api.api_endpoint_host,
                    port=HEALTH_CHECK_PORT,
                    resource_path=args.health_check_path,
                    enable_sni=True,
                    request_interval=args.health_check_interval_seconds,
                    failure_threshold=args.health_check_failure_threshold,
                    measure_latency=True,
                    # The provider's default tags name the home region; these name the region probed.
                    tags={
                        "Name": f"{args.name_prefix}-api-{region}",
                        "region": region,
                    },
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self.health_check_ids = {region: check.id for region, check in self.health_checks.items()}
        self._routing_controls(name, args)
        self._gates(name, args)

        self.records = {}
        # Targets first: an alias record can only be created once the record set it names exists.
        for spec in sorted(specs, key=lambda s: s.alias_to is not None):
            targets = [self.records[t.key] for t in specs if t.hostname == spec.alias_to]
            self.records[spec.key] = self._record(name, spec, args, targets)
        self.register_outputs(
            {
                "api_hostname": self.api_hostname,
                "health_check_ids": self.health_check_ids,
                "gate_ids": self.gate_ids,
                "routing_control_arns": self.routing_control_arns,
                "routing_control_endpoints": self.routing_control_endpoints,
                "records": {key: record.fqdn for key, record in self.records.items()},
            }
        )

    def _routing_controls(self, name: str, args: ApiTrafficArgs) -> None:
        """``routingControl``: the ARC cluster, its control panel, a routing control and a recovery-control health
        check per region."""
        self.recovery_cluster, self.control_panel = None, None
        self.routing_controls, self.recovery_checks = {}, {}
        self.routing_control_endpoints = None
        if args.traffic_control != TRAFFIC_ROUTING_CONTROL:
            self.routing_control_arns = {}
            return
        cluster = aws.route53recoverycontrol.Cluster(
            f"{name}-arc-cluster", name=args.name_prefix, opts=pulumi.ResourceOptions(parent=self)
        )
        panel = aws.route53recoverycontrol.ControlPanel(
            f"{name}-arc-panel", cluster_arn=cluster.arn, name=args.name_prefix, opts=pulumi.ResourceOptions(parent=cluster)
        )
        for region in args.apis:
            control = aws.route53recoverycontrol.RoutingControl(
                f"{name}-{region}-routing-control",
                cluster_arn=cluster.arn,
                control_panel_arn=panel.arn,
                name=f"{args.name_prefix}-{region}",
                opts=pulumi.ResourceOptions(parent=panel),
            )
            self.routing_controls[region] = control
            self.recovery_checks[region] = aws.route53.HealthCheck(
                f"{name}-{region}-recovery-control",
                type="RECOVERY_CONTROL",
                routing_control_arn=control.arn,
                tags={"Name": f"{args.name_prefix}-control-{region}", "region": region},
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.recovery_cluster, self.control_panel = cluster, panel
        self.routing_control_arns = {region: control.arn for region, control in self.routing_controls.items()}
        self.routing_control_endpoints = cluster.cluster_endpoints.apply(endpoint_map)

    def _gates(self, name: str, args: ApiTrafficArgs) -> None:
        """A gate per region over its endpoint check (and its recovery-control check): docs/design/edge-and-dns.md."""
        self.gates = {}
        for region in args.apis:
            children = [check.id for check in (self.health_checks.get(region), self.recovery_checks.get(region)) if check]
            runbook_owned = args.traffic_control == TRAFFIC_HEALTH_CHECK_GATE
            self.gates[region] = aws.route53.HealthCheck(
                gate_name(name, region, args.traffic_control),
                type="CALCULATED",
                child_healthchecks=children,
                child_health_threshold=GATE_OPEN if runbook_owned else len(children),
                tags={
                    "Name": f"{args.name_prefix}-gate-{region}",
                    "region": region,
                    "trafficControl": args.traffic_control,
                },
                # healthCheckGate: the runbook opens and closes the gate; a deploy must never reopen a closed one.
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=list(GATE_RUNBOOK_OWNED) if runbook_owned else None),
            )
        self.gate_ids = {region: gate.id for region, gate in self.gates.items()}

    def _record(
        self, name: str, spec: RecordSpec, args: ApiTrafficArgs, targets: Sequence[pulumi.Resource]
    ) -> aws.route53.Record:
        failover = [aws.route53.RecordFailoverRoutingPolicyArgs(type=spec.failover)] if spec.failover else None
        latency = [aws.route53.RecordLatencyRoutingPolicyArgs(region=spec.latency_region)] if spec.latency_region else None
        zone_id = args.zone_id
        if zone_id is None:
            raise ValueError(f"record {spec.key}: the API records need the domain's hosted zone")
        if spec.alias_to is not None:
            return aws.route53.Record(
                f"{name}-{spec.key}",
                zone_id=zone_id,
                name=spec.hostname,
                type="CNAME",
                set_identifier=spec.set_identifier,
                failover_routing_policies=failover,
                latency_routing_policies=latency,
                aliases=[aws.route53.RecordAliasArgs(name=spec.alias_to, zone_id=zone_id, evaluate_target_health=True)],
                opts=pulumi.ResourceOptions(parent=self, depends_on=targets),
            )
        if spec.target_region is None:
            raise ValueError(f"record {spec.key} has neither a target region nor an alias target")
        gate = self.gates[spec.target_region]
        target = args.apis[spec.target_region].custom_domain_target
        if target is None:
            raise ValueError(f"record {spec.key}: the {spec.target_region} API has no custom domain to point at")
        return aws.route53.Record(
            f"{name}-{spec.key}",
            zone_id=zone_id,
            name=spec.hostname,
            type="CNAME",
            ttl=args.routing.dns_ttl_seconds,
            records=[target],
            set_identifier=spec.set_identifier,
            health_check_id=gate.id,
            failover_routing_policies=failover,
            latency_routing_policies=latency,
            opts=pulumi.ResourceOptions(parent=self),
        )
