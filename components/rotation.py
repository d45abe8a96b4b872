"""Automatic rotation of the Aurora master secret: a rotation function in every region, the schedule on the primary secret.

``SecretRotationFunction`` (``<region>-secret-rotation``, every RegionalStack) deploys ``<project>-<stack>-secret-rotation``
on the application's package (``functions/rotation/handler.py``) and lets Secrets Manager invoke it for the master
secret as that region holds it. ``master_secret_rotation`` (under the GlobalStack's secret) turns rotation on for the
primary secret with the home region's function, every ``auroraMasterRotationDays`` days and once at once; replicas
follow, and a region whose replica is promoted after losing the home region has its function ready. The function sets
the password with ``ModifyDBCluster`` on the writer and never connects to the database: docs/design/data-store-auth.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.app import AppFunction, AppFunctionArgs, log_group_name, own_logs_statement
from components.packaging import Package
from components.policies import Policy, allow_statement
from components.runbook import global_cluster_arn

SERVICE = "rotation"
HANDLER = "functions.rotation.handler.handle"
# testSecret waits for RDS to apply the new password (seconds to a minute or two); one invocation may wait this long.
TIMEOUT_SECONDS = 300
SECRET_ACTIONS = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
)
# Secrets Manager encrypts a new version with the secret's key (GenerateDataKey) and decrypts it to read (Decrypt).
SECRET_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
GLOBAL_CLUSTER_ACTIONS = ("rds:DescribeGlobalClusters",)
MEMBER_ACTIONS = ("rds:DescribeDBClusters", "rds:ModifyDBCluster")
SECRETS_MANAGER = "secretsmanager.amazonaws.com"


def rotation_function_name(name_prefix: str) -> str:
    """Example:
    >>> rotation_function_name("multi-region-prod")
    'multi-region-prod-secret-rotation'
    """
    return f"{name_prefix}-secret-rotation"


def secret_arn_pattern(partition: str, region: str, account_id: str, secret_name: str) -> str:
    """The ARNs of the secret named ``secret_name`` in ``region``: the primary or a replica (same name, and ARN but for the
    region), its six random characters matched by ``??????`` as the Secrets Manager guide advises for IAM policies.

    Example:
        >>> secret_arn_pattern("aws", "eu-west-1", "123456789012", "p/aurora/master")
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:p/aurora/master-??????'
    """
    return f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{secret_name}-??????"


def rotation_function_policy(
    *,
    partition: str,
    account_id: str,
    region: str,
    secret_arn: str,
    secret_key_arn: str,
    global_cluster_id: str,
    cluster_arns: Sequence[str],
    log_group: str,
) -> Policy:
    """The rotation function's inline policy: this secret's versions (``secret_arn``: ``secret_arn_pattern`` of the
    secret in this region; through its key, by Secrets Manager in this region only), the global cluster's
    description, and describing and modifying its member clusters."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            allow_statement("MasterSecretVersions", SECRET_ACTIONS, [secret_arn]),
            allow_statement(
                "MasterSecretKeyThroughSecretsManager",
                SECRET_KEY_ACTIONS,
                [secret_key_arn],
                {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            ),
            allow_statement(
                "GlobalCluster", GLOBAL_CLUSTER_ACTIONS, [global_cluster_arn(partition, account_id, global_cluster_id)]
            ),
            allow_statement("MemberClusters", MEMBER_ACTIONS, list(cluster_arns)),
            own_logs_statement(partition, region, account_id, log_group),
        ],
    }


@dataclass(frozen=True)
class SecretRotationFunctionArgs:
    """Parameters
    ----------
    region: the region of the provider in ``opts``.
    name_prefix: ``<project>-<stack>``: the function is named after it.
    secret_name: the master secret's name; the function is granted the secret as this region holds it.
    key_arn: this region's key: it encrypts the secret here (primary or replica), the logs and the environment.
    global_cluster_id: the global database; cluster_arns: every region's member cluster.
    package, private_subnet_ids, security_group_id, log_retention_days: as every function of the region.
    """

    region: str
    name_prefix: str
    secret_name: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    global_cluster_id: pulumi.Input[str]
    cluster_arns: Sequence[pulumi.Input[str]]
    package: Package
    private_subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    log_retention_days: int


class SecretRotationFunction(pulumi.ComponentResource):
    """The region's rotation function of the master secret and Secrets Manager's permission to invoke it."""

    function: AppFunction
    permission: aws.lambda_.Permission

    def __init__(self, name: str, args: SecretRotationFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:database:SecretRotationFunction", name, None, opts)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        function_name = rotation_function_name(args.name_prefix)
        partition = aws.get_partition_output(opts=invoke).partition
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        secret_here = pulumi.Output.all(partition, account_id, args.secret_name).apply(
            lambda v: secret_arn_pattern(v[0], args.region, v[1], v[2])
        )
        policy = pulumi.Output.all(
            partition=partition,
            account_id=account_id,
            secret_arn=secret_here,
            key_arn=args.key_arn,
            global_cluster_id=args.global_cluster_id,
            cluster_arns=list(args.cluster_arns),
        ).apply(
            lambda v: json.dumps(
                rotation_function_policy(
                    partition=v["partition"],
                    account_id=v["account_id"],
                    region=args.region,
                    secret_arn=v["secret_arn"],
                    secret_key_arn=v["key_arn"],
                    global_cluster_id=v["global_cluster_id"],
                    cluster_arns=v["cluster_arns"],
                    log_group=log_group_name(function_name),
                )
            )
        )
        self.function = AppFunction(
            f"{name}-lambda",
            AppFunctionArgs(
                function_name=function_name,
                service=SERVICE,
                region=args.region,
                handler=HANDLER,
                package=args.package,
                policy=policy,
                environment={},
                timeout_seconds=TIMEOUT_SECONDS,
                reserved_concurrency=-1,
                log_retention_days=args.log_retention_days,
                key_arn=args.key_arn,
                private_subnet_ids=args.private_subnet_ids,
                security_group_id=args.security_group_id,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        # Secrets Manager invokes the function for this secret only (the confused-deputy guard AWS documents); Lambda
        # matches the source ARN with ArnLike, so the pattern's ?????? holds.
        self.permission = aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.function.name,
            principal=SECRETS_MANAGER,
            source_arn=secret_here,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"function_name": self.function.function.name, "function_arn": self.function.function.arn})


def master_secret_rotation(
    name: str,
    *,
    secret: aws.secretsmanager.Secret,
    function: SecretRotationFunction,
    rotation_days: int,
    after: Sequence[pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> aws.secretsmanager.SecretRotation:
    """Rotation on for the primary secret with the home region's function: every ``rotation_days`` days, and once at
    creation, so the password the program generated is replaced at once. ``after``: the secret's first value and the
    member clusters and instances (RDS changes a cluster's password only once it is available)."""
    return aws.secretsmanager.SecretRotation(
        name,
        secret_id=secret.id,
        rotation_lambda_arn=function.function.function.arn,
        rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(automatically_after_days=rotation_days),
        rotate_immediately=True,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[function.permission, *after])),
    )
