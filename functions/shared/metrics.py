"""Metrics in CloudWatch's embedded metric format (EMF), written by Powertools: one JSON log line per flush.

Counters accumulate during an invocation and are written once at its end through Powertools' EMF provider
(``AmazonCloudWatchEMFProvider``: the document, its validation, the ``service`` dimension), so a batch of 100 records
costs one line with one value per metric. Why the counting stays here: ``docs/design/functions.md`` (Metrics).

Example:
    >>> metrics = Metrics(namespace="multi-region", service="processor")   # else POWERTOOLS_METRICS_NAMESPACE
    >>> metrics.add("Duplicates")
    >>> metrics.flush()   # prints {"_aws": {...}, "service": "processor", "Duplicates": 1}
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from typing import TextIO

# Set by the deployment (components/app.py) to the project's name; Powertools' Metrics reads the same variable.
NAMESPACE_VARIABLE = "POWERTOOLS_METRICS_NAMESPACE"


def namespace_from_env() -> str:
    """The CloudWatch namespace the deployment gave the functions."""
    namespace = os.environ.get(NAMESPACE_VARIABLE, "")
    if not namespace:
        raise RuntimeError(f"{NAMESPACE_VARIABLE} is not set; the deployment sets it to the project's name")
    return namespace


class Metrics:
    """Thread-safe counters flushed as one EMF document per call to ``flush``."""

    def __init__(self, service: str, namespace: str | None = None, stream: TextIO | None = None) -> None:
        self.service, self.namespace = service, namespace or namespace_from_env()
        self.stream = stream
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, value: int = 1) -> None:
        with self._lock:
            self._counts[name] += value

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def flush(self) -> dict[str, object] | None:
        """Write the counters as one EMF line and reset them; nothing when there is nothing to say or when
        ``POWERTOOLS_METRICS_DISABLED`` says so."""
        from aws_lambda_powertools.metrics import MetricUnit
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        if not counts:
            return None
        provider = AmazonCloudWatchEMFProvider(namespace=self.namespace, service=self.service)
        for name in sorted(counts):
            provider.add_metric(name=name, unit=MetricUnit.Count, value=counts[name])
        # Powertools writes every value as a list ([3.0]); one whole number per metric is what one flush per
        # invocation means, and what the tests and the drill read.
        document: dict[str, object] = {**provider.serialize_metric_set(), **counts}
        if not is_metrics_disabled():
            print(json.dumps(document, separators=(",", ":")), file=self.stream or sys.stdout)
        return document
