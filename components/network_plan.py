"""Pure planning of a region's network: how its VPC block is cut into subnets, and which AZs they go in.

Private subnets come first from the start of the block (they hold everything stateful and want the room);
public subnets, which only carry NAT gateways and load balancers, follow in the first free space after them.

Example:
    >>> plan = plan_subnets("10.10.0.0/16", private_prefix=19, public_prefix=24, az_count=3)
    >>> plan.private, plan.public
    (('10.10.0.0/19', '10.10.32.0/19', '10.10.64.0/19'), ('10.10.96.0/24', '10.10.97.0/24', '10.10.98.0/24'))
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice


class SubnetPlanError(ValueError):
    """The subnet sizes do not fit the VPC block; names the config key at fault."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}: got {value!r}; allowed: {allowed}")


@dataclass(frozen=True)
class SubnetPlan:
    """Subnet CIDRs per availability zone, index i in each tuple belonging to AZ i."""

    vpc_cidr: str
    private: tuple[str, ...]
    public: tuple[str, ...]


def plan_subnets(vpc_cidr: str, private_prefix: int, public_prefix: int, az_count: int) -> SubnetPlan:
    """Cut ``vpc_cidr`` into ``az_count`` private and ``az_count`` public subnets.

    Raises
    ------
    SubnetPlanError
        When a prefix is not longer than the VPC's, or the subnets do not all fit.
    """
    vpc = ipaddress.IPv4Network(vpc_cidr, strict=True)
    for key, prefix in (("privateSubnetPrefixLength", private_prefix), ("publicSubnetPrefixLength", public_prefix)):
        if prefix <= vpc.prefixlen:
            raise SubnetPlanError(key, prefix, f"a prefix longer than the VPC's /{vpc.prefixlen} (e.g. /{vpc.prefixlen + 3})")

    private = list(islice(vpc.subnets(new_prefix=private_prefix), az_count))
    if len(private) < az_count:
        raise SubnetPlanError(
            "privateSubnetPrefixLength",
            private_prefix,
            f"/{vpc.prefixlen + _bits_for(az_count)} or longer, so that {az_count} subnets fit in {vpc}",
        )
    public = list(islice((s for s in vpc.subnets(new_prefix=public_prefix) if not any(s.overlaps(p) for p in private)), az_count))
    if len(public) < az_count:
        raise SubnetPlanError(
            "publicSubnetPrefixLength",
            public_prefix,
            f"a longer prefix, so that {az_count} public subnets fit in {vpc} beside the private /{private_prefix} ones",
        )
    return SubnetPlan(str(vpc), tuple(map(str, private)), tuple(map(str, public)))


def _bits_for(count: int) -> int:
    return max(1, (count - 1).bit_length())


# Availability-zone IDs that a service the region's network carries refuses. Zone names map to different physical
# zones in every account; zone IDs do not, so zones are chosen (and refused) by ID. EKS answers a cluster with a subnet
# in these with UnsupportedAvailabilityZoneException (the EKS API reference lists the exception; the EKS user guide's
# networking requirements name these zones of us-east-1, us-west-1 and ca-central-1). `ops preflight` checks the
# chosen IDs against the account before a deploy.
REFUSED_ZONE_IDS: dict[str, str] = dict.fromkeys(
    ("use1-az3", "usw1-az2", "cac1-az3"), "EKS (UnsupportedAvailabilityZoneException)"
)


@dataclass(frozen=True)
class Zone:
    """An availability zone: its account-specific ``name`` and its physical ``zone_id``."""

    name: str
    zone_id: str


def choose_zones(names: Sequence[str], zone_ids: Sequence[str], count: int) -> list[Zone]:
    """The ``count`` zones the subnets use: the lowest zone IDs the region offers, skipping ``REFUSED_ZONE_IDS``, so
    that every account gets the same physical zones.

    Example:
        >>> zones = choose_zones(["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"],
        ...                      ["use1-az3", "use1-az1", "use1-az2", "use1-az4"], 3)
        >>> [(z.name, z.zone_id) for z in zones]
        [('us-east-1b', 'use1-az1'), ('us-east-1c', 'use1-az2'), ('us-east-1d', 'use1-az4')]
    """
    if len(names) != len(zone_ids):
        raise ValueError(f"{len(names)} zone names but {len(zone_ids)} zone IDs")
    offered = sorted((Zone(name, zone_id) for name, zone_id in zip(names, zone_ids, strict=True)), key=_zone_number)
    usable = [zone for zone in offered if zone.zone_id not in REFUSED_ZONE_IDS]
    if len(usable) < count:
        refused = [f"{z.zone_id} ({REFUSED_ZONE_IDS[z.zone_id]})" for z in offered if z.zone_id in REFUSED_ZONE_IDS]
        raise ValueError(
            f"the region offers {len(usable)} usable AZs ({', '.join(z.zone_id for z in usable)}); {count} are needed"
            + (f"; refused: {', '.join(refused)}" if refused else "")
        )
    return usable[:count]


def _zone_number(zone: Zone) -> tuple[str, int, str]:
    prefix, _, number = zone.zone_id.rpartition("-az")
    return (prefix, int(number), zone.zone_id) if number.isdigit() else (zone.zone_id, 0, zone.zone_id)
