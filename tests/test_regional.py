"""Providers, RegionalStack, network and KMS key, asserted per region on the resources the program registers."""

from __future__ import annotations

import json

from components.config import AZ_COUNT
from components.network_plan import REFUSED_ZONE_IDS, plan_subnets
from planning.harness import ACCOUNT_ID, PROVIDER_TYPE, UNKNOWN, ProgramRun
from tests.support.program import THREE_REGIONS_LATENCY, ProgramRunner, chosen_zones

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def test_one_provider_per_region_with_default_tags(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    providers = stack_run.of_type(PROVIDER_TYPE)
    assert sorted(p.inputs["region"] for p in providers) == sorted(cfg.region_names)
    for provider in providers:
        region = provider.inputs["region"]
        tags = json.loads(provider.inputs["defaultTags"])["tags"]
        # Nothing that moves with the primary: a failover's reconcile must not re-tag two regions.
        assert tags == {"project": "multi-region", "stack": stack_run.stack, "region": region}


def test_every_resource_reaches_its_regions_provider_through_its_parents(stack_run: ProgramRun) -> None:
    providers = {p.urn: p.inputs["region"] for p in stack_run.of_type(PROVIDER_TYPE)}
    for resource in stack_run.custom():
        if resource.type.startswith("random:"):
            continue
        assert resource.provider in providers, f"{resource.name} has no explicit aws provider"
        assert resource.region == providers[resource.provider]
    for resource in stack_run.resources:
        if resource.type in (PROVIDER_TYPE, "multi-region:regional:RegionalStack") or resource.parent is None:
            continue
        assert resource.parent in {r.urn for r in stack_run.resources}, f"{resource.name} has a dangling parent"


def test_regional_resources_live_under_their_regional_stack(stack_run: ProgramRun) -> None:
    stacks = stack_run.of_type("multi-region:regional:RegionalStack")
    # Built primary first, so compare as sets: one RegionalStack per region of the config, no more.
    assert sorted(s.name for s in stacks) == sorted(stack_run.region_order)
    for stack in stacks:
        region = stack.name
        assert stack.region == region
        below = list(stack_run.descendants(stack))
        assert {r.type for r in below} >= {VPC, SUBNET, "aws:kms/key:Key", "aws:ec2/flowLog:FlowLog"}
        # The health-check alarm watches this region from us-east-1, where Route53 keeps its metrics.
        health = [r for r in below if r.type == ALARM and r.inputs["metricName"] == "HealthCheckStatus"]
        assert all(r.region == region for r in below if r not in health)
        assert [h.region for h in health] in ([], ["us-east-1"])
        # The alarm topic, its alarms and the health-check alarm keep the names the former observability component gave.
        alarms = [r for r in below if r.name.startswith("observability-")]
        assert {r.type for r in alarms} <= {ALARM, "aws:sns/topic:Topic", "aws:sns/topicSubscription:TopicSubscription"}
        assert all(r.name.startswith(region) for r in below if r not in alarms), "child names derive from the component name"


def test_vpc_and_subnets_follow_the_cidr_plan_over_three_zones(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    for region in cfg.regions:
        net = region.network
        plan = plan_subnets(net.vpc_cidr, net.private_subnet_prefix, net.public_subnet_prefix, AZ_COUNT)
        vpc = stack_run.one(VPC, region.name)
        assert vpc.inputs["cidrBlock"] == net.vpc_cidr
        assert vpc.inputs["enableDnsHostnames"] is True and vpc.inputs["enableDnsSupport"] is True
        subnets = stack_run.of_type(SUBNET, region.name)
        private = sorted((s for s in subnets if s.inputs["tags"]["tier"] == "private"), key=lambda s: s.name)
        public = sorted((s for s in subnets if s.inputs["tags"]["tier"] == "public"), key=lambda s: s.name)
        assert [s.inputs["cidrBlock"] for s in private] == list(plan.private)
        assert [s.inputs["cidrBlock"] for s in public] == list(plan.public)
        for tier in (private, public):
            # By zone ID, lowest first, never one a service refuses (us-east-1's mock offers use1-az3 under its first name).
            assert [s.inputs["availabilityZoneId"] for s in tier] == [z.zone_id for z in chosen_zones(region.name)]
            assert all("availabilityZone" not in s.inputs for s in tier)
            assert not set(REFUSED_ZONE_IDS) & {s.inputs["availabilityZoneId"] for s in tier}
        assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets)


def test_nat_gateways_by_config_and_private_routes_through_them(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    for region in cfg.regions:
        nats = stack_run.of_type("aws:ec2/natGateway:NatGateway", region.name)
        expected = AZ_COUNT if region.network.nat_gateways == "per-az" else 1
        assert len(nats) == expected
        public_ids = {f"{s.name}-id" for s in stack_run.of_type(SUBNET, region.name) if s.inputs["tags"]["tier"] == "public"}
        assert {n.inputs["subnetId"] for n in nats} <= public_ids
        nat_ids = {f"{n.name}-id" for n in nats}
        routes = stack_run.of_type("aws:ec2/route:Route", region.name)
        private_routes = [r for r in routes if "natGatewayId" in r.inputs]
        assert len(private_routes) == AZ_COUNT
        assert {r.inputs["natGatewayId"] for r in private_routes} == nat_ids
        assert all(r.inputs["destinationCidrBlock"] == "0.0.0.0/0" for r in routes)
        public_route = next(r for r in routes if "gatewayId" in r.inputs)
        assert public_route.inputs["gatewayId"] == f"{region.name}-net-igw-id"


def test_prod_survives_an_az_outage_and_dev_saves_on_nat(run_stack: ProgramRunner) -> None:
    assert len(run_stack("prod").of_type("aws:ec2/natGateway:NatGateway", "us-east-1")) == 3
    assert len(run_stack("dev").of_type("aws:ec2/natGateway:NatGateway", "us-east-1")) == 1
    per_az_dev = run_stack("dev", natGateways="per-az")
    assert len(per_az_dev.of_type("aws:ec2/natGateway:NatGateway", "us-east-1")) == 3


def test_gateway_endpoints_for_s3_and_dynamodb_on_private_route_tables(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        tables = {f"{t.name}-id" for t in stack_run.of_type("aws:ec2/routeTable:RouteTable", region) if "private" in t.name}
        endpoints = {e.inputs["serviceName"]: e for e in stack_run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint", region)}
        assert set(endpoints) == {f"com.amazonaws.{region}.s3", f"com.amazonaws.{region}.dynamodb"}
        for endpoint in endpoints.values():
            assert endpoint.inputs["vpcEndpointType"] == "Gateway"
            assert set(endpoint.inputs["routeTableIds"]) == tables


def test_default_security_group_is_stripped(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        group = stack_run.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", region)
        assert group.inputs["vpcId"] == f"{region}-net-vpc-id"
        assert group.inputs.get("ingress", []) == [] and group.inputs.get("egress", []) == []


def test_flow_logs_capture_all_traffic_into_an_encrypted_log_group(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    for region in cfg.region_names:
        key = stack_run.one("aws:kms/key:Key", region)
        (group,) = [
            g for g in stack_run.of_type("aws:cloudwatch/logGroup:LogGroup", region) if g.name == f"{region}-net-flow-logs"
        ]
        assert group.inputs["retentionInDays"] == cfg.log_retention_days
        assert group.inputs["kmsKeyId"] == f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key.name}"
        flow = stack_run.one("aws:ec2/flowLog:FlowLog", region)
        assert flow.inputs["vpcId"] == f"{region}-net-vpc-id"
        assert flow.inputs["trafficType"] == "ALL"
        assert flow.inputs["logDestination"] == f"arn:aws:cloudwatch:{region}:{ACCOUNT_ID}:loggroup/{group.name}"
        role = next(r for r in stack_run.of_type("aws:iam/role:Role", region) if r.name.endswith("flow-logs-role"))
        trust = role.policy("assumeRolePolicy")["Statement"][0]
        assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
        assert flow.inputs["iamRoleArn"].endswith(role.name)
        delivery = next(
            p for p in stack_run.of_type("aws:iam/rolePolicy:RolePolicy", region) if p.name.endswith("flow-logs-delivery")
        )
        group_arn = flow.inputs["logDestination"]
        resources = {s["Sid"]: s["Resource"] for s in delivery.policy()["Statement"]}
        # Its own group and streams; listing groups is authorised on "*" only.
        assert resources == {"DescribeOwnLogGroup": [group_arn], "WriteOwnLogGroup": [f"{group_arn}:*"], "ListLogGroups": ["*"]}


def test_kms_key_rotates_with_an_explicit_policy_and_alias(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    for region in cfg.region_names:
        key = stack_run.one("aws:kms/key:Key", region)
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["deletionWindowInDays"] == cfg.kms_deletion_window_days
        sids = [s["Sid"] for s in key.policy()["Statement"]]
        assert sids == [
            "AccountAdministration",
            "CloudWatchLogsInThisRegion",
            "CloudFrontOriginDecrypt",
            "CloudWatchAlarmsPublishToEncryptedTopic",
            "EventBridgeRulesSendToEncryptedQueues",
        ]
        assert key.policy()["Statement"][1]["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
        alias = stack_run.one("aws:kms/alias:Alias", region)
        assert alias.inputs["name"] == f"alias/multi-region-{stack_run.stack}"
        assert alias.inputs["targetKeyId"] == f"{key.name}-id"


def test_keys_are_protected_in_prod_only(run_stack: ProgramRunner) -> None:
    for stack, protected in (("prod", True), ("dev", False)):
        for key in run_stack(stack).of_type("aws:kms/key:Key"):
            assert (key.protect, key.retain_on_delete) == (protected, protected), f"{stack} {key.name}"


def test_preview_registers_the_same_resources_as_an_update(preview_run: ProgramRun, run_stack: ProgramRunner) -> None:
    update = run_stack(preview_run.stack)
    assert sorted((r.type, r.name) for r in preview_run.resources) == sorted((r.type, r.name) for r in update.resources)
    vpc_ids = [region["vpcId"] for region in preview_run.outputs["regions"].values()]
    assert vpc_ids == [UNKNOWN] * len(update.region_order), "preview mode must leave computed outputs unknown"


def test_outputs_name_every_region(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    assert stack_run.outputs["primaryRegion"] == cfg.primary.name
    assert list(stack_run.outputs["regions"]) == list(cfg.region_names)
    for region, values in stack_run.outputs["regions"].items():
        assert values["vpcId"] == f"{region}-net-vpc-id"
        assert len(values["privateSubnetIds"]) == AZ_COUNT


def test_three_regions_with_latency_routing_build_three_regional_stacks(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS_LATENCY)
    assert run.regions() == ["us-east-1", "eu-west-1", "ap-southeast-2"]
    assert len(run.of_type(VPC)) == 3
    assert run.outputs["routing"]["mode"] == "latency"


def test_subnets_are_tagged_for_kubernetes_load_balancers(stack_run: ProgramRun) -> None:
    for subnet in stack_run.of_type(SUBNET):
        tier = subnet.inputs["tags"]["tier"]
        role_tag = "kubernetes.io/role/elb" if tier == "public" else "kubernetes.io/role/internal-elb"
        assert subnet.inputs["tags"][role_tag] == "1"
