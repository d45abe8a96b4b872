"""Pure helpers of components/network.py (the network's resources are checked per region in test_regional.py)."""

from __future__ import annotations

import pytest

from components.network import first_zones


def test_the_subnets_take_the_first_three_available_zones() -> None:
    assert first_zones(["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"]) == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


def test_a_region_with_too_few_zones_is_refused_with_the_zones_it_offers() -> None:
    with pytest.raises(ValueError, match=r"the region offers 2 available AZs \(us-west-1a, us-west-1b\); 3 are needed"):
        first_zones(["us-west-1a", "us-west-1b"])
