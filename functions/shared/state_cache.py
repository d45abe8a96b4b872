"""The application state as a container last read it, and how soon a fence reaches every writer.

A write checks :meth:`AppState.may_write` against this copy (at most ``STATE_CACHE_SECONDS`` old), not against the
record in the same request: ``docs/design/state-and-fencing.md`` says why, and why ``FENCE_SETTLE_SECONDS`` bounds it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from functions.shared.clients import CALL_BUDGET_SECONDS
from functions.shared.state import AppState, ItemTable, read_state

STATE_CACHE_SECONDS = 1.0
# A write past the state check lands within one call's budget (clients.py: 4 attempts of 1 s connect + 2 s read, and
# up to 7 s of throttling backoff); the runbook waits this long after the fence reaches the region.
FENCE_SETTLE_SECONDS = STATE_CACHE_SECONDS + CALL_BUDGET_SECONDS


class StateSource(Protocol):
    """Where the write path learns the application state (a :class:`StateCache`, or a fixed state in tests)."""

    def get(self) -> AppState: ...

    def invalidate(self) -> None: ...


class StateCache:
    """The application state as this container last read it, for at most ``ttl_seconds`` (thread-safe).

    One thread reads while the others wait for its answer, so a burst of writes costs one read.
    """

    def __init__(
        self, table: ItemTable, ttl_seconds: float = STATE_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.table, self.ttl_seconds, self.clock = table, ttl_seconds, clock
        self._state: AppState | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> AppState:
        with self._lock:
            now = self.clock()
            if self._state is None or now - self._read_at >= self.ttl_seconds:
                # Aged from before the read: the copy is at most ttl_seconds old however long the read took.
                self._state = read_state(self.table, consistent=True)
                self._read_at = now
            return self._state

    def invalidate(self) -> None:
        with self._lock:
            self._state = None
