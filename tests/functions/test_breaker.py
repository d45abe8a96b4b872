"""The circuit breaker's state machine, stepped with a fake clock (no sleeping, no servers)."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from functions.shared.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from functions.shared.log import JsonFormatter, request_context
from tests.support.cache_doubles import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def transitions() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def breaker(clock: FakeClock, transitions: list[tuple[str, str]]) -> CircuitBreaker:
    return CircuitBreaker(
        "cache", failure_threshold=3, open_seconds=10.0, clock=clock, on_transition=lambda *t: transitions.append(t)
    )


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.failure_threshold):
        assert breaker.allow()
        breaker.record_failure()


def test_closed_breaker_lets_calls_through_and_opens_at_the_threshold(
    breaker: CircuitBreaker, transitions: list[tuple[str, str]]
) -> None:
    assert breaker.state == CLOSED
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN
    assert transitions == [(CLOSED, OPEN)]


def test_a_success_resets_the_consecutive_failure_count(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == CLOSED
    breaker.record_failure()
    assert breaker.state == OPEN


def test_open_breaker_refuses_every_call_until_the_open_period_is_over(breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker)
    for _ in range(100):
        assert not breaker.allow()
    clock.advance(9.999)
    assert not breaker.allow()
    assert breaker.state == OPEN


def test_after_the_open_period_one_probe_goes_through_and_its_success_closes(
    breaker: CircuitBreaker, clock: FakeClock, transitions: list[tuple[str, str]]
) -> None:
    trip(breaker)
    clock.advance(10.0)
    assert breaker.state == HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else waits for its outcome, without calling
    assert not breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED
    assert all(breaker.allow() for _ in range(10))
    assert transitions == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_a_failed_probe_opens_the_breaker_for_another_full_period(
    breaker: CircuitBreaker, clock: FakeClock, transitions: list[tuple[str, str]]
) -> None:
    trip(breaker)
    clock.advance(10.0)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN
    clock.advance(9.0)
    assert not breaker.allow()
    clock.advance(1.0)
    assert breaker.allow()
    assert transitions == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (OPEN, HALF_OPEN)]


def test_a_probe_that_never_reports_is_replaced_after_the_open_period(breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker)
    clock.advance(10.0)
    assert breaker.allow()  # this probe's caller dies without reporting
    clock.advance(5.0)
    assert not breaker.allow()
    clock.advance(5.0)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED


def test_a_late_success_while_open_does_not_close_the_breaker(breaker: CircuitBreaker) -> None:
    trip(breaker)
    breaker.record_success()  # a call let through before the breaker opened, answering late
    assert breaker.state == OPEN
    assert not breaker.allow()


def test_only_one_of_many_concurrent_callers_gets_the_probe(breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker)
    clock.advance(10.0)
    start = threading.Barrier(32)
    allowed: list[bool] = []
    lock = threading.Lock()

    def call() -> None:
        start.wait()
        result = breaker.allow()
        with lock:
            allowed.append(result)

    threads = [threading.Thread(target=call) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(allowed) == [False] * 31 + [True]


def test_concurrent_failures_open_the_breaker_exactly_once(breaker: CircuitBreaker, transitions: list[tuple[str, str]]) -> None:
    start = threading.Barrier(16)

    def fail() -> None:
        start.wait()
        for _ in range(50):
            breaker.record_failure()

    threads = [threading.Thread(target=fail) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.state == OPEN
    assert transitions == [(CLOSED, OPEN)]


@pytest.fixture
def breaker_log() -> Iterator[io.StringIO]:
    """The breaker's log lines, formatted as the library formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("functions.breaker")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_every_transition_is_logged_with_the_breaker_name(
    breaker: CircuitBreaker, clock: FakeClock, breaker_log: io.StringIO
) -> None:
    with request_context("req-1"):
        trip(breaker)
        clock.advance(10.0)
        breaker.allow()
        breaker.record_success()
    lines = [json.loads(line) for line in breaker_log.getvalue().splitlines()]
    assert [(line["from"], line["to"]) for line in lines] == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    assert {line["breaker"] for line in lines} == {"cache"}
    assert {line["request_id"] for line in lines} == {"req-1"}
    assert [line["level"] for line in lines] == ["WARNING", "INFO", "INFO"]


@pytest.mark.parametrize(("threshold", "open_seconds"), [(0, 10.0), (3, 0.0), (3, -1.0)])
def test_nonsense_settings_are_refused(threshold: int, open_seconds: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("cache", failure_threshold=threshold, open_seconds=open_seconds)
