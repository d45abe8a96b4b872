"""EKS in one region: control plane, managed node group, workload identity (EKS Pod Identity).

Why Pod Identity rather than OIDC, access entries only, a fixed cluster name and standard support only:
docs/design/compute.md.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import EksConfig
from components.policies import assume_role_policy, managed_policy_arn

# Every control-plane log type EKS can ship to CloudWatch Logs.
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
# What a node needs to join the cluster, run the VPC CNI (which assigns pod IPs from the VPC) and pull images.
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
POD_IDENTITY_AGENT = "eks-pod-identity-agent"

# Graviton (ARM) families: a1, and every family whose generation digit is followed by "g" (m7g, t4g, c7gn, r8gd).
_ARM_FAMILY = re.compile(r"^(a1|[a-z]+[0-9]+g[a-z0-9-]*)$")


def node_ami_type(instance_type: str) -> str:
    """The EKS-optimized Amazon Linux 2023 AMI type matching the instance type's CPU architecture.

    Example:
        >>> node_ami_type("m7g.large"), node_ami_type("m7i.large")
        ('AL2023_ARM_64_STANDARD', 'AL2023_x86_64_STANDARD')
    """
    family = instance_type.split(".", 1)[0]
    return "AL2023_ARM_64_STANDARD" if _ARM_FAMILY.match(family) else "AL2023_x86_64_STANDARD"


@dataclass(frozen=True)
class EksClusterArgs:
    """Parameters
    ----------
    eks: versions and sizes from the stack config.
    cluster_name: the EKS cluster name, ``<project>-<stack>``: the same in every region, as names are regional.
    region: the region of the inherited provider.
    private_subnet_ids: where the control plane ENIs and the nodes live (EKS takes the VPC from them).
    key_arn: the region's KMS key, encrypting Kubernetes secrets and the control-plane logs.
    log_retention_days: of the control-plane log group (``logRetentionDays``).
    protect: protect stateful parts (production).
    """

    eks: EksConfig
    cluster_name: str
    region: str
    private_subnet_ids: list[pulumi.Input[str]]
    key_arn: pulumi.Input[str]
    log_retention_days: int
    protect: bool


class EksCluster(pulumi.ComponentResource):
    """EKS cluster and its managed node group in the private subnets.

    The API endpoint is private; it is public too only when ``eks.public_access_cidrs`` lists operator CIDRs,
    and then only to those. Secrets are encrypted with the region's key, every control-plane log type goes to
    an encrypted log group, and the nodes (no SSH) run in the private subnets with the cluster security
    group EKS creates, which is what the data stores admit (``cluster_security_group_id``).

    Example:
        >>> EksCluster("us-east-1-eks",
        ...            EksClusterArgs(config.eks, "multi-region-prod", "us-east-1", subnet_ids, key.arn, 365, True),
        ...            pulumi.ResourceOptions(parent=regional_stack))
    """

    cluster: aws.eks.Cluster
    cluster_role: aws.iam.Role
    node_role: aws.iam.Role
    node_group: aws.eks.NodeGroup
    pod_identity_agent: aws.eks.Addon
    cluster_name: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:compute:EksCluster", name, None, opts)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        self.cluster_role, cluster_policies = self._service_role(
            f"{name}-cluster-role",
            f"EKS control plane of {args.cluster_name} in {args.region}",
            "eks.amazonaws.com",
            CLUSTER_POLICIES,
            partition,
        )
        log_group = self._control_plane_logs(name, args)
        self.cluster = self._cluster(name, args, depends_on=[*cluster_policies, log_group])
        self.node_role, node_policies = self._service_role(
            f"{name}-node-role",
            f"EKS managed nodes of {args.cluster_name} in {args.region}",
            "ec2.amazonaws.com",
            NODE_POLICIES,
            partition,
        )
        self.node_group = self._node_group(name, args, self._launch_template(name, args), node_policies)
        self.pod_identity_agent = aws.eks.Addon(
            f"{name}-pod-identity-agent",
            cluster_name=self.cluster.name,
            addon_name=POD_IDENTITY_AGENT,
            resolve_conflicts_on_update="OVERWRITE",
            # A DaemonSet: it reports healthy only once there are nodes to run on.
            opts=pulumi.ResourceOptions(parent=self.cluster, depends_on=[self.node_group], protect=False),
        )
        self.cluster_name = self.cluster.name
        self.cluster_security_group_id = self.cluster.vpc_config.apply(_cluster_security_group_id)
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_arn": self.cluster.arn,
                "cluster_security_group_id": self.cluster_security_group_id,
                "node_role_arn": self.node_role.arn,
            }
        )

    def _control_plane_logs(self, name: str, args: EksClusterArgs) -> aws.cloudwatch.LogGroup:
        """The group EKS ships the control-plane logs to, made first so that it has a retention and the region's key."""
        return aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _cluster(self, name: str, args: EksClusterArgs, depends_on: list[pulumi.Resource]) -> aws.eks.Cluster:
        """The control plane: private endpoint (public only to the configured CIDRs), secrets under the region's key."""
        eks = args.eks
        public = bool(eks.public_access_cidrs)
        return aws.eks.Cluster(
            f"{name}-cluster",
            name=args.cluster_name,
            version=eks.version,
            role_arn=self.cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=public,
                public_access_cidrs=list(eks.public_access_cidrs) if public else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.key_arn),
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=args.protect,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The role must keep its policy until EKS has removed the ENIs and security groups it made,
                # and the log group must exist before EKS would create one of its own.
                depends_on=depends_on,
                protect=args.protect,
                retain_on_delete=args.protect,
            ),
        )

    def _launch_template(self, name: str, args: EksClusterArgs) -> aws.ec2.LaunchTemplate:
        """IMDSv2 only, one hop: pods (a hop further than the node) cannot fetch the node role's credentials from the
        instance metadata service; they get their own through Pod Identity. Root volumes encrypted."""
        return aws.ec2.LaunchTemplate(
            f"{name}-nodes-template",
            description=f"EKS managed nodes of {args.cluster_name} in {args.region}: IMDSv2, encrypted volumes",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(encrypted="true", volume_size=50, volume_type="gp3"),
                )
            ],
            update_default_version=True,
            opts=pulumi.ResourceOptions(parent=self.cluster, protect=False),
        )

    def _node_group(
        self,
        name: str,
        args: EksClusterArgs,
        launch_template: aws.ec2.LaunchTemplate,
        node_policies: list[aws.iam.RolePolicyAttachment],
    ) -> aws.eks.NodeGroup:
        """The managed node group in the private subnets, on the launch template."""
        eks = args.eks
        return aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=self.cluster.name,
            # Nodes follow the control plane's version, so an upgrade of eksVersion rolls them after it.
            version=self.cluster.version,
            node_role_arn=self.node_role.arn,
            subnet_ids=args.private_subnet_ids,
            instance_types=[eks.node_instance_type],
            ami_type=node_ami_type(eks.node_instance_type),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id, version=launch_template.latest_version.apply(str)
            ),
            capacity_type="ON_DEMAND",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=eks.node_min, desired_size=eks.node_desired, max_size=eks.node_max
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            opts=pulumi.ResourceOptions(
                parent=self.cluster,
                depends_on=node_policies,
                # The cluster's protection is not the nodes': a new instance type replaces the group.
                protect=False,
                # The cluster autoscaler owns the desired size after creation; an update must not reset it.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

    def _service_role(
        self, name: str, description: str, service: str, policies: tuple[str, ...], partition: pulumi.Output[str]
    ) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        """A role only ``service`` may assume, with exactly the AWS managed ``policies`` attached."""
        role = aws.iam.Role(
            name,
            description=description,
            assume_role_policy=json.dumps(assume_role_policy(service)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role, attach_managed_policies(name, role, policies, partition)


def attach_managed_policies(
    name: str, role: aws.iam.Role, policies: Sequence[str], partition: pulumi.Output[str]
) -> list[aws.iam.RolePolicyAttachment]:
    """Attach AWS managed policies to a role, one attachment per policy, each under the role and named for the policy
    (its last path part: ``service-role/X`` gives ``<name>-X``)."""
    return [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy.rsplit('/', 1)[-1]}",
            role=role.id,
            policy_arn=partition.apply(functools.partial(managed_policy_arn, policy=policy)),
            opts=pulumi.ResourceOptions(parent=role),
        )
        for policy in policies
    ]


def _cluster_security_group_id(vpc_config: aws.eks.outputs.ClusterVpcConfig) -> str:
    """The security group EKS creates for the cluster; managed nodes get it, so data stores admit it."""
    if not vpc_config.cluster_security_group_id:
        raise ValueError("EKS reported no cluster security group")
    return vpc_config.cluster_security_group_id
