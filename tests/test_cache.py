"""MemoryDB per region: TLS, the region's key, an ACL with an IAM-authenticated user, replicas, snapshots, a
subnet group over the private subnets and a security group open on 6379 to the client groups only."""

from __future__ import annotations

import pulumi
import pytest

from components.cache import (
    APP_ACCESS_STRING,
    NAME_MAX_LENGTH,
    REDIS_PORT,
    MemoryDbArgs,
    MemoryDbCluster,
    client_ingress,
    memorydb_name,
    needs_data_tiering,
)
from components.config import RegionConfig, StackConfig
from planning.harness import ACCOUNT_ID, ProgramRun, Resource
from planning.parity import compare_regions
from tests.support.program import ProgramRunner, component_in_regions, program

CLUSTER = "aws:memorydb/cluster:Cluster"
ACL = "aws:memorydb/acl:Acl"
USER = "aws:memorydb/user:User"
SUBNET_GROUP = "aws:memorydb/subnetGroup:SubnetGroup"
PASSWORD = "random:index/randomPassword:RandomPassword"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
COMPONENT = "multi-region:cache:MemoryDbCluster"


def _memorydb(config: StackConfig, region: RegionConfig, opts: pulumi.ResourceOptions) -> MemoryDbCluster:
    """The region's MemoryDB component as the program builds it, in a placeholder VPC."""
    args = MemoryDbArgs(
        memorydb=config.memorydb,
        name_prefix=config.name_prefix,
        vpc_id=f"{region.name}-net-vpc-id",
        private_subnet_ids=[f"{region.name}-private-{zone}" for zone in range(3)],
        key_arn=f"arn:aws:kms:{region.name}:{ACCOUNT_ID}:key/{region.name}-kms-key",
        client_security_group_ids=[f"{region.name}-app-sg-id"],
        protect=config.protect_stateful_resources,
    )
    return MemoryDbCluster(f"{region.name}-memorydb", args, opts)


def _cache_security_group(run: ProgramRun, region: str) -> Resource:
    (group,) = [g for g in run.of_type(SECURITY_GROUP, region) if g.name == f"{region}-memorydb-sg"]
    return group


# ---- pure helpers -----------------------------------------------------------------------------------


def test_memorydb_names_are_valid_and_derived_from_the_prefix() -> None:
    assert memorydb_name("multi-region-prod") == "multi-region-prod"
    assert memorydb_name("multi-region-prod", "app") == "multi-region-prod-app"
    assert memorydb_name("Multi_Region--QA", "App") == "multi-region-qa-app"


def test_long_memorydb_names_are_cut_but_stay_distinct() -> None:
    first = memorydb_name("multi-region-" + "a" * 40, "app")
    second = memorydb_name("multi-region-" + "a" * 40, "ops")
    assert first != second
    for name in (first, second):
        assert len(name) <= NAME_MAX_LENGTH
        assert "--" not in name and not name.endswith("-") and name[0].isalpha()


def test_memorydb_names_must_start_with_a_letter() -> None:
    with pytest.raises(ValueError, match="must start with a letter"):
        memorydb_name("1-region")


def test_data_tiering_only_on_r6gd() -> None:
    assert needs_data_tiering("db.r6gd.xlarge") is True
    assert needs_data_tiering("db.r7g.large") is False
    assert needs_data_tiering("db.t4g.small") is False


def test_client_ingress_admits_each_client_group_on_6379_only() -> None:
    rules = client_ingress(["sg-app", "sg-eks"])
    assert [r.security_groups for r in rules] == [["sg-app"], ["sg-eks"]]
    for rule in rules:
        assert (rule.protocol, rule.from_port, rule.to_port) == ("tcp", REDIS_PORT, REDIS_PORT)
        assert rule.cidr_blocks is None and rule.ipv6_cidr_blocks is None and rule.prefix_list_ids is None
        assert rule.self is None
    assert client_ingress([]) == []


def test_application_access_string_is_on_and_has_no_admin_commands() -> None:
    assert APP_ACCESS_STRING.split()[0] == "on"
    assert "nopass" not in APP_ACCESS_STRING and ">" not in APP_ACCESS_STRING
    assert APP_ACCESS_STRING.split()[-1] == "-@dangerous"


# ---- the program, per region ------------------------------------------------------------------------


def test_cluster_uses_tls_the_regions_key_and_its_own_acl(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    for region in cfg.region_names:
        cluster = stack_run.one(CLUSTER, region)
        acl = stack_run.one(ACL, region)
        key = stack_run.one("aws:kms/key:Key", region)
        assert cluster.inputs["tlsEnabled"] is True
        assert cluster.inputs["kmsKeyArn"] == f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key.name}"
        assert cluster.inputs["aclName"] == acl.inputs["name"] == f"multi-region-{stack_run.stack}-app"
        assert cluster.inputs["aclName"] != "open-access"
        # The committed stacks run Valkey (Redis OSS has no 7.2 or later).
        assert (cluster.inputs["engine"], cluster.inputs["engineVersion"]) == ("valkey", "7.3")
        assert cluster.inputs["port"] == REDIS_PORT
        assert cluster.inputs["autoMinorVersionUpgrade"] is True


def test_acl_lists_only_the_application_user_authenticated_by_iam_without_a_password(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        acl = stack_run.one(ACL, region)
        user = stack_run.one(USER, region)
        component = stack_run.one(COMPONENT, region)
        assert user.inputs["userName"] == f"multi-region-{stack_run.stack}-app"
        assert acl.inputs["userNames"] == [user.inputs["userName"]]
        assert user.inputs["accessString"] == APP_ACCESS_STRING
        assert user.inputs["authenticationMode"] == {"type": "iam"}
        assert user.parent == acl.parent == component.urn
        # No password is generated for the cache any more (the Aurora master's is the only one).
        assert not [p for p in stack_run.of_type(PASSWORD, region) if p.parent == component.urn]


def test_replicas_and_snapshots_follow_the_stack_config(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    for region in cfg.region_names:
        cluster = stack_run.one(CLUSTER, region)
        assert cluster.inputs["nodeType"] == cfg.memorydb.node_type
        assert cluster.inputs["numShards"] == cfg.memorydb.shards
        assert cluster.inputs["numReplicasPerShard"] == cfg.memorydb.replicas_per_shard >= 1
        assert cluster.inputs["dataTiering"] is False
        assert cluster.inputs["snapshotRetentionLimit"] == cfg.memorydb.snapshot_retention_days
        assert cluster.inputs["snapshotWindow"] == "03:00-05:00"
        assert cluster.inputs["maintenanceWindow"] == "sun:06:00-sun:07:00"


def test_sizes_engine_and_data_tiering_come_from_config() -> None:
    overrides = {
        "memorydbNodeType": "db.r6gd.xlarge",
        "memorydbShards": 2,
        "memorydbReplicasPerShard": 3,
        "memorydbSnapshotRetentionDays": 14,
        "memorydbEngine": "redis",
        "memorydbEngineVersion": "7.1",
    }
    run = component_in_regions("dev", _memorydb, **overrides)
    for region in run.config.region_names:
        cluster = run.one(CLUSTER, region)
        assert cluster.inputs["nodeType"] == "db.r6gd.xlarge"
        assert cluster.inputs["dataTiering"] is True
        assert (cluster.inputs["numShards"], cluster.inputs["numReplicasPerShard"]) == (2, 3)
        assert cluster.inputs["snapshotRetentionLimit"] == 14
        assert (cluster.inputs["engine"], cluster.inputs["engineVersion"]) == ("redis", "7.1")


def test_subnet_group_is_exactly_the_regions_private_subnets(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        group = stack_run.one(SUBNET_GROUP, region)
        private = {
            f"{s.name}-id" for s in stack_run.of_type("aws:ec2/subnet:Subnet", region) if s.inputs["tags"]["tier"] == "private"
        }
        assert len(private) == 3
        assert sorted(group.inputs["subnetIds"]) == sorted(private)
        assert stack_run.one(CLUSTER, region).inputs["subnetGroupName"] == group.inputs["name"]


def test_security_group_admits_6379_only_from_the_app_and_eks_groups(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        group = _cache_security_group(stack_run, region)
        assert group.inputs["vpcId"] == f"{region}-net-vpc-id"
        assert group.inputs.get("egress", []) == []
        rules = group.inputs["ingress"]
        for rule in rules:
            assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", REDIS_PORT, REDIS_PORT)
            assert set(rule) == {"protocol", "fromPort", "toPort", "securityGroups", "description"}, (
                "no CIDR, prefix list or self"
            )
            assert len(rule["securityGroups"]) == 1
        # RegionalStack's data clients, in its order: the application group, then the EKS cluster group.
        eks_cluster = stack_run.one("aws:eks/cluster:Cluster", region)
        assert [rule["securityGroups"][0] for rule in rules] == [f"{region}-app-sg-id", f"{eks_cluster.name}-cluster-sg-id"]
        assert stack_run.one(CLUSTER, region).inputs["securityGroupIds"] == [f"{group.name}-id"]


def test_cluster_is_protected_in_prod_only(run_stack: ProgramRunner) -> None:
    for stack, protected in (("prod", True), ("dev", False)):
        for cluster in run_stack(stack).of_type(CLUSTER):
            assert (cluster.protect, cluster.retain_on_delete) == (protected, protected)
            final_snapshot = cluster.inputs.get("finalSnapshotName")
            assert final_snapshot == (f"multi-region-{stack}-final" if protected else None)


def test_names_are_unique_per_stack_and_valid(run_stack: ProgramRunner) -> None:
    names = {}
    for stack in ("prod", "dev"):
        run = run_stack(stack)
        for region in run.config.region_names:
            found = {
                "cluster": run.one(CLUSTER, region).inputs["name"],
                "acl": run.one(ACL, region).inputs["name"],
                "user": run.one(USER, region).inputs["userName"],
                "subnet group": run.one(SUBNET_GROUP, region).inputs["name"],
            }
            for name in found.values():
                assert name == memorydb_name(name), f"{name} is not a valid MemoryDB name"
            names[stack] = found
    assert not set(names["prod"].values()) & set(names["dev"].values())


def test_preview_registers_a_cluster_in_every_region(preview_run: ProgramRun) -> None:
    for region in preview_run.config.region_names:
        cluster = preview_run.one(CLUSTER, region)
        assert cluster.inputs["tlsEnabled"] is True
        assert preview_run.one(ACL, region).inputs["name"] != "open-access"


# ---- cacheTopology: multiRegion ----------------------------------------------------------------------------

MULTI_REGION_CLUSTER = "aws:memorydb/multiRegionCluster:MultiRegionCluster"
MULTI_REGION = {"cacheTopology": "multiRegion", "memorydbNodeType": "db.r7g.xlarge"}


def test_regional_topology_has_no_multi_region_cluster_and_no_member(stack_run: ProgramRun) -> None:
    assert stack_run.of_type(MULTI_REGION_CLUSTER) == []
    for region in stack_run.config.region_names:
        assert stack_run.one(CLUSTER, region).inputs.get("multiRegionClusterName") is None


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_multi_region_cluster_is_global_and_every_region_joins_it(stack: str) -> None:
    """As Aurora's: the Multi-Region cluster under the GlobalStack in the first region, one member per region under its
    RegionalStack, joining it by the name AWS gives it; shared settings (engine, version, node type, shards, TLS) on
    the Multi-Region cluster and the same on every member; the member keeps its own key, ACL and IAM user."""
    run = program(stack, **MULTI_REGION)
    cfg = run.config
    multi = run.one(MULTI_REGION_CLUSTER)
    assert multi.region == cfg.region_names[0]
    component = run.by_urn(multi.parent)
    assert component.type == "multi-region:cache:MultiRegionCache"
    assert run.by_urn(component.parent).type == "multi-region:global:GlobalStack"
    assert multi.inputs["multiRegionClusterNameSuffix"] == f"multi-region-{stack}"
    assert (multi.inputs["engine"], multi.inputs["engineVersion"]) == ("valkey", "7.3")
    assert multi.inputs["nodeType"] == "db.r7g.xlarge" and multi.inputs["numShards"] == cfg.memorydb.shards
    assert multi.inputs["tlsEnabled"] is True
    assert (multi.protect, multi.retain_on_delete) == (stack == "prod", stack == "prod")
    for region in cfg.region_names:
        member = run.one(CLUSTER, region)
        assert member.inputs["multiRegionClusterName"] == f"virxk-multi-region-{stack}"
        for key in ("engine", "engineVersion", "nodeType", "numShards", "tlsEnabled"):
            assert member.inputs[key] == multi.inputs[key], key
        assert member.inputs["kmsKeyArn"].startswith(f"arn:aws:kms:{region}:")
        assert member.inputs["aclName"] == run.one(ACL, region).inputs["name"]
        assert run.one(USER, region).inputs["authenticationMode"] == {"type": "iam"}
        stack_parent = run.by_urn(run.by_urn(member.parent).parent)
        assert (stack_parent.type, stack_parent.name) == ("multi-region:regional:RegionalStack", region)
    assert compare_regions(run).ok  # the members differ only where their regions do


def test_functions_keep_their_grants_on_each_regions_member() -> None:
    """The functions connect to their own region's member as before: memorydb:Connect on that member and its user."""
    regional, multi = program("dev"), program("dev", **MULTI_REGION)
    policies = "aws:iam/rolePolicy:RolePolicy"
    for region in multi.config.region_names:
        # By name: the order policies register in depends on when their inputs resolve.
        assert {p.name: p.inputs for p in multi.of_type(policies, region)} == {
            p.name: p.inputs for p in regional.of_type(policies, region)
        }
