"""EKS per region: control plane, node group, IAM roles, workload identity, asserted on registered inputs."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.compute import EksCluster, EksClusterArgs, node_ami_type
from components.config import RegionConfig, StackConfig
from components.policies import managed_policy_arn
from planning.harness import ACCOUNT_ID, ProgramRun, Resource
from tests.support.program import ProgramRunner, component_in_regions

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
OPERATOR_CIDR = "203.0.113.0/24"


def _private_subnet_ids(run: ProgramRun, region: str) -> list[str]:
    subnets = run.of_type("aws:ec2/subnet:Subnet", region)
    return sorted(f"{s.name}-id" for s in subnets if s.inputs["tags"]["tier"] == "private")


def _eks(config: StackConfig, region: RegionConfig, opts: pulumi.ResourceOptions) -> EksCluster:
    """The region's EKS component as the program builds it, on placeholder subnets and key."""
    args = EksClusterArgs(
        eks=config.eks,
        cluster_name=config.name_prefix,
        region=region.name,
        private_subnet_ids=[f"{region.name}-private-{zone}" for zone in range(3)],
        key_arn=f"arn:aws:kms:{region.name}:{ACCOUNT_ID}:key/{region.name}-kms-key",
        log_retention_days=config.log_retention_days,
        protect=config.protect_stateful_resources,
    )
    return EksCluster(f"{region.name}-eks", args, opts)


def _role(run: ProgramRun, region: str, suffix: str) -> Resource:
    (role,) = [r for r in run.of_type(ROLE, region) if r.name == f"{region}-eks-{suffix}"]
    return role


def trust_of(service: str) -> dict[str, object]:
    """The trust policy EKS's user guide writes for its cluster and node roles: one service, no condition."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def _managed_policies(run: ProgramRun, region: str, role: Resource) -> list[str]:
    return sorted(a.inputs["policyArn"] for a in run.of_type(ATTACHMENT, region) if a.inputs["role"] == f"{role.name}-id")


# ---- pure helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("instance_type", ["m7g.large", "t4g.medium", "c7gn.xlarge", "r8gd.2xlarge", "a1.large", "m6g.metal"])
def test_graviton_instances_get_the_arm_ami(instance_type: str) -> None:
    assert node_ami_type(instance_type) == "AL2023_ARM_64_STANDARD"


@pytest.mark.parametrize("instance_type", ["m7i.large", "t3.medium", "c5n.xlarge", "m7i-flex.large", "g5.xlarge", "m7a.large"])
def test_other_instances_get_the_x86_ami(instance_type: str) -> None:
    assert node_ami_type(instance_type) == "AL2023_x86_64_STANDARD"


def test_managed_policy_arns_follow_the_partition() -> None:
    assert managed_policy_arn("aws", "AmazonEKSClusterPolicy") == "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
    assert managed_policy_arn("aws-cn", "AmazonEKS_CNI_Policy") == "arn:aws-cn:iam::aws:policy/AmazonEKS_CNI_Policy"


# ---- the program, per region -------------------------------------------------------------------------


def test_cluster_version_encryption_and_logs(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    for region in cfg.region_names:
        cluster = stack_run.one(CLUSTER, region)
        key = stack_run.one("aws:kms/key:Key", region)
        assert cluster.inputs["name"] == f"multi-region-{stack_run.stack}"
        assert cluster.inputs["version"] == cfg.eks.version
        assert cluster.inputs["upgradePolicy"] == {"supportType": "STANDARD"}
        assert cluster.inputs["encryptionConfig"] == {
            "resources": ["secrets"],
            "provider": {"keyArn": f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key.name}"},
        }
        assert cluster.inputs["enabledClusterLogTypes"] == LOG_TYPES
        assert cluster.inputs["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}


def test_control_plane_logs_go_to_an_encrypted_group_created_first(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        cluster = stack_run.one(CLUSTER, region)
        key = stack_run.one("aws:kms/key:Key", region)
        (group,) = [
            g
            for g in stack_run.of_type("aws:cloudwatch/logGroup:LogGroup", region)
            if g.name == f"{region}-eks-control-plane-logs"
        ]
        assert group.inputs["name"] == f"/aws/eks/{cluster.inputs['name']}/cluster"
        assert group.inputs["kmsKeyId"] == f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key.name}"
        assert group.inputs["retentionInDays"] == stack_run.config.log_retention_days


def test_endpoint_is_private_only_by_default(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        vpc = stack_run.one(CLUSTER, region).inputs["vpcConfig"]
        assert vpc["endpointPrivateAccess"] is True
        assert vpc["endpointPublicAccess"] is False
        assert "publicAccessCidrs" not in vpc
        assert sorted(vpc["subnetIds"]) == _private_subnet_ids(stack_run, region)
        assert len(vpc["subnetIds"]) == 3


def test_endpoint_is_public_only_to_the_configured_cidrs() -> None:
    run = component_in_regions("prod", _eks, eksPublicAccessCidrs=[OPERATOR_CIDR])
    for region in run.config.region_names:
        vpc = run.one(CLUSTER, region).inputs["vpcConfig"]
        assert vpc["endpointPrivateAccess"] is True
        assert vpc["endpointPublicAccess"] is True
        assert vpc["publicAccessCidrs"] == [OPERATOR_CIDR]


def test_node_group_in_private_subnets_without_ssh(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    for region in cfg.region_names:
        cluster = stack_run.one(CLUSTER, region)
        nodes = stack_run.one(NODE_GROUP, region)
        assert nodes.parent == cluster.urn
        assert nodes.inputs["clusterName"] == cluster.inputs["name"]
        assert nodes.inputs["version"] == cfg.eks.version
        assert sorted(nodes.inputs["subnetIds"]) == _private_subnet_ids(stack_run, region)
        assert "remoteAccess" not in nodes.inputs
        assert nodes.inputs["instanceTypes"] == [cfg.eks.node_instance_type]
        assert nodes.inputs["capacityType"] == "ON_DEMAND"
        assert nodes.inputs["scalingConfig"] == {
            "minSize": cfg.eks.node_min,
            "desiredSize": cfg.eks.node_desired,
            "maxSize": cfg.eks.node_max,
        }
        assert nodes.inputs["updateConfig"] == {"maxUnavailable": 1}
        assert nodes.ignore_changes == ("scalingConfig.desiredSize",)
        assert nodes.inputs["nodeRoleArn"] == f"arn:aws:iam:{region}:{ACCOUNT_ID}:role/{region}-eks-node-role"


def test_node_sizes_and_arm_ami_per_stack(run_stack: ProgramRunner) -> None:
    expected = {"prod": ("m7g.large", 3, 3, 9), "dev": ("t4g.medium", 1, 1, 2)}
    for stack, (instance_type, low, desired, high) in expected.items():
        for nodes in run_stack(stack).of_type(NODE_GROUP):
            assert nodes.inputs["instanceTypes"] == [instance_type]
            assert nodes.inputs["amiType"] == "AL2023_ARM_64_STANDARD"
            scaling = nodes.inputs["scalingConfig"]
            assert (scaling["minSize"], scaling["desiredSize"], scaling["maxSize"]) == (low, desired, high)


def test_x86_instance_type_gets_the_x86_ami() -> None:
    run = component_in_regions("dev", _eks, eksNodeInstanceType="m7i.large")
    assert len(run.of_type(NODE_GROUP)) == len(run.config.regions) == 2
    for nodes in run.of_type(NODE_GROUP):
        assert nodes.inputs["instanceTypes"] == ["m7i.large"]
        assert nodes.inputs["amiType"] == "AL2023_x86_64_STANDARD"


def test_cluster_role_trusts_eks_with_only_the_cluster_policy(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        role = _role(stack_run, region, "cluster-role")
        cluster = stack_run.one(CLUSTER, region)
        assert cluster.inputs["roleArn"] == f"arn:aws:iam:{region}:{ACCOUNT_ID}:role/{role.name}"
        assert role.policy("assumeRolePolicy") == trust_of("eks.amazonaws.com")
        assert "managedPolicyArns" not in role.inputs and "inlinePolicies" not in role.inputs
        assert _managed_policies(stack_run, region, role) == ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"]


def test_node_role_trusts_ec2_with_only_the_node_policies(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        role = _role(stack_run, region, "node-role")
        assert role.policy("assumeRolePolicy") == trust_of("ec2.amazonaws.com")
        assert "managedPolicyArns" not in role.inputs and "inlinePolicies" not in role.inputs
        assert _managed_policies(stack_run, region, role) == [
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        ]


def test_no_inline_policies_on_the_eks_roles(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        role_ids = {f"{_role(stack_run, region, suffix).name}-id" for suffix in ("cluster-role", "node-role")}
        inline = [p for p in stack_run.of_type("aws:iam/rolePolicy:RolePolicy", region) if p.inputs["role"] in role_ids]
        assert inline == []


def test_workloads_get_aws_access_through_pod_identity(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        cluster = stack_run.one(CLUSTER, region)
        addon = stack_run.one(ADDON, region)
        assert addon.inputs["addonName"] == "eks-pod-identity-agent"
        assert addon.inputs["clusterName"] == cluster.inputs["name"]
        assert addon.parent == cluster.urn
        assert stack_run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider", region) == []


def test_data_stores_admit_the_cluster_security_group(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        group_id = f"{stack_run.one(CLUSTER, region).name}-cluster-sg-id"
        admitting = [r for r in stack_run.in_region(region) if r.type != CLUSTER and group_id in json.dumps(r.inputs)]
        assert admitting, f"nothing in {region} references the EKS cluster security group"


def test_cluster_protected_in_prod_only(run_stack: ProgramRunner) -> None:
    for stack, protected in (("prod", True), ("dev", False)):
        for cluster in run_stack(stack).of_type(CLUSTER):
            assert (cluster.protect, cluster.retain_on_delete) == (protected, protected), f"{stack} {cluster.name}"
            assert cluster.inputs["deletionProtection"] is protected
        for replaceable in run_stack(stack).of_type(NODE_GROUP) + run_stack(stack).of_type(ADDON):
            assert replaceable.protect is False, f"{stack} {replaceable.name}"


def test_eks_lives_under_the_regional_component(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        (component,) = [c for c in stack_run.of_type("multi-region:compute:EksCluster", region) if c.name == f"{region}-eks"]
        below = {(r.type, r.name) for r in stack_run.descendants(component)}
        assert {
            (CLUSTER, f"{region}-eks-cluster"),
            (NODE_GROUP, f"{region}-eks-nodes"),
            (ROLE, f"{region}-eks-node-role"),
        } <= below


def test_preview_registers_the_cluster_and_node_group_in_every_region(preview_run: ProgramRun) -> None:
    regions = preview_run.config.region_names
    assert len(regions) >= 2
    for region in regions:
        assert preview_run.one(CLUSTER, region).inputs["version"] == preview_run.config.eks.version
        preview_run.one(NODE_GROUP, region)
        preview_run.one(ADDON, region)
        attachments = [a for a in preview_run.of_type(ATTACHMENT, region) if a.name.startswith(f"{region}-eks-")]
        assert len(attachments) == 4


def test_nodes_require_imdsv2_with_one_hop_and_encrypted_volumes(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        template = stack_run.one("aws:ec2/launchTemplate:LaunchTemplate", region)
        metadata = template.inputs["metadataOptions"]
        assert (metadata["httpTokens"], metadata["httpPutResponseHopLimit"]) == ("required", 1)
        assert all(m["ebs"]["encrypted"] == "true" for m in template.inputs["blockDeviceMappings"])
        assert "imageId" not in template.inputs, "the node group's AMI type chooses the image"
        assert "keyName" not in template.inputs, "no SSH key on the nodes"
        nodes = stack_run.one(NODE_GROUP, region)
        assert nodes.inputs["launchTemplate"] == {"id": f"{template.name}-id", "version": "1"}


def test_cluster_name_is_project_and_stack_in_every_region(stack_run: ProgramRun) -> None:
    names = {c.region: c.inputs["name"] for c in stack_run.of_type(CLUSTER)}
    assert set(names.values()) == {f"multi-region-{stack_run.stack}"}
