"""Pure helpers of the network (its resources are checked per region in test_regional.py)."""

from __future__ import annotations

import pytest

from components.network_plan import REFUSED_ZONE_IDS, Zone, choose_zones


def test_zones_are_chosen_by_id_lowest_first_whatever_the_names() -> None:
    names = ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"]
    assert choose_zones(names, ["euw1-az3", "euw1-az1", "euw1-az4", "euw1-az2"], 3) == [
        Zone("eu-west-1b", "euw1-az1"),
        Zone("eu-west-1d", "euw1-az2"),
        Zone("eu-west-1a", "euw1-az3"),
    ]


def test_a_zone_eks_refuses_is_skipped() -> None:
    assert "use1-az3" in REFUSED_ZONE_IDS
    names = [f"us-east-1{s}" for s in "abcdef"]
    chosen = choose_zones(names, ["use1-az1", "use1-az2", "use1-az3", "use1-az4", "use1-az5", "use1-az6"], 3)
    assert [z.zone_id for z in chosen] == ["use1-az1", "use1-az2", "use1-az4"]
    assert [z.name for z in chosen] == ["us-east-1a", "us-east-1b", "us-east-1d"]


def test_too_few_usable_zones_is_refused_naming_the_refused_ones() -> None:
    with pytest.raises(ValueError, match=r"offers 2 usable AZs \(use1-az1, use1-az2\); 3 are needed; refused: use1-az3 \(EKS"):
        choose_zones(["us-east-1a", "us-east-1b", "us-east-1c"], ["use1-az1", "use1-az3", "use1-az2"], 3)
