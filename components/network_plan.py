"""Pure CIDR planning: how a region's VPC block is cut into private and public subnets.

Private subnets come first from the start of the block (they hold everything stateful and want the room);
public subnets, which only carry NAT gateways and load balancers, follow in the first free space after them.

Example:
    >>> plan = plan_subnets("10.10.0.0/16", private_prefix=19, public_prefix=24, az_count=3)
    >>> plan.private
    ('10.10.0.0/19', '10.10.32.0/19', '10.10.64.0/19')
    >>> plan.public
    ('10.10.96.0/24', '10.10.97.0/24', '10.10.98.0/24')
"""

from __future__ import annotations

import ipaddress
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
