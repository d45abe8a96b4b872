"""The multi-region stack, in dependency order: config, providers, global database, regions, replication."""

import pulumi

from components.config import ConfigError, load_from_pulumi
from components.database import AuroraGlobal, AuroraGlobalArgs, AuroraMasterSecret, AuroraMasterSecretArgs
from components.providers import edge_provider, region_provider
from components.regional import RegionalStack, RegionalStackArgs
from components.storage import BucketReplication, BucketReplicationArgs
from components.zone import HostedZone, HostedZoneArgs

# 1. Typed config: validated before anything is registered; a bad value stops here with every problem listed.
try:
    config = load_from_pulumi(pulumi.get_stack())
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

# 2. One explicit provider per region, with the default tags of that region.
providers = {region.name: region_provider(config, region) for region in config.regions}

# 2b. What AWS keeps only in us-east-1 (CloudFront certificates, health-check metrics) goes through this one.
edge = edge_provider(config, providers)

# 2c. The public hosted zone of the domain (Route53 is global): certificates and records are validated in it.
home_region = config.regions[0].name
zone = HostedZone(
    "dns",
    HostedZoneArgs(
        domain_name=config.edge.domain_name,
        create=config.edge.create_hosted_zone,
        protect=config.protect_stateful_resources,
    ),
    pulumi.ResourceOptions(provider=providers[home_region]),
)

# 3. The Aurora global cluster. It lives under the provider of the first region in `regions`, not of the
#    primary, so that moving the primary after a switchover never moves (and so replaces) it.
aurora_global = AuroraGlobal(
    "aurora-global",
    AuroraGlobalArgs(
        aurora=config.aurora,
        identifier=f"{config.project}-{config.stack}",
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
# [global-table]

# 7. API traffic: a health check per region and the api.<domain> failover or latency records.
# [api-dns]

# 8. CloudFront over the regional buckets, with origin failover; the bucket policies that admit it.
# [cdn]

# 9. Alarms and the dashboard.
# [observability]

# 10. Outputs.
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
    }
pulumi.export("regions", region_outputs)
