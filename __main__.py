"""The multi-region stack, in dependency order: config, providers, zone, global database, regions, replication,
global table, application layer, API traffic, CDN, alarms, failover runbook, outputs.

Names may cross from later steps to earlier ones; resources never do."""

import json

import pulumi

from components.api import api_hostname
from components.app import RegionalApp, RegionalAppArgs, table_stream_arn
from components.config import ConfigError, load_from_pulumi
from components.database import AuroraGlobal, AuroraGlobalArgs, AuroraMasterSecret, AuroraMasterSecretArgs
from components.dns import ApiTraffic, ApiTrafficArgs
from components.edge import Cdn, CdnArgs, cdn_origin_regions, origin_read_statement
from components.keys import RegionKey, RegionKeyArgs
from components.observability import Observability, ObservabilityArgs, RegionSignals
from components.packaging import build_package
from components.providers import EDGE_REGION, edge_provider, region_provider
from components.regional import RegionalStack, RegionalStackArgs
from components.runbook import (
    FailoverRunbook,
    FailoverRunbookArgs,
    execution_timeout_seconds,
    runbook_topology,
    topology_parameter_name,
)
from components.storage import BucketReplication, BucketReplicationArgs, attach_data_bucket_policy, replication_rule_id
from components.table import GlobalTable, GlobalTableArgs
from components.zone import HostedZone, HostedZoneArgs
from functions.shared.schema import table_name

# 1. Typed config: validated before anything is registered; a bad value stops here with every problem listed.
try:
    config = load_from_pulumi()
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

# 2. One explicit provider per region, with the default tags of that region.
providers = {region.name: region_provider(config, region) for region in config.regions}

# 2b. What AWS keeps only in us-east-1 (CloudFront certificates, health-check metrics) goes through this one.
edge = edge_provider(config, providers)

# 2c. The public hosted zone of the domain (Route53 is global): certificates and records are validated in it. A stack
#     without a domain has none, and serves on the API's and CloudFront's own endpoints.
home_region = config.regions[0].name
domain = config.edge.domain_name
zone = (
    HostedZone(
        "dns",
        HostedZoneArgs(
            domain_name=domain,
            create=config.edge.create_hosted_zone,
            protect=config.protect_stateful_resources,
            name_prefix=config.name_prefix,
        ),
        pulumi.ResourceOptions(provider=providers[home_region]),
    )
    if domain
    else None
)
zone_id = zone.zone_id if zone else None
if zone and config.edge.create_hosted_zone:
    # Delegate the domain to these from its parent zone while `pulumi up` waits for the certificates (README).
    pulumi.export("hostedZoneNameServers", zone.name_servers)

# 3. The Aurora global cluster. It lives under the provider of the first region in `regions`, not of the
#    primary, so that moving the primary after a switchover never moves (and so replaces) it.
aurora_global = AuroraGlobal(
    "aurora-global",
    AuroraGlobalArgs(
        aurora=config.aurora,
        identifier=config.name_prefix,
        protect=config.protect_stateful_resources,
    ),
    pulumi.ResourceOptions(provider=providers[home_region]),
)

# 4. One RegionalStack per region; its children inherit the region's provider. The primary comes first: AWS adds
#    a secondary Aurora cluster to the global database only once the primary cluster has an instance.
regional: dict[str, RegionalStack] = {}
for region in sorted(config.regions, key=lambda r: not r.is_primary):
    regional[region.name] = RegionalStack(
        region.name,
        RegionalStackArgs(
            config=config,
            region=region,
            aurora_global=aurora_global,
            zone_id=zone_id,
            aurora_join_after=[] if region.is_primary else regional[config.primary.name].database.members,
        ),
        pulumi.ResourceOptions(provider=providers[region.name]),
    )
regional = {region.name: regional[region.name] for region in config.regions}

# 4b. The Aurora master credentials in Secrets Manager, beside the global cluster in the first region and
#     replicated to every other region under that region's key (so it needs every RegionalStack's key).
aurora_secret = AuroraMasterSecret(
    "aurora-master-secret",
    AuroraMasterSecretArgs(
        aurora_global=aurora_global,
        home_region=home_region,
        key_arns={name: stack.key.key.arn for name, stack in regional.items()},
        protect=config.protect_stateful_resources,
    ),
    pulumi.ResourceOptions(provider=providers[home_region]),
)

pulumi.export("auroraMasterSecretArn", aurora_secret.secret.arn)

# 5. S3 replication from every region's bucket to every other's, once all buckets exist (no cycle).
for region in config.regions:
    BucketReplication(
        f"{region.name}-replication",
        BucketReplicationArgs(
            source=regional[region.name].bucket,
            destinations={other: stack.bucket for other, stack in regional.items() if other != region.name},
        ),
        pulumi.ResourceOptions(provider=providers[region.name]),
    )

# 6. The DynamoDB global table and the application-state record.
#    Under the home region's provider (not the primary's), like the global cluster, so that moving the primary never
#    moves it; after every RegionalStack, since each replica is encrypted with its own region's key.
table = GlobalTable(
    "items",
    GlobalTableArgs(
        table_name=table_name(config.project, config.stack),
        home_region=home_region,
        key_arns={name: stack.key.key.arn for name, stack in regional.items()},
        active_region=config.primary.name,
        protect=config.protect_stateful_resources,
    ),
    pulumi.ResourceOptions(provider=providers[home_region]),
)
pulumi.export("tableName", table.table_name)

# 6b. The application layer in every region: the functions (one package, built here from functions/ with every
#     preview and update, the same bytes for the same source), their queues, triggers and API routes. After the
#     global table, whose stream in each region triggers that region's stream handler.
package = build_package()
apps: dict[str, RegionalApp] = {}
for region in config.regions:
    stack = regional[region.name]
    apps[region.name] = RegionalApp(
        f"{region.name}-app",
        RegionalAppArgs(
            region=region.name,
            name_prefix=config.name_prefix,
            metrics_namespace=config.project,
            table_name=table_name(config.project, config.stack),
            stream_arn=table_stream_arn(table, region.name),
            key_arn=stack.key.key.arn,
            table_key_arn=table.key_arns[region.name],
            private_subnet_ids=[s.id for s in stack.network.private_subnets],
            security_group_id=stack.app_security_group.id,
            cache_endpoint=stack.cache.endpoint_address,
            cache_port=stack.cache.port,
            cache_user=stack.cache.user_name,
            cache_password=stack.cache.password,
            api=stack.api.api,
            health_check_path=config.edge.health_check_path,
            app=config.app,
            package=package,
            protect=config.protect_stateful_resources,
        ),
        pulumi.ResourceOptions(provider=providers[region.name]),
    )
pulumi.export("application", {name: app.outputs for name, app in apps.items()})

# 7. API traffic: a health check per region, a traffic gate over it (and with trafficControl=routingControl, a Route53
#    ARC cluster with a routing control per region), and the api.<domain> failover or latency records on the gates.
#    Under the home region's provider like the zone (Route53 is global), so moving the primary moves nothing.
api_traffic = ApiTraffic(
    "api-traffic",
    ApiTrafficArgs(
        hostname=api_hostname(domain) if domain else None,
        zone_id=zone_id,
        apis={name: stack.api for name, stack in regional.items()},
        primary=config.primary.name,
        routing=config.routing,
        health_check_path=config.edge.health_check_path,
        health_check_interval_seconds=config.edge.health_check_interval_seconds,
        health_check_failure_threshold=config.edge.health_check_failure_threshold,
        name_prefix=config.name_prefix,
        traffic_control=config.failover.traffic_control,
    ),
    pulumi.ResourceOptions(provider=providers[home_region]),
)
pulumi.export("apiHostname", api_traffic.api_hostname)
pulumi.export(
    "regionalEndpoints",
    {name: {"apiEndpoint": stack.api.api.api_endpoint, "healthUrl": stack.api.health_url} for name, stack in regional.items()},
)

# 8. CloudFront over the regional buckets, with origin failover; the bucket policies that admit it.
#    Under the us-east-1 provider (ACM certificates for CloudFront and its log delivery live there). The origin group
#    reads the primary's bucket, then the next region's; further regions hold replicas but are not origins.
#    Every data bucket's one policy is attached here, after the distribution it names (TLS only elsewhere).
cdn_origins = cdn_origin_regions(config.region_names, config.primary.name)
# What the edge keeps in us-east-1 (CloudFront's access-log group, the health-check alarm topic) is encrypted with that
# region's key, or with a key of its own when us-east-1 is not a region of the stack.
edge_key = (
    regional[EDGE_REGION].key
    if EDGE_REGION in regional
    else RegionKey(
        "edge-kms",
        RegionKeyArgs(
            region=EDGE_REGION,
            alias=f"alias/{config.name_prefix}-edge",
            deletion_window_days=config.kms_deletion_window_days,
            protect=config.protect_stateful_resources,
            edge_only=True,
        ),
        pulumi.ResourceOptions(provider=edge),
    )
)
cdn = Cdn(
    "cdn",
    CdnArgs(
        hostname=f"cdn.{domain}" if domain else None,
        zone_id=zone_id,
        origins=[regional[name].bucket for name in cdn_origins],
        failover_on_missing=config.edge.cdn_failover_on_missing,
        price_class=config.edge.cdn_price_class,
        log_retention_days=config.flow_log_retention_days,
        log_key_arn=edge_key.key.arn,
    ),
    pulumi.ResourceOptions(provider=edge),
)
for region in config.regions:
    bucket = regional[region.name].bucket
    attach_data_bucket_policy(
        bucket,
        pulumi.Output.all(bucket.bucket_arn, cdn.distribution_arn).apply(lambda v: [origin_read_statement(v[0], v[1])])
        if region.name in cdn_origins
        else [],
    )
pulumi.export("cdnDomain", cdn.domain_name)
pulumi.export("cdnHostname", cdn.hostname)

# 9. Alarms on every replication path and every region's health, an alarm topic per region, one dashboard.
observability = Observability(
    "observability",
    ObservabilityArgs(
        name_prefix=config.name_prefix,
        regions=[
            RegionSignals(
                region=name,
                provider=providers[name],
                key_arn=stack.key.key.arn,
                aurora_cluster_id=stack.database.cluster.id,
                memorydb_cluster_name=stack.cache.cluster_name,
                bucket_name=stack.bucket.bucket_name,
            )
            for name, stack in regional.items()
        ],
        table_name=table.table_name,
        health_check_ids=api_traffic.health_check_ids,
        replication_rule_id=replication_rule_id,
        edge_region=EDGE_REGION,
        edge_provider=edge,
        edge_key_arn=edge_key.key.arn,
        alarm_emails=config.edge.alarm_emails,
    ),
    pulumi.ResourceOptions(provider=providers[home_region]),
)
pulumi.export("dashboard", observability.dashboard.dashboard_name)

# 10. The failover runbook in every region (any surviving region can run it): the topology it acts on (the table, the
#     Aurora clusters, the traffic gates or routing controls), the runbook function on the application's package, the
#     state machine, the topology's SSM parameter, and alarms on failed runs to the region's alarm topic.
topology = runbook_topology(
    regions=config.region_names,
    table_name=table_name(config.project, config.stack),
    global_cluster_id=aurora_global.identifier,
    cluster_arns={name: stack.database.cluster.arn for name, stack in regional.items()},
    traffic_control=config.failover.traffic_control,
    traffic_gates=api_traffic.gate_ids,
    routing_controls=api_traffic.routing_control_arns,
    routing_control_endpoints=api_traffic.routing_control_endpoints,
    drain_timeout_seconds=config.failover.drain_timeout_seconds,
)
runbooks: dict[str, FailoverRunbook] = {}
for region in config.regions:
    stack = regional[region.name]
    runbooks[region.name] = FailoverRunbook(
        f"{region.name}-runbook",
        FailoverRunbookArgs(
            region=region.name,
            name_prefix=config.name_prefix,
            parameter_name=topology_parameter_name(config.project, config.stack),
            topology=topology,
            package=package,
            key_arn=stack.key.key.arn,
            table_key_arns=table.key_arns,
            private_subnet_ids=[s.id for s in stack.network.private_subnets],
            security_group_id=stack.app_security_group.id,
            log_retention_days=config.app.function_log_retention_days,
            execution_timeout_seconds=execution_timeout_seconds(config.failover.drain_timeout_seconds),
            alarm_topic_arn=observability.topics[region.name].arn,
        ),
        pulumi.ResourceOptions(provider=providers[region.name]),
    )
pulumi.export("failoverRunbooks", {name: runbook.state_machine.arn for name, runbook in runbooks.items()})
pulumi.export("runbookTopology", topology.apply(json.loads))

# 11. Outputs.
pulumi.export("primaryRegion", config.primary.name)
pulumi.export("routing", {"mode": config.routing.mode, "dnsTtlSeconds": config.routing.dns_ttl_seconds})
region_outputs = {}
for region in config.regions:
    stack = regional[region.name]
    region_outputs[region.name] = {
        "role": region.role,
        "vpcId": stack.network.vpc.id,
        "privateSubnetIds": [s.id for s in stack.network.private_subnets],
        "kmsKeyArn": stack.key.key.arn,
        "bucketName": stack.bucket.bucket_name,
        "apiEndpoint": stack.api.api.api_endpoint,
    }
pulumi.export("regions", region_outputs)
