"""Pure CIDR planning, without Pulumi."""

import ipaddress

import pytest

from components.network_plan import SubnetPlanError, plan_subnets


def test_default_plan_cuts_private_first_then_public() -> None:
    plan = plan_subnets("10.10.0.0/16", 19, 24, 3)
    assert plan.private == ("10.10.0.0/19", "10.10.32.0/19", "10.10.64.0/19")
    assert plan.public == ("10.10.96.0/24", "10.10.97.0/24", "10.10.98.0/24")


@pytest.mark.parametrize(
    ("vpc", "private", "public"), [("10.0.0.0/16", 18, 20), ("192.168.0.0/24", 26, 28), ("172.16.0.0/20", 22, 24)]
)
def test_subnets_are_inside_the_vpc_and_disjoint(vpc: str, private: int, public: int) -> None:
    plan = plan_subnets(vpc, private, public, 3)
    nets = [ipaddress.ip_network(c) for c in plan.private + plan.public]
    assert len(nets) == 6
    assert all(n.subnet_of(ipaddress.ip_network(vpc)) for n in nets)  # type: ignore[arg-type]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


def test_private_subnets_that_do_not_fit_name_the_key() -> None:
    with pytest.raises(SubnetPlanError) as caught:
        plan_subnets("10.0.0.0/16", 17, 24, 3)
    assert caught.value.key == "privateSubnetPrefixLength"
    assert "/18 or longer" in caught.value.allowed


def test_public_subnets_without_room_name_the_key() -> None:
    # Three /18 private subnets leave one /18, which holds at most one /18 public subnet.
    with pytest.raises(SubnetPlanError) as caught:
        plan_subnets("10.0.0.0/16", 18, 18, 3)
    assert caught.value.key == "publicSubnetPrefixLength"


def test_prefix_not_longer_than_the_vpc_is_refused() -> None:
    with pytest.raises(SubnetPlanError, match="longer than the VPC's /20"):
        plan_subnets("10.0.0.0/20", 20, 24, 3)
