"""Aurora PostgreSQL Global Database: the global cluster, each region's member cluster, and the master secret.

The global cluster is created empty, under the first region's provider, so nothing in it depends on which region is
primary; only the region primary at creation passes the master credentials, and every member ignores the fields a
switchover moves (``MEMBER_CLUSTER_IGNORED_FIELDS``). Why, and the reconcile after a failover: docs/design/data-stores.md.

Example:
    >>> aurora_global = AuroraGlobal("aurora-global", AuroraGlobalArgs(config.aurora, "multi-region-prod", True),
    ...                              pulumi.ResourceOptions(provider=providers[config.regions[0].name]))
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.config import AuroraConfig
from components.passwords import generated_password
from components.policies import assume_role_policy
from functions.rotation import handler as rotation_handler

T = TypeVar("T")

ENGINE = "aurora-postgresql"
PORT = 5432
MASTER_USERNAME = "app_admin"
# UTC; the maintenance window must not overlap the backup window.
BACKUP_WINDOW = "03:00-04:00"
MAINTENANCE_WINDOW = "sun:04:30-sun:05:30"
MONITORING_INTERVAL_SECONDS = 60
PERFORMANCE_INSIGHTS_RETENTION_DAYS = 7
LOG_EXPORTS = ("postgresql",)
# What PostgreSQL writes to that log (the cluster parameter group, both parameters dynamic: applied without a reboot):
# every DDL statement (CREATE, ALTER, DROP: who changed the schema, and when), and every statement that ran longer than
# SLOW_STATEMENT_MS milliseconds, with its duration.
LOG_STATEMENT = "ddl"
SLOW_STATEMENT_MS = 1000
SECRET_RECOVERY_DAYS_PROTECTED = 30
# Aurora master passwords: 8 to 41 printable ASCII characters, never '/', '"', '@' or a space. The first one (generated
# here) and every rotated one (functions/rotation/handler.py) take their specials from one place.
PASSWORD_SPECIALS = rotation_handler.PASSWORD_SPECIALS
# The master secret's value after its first version belongs to the rotation, never to the program.
SECRET_VERSION_IGNORED_FIELDS = ("secret_string",)

# Fields of a member cluster that a switchover or failover changes outside Pulumi, or that only the region that
# was primary at creation sets. Ignoring them is what lets `pulumi up` with the new primary in config replace
# and revert nothing:
# - master_username, master_password: given only by the region primary at creation (AWS refuses them on a
#   secondary: "Cannot specify user name for cross region replication cluster"). After a switchover the config
#   names another region; master_username forces replacement and AWS reports it on every member. The password
#   lives in the global database and in the master secret; the rotation function (components/rotation.py) changes
#   it in both, never through config.
# - replication_source_identifier: AWS reports the current primary's ARN on every secondary, so it moves with
#   every switchover; clearing it would promote the cluster out of the global database (the provider documents
#   ignoring it for global members).
# - global_cluster_identifier: a detach-and-promote recovery clears it; Pulumi must not re-attach (or replace)
#   the promoted writer.
# - engine_version: upgrades are made on the global cluster, which upgrades every member itself; a member diff
#   would race it (the provider documents ignoring it on members).
# Minor versions: every instance upgrades itself in the maintenance window (auto_minor_version_upgrade), and AWS moves
# the global cluster's and every member's engine_version with it. The configured version is what the global database
# is created with; a later config value lower than what runs would ask ModifyGlobalCluster for a downgrade, which it
# refuses. So the global cluster ignores engine_version too: the program never reverts an AWS upgrade, and a planned
# upgrade is made with `aws rds modify-global-cluster --engine-version` (then recorded in auroraEngineVersion).
GLOBAL_CLUSTER_IGNORED_FIELDS = ("engine_version",)
# No paid RDS Extended Support enrolment by default (AWS's default is to enrol): when the major version reaches the end
# of standard support, AWS upgrades it instead of billing Extended Support (Aurora User Guide, "Amazon RDS Extended
# Support with Amazon Aurora"; CreateGlobalCluster's EngineLifecycleSupport). Members must match the global cluster.
ENGINE_LIFECYCLE_SUPPORT = "open-source-rds-extended-support-disabled"

MEMBER_CLUSTER_IGNORED_FIELDS = (
    "master_username",
    "master_password",
    "replication_source_identifier",
    "global_cluster_identifier",
    "engine_version",
)


def instance_zones(zones: Sequence[T], count: int) -> list[T]:
    """The availability zone of each of ``count`` instances: round robin over the zones of the private subnets, so
    that two or more instances never share an AZ while another is free.

    Example:
        >>> instance_zones(["us-east-1a", "us-east-1b", "us-east-1c"], 4)
        ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1a']
    """
    if count < 1:
        raise ValueError(f"a cluster needs at least one instance; got {count}")
    return [zones[i % len(zones)] for i in range(count)]


def parameter_group_family(engine_version: str) -> str:
    """The parameter group family of an Aurora PostgreSQL version: ``aurora-postgresql<major>``. Every member of the
    global database runs the global cluster's version, so every region's group has the same family.

    Example:
        >>> parameter_group_family("16.8")
        'aurora-postgresql16'
    """
    return f"{ENGINE}{engine_version.split('.', maxsplit=1)[0]}"


def logging_parameters() -> dict[str, str]:
    """The cluster parameters that log DDL and slow statements (``LOG_STATEMENT``, ``SLOW_STATEMENT_MS``)."""
    return {"log_statement": LOG_STATEMENT, "log_min_duration_statement": str(SLOW_STATEMENT_MS)}


def final_snapshot_identifier(global_cluster_id: str, region: str) -> str:
    """The name of the snapshot taken when a protected member cluster is deleted: unique per stack and region.

    Example:
        >>> final_snapshot_identifier("multi-region-prod", "eu-west-1")
        'multi-region-prod-eu-west-1-final'
    """
    return f"{global_cluster_id}-{region}-final"


def master_secret_document(*, username: str, password: str, host: str, global_cluster_id: str) -> dict[str, Any]:
    """The JSON document of the master secret, in the shape of Secrets Manager's PostgreSQL secrets; ``host`` is
    the global writer endpoint, which follows the primary through switchovers."""
    return {
        "engine": "postgres",
        "host": host,
        "port": PORT,
        "dbname": "postgres",
        "username": username,
        "password": password,
        "globalClusterIdentifier": global_cluster_id,
    }


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
    """The global cluster every regional cluster joins, and the generated master password.

    Created under the provider of the first region in ``regions`` (not of the primary), and standalone (no
    source cluster), so moving the primary never changes it.
    """

    global_cluster_id: pulumi.Output[str]
    master_username: str
    master_password: pulumi.Output[str]
    identifier: str
    writer_endpoint: pulumi.Output[str]
    cluster: aws.rds.GlobalCluster
    password: random.RandomPassword

    def __init__(self, name: str, args: AuroraGlobalArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:database:AuroraGlobal", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        # Storage encryption is fixed here for the whole global database; each member then brings its own
        # region's KMS key (kms_key_id), since keys are regional. No pre-signed URL (source_region) is needed
        # outside GovCloud.
        self.cluster = aws.rds.GlobalCluster(
            f"{name}-cluster",
            global_cluster_identifier=args.identifier,
            engine=ENGINE,
            engine_version=args.aurora.engine_version,
            engine_lifecycle_support=ENGINE_LIFECYCLE_SUPPORT,
            storage_encrypted=True,
            deletion_protection=args.protect,
            opts=pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(ignore_changes=list(GLOBAL_CLUSTER_IGNORED_FIELDS))
            ),
        )
        # Protected in production: a new password would reach the secret but not the database (the member
        # clusters ignore it after creation), so it must never be regenerated by a config change.
        self.password = generated_password(
            f"{name}-master-password", PASSWORD_SPECIALS, pulumi.ResourceOptions(parent=self, protect=args.protect)
        )
        self.identifier = args.identifier
        self.global_cluster_id = self.cluster.global_cluster_identifier
        self.master_username = MASTER_USERNAME
        self.master_password = pulumi.Output.secret(self.password.result)
        self.writer_endpoint = self.cluster.endpoint
        self.register_outputs(
            {
                "global_cluster_id": self.global_cluster_id,
                "global_cluster_arn": self.cluster.arn,
                "writer_endpoint": self.writer_endpoint,
                "master_username": self.master_username,
            }
        )


@dataclass(frozen=True)
class AuroraRegionalArgs:
    """Parameters
    ----------
    aurora: engine and sizes from the stack config.
    region: the region of the inherited provider.
    name_prefix: ``<project>-<stack>``, which starts the name of the cluster parameter group.
    is_primary: whether this region holds the writer at first deploy (see docs/design/data-stores.md).
    global_cluster_id: the global cluster to join.
    master_username, master_password: used only by the primary cluster at creation.
    vpc_id, private_subnet_ids: placement; private_subnet_zones: the subnets' AZs, in order, spreading the instances.
    key_arn: this region's KMS key (storage, Performance Insights).
    client_security_group_ids: the only security groups admitted on 5432.
    protect: deletion protection, final snapshot and Pulumi protection (production).
    join_after: for a secondary, the primary region's ``AuroraRegionalCluster.members``: AWS adds a secondary
        only to a global database whose primary cluster exists with an instance (otherwise it asks the newcomer
        for master credentials). Ordering only: it changes no input, so flipping the primary changes no diff.
    """

    aurora: AuroraConfig
    region: str
    name_prefix: str
    is_primary: bool
    global_cluster_id: pulumi.Input[str]
    master_username: str
    master_password: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    private_subnet_zones: list[pulumi.Input[str]]
    key_arn: pulumi.Input[str]
    client_security_group_ids: list[pulumi.Input[str]]
    protect: bool
    join_after: Sequence[pulumi.Resource] = ()


class AuroraRegionalCluster(pulumi.ComponentResource):
    """This region's member of the global database: its cluster (writer or secondary), instances spread over
    the AZs, the subnet group, the cluster parameter group that logs DDL and slow statements, the security group
    admitting only the given clients, and the Enhanced Monitoring role.

    Every region registers the same resources with the same inputs whatever its role, except the master
    credentials, which only the primary passes and every member ignores afterwards.
    """

    cluster: aws.rds.Cluster
    instances: list[aws.rds.ClusterInstance]
    security_group: aws.ec2.SecurityGroup
    subnet_group: aws.rds.SubnetGroup
    parameter_group: aws.rds.ClusterParameterGroup
    monitoring_role: aws.iam.Role

    def __init__(self, name: str, args: AuroraRegionalArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:database:AuroraRegionalCluster", name, None, opts)
        self.subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            subnet_ids=args.private_subnet_ids,
            description=f"Aurora global database member in {args.region}: private subnets only",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.parameter_group = self._parameter_group(name, args)
        self.security_group = self._security_group(name, args)
        self.monitoring_role, monitoring_policy = self._monitoring(name)
        self.cluster = self._cluster(name, args)
        self.instances = self._instances(name, args, monitoring_policy)
        self.register_outputs(
            {
                "cluster_arn": self.cluster.arn,
                "cluster_endpoint": self.cluster.endpoint,
                "reader_endpoint": self.cluster.reader_endpoint,
                "security_group_id": self.security_group.id,
            }
        )

    def _parameter_group(self, name: str, args: AuroraRegionalArgs) -> aws.rds.ClusterParameterGroup:
        """DDL and slow-statement logging (``logging_parameters``). Named for its family: a major upgrade needs a
        group of the new family, which then is a new group beside the old, not a rename."""
        family = parameter_group_family(args.aurora.engine_version)
        return aws.rds.ClusterParameterGroup(
            f"{name}-parameters",
            name=f"{args.name_prefix}-{family}",
            family=family,
            description=f"{args.name_prefix} Aurora PostgreSQL: log DDL and statements over {SLOW_STATEMENT_MS} ms",
            parameters=[
                aws.rds.ClusterParameterGroupParameterArgs(name=key, value=value, apply_method="immediate")
                for key, value in logging_parameters().items()
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _security_group(self, name: str, args: AuroraRegionalArgs) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="Aurora PostgreSQL: 5432 from the application and EKS security groups only",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=PORT,
                    to_port=PORT,
                    security_groups=args.client_security_group_ids,
                    description="PostgreSQL from the data clients",
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _monitoring(self, name: str) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment]:
        """The Enhanced Monitoring role and its AWS managed policy, which the instances wait for."""
        invoke = pulumi.InvokeOutputOptions(parent=self)
        role = self._monitoring_role(name, invoke)
        policy = aws.iam.RolePolicyAttachment(
            f"{name}-monitoring-policy",
            role=role.id,  # an IAM role's id is its name
            policy_arn=aws.get_partition_output(opts=invoke).partition.apply(
                lambda partition: f"arn:{partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
            ),
            opts=pulumi.ResourceOptions(parent=role),
        )
        return role, policy

    def _cluster(self, name: str, args: AuroraRegionalArgs) -> aws.rds.Cluster:
        """The member cluster: master credentials only in the primary at creation, ignored by every member after."""
        aurora = args.aurora
        final_snapshot = (
            pulumi.Output.from_input(args.global_cluster_id).apply(lambda gid: final_snapshot_identifier(gid, args.region))
            if args.protect
            else None
        )
        return aws.rds.Cluster(
            f"{name}-cluster",
            engine=ENGINE,
            engine_version=aurora.engine_version,
            engine_lifecycle_support=ENGINE_LIFECYCLE_SUPPORT,
            global_cluster_identifier=args.global_cluster_id,
            master_username=args.master_username if args.is_primary else None,
            master_password=pulumi.Output.secret(args.master_password) if args.is_primary else None,
            db_subnet_group_name=self.subnet_group.id,  # a DB subnet group's id is its name
            db_cluster_parameter_group_name=self.parameter_group.name,
            vpc_security_group_ids=[self.security_group.id],
            port=PORT,
            storage_encrypted=True,
            kms_key_id=args.key_arn,
            iam_database_authentication_enabled=True,
            backup_retention_period=aurora.backup_retention_days,
            preferred_backup_window=BACKUP_WINDOW,
            preferred_maintenance_window=MAINTENANCE_WINDOW,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            copy_tags_to_snapshot=True,
            deletion_protection=args.protect,
            skip_final_snapshot=not args.protect,
            final_snapshot_identifier=final_snapshot,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                retain_on_delete=args.protect,
                ignore_changes=list(MEMBER_CLUSTER_IGNORED_FIELDS),
                depends_on=list(args.join_after),
            ),
        )

    def _instances(
        self, name: str, args: AuroraRegionalArgs, monitoring_policy: aws.iam.RolePolicyAttachment
    ) -> list[aws.rds.ClusterInstance]:
        """The cluster's instances, round robin over the private subnets' AZs."""
        aurora = args.aurora
        zones = instance_zones(args.private_subnet_zones, aurora.instances_per_region)
        return [
            aws.rds.ClusterInstance(
                f"{name}-instance-{i}",
                cluster_identifier=self.cluster.id,
                engine=aws.rds.EngineType.AURORA_POSTGRESQL,
                instance_class=aurora.instance_class,
                availability_zone=zones[i],
                db_subnet_group_name=self.subnet_group.id,
                publicly_accessible=False,
                performance_insights_enabled=True,
                performance_insights_kms_key_id=args.key_arn,
                performance_insights_retention_period=PERFORMANCE_INSIGHTS_RETENTION_DAYS,
                monitoring_interval=MONITORING_INTERVAL_SECONDS,
                monitoring_role_arn=self.monitoring_role.arn,
                auto_minor_version_upgrade=True,
                copy_tags_to_snapshot=True,
                # RDS checks the role's permissions when the instance is created.
                opts=pulumi.ResourceOptions(parent=self.cluster, depends_on=[monitoring_policy]),
            )
            for i in range(aurora.instances_per_region)
        ]

    @property
    def members(self) -> list[pulumi.Resource]:
        """What a secondary region's cluster waits for: this cluster and its instances."""
        return [self.cluster, *self.instances]

    def _monitoring_role(self, name: str, invoke: pulumi.InvokeOutputOptions) -> aws.iam.Role:
        identity = aws.get_caller_identity_output(opts=invoke)
        return aws.iam.Role(
            f"{name}-monitoring-role",
            description="Lets RDS Enhanced Monitoring publish OS metrics of this region's Aurora instances",
            assume_role_policy=identity.account_id.apply(
                lambda account: json.dumps(assume_role_policy("monitoring.rds.amazonaws.com", account))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


@dataclass(frozen=True)
class AuroraMasterSecretArgs:
    """Parameters
    ----------
    aurora_global: the global database whose master credentials and writer endpoint the secret holds.
    home_region: the region of the inherited provider, where the secret lives: the first of ``regions``, like
        the global cluster, so that moving the primary never moves the secret.
    key_arns: every region's KMS key by region name, the home region included; each replica is encrypted with
        the key of its own region.
    protect: Pulumi protection and a 30-day recovery window (production); otherwise deleted at once.
    """

    aurora_global: AuroraGlobal
    home_region: str
    key_arns: Mapping[str, pulumi.Input[str]]
    protect: bool


class AuroraMasterSecret(pulumi.ComponentResource):
    """The master credentials in Secrets Manager, replicated to every other region.

    Aurora global databases cannot keep their master password in RDS-managed Secrets Manager, so the generated
    password is stored here; operators read it in whichever region survives. The home region's
    ``MasterSecretRotation`` rotates it (the generated password is only the first one).
    """

    secret: aws.secretsmanager.Secret
    version: aws.secretsmanager.SecretVersion

    def __init__(self, name: str, args: AuroraMasterSecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:database:AuroraMasterSecret", name, None, opts)
        if args.home_region not in args.key_arns:
            raise ValueError(f"no KMS key for the home region {args.home_region}; keys for: {', '.join(args.key_arns)}")
        aurora_global = args.aurora_global
        self.secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            name=f"{aurora_global.identifier}/aurora/master",
            description=f"Master credentials of the Aurora global database {aurora_global.identifier}",
            kms_key_id=args.key_arns[args.home_region],
            replicas=[
                aws.secretsmanager.SecretReplicaArgs(region=region, kms_key_id=key_arn)
                for region, key_arn in args.key_arns.items()
                if region != args.home_region
            ],
            recovery_window_in_days=SECRET_RECOVERY_DAYS_PROTECTED if args.protect else 0,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        document = pulumi.Output.all(aurora_global.master_password, aurora_global.writer_endpoint).apply(
            lambda values: json.dumps(
                master_secret_document(
                    username=aurora_global.master_username,
                    password=values[0],
                    host=values[1],
                    global_cluster_id=aurora_global.identifier,
                )
            )
        )
        secret_string: pulumi.Output[str] = pulumi.Output.secret(document)
        # The first value only: the rotation (components/rotation.py) replaces the password at once and then on its
        # schedule, so the program never writes the value again (a refresh that sees a rotated value changes nothing).
        self.version = aws.secretsmanager.SecretVersion(
            f"{name}-value",
            secret_id=self.secret.id,
            secret_string=secret_string,
            opts=pulumi.ResourceOptions(parent=self.secret, ignore_changes=list(SECRET_VERSION_IGNORED_FIELDS)),
        )
        self.register_outputs({"secret_arn": self.secret.arn, "secret_name": self.secret.name})
