"""What a stack costs per day before any traffic: the plan's billable resources priced from ``planning/prices.yaml``.

Counted from the resources of a mocks-harness run (so from the same plan ``ops plan`` prints), at on-demand list prices
of the region the price list names. Usage-based charges are left out and said so; a resource type whose size has no
price in the list makes the table say which, instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    lines: tuple[CostLine, ...]
    as_of: str
    region: str

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
    return Cost(lines, str(prices["as_of"]), str(prices["region"]))


def _priced(resource: Resource, prices: dict[str, Any]) -> Iterator[tuple[str, int, float | None]]:
    """(item, count, price per day) of one resource; nothing for what is free or billed by usage."""
    hourly, monthly = prices["hourly"], prices["monthly"]
    inputs = resource.inputs

    def per_hour(value: float | None) -> float | None:
        return None if value is None else value * HOURS_PER_DAY

    def per_month(value: float) -> float:
        return value / DAYS_PER_MONTH

    kind = resource.type
    if kind == "aws:eks/cluster:Cluster":
        yield "EKS control plane", 1, per_hour(hourly["eks_cluster"])
    elif kind == "aws:eks/nodeGroup:NodeGroup":
        size = str((inputs.get("instanceTypes") or ["?"])[0])
        nodes = int((inputs.get("scalingConfig") or {}).get("desiredSize", 0))
        yield f"EKS node {size}", nodes, per_hour(hourly["ec2"].get(size))
    elif kind == "aws:ec2/natGateway:NatGateway":
        yield "NAT gateway", 1, per_hour(hourly["nat_gateway"])
    elif kind == "aws:ec2/eip:Eip":
        yield "public IPv4 address", 1, per_hour(hourly["public_ipv4"])
    elif kind == "aws:rds/clusterInstance:ClusterInstance":
        size = str(inputs.get("instanceClass"))
        yield f"Aurora PostgreSQL {size}", 1, per_hour(hourly["aurora_postgresql"].get(size))
    elif kind == "aws:memorydb/cluster:Cluster":
        engine, size = str(inputs.get("engine")), str(inputs.get("nodeType"))
        nodes = int(inputs.get("numShards", 1)) * (1 + int(inputs.get("numReplicasPerShard", 0)))
        yield f"MemoryDB {engine} {size}", nodes, per_hour(hourly["memorydb"].get(engine, {}).get(size))
    elif kind == "aws:route53recoverycontrol/cluster:Cluster":
        yield "Route53 ARC cluster", 1, per_hour(hourly["arc_cluster"])
    elif kind == "aws:kms/key:Key":
        yield "KMS key", 1, per_month(monthly["kms_key"])
    elif kind == "aws:route53/zone:Zone":
        yield "Route53 hosted zone", 1, per_month(monthly["hosted_zone"])
    elif kind == "aws:route53/healthCheck:HealthCheck":
        options = {
            "HTTPS": inputs.get("type") == "HTTPS",
            "10 s": inputs.get("requestInterval") == 10,
            "latency": inputs.get("measureLatency") is True,
        }
        chosen = [name for name, on in options.items() if on]
        label = f"Route53 health check ({', '.join(chosen) if chosen else str(inputs.get('type', '')).lower()})"
        yield label, 1, per_month(monthly["health_check"] + len(chosen) * monthly["health_check_option"])
    elif kind == "aws:secretsmanager/secret:Secret":
        yield "Secrets Manager secret or replica", 1 + len(inputs.get("replicas") or []), per_month(monthly["secret"])
    elif kind == "aws:cloudwatch/metricAlarm:MetricAlarm":
        yield "CloudWatch alarm", 1, per_month(monthly["alarm"])
    elif kind == "aws:cloudwatch/dashboard:Dashboard":
        yield "CloudWatch dashboard", 1, per_month(monthly["dashboard"])


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
    lines.append("  not counted (billed by usage): Lambda, DynamoDB, S3, SQS, CloudFront, data transfer, CloudWatch Logs")
    return lines
