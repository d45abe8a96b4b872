"""The multi-region stack: one GlobalStack and one RegionalStack per region, built in phases (README, Architecture).

Each phase needs what the one before it built, across the global/regional boundary; resources never point back."""

import pulumi

from components.config import ConfigError, load_from_pulumi
from components.global_stack import GlobalStack, GlobalStackArgs
from components.outputs import export_outputs
from components.packaging import build_package
from components.providers import edge_provider, region_provider
from components.regional import RegionalStack, RegionalStackArgs

# Typed config, validated before anything is registered: a bad value stops here with every problem listed.
try:
    config = load_from_pulumi()
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

# One explicit provider per region; what AWS keeps only in us-east-1 (CloudFront, health-check metrics) uses `edge`.
providers = {region.name: region_provider(config, region) for region in config.regions}
edge = edge_provider(config, providers)

# 1. Global foundation: the hosted zone, the Aurora global cluster, a MemoryDB Multi-Region one if asked, in the first
#    region.
global_stack = GlobalStack("global", GlobalStackArgs(config, providers, edge))

# 2. Each region's foundation: key, alarm topic, network, EKS, Aurora member, MemoryDB (member), bucket, API. The primary
#    first: AWS adds a secondary Aurora cluster to the global database only once the primary has an instance.
built: dict[str, RegionalStack] = {}
for region in sorted(config.regions, key=lambda r: not r.is_primary):
    after = [] if region.is_primary else built[config.primary.name].database.members
    built[region.name] = RegionalStack(
        region.name,
        RegionalStackArgs(
            config,
            region,
            global_stack.aurora_global,
            global_stack.zone_id,
            after,
            multi_region_cache_name=global_stack.multi_region_cache_name,
        ),
        pulumi.ResourceOptions(provider=providers[region.name]),
    )
regions = {region.name: built[region.name] for region in config.regions}

# 3. Global data: the Aurora master secret and the DynamoDB table, each replicated under every region's key.
global_stack.add_data(regions)

# 4. Each region's application layer (on the table's stream there) and its bucket's replication to the others.
package = build_package()
for stack in regions.values():
    stack.add_application(global_stack, regions, package)

# 5. The global edge: API traffic, CloudFront and the bucket policies, the runbook's topology, the dashboard.
global_stack.add_edge(regions)

# 6. Each region's operations: its alarms and its failover runbook.
for stack in regions.values():
    stack.add_operations(global_stack, regions, package)

# 7. Rotation of the Aurora master secret, by the home region's rotation function.
global_stack.add_secret_rotation(regions)

export_outputs(config, global_stack, regions)
