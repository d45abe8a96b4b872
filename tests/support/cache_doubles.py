"""Doubles and helpers of the cache tests: an item as the processor writes it, a settable clock, call counters."""

from __future__ import annotations

import threading
from typing import Any

from simulation.local_tables import put_item

__all__ = ["CallCounter", "CountingRedis", "FakeClock", "put_item"]


class FakeClock:
    """A clock the test moves by hand (``advance``), read by calling it."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingRedis:
    """A redis-py client that counts every call made through it: the cache attempts."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls, self._lock = client, 0, threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls += 1
            return method(*args, **kwargs)

        return counted


class CallCounter:
    """Counts the calls a boto3 client makes of one operation (botocore's ``before-call`` event)."""

    def __init__(self, client: Any, service: str, operation: str) -> None:
        self.count, self._lock = 0, threading.Lock()
        client.meta.events.register(f"before-call.{service}.{operation}", self)

    def __call__(self, **_: Any) -> None:
        with self._lock:
            self.count += 1
