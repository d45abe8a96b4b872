"""A circuit breaker: stop calling a dependency that keeps failing, and try it again after a while.

Closed (calls go through; ``failure_threshold`` failures in a row open it), open (calls refused at once for
``open_seconds``), half-open (one probe at a time; its success closes, its failure reopens). Thread-safe, with an
injectable clock. The states in full: ``docs/design/cache.md``.

Example: ``if breaker.allow():`` call the dependency, then ``breaker.record_success()`` or ``record_failure()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from functions.shared.log import get_logger

logger = get_logger("breaker")

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"

Transition = Callable[[str, str], None]


class CircuitBreaker:
    """Parameters
    ----------
    name: what the breaker protects (in its log lines).
    failure_threshold: consecutive failures that open a closed breaker.
    open_seconds: how long an open breaker refuses calls before it lets a probe through.
    clock: monotonic seconds (``time.monotonic``; tests pass a fake clock).
    on_transition: called with ``(old_state, new_state)`` on every change, outside the lock (metrics).
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = 3,
        open_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Transition | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if open_seconds <= 0:
            raise ValueError(f"open_seconds must be positive, got {open_seconds}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self.clock = clock
        self.on_transition = on_transition
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_started: float | None = None

    @property
    def state(self) -> str:
        """The current state; an open breaker whose open period is over reads as half-open."""
        with self._lock:
            if self._state == OPEN and self._open_period_over():
                return HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """True when the caller may call the dependency now (and must then report the outcome)."""
        changed: tuple[str, str] | None = None
        with self._lock:
            if self._state == CLOSED:
                return True
            if self._state == OPEN:
                if not self._open_period_over():
                    return False
                changed = self._move(HALF_OPEN)
                self._probe_started = self.clock()
                allowed = True
            elif self._probe_started is None or self.clock() - self._probe_started >= self.open_seconds:
                self._probe_started = self.clock()
                allowed = True
            else:
                allowed = False
        self._announce(changed)
        return allowed

    def record_success(self) -> None:
        """A call succeeded: resets the failure count; the probe's success closes a half-open breaker.

        A success reported while open comes from a call let through before the breaker opened: it proves
        nothing about now, so only the probe may close the breaker.
        """
        changed: tuple[str, str] | None = None
        with self._lock:
            if self._state == OPEN:
                return
            self._failures = 0
            self._probe_started = None
            if self._state == HALF_OPEN:
                changed = self._move(CLOSED)
        self._announce(changed)

    def record_failure(self) -> None:
        """A call failed: opens a closed breaker at the threshold, and a half-open one at once."""
        changed: tuple[str, str] | None = None
        with self._lock:
            self._failures += 1
            if self._state == HALF_OPEN or (self._state == CLOSED and self._failures >= self.failure_threshold):
                self._opened_at = self.clock()
                self._probe_started = None
                changed = self._move(OPEN)
        self._announce(changed)

    def _open_period_over(self) -> bool:
        return self.clock() - self._opened_at >= self.open_seconds

    def _move(self, new_state: str) -> tuple[str, str]:
        old_state, self._state = self._state, new_state
        return old_state, new_state

    def _announce(self, changed: tuple[str, str] | None) -> None:
        if changed is None:
            return
        old_state, new_state = changed
        log = logger.warning if new_state == OPEN else logger.info
        log("circuit breaker state changed", extra={"breaker": self.name, "from": old_state, "to": new_state})
        if self.on_transition is not None:
            self.on_transition(old_state, new_state)
