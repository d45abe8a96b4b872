"""The public hosted zone of the stack's domain: looked up, or created, by config.

The regional API certificates and the CDN certificate are validated with records in it and the API records live
in it, so it is made before them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class HostedZoneArgs:
    """Parameters
    ----------
    domain_name: the stack's domain, e.g. ``app.example.com``.
    create: create a public zone for it (then delegate to its name servers from the parent zone), or look up
        the existing public zone of exactly that name.
    protect: keep a created zone (production): deleting it breaks every record and delegation.
    name_prefix: ``<project>-<stack>``, named in a created zone's comment.
    """

    domain_name: str
    create: bool
    protect: bool
    name_prefix: str


def zone_comment(domain_name: str, name_prefix: str) -> str:
    """The comment of a zone the stack creates: how ``ops preflight`` tells it from a zone made by hand."""
    return f"{domain_name}: managed by the {name_prefix} stack"


class HostedZone(pulumi.ComponentResource):
    """``zone_id`` and ``name_servers`` of the domain's public zone (Route53 is global; any provider works)."""

    zone_id: pulumi.Output[str]
    name_servers: pulumi.Output[Sequence[str]]

    def __init__(self, name: str, args: HostedZoneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("multi-region:dns:HostedZone", name, None, opts)
        if args.create:
            zone = aws.route53.Zone(
                f"{name}-zone",
                name=args.domain_name,
                comment=zone_comment(args.domain_name, args.name_prefix),
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
            )
            self.zone_id, self.name_servers = zone.zone_id, zone.name_servers
        else:
            found = aws.route53.get_zone_output(
                name=args.domain_name, private_zone=False, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            self.zone_id, self.name_servers = found.zone_id, found.name_servers
        self.register_outputs({"zone_id": self.zone_id, "name_servers": self.name_servers})
