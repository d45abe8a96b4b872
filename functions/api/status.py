"""The public summary of one region, ``GET /regions/{region}/status``: its state, health and replication lag.

Anonymous, so that the status page (``web/status/``, served by CloudFront) can read it from any browser: it shows only
what the page shows a user (the state, epoch, the health checks' verdicts, DynamoDB's replication latency out of this
region), never an item or an error's detail. It is built at most once per ``STATUS_CACHE_SECONDS`` per container and
answered with that ``max-age``, so a flood costs each container one state read, one cache PING and two CloudWatch
calls per interval, and CloudFront answers the rest. Why a public route and its limits: docs/design/status-page.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from functions.shared.clients import aws_client

STATUS_CACHE_SECONDS = 5.0
# DynamoDB publishes ReplicationLatency per minute, in the region that sends, by receiving region.
REPLICATION_NAMESPACE = "AWS/DynamoDB"
REPLICATION_METRIC = "ReplicationLatency"
REPLICATION_PERIOD_SECONDS = 60
REPLICATION_WINDOW_MS = 10 * 60_000


class MetricsReader(Protocol):
    def list_metrics(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]: ...


class RegionMetrics:
    """A :class:`MetricsReader` on the region's CloudWatch client (``functions.shared.clients.aws_client``), built on
    the first summary: only this route reads metrics, and building that client at container start added about 150 ms
    to every cold start of the API."""

    def __init__(self, region: str) -> None:
        self.region = region

    def list_metrics(self, **kwargs: Any) -> dict[str, Any]:
        listed: dict[str, Any] = aws_client("cloudwatch", self.region).list_metrics(**kwargs)
        return listed

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = aws_client("cloudwatch", self.region).get_metric_data(**kwargs)
        return data


def receiving_regions(listed: Mapping[str, Any]) -> list[str]:
    """The ``ReceivingRegion`` of every ReplicationLatency metric a ListMetrics answer names, sorted, each once."""
    return sorted(
        {
            dimension["Value"]
            for metric in listed.get("Metrics", [])
            for dimension in metric.get("Dimensions", [])
            if dimension.get("Name") == "ReceivingRegion"
        }
    )


def replication_lags(cloudwatch: MetricsReader, table_name: str, now_ms: int) -> list[dict[str, Any]]:
    """The latest replication latency from this region's replica into each other region in the last 10 minutes:
    ``[{"to": region, "lagMs": float | None, "at": ISO time | None}]`` (None: no datapoint in the window)."""
    table = {"Name": "TableName", "Value": table_name}
    listed = cloudwatch.list_metrics(Namespace=REPLICATION_NAMESPACE, MetricName=REPLICATION_METRIC, Dimensions=[table])
    targets = receiving_regions(listed)
    if not targets:
        return []
    queries = [
        {
            "Id": f"lag{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": REPLICATION_NAMESPACE,
                    "MetricName": REPLICATION_METRIC,
                    "Dimensions": [table, {"Name": "ReceivingRegion", "Value": target}],
                },
                "Period": REPLICATION_PERIOD_SECONDS,
                "Stat": "Average",
            },
            "ReturnData": True,
        }
        for index, target in enumerate(targets)
    ]
    response = cloudwatch.get_metric_data(
        MetricDataQueries=queries,
        StartTime=_datetime(now_ms - REPLICATION_WINDOW_MS),
        EndTime=_datetime(now_ms),
        ScanBy="TimestampDescending",
    )
    results = {result["Id"]: result for result in response.get("MetricDataResults", [])}
    lags = []
    for index, target in enumerate(targets):
        result = results.get(f"lag{index}", {})
        values, times = result.get("Values", []), result.get("Timestamps", [])
        latest = max(zip(times, values, strict=False), default=None, key=lambda pair: pair[0])
        lags.append(
            {
                "to": target,
                "lagMs": float(latest[1]) if latest else None,
                "at": latest[0].astimezone(UTC).isoformat() if latest else None,
            }
        )
    return lags


@dataclass
class SummaryCache:
    """The last summary and when it was built (monotonic seconds), rebuilt after ``seconds``."""

    seconds: float
    clock: Callable[[], float]
    _copy: tuple[float, dict[str, Any]] | None = field(default=None, init=False, repr=False)

    def value(self, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        now = self.clock()
        if self._copy is None or now - self._copy[0] >= self.seconds:
            self._copy = (now, build())
        return self._copy[1]


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
