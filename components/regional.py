"""RegionalStack: everything one region runs, under that region's provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import RegionConfig, StackConfig
from components.keys import RegionKey, RegionKeyArgs
from components.network import Network, NetworkArgs


@dataclass(frozen=True)
class RegionalStackArgs:
    """Parameters
    ----------
    config: the whole validated stack config (names, retention, protection).
    region: this region's part of it. The provider passed in ``opts`` must be for the same region.
    """

    config: StackConfig
    region: RegionConfig


class RegionalStack(pulumi.ComponentResource):
    """One region: its KMS key and network (later: EKS, Aurora, MemoryDB, S3, application layer).

    Every child is parented here, so each inherits the regional provider given in ``opts``.

    Example:
        >>> RegionalStack("us-east-1", RegionalStackArgs(config, config.primary),
        ...               pulumi.ResourceOptions(provider=providers["us-east-1"]))
    """

    key: RegionKey
    network: Network

    def __init__(self, name: str, args: RegionalStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:regional:RegionalStack", name, None, opts)
        config, region = args.config, args.region
        child = pulumi.ResourceOptions(parent=self)

        self.key = RegionKey(
            f"{name}-kms",
            RegionKeyArgs(
                region=region.name,
                alias=f"alias/{config.project}-{config.stack}",
                deletion_window_days=config.kms_deletion_window_days,
                protect=config.protect_stateful_resources,
            ),
            child,
        )
        self.network = Network(
            f"{name}-net",
            NetworkArgs(
                region=region.name,
                network=region.network,
                flow_log_retention_days=config.flow_log_retention_days,
                log_key_arn=self.key.key.arn,
            ),
            child,
        )
        self.register_outputs(
            {
                "region": region.name,
                "role": region.role,
                "vpc_id": self.network.vpc.id,
                "private_subnet_ids": [s.id for s in self.network.private_subnets],
                "kms_key_arn": self.key.key.arn,
            }
        )
