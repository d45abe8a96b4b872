"""The Aurora master secret's rotation as deployed (components/rotation.py): a rotation function in every region under
its Aurora member, Secrets Manager's permission for the secret as that region holds it, least-privilege grants, and
the rotation on the primary secret with the home region's function, after the database exists."""

from __future__ import annotations

import pytest

from components.rotation import HANDLER, SECRET_ACTIONS, rotation_function_name, secret_arn_pattern
from planning.harness import ACCOUNT_ID, PARTITION, ProgramRun, Resource
from tests.support.mock_ids import mock_arn
from tests.support.program import THREE_REGIONS, ProgramRunner

FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
KEY = "aws:kms/key:Key"


def _rotation_function(run: ProgramRun, region: str) -> Resource:
    (function,) = [f for f in run.of_type(FUNCTION, region) if f.inputs["handler"] == HANDLER]
    return function


def test_the_primary_secret_rotates_with_the_home_regions_function_once_the_database_exists(stack_run: ProgramRun) -> None:
    home = stack_run.region_order[0]
    secret = stack_run.one(SECRET)
    rotation = stack_run.one(ROTATION)
    assert rotation.region == secret.region == home
    assert rotation.inputs["secretId"] == f"{secret.name}-id" or rotation.inputs["secretId"] == mock_arn(secret)
    assert rotation.inputs["rotationLambdaArn"] == mock_arn(_rotation_function(stack_run, home))
    assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": stack_run.config.aurora.master_rotation_days}
    assert rotation.inputs["rotateImmediately"] is True
    # The first rotation runs at once: after the first value, Secrets Manager's permission and every member and
    # instance (RDS changes a password only on an available cluster).
    needed = [stack_run.one(SECRET_VERSION), *stack_run.of_type(CLUSTER), *stack_run.of_type(INSTANCE)]
    needed.append(next(p for p in stack_run.of_type(PERMISSION, home) if p.inputs["principal"] == "secretsmanager.amazonaws.com"))
    assert {r.urn for r in needed} <= set(rotation.dependencies)
    assert rotation.parent == next(r.urn for r in stack_run.resources if r.name == "aurora-master-secret")


def test_the_first_value_is_the_programs_only_until_the_rotation_replaces_it(stack_run: ProgramRun) -> None:
    assert stack_run.one(SECRET_VERSION).ignore_changes == ("secretString",)


def test_every_region_has_a_rotation_function_under_its_aurora_member(stack_run: ProgramRun) -> None:
    prefix = stack_run.config.name_prefix
    for region in stack_run.region_order:
        function = _rotation_function(stack_run, region)
        assert function.inputs["name"] == rotation_function_name(prefix)
        assert function.inputs["vpcConfig"]["subnetIds"], region
        component = next(r for r in stack_run.resources if r.urn == function.parent)
        while component.type != "multi-region:database:SecretRotationFunction":
            component = next(r for r in stack_run.resources if r.urn == component.parent)
        aurora = next(r for r in stack_run.resources if r.urn == component.parent)
        assert aurora.type == "multi-region:database:AuroraRegionalCluster", region


def test_secrets_manager_may_invoke_each_function_for_the_master_secret_only(stack_run: ProgramRun) -> None:
    name = stack_run.one(SECRET).inputs["name"]
    for region in stack_run.region_order:
        function = _rotation_function(stack_run, region)
        (permission,) = [p for p in stack_run.of_type(PERMISSION, region) if p.inputs["function"] == function.inputs["name"]]
        assert permission.inputs["principal"] == "secretsmanager.amazonaws.com"
        assert permission.inputs["action"] == "lambda:InvokeFunction"
        assert permission.inputs["sourceArn"] == secret_arn_pattern(PARTITION, region, ACCOUNT_ID, name)


def test_each_function_may_rotate_only_the_secret_there_and_modify_only_the_members(stack_run: ProgramRun) -> None:
    name = stack_run.one(SECRET).inputs["name"]
    clusters = sorted(mock_arn(c) for c in stack_run.of_type(CLUSTER))
    for region in stack_run.region_order:
        function = _rotation_function(stack_run, region)
        (policy,) = [p for p in stack_run.of_type(ROLE_POLICY, region) if p.name == function.name.replace("-function", "-policy")]
        statements = {s["Sid"]: s for s in policy.policy()["Statement"]}
        assert statements["MasterSecretVersions"]["Action"] == list(SECRET_ACTIONS)
        assert statements["MasterSecretVersions"]["Resource"] == [secret_arn_pattern(PARTITION, region, ACCOUNT_ID, name)]
        key = statements["MasterSecretKeyThroughSecretsManager"]
        assert key["Resource"] == [mock_arn(stack_run.one(KEY, region))]
        assert key["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}
        assert sorted(statements["MemberClusters"]["Resource"]) == clusters
        assert statements["MemberClusters"]["Action"] == ["rds:DescribeDBClusters", "rds:ModifyDBCluster"]
        assert not any(r == "*" for s in statements.values() for r in s["Resource"]), region


def test_another_rotation_period_reaches_the_schedule_and_a_third_region_gets_its_function(run_stack: ProgramRunner) -> None:
    run = run_stack("prod", **THREE_REGIONS, auroraMasterRotationDays=7)
    assert run.one(ROTATION).inputs["rotationRules"] == {"automaticallyAfterDays": 7}
    assert [r for r in run.region_order if _rotation_function(run, r)] == THREE_REGIONS["regions"]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_the_arn_pattern_matches_the_primary_and_the_replica(region: str) -> None:
    import fnmatch

    pattern = secret_arn_pattern("aws", region, "123456789012", "multi-region-prod/aurora/master")
    assert fnmatch.fnmatchcase(
        f"arn:aws:secretsmanager:{region}:123456789012:secret:multi-region-prod/aurora/master-Ab12Cd", pattern
    )
    assert not fnmatch.fnmatchcase(
        f"arn:aws:secretsmanager:{region}:123456789012:secret:multi-region-prod/aurora/master2-Ab12Cd", pattern
    )
