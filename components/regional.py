"""RegionalStack: everything one region runs, under that region's provider, built in three phases (docs/design/tree.md).

``RegionalStack(...)`` builds the foundation: key, alarm topic, network, EKS, Aurora member, MemoryDB, bucket, API,
backup vault. ``add_application(...)`` adds the application layer (after the global table, on its stream here), the
bucket's replication (after every region's bucket) and the backup plan (after every region's vault);
``add_operations(...)`` the region's alarms, failover runbook and master-secret rotation function (after the global
edge: the runbook's topology names the traffic gates). The application, replication, runbook and topic were once
elsewhere in the tree: an alias keeps each one's URN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.api import RegionalApi, RegionalApiArgs
from components.app import RegionalApp, RegionalAppArgs, table_stream_arn
from components.app_config import parameter_name
from components.backup import BackupPlanArgs, RegionalBackup, RegionalBackupArgs, copy_destination
from components.cache import MemoryDbArgs, MemoryDbCluster
from components.compute import EksCluster, EksClusterArgs
from components.config import RegionConfig, StackConfig
from components.database import AuroraGlobal, AuroraRegionalArgs, AuroraRegionalCluster
from components.events import RegionalEvents, RegionalEventsArgs
from components.global_stack import FROM_ROOT, GlobalStack
from components.keys import RegionKey, RegionKeyArgs
from components.network import Network, NetworkArgs
from components.observability import Peer, RegionAlarmsArgs, alarm_topic, health_alarm, region_alarms
from components.packaging import Package
from components.rotation import SecretRotationFunction, SecretRotationFunctionArgs
from components.runbook import FailoverRunbook, FailoverRunbookArgs, execution_timeout_seconds, topology_parameter_name
from components.storage import BucketReplication, BucketReplicationArgs, RegionalBucket, RegionalBucketArgs, replication_rule_id
from functions.shared.schema import table_name

REGIONAL_STACK_TYPE = "multi-region:regional:RegionalStack"


@dataclass(frozen=True)
class RegionalStackArgs:
    """Parameters
    ----------
    config: the whole validated stack config (names, sizes, protection).
    region: this region's part of it. The provider passed in ``opts`` must be for the same region.
    aurora_global: the global database every region's Aurora cluster joins.
    zone_id: the public hosted zone of ``config.edge.domain_name``, where the regional API's certificate is
        validated (``None`` for a stack without a domain).
    aurora_join_after: for a secondary region, the primary region's ``database.members``, which its Aurora
        cluster waits for (AWS adds a secondary only once the primary cluster has an instance).
    multi_region_cache_name: the MemoryDB Multi-Region cluster the region's cache joins (None: a regional cluster).
    """

    config: StackConfig
    region: RegionConfig
    aurora_global: AuroraGlobal
    zone_id: pulumi.Input[str] | None
    aurora_join_after: Sequence[pulumi.Resource] = ()
    multi_region_cache_name: pulumi.Input[str] | None = None


class RegionalStack(pulumi.ComponentResource):
    """One region. Every child is parented here, so each inherits the regional provider given in ``opts``; data stores
    admit only the application and EKS security groups, the wiring of which is visible here.

    Example:
        >>> RegionalStack("us-east-1", RegionalStackArgs(config, config.primary, aurora_global, zone_id),
        ...               pulumi.ResourceOptions(provider=providers["us-east-1"]))
    """

    key: RegionKey
    alarm_topic: aws.sns.Topic
    network: Network
    app_security_group: aws.ec2.SecurityGroup
    eks: EksCluster
    database: AuroraRegionalCluster
    cache: MemoryDbCluster
    bucket: RegionalBucket
    api: RegionalApi
    backup: RegionalBackup
    app: RegionalApp
    events: RegionalEvents
    replication: BucketReplication
    alarms: list[aws.cloudwatch.MetricAlarm]
    health_alarm: aws.cloudwatch.MetricAlarm | None
    runbook: FailoverRunbook
    secret_rotation: SecretRotationFunction

    def __init__(self, name: str, args: RegionalStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(REGIONAL_STACK_TYPE, name, None, opts)
        self.config, self.region = args.config, args.region
        self._prefix = name
        self._regional_provider = opts.provider if opts else None
        # Not `_protect`: the SDK's own attribute, which children inherit as their `protect`.
        self._protect_stateful = args.config.protect_stateful_resources
        self.key = self._key()
        self.alarm_topic = self._alarm_topic()
        self.network = self._network()
        self.app_security_group = self._app_security_group()
        self.eks = self._eks()
        self.database = self._database(args)
        self.cache = self._cache(args.multi_region_cache_name)
        self.bucket = self._bucket()
        self.api = self._api(args.zone_id)
        self.backup = self._backup()

    @property
    def private_subnet_ids(self) -> list[pulumi.Input[str]]:
        return [s.id for s in self.network.private_subnets]

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _moved_from_root(self) -> pulumi.ResourceOptions:
        """A child that was at the stack's root before the RegionalStack held it: the alias keeps its URN."""
        return pulumi.ResourceOptions(parent=self, provider=self._regional_provider, aliases=[FROM_ROOT])

    def _key(self) -> RegionKey:
        key_args = RegionKeyArgs(
            region=self.region.name,
            alias=f"alias/{self.config.name_prefix}",
            deletion_window_days=self.config.kms_deletion_window_days,
            protect=self._protect_stateful,
        )
        return RegionKey(f"{self._prefix}-kms", key_args, self._child())

    def _alarm_topic(self) -> aws.sns.Topic:
        """Built with the key, before any phase that notifies it: the runbook's alarms, this region's alarms, and (in
        us-east-1) every region's health-check alarm, whatever the order of the regions."""
        return alarm_topic(
            self.region.name,
            name_prefix=self.config.name_prefix,
            key_arn=self.key.key.arn,
            alarm_emails=self.config.edge.alarm_emails,
            opts=pulumi.ResourceOptions(parent=self, provider=self._regional_provider),
        )

    def _network(self) -> Network:
        network_args = NetworkArgs(
            region=self.region.name,
            network=self.region.network,
            flow_log_retention_days=self.config.log_retention_days,
            log_key_arn=self.key.key.arn,
        )
        return Network(f"{self._prefix}-net", network_args, self._child())

    def _app_security_group(self) -> aws.ec2.SecurityGroup:
        """The application's functions run in this group; data stores admit it by reference."""
        vpc_cidr = self.region.network.vpc_cidr
        return aws.ec2.SecurityGroup(
            f"{self._prefix}-app-sg",
            vpc_id=self.network.vpc.id,
            description="Application functions: egress to AWS APIs over HTTPS and to the VPC's data stores",
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"], description="AWS APIs"
                ),
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=5432, to_port=5432, cidr_blocks=[vpc_cidr], description="Aurora"
                ),
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=6379, to_port=6379, cidr_blocks=[vpc_cidr], description="MemoryDB"
                ),
            ],
            opts=pulumi.ResourceOptions(parent=self.network.vpc),
        )

    def _eks(self) -> EksCluster:
        eks_args = EksClusterArgs(
            eks=self.config.eks,
            cluster_name=self.config.name_prefix,
            region=self.region.name,
            private_subnet_ids=self.private_subnet_ids,
            key_arn=self.key.key.arn,
            log_retention_days=self.config.log_retention_days,
            protect=self._protect_stateful,
        )
        return EksCluster(f"{self._prefix}-eks", eks_args, self._child())

    def _data_clients(self) -> list[pulumi.Input[str]]:
        return [self.app_security_group.id, self.eks.cluster_security_group_id]

    def _database(self, args: RegionalStackArgs) -> AuroraRegionalCluster:
        database_args = AuroraRegionalArgs(
            aurora=self.config.aurora,
            region=self.region.name,
            name_prefix=self.config.name_prefix,
            is_primary=self.region.is_primary,
            global_cluster_id=args.aurora_global.global_cluster_id,
            master_username=args.aurora_global.master_username,
            master_password=args.aurora_global.master_password,
            vpc_id=self.network.vpc.id,
            private_subnet_ids=self.private_subnet_ids,
            private_subnet_zones=list(self.network.zone_names),
            key_arn=self.key.key.arn,
            client_security_group_ids=self._data_clients(),
            protect=self._protect_stateful,
            join_after=args.aurora_join_after,
        )
        return AuroraRegionalCluster(f"{self._prefix}-aurora", database_args, self._child())

    def _cache(self, multi_region_cache_name: pulumi.Input[str] | None) -> MemoryDbCluster:
        cache_args = MemoryDbArgs(
            memorydb=self.config.memorydb,
            name_prefix=self.config.name_prefix,
            vpc_id=self.network.vpc.id,
            private_subnet_ids=self.private_subnet_ids,
            key_arn=self.key.key.arn,
            client_security_group_ids=self._data_clients(),
            protect=self._protect_stateful,
            multi_region_cluster_name=multi_region_cache_name,
        )
        return MemoryDbCluster(f"{self._prefix}-memorydb", cache_args, self._child())

    def _bucket(self) -> RegionalBucket:
        bucket_args = RegionalBucketArgs(
            region=self.region.name,
            key_arn=self.key.key.arn,
            noncurrent_version_days=self.config.noncurrent_version_days,
            log_retention_days=self.config.log_retention_days,
            protect=self._protect_stateful,
        )
        return RegionalBucket(f"{self._prefix}-bucket", bucket_args, self._child())

    def _api(self, zone_id: pulumi.Input[str] | None) -> RegionalApi:
        """The regional HTTP API on api.<domain>; its routes arrive with the application layer."""
        api_args = RegionalApiArgs(
            api_name=self.config.name_prefix,
            domain_name=self.config.edge.domain_name,
            zone_id=zone_id,
            key_arn=self.key.key.arn,
            health_check_path=self.config.edge.health_check_path,
            throttle_rate_limit=self.config.app.api_throttle_rate_limit,
            throttle_burst_limit=self.config.app.api_throttle_burst_limit,
            log_retention_days=self.config.log_retention_days,
            protect=self._protect_stateful,
        )
        return RegionalApi(f"{self._prefix}-api", api_args, self._child())

    def _backup(self) -> RegionalBackup:
        """The backup vault under the region's key and AWS Backup's role; the plan comes with the application layer."""
        backup_args = RegionalBackupArgs(
            region=self.region.name,
            name_prefix=self.config.name_prefix,
            key_arn=self.key.key.arn,
            backup=self.config.backup,
            protect=self._protect_stateful,
        )
        return RegionalBackup(f"{self._prefix}-backup", backup_args, self._child())

    # ---- phase 2: the application layer and replication, after the global table and every region's bucket ----------

    def add_application(self, global_stack: GlobalStack, regions: Mapping[str, RegionalStack], package: Package) -> None:
        """The functions, queues, triggers and API routes (on the table's stream in this region), replication
        from this region's bucket to every other region's, and the backup plan."""
        self.app = self._application(global_stack, package)
        self.events = self._events()
        replication_args = BucketReplicationArgs(
            source=self.bucket,
            destinations={other: stack.bucket for other, stack in regions.items() if other != self.region.name},
        )
        self.replication = BucketReplication(f"{self._prefix}-replication", replication_args, self._moved_from_root())
        self._backup_plan(global_stack, regions)

    def _backup_plan(self, global_stack: GlobalStack, regions: Mapping[str, RegionalStack]) -> None:
        """Daily backups of the region's Aurora cluster and data bucket, and of the table in its home region only: a
        replica holds the same items, and the copy to another region's vault covers the loss of the home region."""
        destination = copy_destination(self.region.name, self.config.region_names, self.config.primary.name)
        resources: list[pulumi.Input[str]] = [self.database.cluster.arn, self.bucket.bucket.arn]
        if self.region.name == global_stack.home_region:
            resources.append(global_stack.table.table_arn)
        self.backup.add_plan(BackupPlanArgs(regions[destination].backup.vault_arn, resources))

    def _application(self, global_stack: GlobalStack, package: Package) -> RegionalApp:
        config, region, table = self.config, self.region.name, global_stack.table
        app_args = RegionalAppArgs(
            region=region,
            name_prefix=config.name_prefix,
            metrics_namespace=config.project,
            table_name=table_name(config.project, config.stack),
            stream_arn=table_stream_arn(table, region),
            key_arn=self.key.key.arn,
            table_key_arn=table.key_arns[region],
            private_subnet_ids=self.private_subnet_ids,
            security_group_id=self.app_security_group.id,
            cache_endpoint=self.cache.endpoint_address,
            cache_port=self.cache.port,
            cache_user=self.cache.user_name,
            cache_cluster_name=self.cache.cluster_name,
            cache_cluster_arn=self.cache.cluster.arn,
            cache_user_arn=self.cache.user.arn,
            api=self.api.api,
            health_check_path=config.edge.health_check_path,
            app=config.app,
            app_config_parameter=parameter_name(config.project, config.stack),
            log_retention_days=config.log_retention_days,
            package=package,
            protect=self._protect_stateful,
        )
        return RegionalApp(f"{self._prefix}-app", app_args, self._moved_from_root())

    def _events(self) -> RegionalEvents:
        """The region's event bus and the rule that delivers the application's events to its events queue."""
        events_args = RegionalEventsArgs(
            name_prefix=self.config.name_prefix,
            project=self.config.project,
            events_queue=self.app.events_queue,
            dead_letter_queue=self.app.dead_letter_queue,
        )
        return RegionalEvents(f"{self._prefix}-events", events_args, self._child())

    # ---- phase 3: operations, after the global edge ---------------------------------------------------------------

    def add_operations(self, global_stack: GlobalStack, regions: Mapping[str, RegionalStack], package: Package) -> None:
        """The region's alarms (its health check's in us-east-1, under the edge provider), its failover runbook and its
        rotation function of the master secret."""
        self.alarms = region_alarms(self._alarms_args(global_stack, regions))
        check_id = global_stack.api_traffic.health_check_ids.get(self.region.name)
        self.health_alarm = (
            health_alarm(
                self.region.name,
                name_prefix=self.config.name_prefix,
                check_id=check_id,
                edge_topic=global_stack.edge_topic,
                opts=pulumi.ResourceOptions(parent=self, provider=global_stack.edge_provider),
            )
            if check_id is not None
            else None
        )
        self.runbook = self._runbook(global_stack, package)
        self.secret_rotation = self._secret_rotation(global_stack, regions, package)
        self.register_outputs(
            {
                "region": self.region.name,
                "role": self.region.role,
                "vpc_id": self.network.vpc.id,
                "private_subnet_ids": self.private_subnet_ids,
                "kms_key_arn": self.key.key.arn,
                "bucket_name": self.bucket.bucket_name,
                "api_endpoint_host": self.api.api_endpoint_host,
            }
        )

    def _alarms_args(self, global_stack: GlobalStack, regions: Mapping[str, RegionalStack]) -> RegionAlarmsArgs:
        return RegionAlarmsArgs(
            region=self.region.name,
            name_prefix=self.config.name_prefix,
            topic=self.alarm_topic,
            table_name=global_stack.table.table_name,
            aurora_cluster_id=self.database.cluster.id,
            memorydb_cluster_name=self.cache.cluster_name,
            bucket_name=self.bucket.bucket_name,
            peers=[Peer(other, stack.bucket.bucket_name) for other, stack in regions.items() if other != self.region.name],
            replication_rule_id=replication_rule_id,
        )

    def _secret_rotation(
        self, global_stack: GlobalStack, regions: Mapping[str, RegionalStack], package: Package
    ) -> SecretRotationFunction:
        """The master secret's rotation function here: the home region's rotates the primary secret; every other
        region's is ready for its replica if that is ever promoted (components/rotation.py)."""
        config = self.config
        rotation_args = SecretRotationFunctionArgs(
            region=self.region.name,
            name_prefix=config.name_prefix,
            secret_name=global_stack.aurora_secret.secret.name,
            key_arn=self.key.key.arn,
            global_cluster_id=global_stack.aurora_global.global_cluster_id,
            cluster_arns=[stack.database.cluster.arn for stack in regions.values()],
            package=package,
            private_subnet_ids=self.private_subnet_ids,
            security_group_id=self.app_security_group.id,
            log_retention_days=config.log_retention_days,
        )
        # Under the region's Aurora member: the function keeps that database's master password.
        return SecretRotationFunction(
            f"{self._prefix}-secret-rotation", rotation_args, pulumi.ResourceOptions(parent=self.database)
        )

    def _runbook(self, global_stack: GlobalStack, package: Package) -> FailoverRunbook:
        """The failover runbook here, so any surviving region can run it: the topology, the function, the state
        machine, and alarms on failed runs to this region's topic."""
        config = self.config
        runbook_args = FailoverRunbookArgs(
            region=self.region.name,
            name_prefix=config.name_prefix,
            parameter_name=topology_parameter_name(config.project, config.stack),
            topology=global_stack.topology,
            package=package,
            key_arn=self.key.key.arn,
            table_key_arns=global_stack.table.key_arns,
            private_subnet_ids=self.private_subnet_ids,
            security_group_id=self.app_security_group.id,
            log_retention_days=config.log_retention_days,
            execution_timeout_seconds=execution_timeout_seconds(config.failover.drain_timeout_seconds),
            alarm_topic_arn=self.alarm_topic.arn,
        )
        return FailoverRunbook(f"{self._prefix}-runbook", runbook_args, self._moved_from_root())
