"""MemoryDB (Redis OSS) in one region: TLS, KMS, an ACL with a real user, replicas across AZs."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import MemoryDbConfig


@dataclass(frozen=True)
class MemoryDbArgs:
    """Parameters
    ----------
    memorydb: engine and sizes from the stack config.
    name_prefix: ``<project>-<stack>``, for the MemoryDB names that must be unique in the region.
    vpc_id, private_subnet_ids: placement.
    key_arn: this region's KMS key.
    client_security_group_ids: the only security groups admitted on 6379.
    protect: Pulumi protection (production).
    """

    memorydb: MemoryDbConfig
    name_prefix: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    key_arn: pulumi.Input[str]
    client_security_group_ids: list[pulumi.Input[str]]
    protect: bool


class MemoryDbCluster(pulumi.ComponentResource):
    """The region's MemoryDB cluster."""

    def __init__(self, name: str, args: MemoryDbArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:cache:MemoryDbCluster", name, None, opts)
        self.register_outputs({})
