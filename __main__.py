"""The multi-region stack, in dependency order: config, providers, regions, (later) global resources."""

import pulumi

from components.config import ConfigError, load_from_pulumi
from components.providers import region_provider
from components.regional import RegionalStack, RegionalStackArgs

# 1. Typed config: validated before anything is registered; a bad value stops here with every problem listed.
try:
    config = load_from_pulumi(pulumi.get_stack())
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

# 2. One explicit provider per region, with the default tags of that region.
providers = {region.name: region_provider(config, region) for region in config.regions}

# 3. One RegionalStack per region; its children inherit the region's provider.
regional = {
    region.name: RegionalStack(
        region.name,
        RegionalStackArgs(config=config, region=region),
        pulumi.ResourceOptions(provider=providers[region.name]),
    )
    for region in config.regions
}

# 4. Outputs.
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
    }
pulumi.export("regions", region_outputs)
