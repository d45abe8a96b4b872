"""One explicit AWS provider per region, carrying the default tags every resource in that region gets."""

from __future__ import annotations

import pulumi_aws as aws

from components.config import RegionConfig, StackConfig


def default_tags(config: StackConfig, region: RegionConfig) -> dict[str, str]:
    """Tags on every resource of ``region``: who owns it and what part it plays."""
    return {"project": config.project, "stack": config.stack, "region": region.name, "role": region.role}


def region_provider(config: StackConfig, region: RegionConfig) -> aws.Provider:
    """The provider for ``region``. Default providers are disabled in the stack files, so every resource
    must be given one of these (through its parent) or fail to register."""
    return aws.Provider(
        f"aws-{region.name}",
        region=region.name,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(config, region)),
    )
