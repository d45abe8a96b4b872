"""RegionalStack: everything one region runs, under that region's provider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.api import RegionalApi, RegionalApiArgs
from components.cache import MemoryDbArgs, MemoryDbCluster
from components.compute import EksCluster, EksClusterArgs
from components.config import RegionConfig, StackConfig
from components.database import AuroraGlobal, AuroraRegionalArgs, AuroraRegionalCluster
from components.keys import RegionKey, RegionKeyArgs
from components.network import Network, NetworkArgs
from components.storage import RegionalBucket, RegionalBucketArgs


@dataclass(frozen=True)
class RegionalStackArgs:
    """Parameters
    ----------
    config: the whole validated stack config (names, sizes, protection).
    region: this region's part of it. The provider passed in ``opts`` must be for the same region.
    aurora_global: the global database every region's Aurora cluster joins.
    zone_id: the public hosted zone of ``config.edge.domain_name``, where the regional API's certificate is
        validated (``None`` for a stack without a domain).
    aurora_join_after: for a secondary region, the primary region's ``database.members``, which its Aurora
        cluster waits for (AWS adds a secondary only once the primary cluster has an instance).
    """

    config: StackConfig
    region: RegionConfig
    aurora_global: AuroraGlobal
    zone_id: pulumi.Input[str] | None
    aurora_join_after: Sequence[pulumi.Resource] = ()


class RegionalStack(pulumi.ComponentResource):
    """One region: KMS key, network, EKS, Aurora member cluster, MemoryDB, the regional bucket and the
    regional API endpoint (later: the application layer behind it).

    Every child is parented here, so each inherits the regional provider given in ``opts``. Data stores admit
    only the application and EKS security groups, the wiring of which is visible here.

    Example:
        >>> RegionalStack("us-east-1", RegionalStackArgs(config, config.primary, aurora_global, zone.zone_id),
        ...               pulumi.ResourceOptions(provider=providers["us-east-1"]))
    """

    key: RegionKey
    network: Network
    app_security_group: aws.ec2.SecurityGroup
    eks: EksCluster
    database: AuroraRegionalCluster
    cache: MemoryDbCluster
    bucket: RegionalBucket
    api: RegionalApi

    def __init__(self, name: str, args: RegionalStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:regional:RegionalStack", name, None, opts)
        config, region = args.config, args.region
        protect = config.protect_stateful_resources
        child = pulumi.ResourceOptions(parent=self)

        self.key = RegionKey(
            f"{name}-kms",
            RegionKeyArgs(
                region=region.name,
                alias=f"alias/{config.name_prefix}",
                deletion_window_days=config.kms_deletion_window_days,
                protect=protect,
            ),
            child,
        )
        key_arn = self.key.key.arn
        self.network = Network(
            f"{name}-net",
            NetworkArgs(
                region=region.name,
                network=region.network,
                flow_log_retention_days=config.flow_log_retention_days,
                log_key_arn=key_arn,
            ),
            child,
        )
        vpc_id = self.network.vpc.id
        private_subnet_ids: list[pulumi.Input[str]] = [s.id for s in self.network.private_subnets]

        # The application's functions run in this group; data stores admit it by reference.
        self.app_security_group = aws.ec2.SecurityGroup(
            f"{name}-app-sg",
            vpc_id=vpc_id,
            description="Application functions: egress to AWS APIs over HTTPS and to the VPC's data stores",
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"], description="AWS APIs"
                ),
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=5432, to_port=5432, cidr_blocks=[region.network.vpc_cidr], description="Aurora"
                ),
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=6379, to_port=6379, cidr_blocks=[region.network.vpc_cidr], description="MemoryDB"
                ),
            ],
            opts=pulumi.ResourceOptions(parent=self.network.vpc),
        )
        self.eks = EksCluster(
            f"{name}-eks",
            EksClusterArgs(
                eks=config.eks,
                cluster_name=config.name_prefix,
                region=region.name,
                private_subnet_ids=private_subnet_ids,
                key_arn=key_arn,
                protect=protect,
            ),
            child,
        )
        data_clients: list[pulumi.Input[str]] = [self.app_security_group.id, self.eks.cluster_security_group_id]

        self.database = AuroraRegionalCluster(
            f"{name}-aurora",
            AuroraRegionalArgs(
                aurora=config.aurora,
                region=region.name,
                is_primary=region.is_primary,
                global_cluster_id=args.aurora_global.global_cluster_id,
                master_username=args.aurora_global.master_username,
                master_password=args.aurora_global.master_password,
                vpc_id=vpc_id,
                private_subnet_ids=private_subnet_ids,
                private_subnet_zones=list(self.network.zone_names),
                key_arn=key_arn,
                client_security_group_ids=data_clients,
                protect=protect,
                join_after=args.aurora_join_after,
            ),
            child,
        )
        self.cache = MemoryDbCluster(
            f"{name}-memorydb",
            MemoryDbArgs(
                memorydb=config.memorydb,
                name_prefix=config.name_prefix,
                vpc_id=vpc_id,
                private_subnet_ids=private_subnet_ids,
                key_arn=key_arn,
                client_security_group_ids=data_clients,
                protect=protect,
            ),
            child,
        )
        self.bucket = RegionalBucket(
            f"{name}-bucket",
            RegionalBucketArgs(
                region=region.name, key_arn=key_arn, noncurrent_version_days=config.noncurrent_version_days, protect=protect
            ),
            child,
        )
        self.api = RegionalApi(
            f"{name}-api",
            RegionalApiArgs(
                api_name=config.name_prefix,
                domain_name=config.edge.domain_name,
                zone_id=args.zone_id,
                key_arn=key_arn,
                health_check_path=config.edge.health_check_path,
                protect=protect,
            ),
            child,
        )
        self.register_outputs(
            {
                "region": region.name,
                "role": region.role,
                "vpc_id": vpc_id,
                "private_subnet_ids": private_subnet_ids,
                "kms_key_arn": key_arn,
                "bucket_name": self.bucket.bucket_name,
                "api_endpoint_host": self.api.api_endpoint_host,
            }
        )
