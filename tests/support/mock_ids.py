"""What the mocks harness (planning/harness.py) gives resources the cloud would name: ARNs and hosted zone ids."""

from __future__ import annotations

from components.config import StackConfig
from planning.harness import ACCOUNT_ID, PARTITION, Resource


def mock_arn(resource: Resource) -> str:
    """The ARN the mocks give a resource (planning/harness.py ``_fake_arn``)."""
    service = resource.type.split(":")[1].split("/")[0]
    kind = resource.type.rsplit(":", 1)[-1].lower()
    return f"arn:{PARTITION}:{service}:{resource.region}:{ACCOUNT_ID}:{kind}/{resource.name}"


def zone_id_of(config: StackConfig) -> str:
    """The zone id the mocks give the stack's zone: created (a Zone resource) or looked up (getZone)."""
    assert config.edge.domain_name is not None
    if config.edge.create_hosted_zone:
        return "dns-zone-zone-id"
    return "ZMOCK" + config.edge.domain_name.replace(".", "").upper()
