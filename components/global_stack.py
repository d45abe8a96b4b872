"""GlobalStack: what serves every region, built in four phases around the RegionalStacks (docs/design/tree.md).

``GlobalStack(...)`` builds the hosted zone, the Aurora global cluster and (``cacheTopology: multiRegion``) the MemoryDB
Multi-Region cluster; ``add_data(regions)`` the Aurora master
secret and the DynamoDB table with its state record (replicated under each region's key); ``add_edge(regions)`` the
API traffic (health checks, gates, records), the edge key and alarm topic, CloudFront and the bucket policies that
admit it, the runbook's topology and the dashboard; ``add_secret_rotation(regions)`` the master secret's rotation by
the home region's function. All under the provider of the first region in ``regions`` (so a
new primary moves nothing), the edge under the us-east-1 one. An alias keeps each child's URN: the dashboard and the
edge's alarm topic were under the former Observability component, the rest at the stack's root.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.api import api_hostname
from components.cache import MultiRegionCache, MultiRegionCacheArgs
from components.config import StackConfig
from components.database import AuroraGlobal, AuroraGlobalArgs, AuroraMasterSecret, AuroraMasterSecretArgs
from components.dns import ApiTraffic, ApiTrafficArgs
from components.edge import Cdn, CdnArgs, cdn_origin_regions, origin_read_statement
from components.events import EventsEndpoint, EventsEndpointArgs, endpoint_regions
from components.keys import RegionKey, RegionKeyArgs
from components.observability import DashboardArgs, alarm_topic, dashboard
from components.providers import EDGE_REGION
from components.rotation import master_secret_rotation
from components.runbook import health_check_arn, runbook_topology
from components.status_page import page_config, site_files, upload_status_page
from components.storage import attach_data_bucket_policy, replication_rule_id
from components.table import GlobalTable, GlobalTableArgs
from components.zone import HostedZone, HostedZoneArgs
from functions.shared.schema import table_name

if TYPE_CHECKING:
    from components.regional import RegionalStack

GLOBAL_STACK_TYPE = "multi-region:global:GlobalStack"
# What was registered at the stack's root before the tree had a GlobalStack and RegionalStacks.
FROM_ROOT = pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)


@dataclass(frozen=True)
class GlobalStackArgs:
    """Parameters
    ----------
    config: the whole validated stack config.
    providers: every region's provider by region name.
    edge_provider: the us-east-1 provider (``components.providers.edge_provider``).
    """

    config: StackConfig
    providers: Mapping[str, pulumi.ProviderResource]
    edge_provider: pulumi.ProviderResource


class GlobalStack(pulumi.ComponentResource):
    """The global layer; its phases are called by ``__main__`` in order, each once."""

    zone: HostedZone | None
    aurora_global: AuroraGlobal
    multi_region_cache: MultiRegionCache | None
    aurora_secret: AuroraMasterSecret
    table: GlobalTable
    api_traffic: ApiTraffic
    events_endpoint: EventsEndpoint
    edge_key: RegionKey
    edge_topic: aws.sns.Topic
    cdn: Cdn
    topology: pulumi.Output[str]
    dashboard: aws.cloudwatch.Dashboard
    aurora_secret_rotation: aws.secretsmanager.SecretRotation

    def __init__(self, name: str, args: GlobalStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(GLOBAL_STACK_TYPE, name, None, opts)
        self.config = args.config
        self.home_region = args.config.regions[0].name
        self._home = args.providers[self.home_region]
        self.edge_provider = args.edge_provider
        self.zone = self._hosted_zone()
        self.zone_id: pulumi.Output[str] | None = self.zone.zone_id if self.zone else None
        self.aurora_global = self._aurora_global()
        self.multi_region_cache = self._multi_region_cache()

    def _child(self, provider: pulumi.ProviderResource | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=provider or self._home, aliases=[FROM_ROOT])

    def _hosted_zone(self) -> HostedZone | None:
        """The public zone of the domain (none for a stack without one): certificates and records are validated in it."""
        edge = self.config.edge
        if not edge.domain_name:
            return None
        zone_args = HostedZoneArgs(
            domain_name=edge.domain_name,
            create=edge.create_hosted_zone,
            protect=self.config.protect_stateful_resources,
            name_prefix=self.config.name_prefix,
        )
        return HostedZone("dns", zone_args, self._child())

    def _aurora_global(self) -> AuroraGlobal:
        aurora_args = AuroraGlobalArgs(
            aurora=self.config.aurora, identifier=self.config.name_prefix, protect=self.config.protect_stateful_resources
        )
        return AuroraGlobal("aurora-global", aurora_args, self._child())

    def _multi_region_cache(self) -> MultiRegionCache | None:
        """The MemoryDB Multi-Region cluster every region's cache joins, when the config asks for one."""
        memorydb = self.config.memorydb
        if not memorydb.multi_region:
            return None
        cache_args = MultiRegionCacheArgs(
            memorydb=memorydb, name_prefix=self.config.name_prefix, protect=self.config.protect_stateful_resources
        )
        return MultiRegionCache("memorydb-multi-region", cache_args, self._child())

    @property
    def multi_region_cache_name(self) -> pulumi.Output[str] | None:
        """The name each region's MemoryDB cluster joins with (None: every region has a regional cluster)."""
        return self.multi_region_cache.multi_region_cluster_name if self.multi_region_cache else None

    # ---- phase 2: data, once every region has its key ------------------------------------------------------------

    def add_data(self, regions: Mapping[str, RegionalStack]) -> None:
        """The Aurora master secret and the DynamoDB table: each replicated to every region under that region's key."""
        config = self.config
        key_arns = {name: stack.key.key.arn for name, stack in regions.items()}
        secret_args = AuroraMasterSecretArgs(
            aurora_global=self.aurora_global,
            home_region=self.home_region,
            key_arns=key_arns,
            protect=config.protect_stateful_resources,
        )
        self.aurora_secret = AuroraMasterSecret("aurora-master-secret", secret_args, self._child())
        table_args = GlobalTableArgs(
            table_name=table_name(config.project, config.stack),
            home_region=self.home_region,
            key_arns=key_arns,
            active_region=config.primary.name,
            protect=config.protect_stateful_resources,
        )
        self.table = GlobalTable("items", table_args, self._child())

    # ---- last phase: the master secret's rotation, once the home region has its rotation function ----------------

    def add_secret_rotation(self, regions: Mapping[str, RegionalStack]) -> None:
        """Rotation of the Aurora master secret by the home region's function; the first runs once every member
        cluster and instance exists (components/rotation.py)."""
        self.aurora_secret_rotation = master_secret_rotation(
            "aurora-master-secret-rotation",
            secret=self.aurora_secret.secret,
            function=regions[self.home_region].secret_rotation,
            rotation_days=self.config.aurora.master_rotation_days,
            after=[self.aurora_secret.version, *(m for stack in regions.values() for m in stack.database.members)],
            opts=pulumi.ResourceOptions(parent=self.aurora_secret),
        )

    # ---- phase 3: the edge, once every region has its API, bucket and alarm topic -----------------------------------

    def add_edge(self, regions: Mapping[str, RegionalStack]) -> None:
        """API traffic, the edge key and topic, CloudFront and the bucket policies, the runbook topology, the dashboard."""
        self.api_traffic = self._api_traffic(regions)
        self.events_endpoint = self._events_endpoint(regions)
        self.edge_key = regions[EDGE_REGION].key if EDGE_REGION in regions else self._edge_key()
        self.edge_topic = regions[EDGE_REGION].alarm_topic if EDGE_REGION in regions else self._edge_topic()
        self.cdn = self._cdn(regions)
        self._bucket_policies(regions)
        self.status_page = self._status_page(regions)
        self.topology = self._topology(regions)
        self.dashboard = self._dashboard(regions)
        self.register_outputs(
            {
                "table_name": self.table.table_name,
                "api_hostname": self.api_traffic.api_hostname,
                "cdn_domain": self.cdn.domain_name,
                "dashboard_name": self.dashboard.dashboard_name,
            }
        )

    def _api_traffic(self, regions: Mapping[str, RegionalStack]) -> ApiTraffic:
        """A health check and a traffic gate per region (or ARC routing controls), and the api.<domain> records."""
        config, domain = self.config, self.config.edge.domain_name
        traffic_args = ApiTrafficArgs(
            hostname=api_hostname(domain) if domain else None,
            zone_id=self.zone_id,
            apis={name: stack.api for name, stack in regions.items()},
            primary=config.primary.name,
            routing=config.routing,
            health_check_path=config.edge.health_check_path,
            health_check_interval_seconds=config.edge.health_check_interval_seconds,
            health_check_failure_threshold=config.edge.health_check_failure_threshold,
            name_prefix=config.name_prefix,
            traffic_control=config.failover.traffic_control,
        )
        return ApiTraffic("api-traffic", traffic_args, self._child())

    def _events_endpoint(self, regions: Mapping[str, RegionalStack]) -> EventsEndpoint:
        """The EventBridge global endpoint over the primary's bus and a secondary's, following the primary's traffic gate
        (docs/design/events.md); under the first region's provider, which is always one of its two regions."""
        config = self.config
        pair = endpoint_regions(config.region_names, config.primary.name)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        # From the gate's id, the one the runbook's topology carries and `ops failover` flips.
        gate_arn = pulumi.Output.all(partition, self.api_traffic.gate_ids[pair[0]]).apply(lambda v: health_check_arn(*v))
        endpoint_args = EventsEndpointArgs(
            name_prefix=config.name_prefix,
            regions=pair,
            buses={name: stack.events.bus for name, stack in regions.items()},
            primary_health_check_arn=gate_arn,
        )
        return EventsEndpoint("events-endpoint", endpoint_args, pulumi.ResourceOptions(parent=self, provider=self._home))

    def _edge_key(self) -> RegionKey:
        """The us-east-1 key of a stack without that region: CloudFront's access logs and the edge alarm topic."""
        key_args = RegionKeyArgs(
            region=EDGE_REGION,
            alias=f"alias/{self.config.name_prefix}-edge",
            deletion_window_days=self.config.kms_deletion_window_days,
            protect=self.config.protect_stateful_resources,
            edge_only=True,
        )
        return RegionKey("edge-kms", key_args, self._child(self.edge_provider))

    def _edge_topic(self) -> aws.sns.Topic:
        """The us-east-1 alarm topic of a stack without that region, for the health-check alarms."""
        return alarm_topic(
            EDGE_REGION,
            name_prefix=self.config.name_prefix,
            key_arn=self.edge_key.key.arn,
            alarm_emails=self.config.edge.alarm_emails,
            opts=pulumi.ResourceOptions(parent=self, provider=self.edge_provider),
        )

    def _cdn(self, regions: Mapping[str, RegionalStack]) -> Cdn:
        """CloudFront on cdn.<domain>, its origin group over the primary's bucket, then the next region's."""
        edge, domain = self.config.edge, self.config.edge.domain_name
        cdn_args = CdnArgs(
            hostname=f"cdn.{domain}" if domain else None,
            zone_id=self.zone_id,
            origins=[regions[name].bucket for name in cdn_origin_regions(self.config.region_names, self.config.primary.name)],
            failover_on_missing=edge.cdn_failover_on_missing,
            price_class=edge.cdn_price_class,
            log_retention_days=self.config.log_retention_days,
            log_key_arn=self.edge_key.key.arn,
            waf_rate_limit=edge.waf_rate_limit,
            apis={name: stack.api.api_endpoint_host for name, stack in regions.items()},
        )
        return Cdn("cdn", cdn_args, self._child(self.edge_provider))

    def _status_page(self, regions: Mapping[str, RegionalStack]) -> dict[str, list[aws.s3.BucketObjectv2]]:
        """The status page in every region's bucket (``components/status_page.py``), each file a child of its bucket."""
        config, domain = self.config, self.config.edge.domain_name
        page = page_config(config.region_names, events_endpoint=f"https://{api_hostname(domain)}/events" if domain else "")
        files = site_files(page)  # read once: every region's bucket holds the same files
        return {name: upload_status_page(stack.bucket, files) for name, stack in regions.items()}

    def _bucket_policies(self, regions: Mapping[str, RegionalStack]) -> None:
        """Every data bucket's one policy, after the distribution it names: read for CloudFront on an origin, else
        TLS only. Each stays a child of its bucket, in the region's RegionalStack."""
        origins = cdn_origin_regions(self.config.region_names, self.config.primary.name)
        for name, stack in regions.items():
            bucket = stack.bucket
            statements: pulumi.Input[list[dict[str, object]]] = (
                pulumi.Output.all(bucket.bucket_arn, self.cdn.distribution_arn).apply(
                    lambda v: [origin_read_statement(v[0], v[1])]
                )
                if name in origins
                else []
            )
            attach_data_bucket_policy(bucket, statements)

    def _topology(self, regions: Mapping[str, RegionalStack]) -> pulumi.Output[str]:
        """What the failover runbook acts on, the same in every region (``components.runbook.runbook_topology``)."""
        config, traffic = self.config, self.api_traffic
        return runbook_topology(
            regions=config.region_names,
            table_name=table_name(config.project, config.stack),
            global_cluster_id=self.aurora_global.identifier,
            cluster_arns={name: stack.database.cluster.arn for name, stack in regions.items()},
            traffic_control=config.failover.traffic_control,
            traffic_gates=traffic.gate_ids,
            routing_controls=traffic.routing_control_arns,
            routing_control_endpoints=traffic.routing_control_endpoints,
            drain_timeout_seconds=config.failover.drain_timeout_seconds,
        )

    def _dashboard(self, regions: Mapping[str, RegionalStack]) -> aws.cloudwatch.Dashboard:
        stacks = list(regions.values())
        dashboard_args = DashboardArgs(
            name_prefix=self.config.name_prefix,
            regions=list(regions),
            table_name=self.table.table_name,
            aurora_clusters=[s.database.cluster.id for s in stacks],
            memorydb_clusters=[s.cache.cluster_name for s in stacks],
            buckets=[s.bucket.bucket_name for s in stacks],
            health_check_ids=self.api_traffic.health_check_ids,
            replication_rule_id=replication_rule_id,
        )
        return dashboard(dashboard_args, pulumi.ResourceOptions(parent=self, provider=self._home))
