"""The stack's outputs, from the GlobalStack and the RegionalStacks once every phase has run."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi

from components.config import StackConfig
from components.global_stack import GlobalStack
from components.regional import RegionalStack


def export_outputs(config: StackConfig, global_stack: GlobalStack, regions: Mapping[str, RegionalStack]) -> None:
    """Every output the operator tools and the README name (``pulumi stack output``)."""
    if global_stack.zone and config.edge.create_hosted_zone:
        # Delegate the domain to these from its parent zone while `pulumi up` waits for the certificates (README).
        pulumi.export("hostedZoneNameServers", global_stack.zone.name_servers)
    pulumi.export("auroraMasterSecretArn", global_stack.aurora_secret.secret.arn)
    pulumi.export("tableName", global_stack.table.table_name)
    pulumi.export("application", {name: stack.app.outputs for name, stack in regions.items()})
    pulumi.export("apiHostname", global_stack.api_traffic.api_hostname)
    pulumi.export(
        "regionalEndpoints",
        {name: {"apiEndpoint": s.api.api.api_endpoint, "healthUrl": s.api.health_url} for name, s in regions.items()},
    )
    pulumi.export("cdnDomain", global_stack.cdn.domain_name)
    pulumi.export("cdnHostname", global_stack.cdn.hostname)
    pulumi.export("dashboard", global_stack.dashboard.dashboard_name)
    pulumi.export("failoverRunbooks", {name: stack.runbook.state_machine.arn for name, stack in regions.items()})
    pulumi.export("runbookTopology", global_stack.topology.apply(json.loads))
    pulumi.export("primaryRegion", config.primary.name)
    pulumi.export("routing", {"mode": config.routing.mode, "dnsTtlSeconds": config.routing.dns_ttl_seconds})
    pulumi.export("regions", {name: _region(stack) for name, stack in regions.items()})
    pulumi.export("eventsEndpoint", global_stack.events_endpoint.outputs)


def _region(stack: RegionalStack) -> dict[str, object]:
    return {
        "role": stack.region.role,
        "vpcId": stack.network.vpc.id,
        "privateSubnetIds": stack.private_subnet_ids,
        "kmsKeyArn": stack.key.key.arn,
        "bucketName": stack.bucket.bucket_name,
        "apiEndpoint": stack.api.api.api_endpoint,
        "backupVaultName": stack.backup.vault.name,
        "backupRoleArn": stack.backup.role.arn,
    }
