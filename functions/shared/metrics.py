"""Metrics in CloudWatch's embedded metric format (EMF): one JSON log line per flush, no API calls.

Counters accumulate during an invocation and are written once at its end, so a batch of 100 records costs
one log line, not 100.

Example:
    >>> metrics = Metrics(namespace="multi-region", service="processor")   # else POWERTOOLS_METRICS_NAMESPACE
    >>> metrics.add("Duplicates")
    >>> metrics.flush()   # prints {"_aws": {...}, "Duplicates": 1, "service": "processor"}
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
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
        """Write the counters as one EMF line and reset them; nothing when there is nothing to say."""
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        if not counts:
            return None
        document: dict[str, object] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": name, "Unit": "Count"} for name in sorted(counts)],
                    }
                ],
            },
            "service": self.service,
            **counts,
        }
        print(json.dumps(document), file=self.stream or sys.stdout)
        return document
