"""Aurora PostgreSQL Global Database: the global cluster, a member cluster in every region (credentials only in
the primary), encryption with each region's key, protection, backups, IAM auth, logs, monitoring, the master
secret replicated to every region, and the proof that moving the primary replaces no Aurora resource."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pulumi_aws as aws
import pytest
from pulumi.runtime import rpc

from components.database import (
    BACKUP_WINDOW,
    MAINTENANCE_WINDOW,
    MASTER_USERNAME,
    MEMBER_CLUSTER_IGNORED_FIELDS,
    PASSWORD_SPECIALS,
    SLOW_STATEMENT_MS,
    final_snapshot_identifier,
    instance_zones,
    master_secret_document,
    parameter_group_family,
)
from components.passwords import PASSWORD_LENGTH
from planning.harness import ACCOUNT_ID, ProgramRun, Resource, raw_config
from tests.support.program import THREE_REGIONS, ProgramRunner, chosen_zones

GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
CLUSTER = "aws:rds/cluster:Cluster"
PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
PASSWORD = "random:index/randomPassword:RandomPassword"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
REGIONAL_COMPONENT = "multi-region:database:AuroraRegionalCluster"

# Three regions with the primary neither first nor last.
THREE_REGIONS_PRIMARY_IN_THE_MIDDLE = {**THREE_REGIONS, "primaryRegion": "eu-west-1"}


def _unsecret(value: Any) -> Any:
    """The plain value of an input the engine received as a secret; fails if it was not one."""
    assert rpc.is_rpc_secret(value), f"not a secret: {value!r}"
    return rpc.unwrap_rpc_secret(value)


def _named(run: ProgramRun, type_: str, name: str) -> Resource:
    (found,) = [r for r in run.of_type(type_) if r.name == name]
    return found


def _member(run: ProgramRun, region: str) -> Resource:
    return _named(run, CLUSTER, f"{region}-aurora-cluster")


def _key_arn(run: ProgramRun, region: str) -> str:
    return str(run.outputs["regions"][region]["kmsKeyArn"])


def _rds_resources(run: ProgramRun) -> dict[tuple[str, str], Resource]:
    return {(r.type, r.name): r for r in run.resources if r.type.startswith("aws:rds/")}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


# ---- pure helpers -----------------------------------------------------------------------------------


def test_instances_go_round_robin_over_the_three_subnet_zones() -> None:
    zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert instance_zones(zones, 1) == ["eu-west-1a"]
    assert instance_zones(zones, 2) == ["eu-west-1a", "eu-west-1b"]
    assert instance_zones(zones, 5) == ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1a", "eu-west-1b"]


def test_instance_zones_refuse_a_cluster_without_instances() -> None:
    with pytest.raises(ValueError, match="at least one instance"):
        instance_zones(["a", "b", "c"], 0)


def test_final_snapshot_identifier_is_unique_per_stack_and_region() -> None:
    assert final_snapshot_identifier("multi-region-prod", "us-east-1") == "multi-region-prod-us-east-1-final"
    assert final_snapshot_identifier("multi-region-prod", "eu-west-1") != final_snapshot_identifier(
        "multi-region-dev", "eu-west-1"
    )


def test_master_secret_document_has_the_postgres_secret_shape() -> None:
    document = master_secret_document(username="app_admin", password="pw", host="db.global", global_cluster_id="gid")
    assert document == {
        "engine": "postgres",
        "host": "db.global",
        "port": 5432,
        "dbname": "postgres",
        "username": "app_admin",
        "password": "pw",
        "globalClusterIdentifier": "gid",
    }


def test_ignored_member_fields_are_real_cluster_arguments() -> None:
    arguments = inspect.signature(aws.rds.ClusterArgs.__init__).parameters
    for field in MEMBER_CLUSTER_IGNORED_FIELDS:
        assert field in arguments, f"{field} is not an argument of aws.rds.Cluster"


def test_password_rules_fit_aurora() -> None:
    assert 8 <= PASSWORD_LENGTH <= 41
    assert not set(PASSWORD_SPECIALS) & set('/"@ ')


# ---- the global cluster and the password -------------------------------------------------------------


def test_one_standalone_encrypted_global_cluster_in_the_first_region(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    cluster = stack_run.one(GLOBAL_CLUSTER)
    assert cluster.region == cfg.regions[0].name
    assert cluster.inputs["globalClusterIdentifier"] == f"multi-region-{stack_run.stack}"
    assert cluster.inputs["engine"] == "aurora-postgresql"
    # A version AWS still offers for new global clusters (16.6 no longer is); AWS's minor upgrades are never reverted,
    # and no paid Extended Support enrolment.
    assert cluster.inputs["engineVersion"] == cfg.aurora.engine_version == "16.8"
    assert cluster.ignore_changes == ("engineVersion",)
    assert cluster.inputs["engineLifecycleSupport"] == "open-source-rds-extended-support-disabled"
    assert cluster.inputs["storageEncrypted"] is True
    assert "sourceDbClusterIdentifier" not in cluster.inputs, "a source cluster would tie the global cluster to one region"
    protect = cfg.protect_stateful_resources
    assert cluster.inputs["deletionProtection"] is protect
    assert (cluster.protect, cluster.retain_on_delete) == (protect, protect)


def test_master_password_is_generated_and_protected_in_production(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    password = _named(stack_run, PASSWORD, "aurora-global-master-password")
    assert password.region == cfg.regions[0].name
    assert password.inputs["length"] == PASSWORD_LENGTH
    assert password.inputs["overrideSpecial"] == PASSWORD_SPECIALS
    assert password.protect is cfg.protect_stateful_resources


# ---- member clusters -----------------------------------------------------------------------------------


def test_every_region_has_one_member_cluster_joined_to_the_global_cluster(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    identifier = stack_run.one(GLOBAL_CLUSTER).inputs["globalClusterIdentifier"]
    for region in cfg.region_names:
        (cluster,) = stack_run.of_type(CLUSTER, region)
        assert cluster.name == f"{region}-aurora-cluster"
        assert cluster.inputs["globalClusterIdentifier"] == identifier
        assert cluster.inputs["engine"] == "aurora-postgresql"
        assert cluster.inputs["engineVersion"] == cfg.aurora.engine_version
        assert cluster.inputs["engineLifecycleSupport"] == "open-source-rds-extended-support-disabled"
        assert "engineVersion" in cluster.ignore_changes
        assert stack_run.by_urn(str(cluster.parent)).type == REGIONAL_COMPONENT


def test_writer_credentials_only_in_the_primary_from_the_generated_password(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    password = _named(stack_run, PASSWORD, "aurora-global-master-password")
    config, _ = raw_config(stack_run.stack)
    assert not [key for key in config if "password" in key.lower()], "no password may be set in config"
    for region in cfg.regions:
        cluster = _member(stack_run, region.name)
        if region.is_primary:
            assert cluster.inputs["masterUsername"] == MASTER_USERNAME
            value = _unsecret(cluster.inputs["masterPassword"])
            assert value == f"mock-password-{password.name}", "the password is the RandomPassword result"
            assert value not in config.values()
        else:
            assert "masterUsername" not in cluster.inputs, f"{region.name} is a secondary: AWS refuses credentials"
            assert "masterPassword" not in cluster.inputs
        assert "manageMasterUserPassword" not in cluster.inputs, "global databases cannot use RDS-managed passwords"


def test_storage_is_encrypted_with_the_same_regions_key(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        cluster = _member(stack_run, region)
        assert cluster.inputs["storageEncrypted"] is True
        assert cluster.inputs["kmsKeyId"] == _key_arn(stack_run, region)
        assert f":kms:{region}:" in cluster.inputs["kmsKeyId"]


def test_deletion_protection_and_final_snapshot_in_production_only(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    protect = cfg.protect_stateful_resources
    assert protect is (stack_run.stack == "prod")
    for region in cfg.region_names:
        cluster = _member(stack_run, region)
        assert cluster.inputs["deletionProtection"] is protect
        assert cluster.inputs["skipFinalSnapshot"] is (not protect)
        if protect:
            assert cluster.inputs["finalSnapshotIdentifier"] == f"multi-region-prod-{region}-final"
        else:
            assert "finalSnapshotIdentifier" not in cluster.inputs
        assert (cluster.protect, cluster.retain_on_delete) == (protect, protect)


def test_backups_iam_auth_and_log_exports(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    for region in cfg.region_names:
        cluster = _member(stack_run, region)
        assert cluster.inputs["backupRetentionPeriod"] == cfg.aurora.backup_retention_days
        assert cluster.inputs["backupRetentionPeriod"] >= 7
        assert cluster.inputs["preferredBackupWindow"] == BACKUP_WINDOW
        assert cluster.inputs["preferredMaintenanceWindow"] == MAINTENANCE_WINDOW
        assert cluster.inputs["copyTagsToSnapshot"] is True
        assert cluster.inputs["iamDatabaseAuthenticationEnabled"] is True
        assert cluster.inputs["enabledCloudwatchLogsExports"] == ["postgresql"]


@pytest.mark.parametrize(
    ("version", "family"), [("14.9", "aurora-postgresql14"), ("16.8", "aurora-postgresql16"), ("17.4", "aurora-postgresql17")]
)
def test_the_parameter_group_family_is_the_engine_and_the_major_version(version: str, family: str) -> None:
    assert parameter_group_family(version) == family


def test_every_member_logs_ddl_and_slow_statements_through_a_parameter_group_of_its_family(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    family = f"aurora-postgresql{cfg.aurora.engine_version.split('.')[0]}"
    assert family == "aurora-postgresql16"
    for region in cfg.region_names:
        cluster = _member(stack_run, region)
        group = _named(stack_run, PARAMETER_GROUP, f"{region}-aurora-parameters")
        assert group.region == region
        assert group.inputs["name"] == f"multi-region-{stack_run.stack}-{family}"
        assert group.inputs["family"] == family
        assert sorted(group.inputs["parameters"], key=lambda p: p["name"]) == [
            {"name": "log_min_duration_statement", "value": str(SLOW_STATEMENT_MS), "applyMethod": "immediate"},
            {"name": "log_statement", "value": "ddl", "applyMethod": "immediate"},
        ]
        assert cluster.inputs["dbClusterParameterGroupName"] == group.inputs["name"]
        assert group.urn in cluster.dependencies


def test_another_major_version_gets_a_group_of_its_own_family(run_stack: ProgramRunner) -> None:
    run = run_stack("dev", auroraEngineVersion="17.4")
    for region in run.config.region_names:
        group = _named(run, PARAMETER_GROUP, f"{region}-aurora-parameters")
        assert (group.inputs["family"], group.inputs["name"]) == ("aurora-postgresql17", "multi-region-dev-aurora-postgresql17")


def test_members_ignore_the_fields_a_switchover_moves(stack_run: ProgramRun) -> None:
    expected = {_camel(field) for field in MEMBER_CLUSTER_IGNORED_FIELDS}
    assert expected == {
        "masterUsername",
        "masterPassword",
        "replicationSourceIdentifier",
        "globalClusterIdentifier",
        "engineVersion",
    }
    for region in stack_run.config.region_names:
        assert set(_member(stack_run, region).ignore_changes) == expected


def test_members_live_in_the_private_subnets_behind_their_own_security_group(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        cluster = _member(stack_run, region)
        subnet_group = _named(stack_run, SUBNET_GROUP, f"{region}-aurora-subnets")
        assert subnet_group.inputs["subnetIds"] == stack_run.outputs["regions"][region]["privateSubnetIds"]
        assert cluster.inputs["dbSubnetGroupName"] == f"{subnet_group.name}-id"
        assert cluster.inputs["vpcSecurityGroupIds"] == [f"{region}-aurora-sg-id"]


def test_security_group_admits_5432_only_from_the_app_and_eks_groups(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        group = _named(stack_run, SECURITY_GROUP, f"{region}-aurora-sg")
        eks = stack_run.one(EKS_CLUSTER, region)
        (rule,) = group.inputs["ingress"]
        assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 5432, 5432)
        assert rule["securityGroups"] == [f"{region}-app-sg-id", f"{eks.name}-cluster-sg-id"]
        assert not rule.get("cidrBlocks") and not rule.get("ipv6CidrBlocks"), "no CIDR ingress"
        assert not rule.get("self")
        assert not group.inputs.get("egress"), "the database opens no connections"
        assert group.inputs["vpcId"] == stack_run.outputs["regions"][region]["vpcId"]


# ---- instances and monitoring ---------------------------------------------------------------------------


def test_instances_are_private_memory_optimized_and_spread_over_zones(stack_run: ProgramRun) -> None:
    cfg = stack_run.config
    for region in cfg.region_names:
        cluster = _member(stack_run, region)
        instances = sorted(stack_run.of_type(INSTANCE, region), key=lambda r: r.name)
        assert len(instances) == cfg.aurora.instances_per_region
        zones = [i.inputs["availabilityZone"] for i in instances]
        assert zones == [z.name for z in chosen_zones(region)][: len(instances)]
        for instance in instances:
            assert instance.parent == cluster.urn
            assert instance.inputs["clusterIdentifier"] == f"{cluster.name}-id"
            assert instance.inputs["engine"] == "aurora-postgresql"
            assert instance.inputs["instanceClass"] == cfg.aurora.instance_class
            assert not instance.inputs["instanceClass"].startswith("db.t"), "global databases refuse burstable classes"
            assert instance.inputs["publiclyAccessible"] is False
            assert instance.inputs["dbSubnetGroupName"] == f"{region}-aurora-subnets-id"
            assert instance.inputs["autoMinorVersionUpgrade"] is True


def test_performance_insights_and_enhanced_monitoring_on_every_instance(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        role = _named(stack_run, ROLE, f"{region}-aurora-monitoring-role")
        for instance in stack_run.of_type(INSTANCE, region):
            assert instance.inputs["performanceInsightsEnabled"] is True
            assert instance.inputs["performanceInsightsKmsKeyId"] == _key_arn(stack_run, region)
            assert instance.inputs["performanceInsightsRetentionPeriod"] == 7
            assert instance.inputs["monitoringInterval"] == 60
            assert instance.inputs["monitoringRoleArn"] == f"arn:aws:iam:{region}:{ACCOUNT_ID}:role/{role.name}"


def test_monitoring_role_trusts_only_rds_monitoring_for_this_account(stack_run: ProgramRun) -> None:
    for region in stack_run.config.region_names:
        role = _named(stack_run, ROLE, f"{region}-aurora-monitoring-role")
        (statement,) = role.policy("assumeRolePolicy")["Statement"]
        assert statement["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
        attachment = _named(stack_run, ATTACHMENT, f"{region}-aurora-monitoring-policy")
        assert attachment.parent == role.urn
        assert attachment.inputs["role"] == f"{role.name}-id"
        assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


# ---- the master secret ---------------------------------------------------------------------------------


def test_master_secret_lives_beside_the_global_cluster_and_is_replicated_under_each_regions_key(
    stack_run: ProgramRun,
) -> None:
    cfg = stack_run.config
    home = cfg.regions[0].name
    secret = _named(stack_run, SECRET, "aurora-master-secret-secret")
    assert secret.region == home
    assert secret.inputs["name"] == f"multi-region-{stack_run.stack}/aurora/master"
    assert secret.inputs["kmsKeyId"] == _key_arn(stack_run, home)
    others = [r for r in cfg.region_names if r != home]
    assert secret.inputs["replicas"] == [{"region": r, "kmsKeyId": _key_arn(stack_run, r)} for r in others]
    protect = cfg.protect_stateful_resources
    assert secret.inputs["recoveryWindowInDays"] == (30 if protect else 0)
    assert (secret.protect, secret.retain_on_delete) == (protect, protect)


def test_master_secret_value_is_a_secret_holding_the_generated_credentials(stack_run: ProgramRun) -> None:
    version = _named(stack_run, SECRET_VERSION, "aurora-master-secret-value")
    secret = _named(stack_run, SECRET, "aurora-master-secret-secret")
    assert version.parent == secret.urn
    assert version.inputs["secretId"] == f"{secret.name}-id"
    document = json.loads(_unsecret(version.inputs["secretString"]))
    assert document == {
        "engine": "postgres",
        "host": "aurora-global-cluster.global-mock.global.rds.amazonaws.com",
        "port": 5432,
        "dbname": "postgres",
        "username": MASTER_USERNAME,
        "password": "mock-password-aurora-global-master-password",
        "globalClusterIdentifier": f"multi-region-{stack_run.stack}",
    }


# ---- N regions, and moving the primary ------------------------------------------------------------------


def test_three_regions_with_the_primary_in_the_middle(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS_PRIMARY_IN_THE_MIDDLE)
    assert run.one(GLOBAL_CLUSTER).region == "us-east-1"
    for region in THREE_REGIONS_PRIMARY_IN_THE_MIDDLE["regions"]:
        cluster = _member(run, region)
        assert cluster.inputs["kmsKeyId"] == _key_arn(run, region)
        assert ("masterUsername" in cluster.inputs) is (region == "eu-west-1")
    secret = _named(run, SECRET, "aurora-master-secret-secret")
    assert secret.region == "us-east-1"
    assert [r["region"] for r in secret.inputs["replicas"]] == ["eu-west-1", "ap-southeast-2"]


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_switching_the_primary_replaces_no_aurora_resource(run_stack: ProgramRunner, stack: str) -> None:
    before = run_stack(stack)
    after = run_stack(stack, primaryRegion="eu-west-1")
    assert _member(after, "eu-west-1").inputs["masterUsername"] == MASTER_USERNAME, "the override took effect"
    assert "masterUsername" not in _member(after, "us-east-1").inputs

    old, new = _rds_resources(before), _rds_resources(after)
    assert set(old) == set(new), "the same Aurora resources under the same logical names"
    assert len(old) >= 1 + 3 * 2, "the global cluster, and per region a subnet group, a cluster and instances"
    for key, resource in old.items():
        changed = {k for k in resource.inputs.keys() | new[key].inputs.keys() if resource.inputs.get(k) != new[key].inputs.get(k)}
        assert changed <= set(resource.ignore_changes), f"{key[1]}: {sorted(changed)} would change"
        assert set(new[key].ignore_changes) == set(resource.ignore_changes)
        assert (new[key].protect, new[key].parent) == (resource.protect, resource.parent)
    for type_, name in (
        (PASSWORD, "aurora-global-master-password"),
        (SECRET, "aurora-master-secret-secret"),
        (SECRET_VERSION, "aurora-master-secret-value"),
    ):
        unchanged = (_named(before, type_, name), _named(after, type_, name))
        assert unchanged[0].inputs == unchanged[1].inputs, f"{name} must not change with the primary"
        assert unchanged[0].region == unchanged[1].region == "us-east-1"


# ---- preview -------------------------------------------------------------------------------------------


def test_preview_registers_every_aurora_resource_in_every_region(preview_run: ProgramRun) -> None:
    cfg = preview_run.config
    assert len(preview_run.of_type(GLOBAL_CLUSTER)) == 1
    assert _named(preview_run, SECRET, "aurora-master-secret-secret").region == cfg.regions[0].name
    assert _named(preview_run, SECRET_VERSION, "aurora-master-secret-value").region == cfg.regions[0].name
    for region in cfg.region_names:
        assert _member(preview_run, region).region == region
        assert _named(preview_run, SUBNET_GROUP, f"{region}-aurora-subnets").region == region
        assert _named(preview_run, PARAMETER_GROUP, f"{region}-aurora-parameters").region == region
        assert _named(preview_run, SECURITY_GROUP, f"{region}-aurora-sg").region == region
        assert _named(preview_run, ROLE, f"{region}-aurora-monitoring-role").region == region
        assert _named(preview_run, ATTACHMENT, f"{region}-aurora-monitoring-policy").region == region
        assert len(preview_run.of_type(INSTANCE, region)) == cfg.aurora.instances_per_region


@pytest.mark.parametrize("primary", ["us-east-1", "eu-west-1"])
def test_secondaries_join_only_after_the_primary_cluster_and_its_instances(run_stack: ProgramRunner, primary: str) -> None:
    run = run_stack("prod", primaryRegion=primary)
    writer = _member(run, primary)
    writer_side = {writer.urn, *(i.urn for i in run.of_type(INSTANCE, primary))}
    for region in run.config.region_names:
        if region == primary:
            assert not {c.urn for c in run.of_type(CLUSTER) if c.region != primary} & set(writer.dependencies)
        else:
            assert writer_side <= set(_member(run, region).dependencies), f"{region} would join an empty global database"
