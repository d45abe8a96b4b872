"""One explicit AWS provider per region, carrying the default tags every resource in that region gets."""

from __future__ import annotations

import pulumi_aws as aws

from components.config import RegionConfig, StackConfig


def default_tags(config: StackConfig, region: RegionConfig) -> dict[str, str]:
    """Tags on every resource of ``region``: who owns it and where it is. Nothing here names the primary: a tag that
    moves with it would make the reconcile after a failover re-tag every resource of two regions mid-incident (the
    primary is in the stack's outputs and the runbook's state instead)."""
    return {"project": config.project, "stack": config.stack, "region": region.name}


EDGE_REGION = "us-east-1"


def edge_provider(config: StackConfig, providers: dict[str, aws.Provider]) -> aws.Provider:
    """The us-east-1 provider for what AWS keeps only there: CloudFront's ACM certificates and the metrics of
    Route53 health checks. The stack's own us-east-1 provider when it has one, else a dedicated one."""
    if EDGE_REGION in providers:
        return providers[EDGE_REGION]
    # "role: edge" never changes (the policy pack tells the edge provider from the stack's regions by it).
    tags = {"project": config.project, "stack": config.stack, "region": EDGE_REGION, "role": "edge"}
    return aws.Provider(f"aws-{EDGE_REGION}-edge", region=EDGE_REGION, default_tags=aws.ProviderDefaultTagsArgs(tags=tags))


def region_provider(config: StackConfig, region: RegionConfig) -> aws.Provider:
    """The provider for ``region``. Default providers are disabled in the stack files, so every resource
    must be given one of these (through its parent) or fail to register."""
    return aws.Provider(
        f"aws-{region.name}",
        region=region.name,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(config, region)),
    )
