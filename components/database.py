"""Aurora PostgreSQL Global Database: the global cluster, and each region's member cluster."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import AuroraConfig


@dataclass(frozen=True)
class AuroraGlobalArgs:
    """Parameters
    ----------
    aurora: engine and sizes from the stack config.
    identifier: the global cluster identifier, ``<project>-<stack>``.
    protect: deletion protection and Pulumi protection (production).
    """

    aurora: AuroraConfig
    identifier: str
    protect: bool


class AuroraGlobal(pulumi.ComponentResource):
    """The global cluster every regional cluster joins, and the generated master password."""

    global_cluster_id: pulumi.Output[str]
    master_username: str
    master_password: pulumi.Output[str]

    def __init__(self, name: str, args: AuroraGlobalArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:database:AuroraGlobal", name, None, opts)
        self.global_cluster_id = pulumi.Output.from_input(args.identifier)
        self.master_username = "app_admin"
        self.master_password = pulumi.Output.secret("")
        self.register_outputs({})


@dataclass(frozen=True)
class AuroraRegionalArgs:
    """Parameters
    ----------
    aurora: engine and sizes from the stack config.
    region: the region of the inherited provider.
    is_primary: whether this region holds the writer at first deploy (see the reconcile notes in the module).
    global_cluster_id: the global cluster to join.
    master_username, master_password: used only by the primary cluster at creation.
    vpc_id, private_subnet_ids: placement.
    key_arn: this region's KMS key (storage, Performance Insights).
    client_security_group_ids: the only security groups admitted on 5432.
    protect: deletion protection, final snapshot and Pulumi protection (production).
    """

    aurora: AuroraConfig
    region: str
    is_primary: bool
    global_cluster_id: pulumi.Input[str]
    master_username: str
    master_password: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    key_arn: pulumi.Input[str]
    client_security_group_ids: list[pulumi.Input[str]]
    protect: bool


class AuroraRegionalCluster(pulumi.ComponentResource):
    """This region's member of the global database."""

    def __init__(self, name: str, args: AuroraRegionalArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:database:AuroraRegionalCluster", name, None, opts)
        self.register_outputs({})
