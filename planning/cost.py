"""What a stack costs per day before any traffic: the plan's billable resources priced from ``planning/prices.yaml``.

Counted from the resources of a mocks-harness run (so from the same plan ``ops plan`` prints), at on-demand list prices
of the region the price list names. Usage-based charges are left out and said so; a resource type whose size has no
price in the list makes the table say which, instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from planning.harness import ProgramRun, Resource

PRICE_LIST = Path(__file__).with_name("prices.yaml")
HOURS_PER_DAY = 24
DAYS_PER_MONTH = 730 / 24  # AWS bills monthly prices over 730 hours


@dataclass(frozen=True)
class CostLine:
    """One priced item: ``count`` units at ``per_day`` each (``None``: the price list has no price for it)."""

    item: str
    count: int
    per_day: float | None

    @property
    def total(self) -> float:
        return self.count * (self.per_day or 0.0)


@dataclass(frozen=True)
class Cost:
    """``usage``: the usage-priced items of the plan that it names with their price (cannot count: traffic)."""

    lines: tuple[CostLine, ...]
    as_of: str
    region: str
    usage: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return sum(line.total for line in self.lines)

    @property
    def unpriced(self) -> list[str]:
        return [line.item for line in self.lines if line.per_day is None]


def load_prices(path: Path = PRICE_LIST) -> dict[str, Any]:
    prices: dict[str, Any] = yaml.safe_load(path.read_text())
    return prices


def cost_of(run: ProgramRun, prices: dict[str, Any] | None = None) -> Cost:
    """The per-day cost of the billable resources ``run`` registered, grouped into one line per kind and size."""
    prices = prices or load_prices()
    counts: dict[tuple[str, float | None], int] = {}
    for resource in run.resources:
        for item, count, per_day in _priced(resource, prices):
            counts[(item, per_day)] = counts.get((item, per_day), 0) + count
    lines = tuple(CostLine(item, count, per_day) for (item, per_day), count in sorted(counts.items(), key=lambda kv: kv[0][0]))
    return Cost(lines, str(prices["as_of"]), str(prices["region"]), _usage(run, prices))


def _usage(run: ProgramRun, prices: dict[str, Any]) -> tuple[str, ...]:
    """The EventBridge events of a stack with the global endpoint: each put, and each replicated again."""
    if not run.of_type("aws:cloudwatch/eventEndpoint:EventEndpoint"):
        return ()
    per_million = prices["per_million"]
    put, replicated = per_million["eventbridge_custom_event"], per_million["eventbridge_replicated_event"]
    return (
        f"EventBridge events (${put:.2f} per million put, ${replicated:.2f} per million more replicated by the global "
        "endpoint, and the inter-region data transfer)",
    )


PricedItem = tuple[str, int, float | None]
# Billed one unit per resource at one list price: the item and its key under ``hourly`` or ``monthly`` in prices.yaml.
_HOURLY = {
    "aws:eks/cluster:Cluster": ("EKS control plane", "eks_cluster"),
    "aws:ec2/natGateway:NatGateway": ("NAT gateway", "nat_gateway"),
    "aws:ec2/eip:Eip": ("public IPv4 address", "public_ipv4"),
    "aws:route53recoverycontrol/cluster:Cluster": ("Route53 ARC cluster", "arc_cluster"),
}
_MONTHLY = {
    "aws:kms/key:Key": ("KMS key", "kms_key"),
    "aws:route53/zone:Zone": ("Route53 hosted zone", "hosted_zone"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("CloudWatch alarm", "alarm"),
    "aws:cloudwatch/dashboard:Dashboard": ("CloudWatch dashboard", "dashboard"),
}


def _priced(resource: Resource, prices: dict[str, Any]) -> Iterator[PricedItem]:
    """(item, count, price per day) of one resource; nothing for what is free or billed by usage."""
    kind = resource.type
    if kind in _HOURLY:
        item, key = _HOURLY[kind]
        yield item, 1, _per_hour(prices["hourly"][key])
    elif kind in _MONTHLY:
        item, key = _MONTHLY[kind]
        yield item, 1, _per_month(prices["monthly"][key])
    elif kind in _BY_INPUTS:
        yield _BY_INPUTS[kind](resource.inputs, prices["hourly"], prices["monthly"])


def _per_hour(value: float | None) -> float | None:
    return None if value is None else value * HOURS_PER_DAY


def _per_month(value: float) -> float:
    return value / DAYS_PER_MONTH


def _node_group(inputs: Mapping[str, Any], hourly: dict[str, Any], _: dict[str, Any]) -> PricedItem:
    size = str((inputs.get("instanceTypes") or ["?"])[0])
    nodes = int((inputs.get("scalingConfig") or {}).get("desiredSize", 0))
    return f"EKS node {size}", nodes, _per_hour(hourly["ec2"].get(size))


def _aurora_instance(inputs: Mapping[str, Any], hourly: dict[str, Any], _: dict[str, Any]) -> PricedItem:
    size = str(inputs.get("instanceClass"))
    return f"Aurora PostgreSQL {size}", 1, _per_hour(hourly["aurora_postgresql"].get(size))


def _memorydb(inputs: Mapping[str, Any], hourly: dict[str, Any], _: dict[str, Any]) -> PricedItem:
    engine, size = str(inputs.get("engine")), str(inputs.get("nodeType"))
    nodes = int(inputs.get("numShards", 1)) * (1 + int(inputs.get("numReplicasPerShard", 0)))
    if inputs.get("multiRegionClusterName"):  # a member of a Multi-Region cluster: billed at that rate
        rate = hourly["memorydb_multi_region"].get(engine, {}).get(size)
        return f"MemoryDB Multi-Region {engine} {size}", nodes, _per_hour(rate)
    return f"MemoryDB {engine} {size}", nodes, _per_hour(hourly["memorydb"].get(engine, {}).get(size))


def _health_check(inputs: Mapping[str, Any], _: dict[str, Any], monthly: dict[str, Any]) -> PricedItem:
    options = {
        "HTTPS": inputs.get("type") == "HTTPS",
        "10 s": inputs.get("requestInterval") == 10,
        "latency": inputs.get("measureLatency") is True,
    }
    chosen = [name for name, on in options.items() if on]
    label = f"Route53 health check ({', '.join(chosen) if chosen else str(inputs.get('type', '')).lower()})"
    return label, 1, _per_month(monthly["health_check"] + len(chosen) * monthly["health_check_option"])


def _secret(inputs: Mapping[str, Any], _: dict[str, Any], monthly: dict[str, Any]) -> PricedItem:
    return "Secrets Manager secret or replica", 1 + len(inputs.get("replicas") or []), _per_month(monthly["secret"])


def _web_acl(inputs: Mapping[str, Any], _: dict[str, Any], monthly: dict[str, Any]) -> PricedItem:
    rules = len(inputs.get("rules") or [])
    return f"WAF web ACL with {rules} rules", 1, _per_month(monthly["waf_web_acl"] + rules * monthly["waf_rule"])


# Billed by a size or a count read from the resource's inputs.
_BY_INPUTS: dict[str, Callable[[Mapping[str, Any], dict[str, Any], dict[str, Any]], PricedItem]] = {
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:rds/clusterInstance:ClusterInstance": _aurora_instance,
    "aws:memorydb/cluster:Cluster": _memorydb,
    "aws:route53/healthCheck:HealthCheck": _health_check,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:wafv2/webAcl:WebAcl": _web_acl,
}


def render_cost(cost: Cost) -> list[str]:
    """The plan's cost table: one line per item, the total per day, and what it leaves out."""
    lines = [
        f"Cost per day before traffic (on-demand list prices of {cost.region} as of {cost.as_of}, planning/prices.yaml)",
    ]
    width = max([len(line.item) for line in cost.lines] + [5])
    lines.append(f"  {'item':<{width}}  {'count':>5}  {'$/day each':>10}  {'$/day':>9}")
    for line in cost.lines:
        each = f"{line.per_day:10.3f}" if line.per_day is not None else f"{'no price':>10}"
        lines.append(f"  {line.item:<{width}}  {line.count:>5}  {each}  {line.total:9.2f}")
    lines.append(f"  {'total':<{width}}  {'':>5}  {'':>10}  {cost.total:9.2f}")
    if cost.unpriced:
        lines.append(f"  not in the price list (add them to planning/prices.yaml): {', '.join(cost.unpriced)}")
    lines.append(
        "  not counted (billed by usage): Lambda, DynamoDB, S3, SQS, CloudFront, WAF requests, data transfer, "
        "CloudWatch Logs, AWS Backup storage and copies" + "".join(f", {usage}" for usage in cost.usage)
    )
    return lines
