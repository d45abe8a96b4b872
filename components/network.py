"""A region's network: VPC over three AZs (chosen by zone ID), private and public subnets, NAT, gateway endpoints, flow logs."""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import AZ_COUNT, NetworkConfig
from components.network_plan import choose_zones, plan_subnets
from components.policies import assume_role_policy, flow_log_delivery_policy

# Services reached through gateway endpoints: free, and they keep S3 and DynamoDB traffic off the NAT.
GATEWAY_ENDPOINT_SERVICES = ("s3", "dynamodb")
_ELB_ROLE_TAG = {True: "kubernetes.io/role/elb", False: "kubernetes.io/role/internal-elb"}


@dataclass(frozen=True)
class NetworkArgs:
    """Parameters
    ----------
    region: the region of the provider this component inherits (used in endpoint service names).
    network: CIDR plan and NAT mode from the stack config.
    flow_log_retention_days: retention of the flow-log group.
    log_key_arn: the region's KMS key, encrypting the flow-log group.
    """

    region: str
    network: NetworkConfig
    flow_log_retention_days: int
    log_key_arn: pulumi.Input[str]


class Network(pulumi.ComponentResource):
    """VPC with one private and one public subnet per AZ.

    Private subnets route to the internet only through NAT (one per AZ, or a single one to save cost) and to
    S3 and DynamoDB through gateway endpoints. The default security group is emptied so that nothing is
    ever admitted by accident, and every flow is logged to an encrypted log group.
    """

    vpc: aws.ec2.Vpc
    private_subnets: list[aws.ec2.Subnet]
    public_subnets: list[aws.ec2.Subnet]
    private_route_tables: list[aws.ec2.RouteTable]
    nat_gateways: list[aws.ec2.NatGateway]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:network:Network", name, None, opts)
        net = args.network
        plan = plan_subnets(net.vpc_cidr, net.private_subnet_prefix, net.public_subnet_prefix, AZ_COUNT)
        zone_ids = self._zones()
        self.vpc = self._vpc(name, plan.vpc_cidr)
        self.public_subnets = [
            self._subnet(f"{name}-public-{i}", cidr, zone_ids[i], public=True) for i, cidr in enumerate(plan.public)
        ]
        self.private_subnets = [
            self._subnet(f"{name}-private-{i}", cidr, zone_ids[i], public=False) for i, cidr in enumerate(plan.private)
        ]
        self._public_routes(name)
        nat_count = AZ_COUNT if net.nat_gateways == "per-az" else 1
        self.nat_gateways = [self._nat_gateway(f"{name}-nat-{i}", self.public_subnets[i]) for i in range(nat_count)]
        self.private_route_tables = self._private_routes(name)
        self._gateway_endpoints(name, args.region)
        self._flow_logs(name, args)
        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "private_subnet_ids": [s.id for s in self.private_subnets],
                "public_subnet_ids": [s.id for s in self.public_subnets],
            }
        )

    def _zones(self) -> list[pulumi.Output[str]]:
        """The zone IDs the subnets go in, in subnet order; sets ``zone_names``, the same zones by this account's names."""
        offered = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self))
        chosen = pulumi.Output.all(offered.names, offered.zone_ids).apply(lambda v: choose_zones(v[0], v[1], AZ_COUNT))
        zones = [chosen.apply(operator.itemgetter(i)) for i in range(AZ_COUNT)]
        # The zone names of this account, in subnet order (the Aurora instances are placed by name).
        self.zone_names: list[pulumi.Output[str]] = [zone.apply(lambda z: z.name) for zone in zones]
        return [zone.apply(lambda z: z.zone_id) for zone in zones]

    def _vpc(self, name: str, cidr: str) -> aws.ec2.Vpc:
        """The VPC, and its default security group stripped of every rule."""
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=pulumi.ResourceOptions(parent=vpc)
        )
        return vpc

    def _public_routes(self, name: str) -> None:
        """The internet gateway and the public subnets' route table, its default route through the gateway."""
        internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": f"{name}-igw"}, opts=pulumi.ResourceOptions(parent=self.vpc)
        )
        public_routes = self._route_table(f"{name}-public-rt", self.public_subnets)
        aws.ec2.Route(
            f"{name}-public-default-route",
            route_table_id=public_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=internet_gateway.id,
            opts=pulumi.ResourceOptions(parent=public_routes),
        )

    def _private_routes(self, name: str) -> list[aws.ec2.RouteTable]:
        """A route table per private subnet, its default route through the NAT gateway of its AZ (or the only one)."""
        tables = []
        for i, subnet in enumerate(self.private_subnets):
            table = self._route_table(f"{name}-private-rt-{i}", [subnet])
            aws.ec2.Route(
                f"{name}-private-default-route-{i}",
                route_table_id=table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=self.nat_gateways[i % len(self.nat_gateways)].id,
                opts=pulumi.ResourceOptions(parent=table),
            )
            tables.append(table)
        return tables

    def _gateway_endpoints(self, name: str, region: str) -> None:
        for service in GATEWAY_ENDPOINT_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{name}-{service}-endpoint",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=[t.id for t in self.private_route_tables],
                tags={"Name": f"{name}-{service}-endpoint"},
                opts=pulumi.ResourceOptions(parent=self.vpc),
            )

    def _subnet(self, name: str, cidr: str, zone_id: pulumi.Output[str], *, public: bool) -> aws.ec2.Subnet:
        return aws.ec2.Subnet(
            name,
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            # By zone ID: the same physical zone in every account (names are shuffled per account).
            availability_zone_id=zone_id,
            # Public subnets hold NAT gateways and load balancers, which get their own addresses;
            # nothing launched there is given a public IP by default.
            map_public_ip_on_launch=False,
            # The role tags tell Kubernetes (the AWS load balancer controller) where each kind of load balancer goes.
            tags={"Name": name, "tier": "public" if public else "private", _ELB_ROLE_TAG[public]: "1"},
            opts=pulumi.ResourceOptions(parent=self.vpc),
        )

    def _route_table(self, name: str, subnets: list[aws.ec2.Subnet]) -> aws.ec2.RouteTable:
        table = aws.ec2.RouteTable(name, vpc_id=self.vpc.id, tags={"Name": name}, opts=pulumi.ResourceOptions(parent=self.vpc))
        for i, subnet in enumerate(subnets):
            aws.ec2.RouteTableAssociation(
                f"{name}-assoc-{i}",
                route_table_id=table.id,
                subnet_id=subnet.id,
                opts=pulumi.ResourceOptions(parent=table),
            )
        return table

    def _nat_gateway(self, name: str, subnet: aws.ec2.Subnet) -> aws.ec2.NatGateway:
        in_subnet = pulumi.ResourceOptions(parent=subnet)
        address = aws.ec2.Eip(f"{name}-eip", domain="vpc", tags={"Name": f"{name}-eip"}, opts=in_subnet)
        return aws.ec2.NatGateway(name, subnet_id=subnet.id, allocation_id=address.id, tags={"Name": name}, opts=in_subnet)

    def _flow_logs(self, name: str, args: NetworkArgs) -> None:
        in_vpc = pulumi.ResourceOptions(parent=self.vpc)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.log_key_arn,
            opts=in_vpc,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=identity.account_id.apply(
                lambda account: json.dumps(assume_role_policy("vpc-flow-logs.amazonaws.com", account))
            ),
            opts=pulumi.ResourceOptions(parent=log_group),
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-delivery",
            role=role.id,
            policy=log_group.arn.apply(lambda arn: json.dumps(flow_log_delivery_policy(arn))),
            opts=pulumi.ResourceOptions(parent=role),
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            opts=in_vpc,
        )
