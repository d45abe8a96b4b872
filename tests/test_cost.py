"""The plan's cost per day: the billable resources of a run priced from planning/prices.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from planning.cost import DAYS_PER_MONTH, CostLine, cost_of, load_prices, render_cost
from tests.support.program import ProgramRunner

PRICES = load_prices()


def lines(run_stack: ProgramRunner, stack: str, **overrides: Any) -> dict[str, CostLine]:
    return {line.item: line for line in cost_of(run_stack(stack, **overrides), PRICES).lines}


def test_the_price_list_says_when_and_where_its_prices_are_from() -> None:
    assert PRICES["as_of"] and PRICES["region"] == "us-east-1"
    assert all(source.startswith("https://aws.amazon.com/") for source in PRICES["sources"])


def test_prod_is_priced_from_its_resources(run_stack: ProgramRunner) -> None:
    prod = lines(run_stack, "prod")
    hourly = PRICES["hourly"]
    assert prod["EKS control plane"] == CostLine("EKS control plane", 2, 24 * hourly["eks_cluster"])
    assert prod["EKS node m7g.large"].count == 6  # 3 desired nodes in each of 2 regions
    assert prod["Aurora PostgreSQL db.r7g.large"].count == 4
    assert prod["MemoryDB valkey db.r7g.large"].count == 6  # 1 shard of 1 primary + 2 replicas per region
    assert prod["MemoryDB valkey db.r7g.large"].per_day == pytest.approx(24 * hourly["memorydb"]["valkey"]["db.r7g.large"])
    assert prod["NAT gateway"].count == prod["public IPv4 address"].count == 6  # per-az
    assert prod["KMS key"].per_day == pytest.approx(PRICES["monthly"]["kms_key"] / DAYS_PER_MONTH)
    # The CDN's web ACL: three managed rule groups and the rate rule, each billed as a rule.
    assert prod["WAF web ACL with 4 rules"] == CostLine("WAF web ACL with 4 rules", 1, (5.00 + 4 * 1.00) / DAYS_PER_MONTH)
    checks = prod["Route53 health check (HTTPS, 10 s, latency)"]
    assert checks.per_day == pytest.approx((0.75 + 3 * 2.00) / DAYS_PER_MONTH)


def test_a_multi_region_cache_is_priced_per_member_node_at_its_own_rate(run_stack: ProgramRunner) -> None:
    multi = lines(run_stack, "prod", cacheTopology="multiRegion", memorydbNodeType="db.r7g.xlarge")
    rate = PRICES["hourly"]["memorydb_multi_region"]["valkey"]["db.r7g.xlarge"]
    assert multi["MemoryDB Multi-Region valkey db.r7g.xlarge"] == CostLine(
        "MemoryDB Multi-Region valkey db.r7g.xlarge", 6, pytest.approx(24 * rate)
    )
    assert not [item for item in multi if item.startswith("MemoryDB valkey")]


def test_dev_is_cheaper_and_has_no_hosted_zone(run_stack: ProgramRunner) -> None:
    dev, prod = cost_of(run_stack("dev"), PRICES), cost_of(run_stack("prod"), PRICES)
    assert 0 < dev.total < prod.total / 2
    items = {line.item for line in dev.lines}
    assert "NAT gateway" in items and {"Route53 hosted zone", "Route53 ARC cluster"}.isdisjoint(items)
    assert {line.item: line.count for line in dev.lines}["NAT gateway"] == 2  # single, in each region
    assert dev.unpriced == [] and prod.unpriced == []
    created = {line.item for line in cost_of(run_stack("dev", domainName="dev.app.example.com", createHostedZone=True)).lines}
    assert "Route53 hosted zone" in created


def test_a_size_missing_from_the_list_is_named_not_guessed(run_stack: ProgramRunner) -> None:
    cost = cost_of(run_stack("dev", eksNodeInstanceType="c7g.large"), PRICES)
    assert cost.unpriced == ["EKS node c7g.large"]
    text = "\n".join(render_cost(cost))
    assert "EKS node c7g.large" in text and "no price" in text
    assert "not in the price list (add them to planning/prices.yaml): EKS node c7g.large" in text


def test_the_table_ends_with_the_total_and_what_it_leaves_out(run_stack: ProgramRunner) -> None:
    cost = cost_of(run_stack("prod"), PRICES)
    text = render_cost(cost)
    assert (
        text[0]
        == f"Cost per day before traffic (on-demand list prices of us-east-1 as of {PRICES['as_of']}, planning/prices.yaml)"
    )
    assert text[-2].split() == ["total", f"{cost.total:.2f}"]
    assert text[-1].startswith("  not counted (billed by usage): Lambda, DynamoDB")
    assert cost.total == pytest.approx(sum(line.count * (line.per_day or 0) for line in cost.lines))


def test_the_readme_lists_each_committed_stacks_cost_per_day(run_stack: ProgramRunner) -> None:
    from planning.harness import ROOT

    readme = (ROOT / "README.md").read_text()
    for stack in ("dev", "prod"):
        total = cost_of(run_stack(stack), PRICES).total
        row = next(line for line in readme.splitlines() if line.startswith(f"| {stack} | "))
        assert row.endswith(f"| **${total:.2f}** |"), (
            f"README's {stack} row is stale: the plan says ${total:.2f} per day (a new function's alarms cost too); "
            f"update that row and its 'the rest' column in README's cost table (`./run plan --stack {stack}` itemises it)"
        )
