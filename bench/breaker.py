"""Breaker: the API's item read while Redis is down, against reads that go straight to DynamoDB.

The read is ``functions.api.handler.get_item`` on an ``Api`` built by ``Api.from_settings``, its Redis server taken down
after a few reads: **stopped** (each cache call fails at once) or **hung** (SIGSTOP: each waits the client's socket
timeout). Each API read takes turns with a direct ``read_item``. The breaker's clock is logical: it advances by a fixed
step per API read (:class:`ReadClock`), so the reads that open it and the probes come at the same reads on any machine
and the figures are per outage, per probe and per read that found it open, whatever the outage lasts in wall time.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.local import Local, RedisServer, put_item
from bench.measure import (
    LATENCY_HEADERS,
    PER_REQUEST,
    Figure,
    Plot,
    Result,
    Table,
    interleaved,
    latency_row,
    median,
    percentile,
    to_ms,
)
from functions.api.handler import Api, get_item, read_item
from functions.shared.cache import BREAKER_FAILURE_THRESHOLD, BREAKER_OPEN_SECONDS
from functions.shared.clients import CACHE_SOCKET_TIMEOUT_SECONDS

NAME = "breaker"
TARGET_P99_DIFFERENCE_MS = 5.0
# What a read that tries Redis may cost beyond a direct read, in the client's socket timeouts: one timeout (a hung
# Redis), not two (a retry); the median, and room for a busy machine that wakes a timed-out read late.
TARGET_SOCKET_TIMEOUTS = 1.5
# The load the breaker's logical clock models: one container's API reads per second.
READS_PER_SECOND = 10
WARM_READS = 5
API_READ = "API read, Redis down"
DIRECT_READ = "direct DynamoDB read"
TRIED = "db-cache-error"  # the read tried Redis and failed
SKIPPED = "db-cache-skipped"  # the read found the breaker open
COUNT_HEADERS = ("outage", "reads that opened the breaker", "probes", "whole open periods", "reads with it open")
STOPPED = "stopped"
HUNG = "hung"
OUTAGES = {
    STOPPED: "Redis stopped (connection refused)",
    HUNG: "Redis hung (SIGSTOP: connections accepted, never answered)",
}


class ReadClock:
    """The breaker's clock in the benchmark: ``reads / reads_per_second`` seconds, ``tick`` once per API read. Exact
    (a whole number of reads over a whole rate), so an open period ends at the same read on any machine.

    Example:
        >>> clock = ReadClock(10)
        >>> for _ in range(100):
        ...     clock.tick()
        >>> clock()
        10.0
    """

    def __init__(self, reads_per_second: int) -> None:
        if reads_per_second < 1:
            raise ValueError(f"reads_per_second must be at least 1, got {reads_per_second}")
        self.reads_per_second = reads_per_second
        self.reads = 0

    def __call__(self) -> float:
        return self.reads / self.reads_per_second

    def tick(self) -> None:
        self.reads += 1


@dataclass(frozen=True)
class Outage:
    """One outage's API reads in order, by what each did: the ones that opened the breaker (tried Redis before the
    first read found it open), the probes (tried it after), and the reads that found it open."""

    opening: tuple[int, ...]
    probes: tuple[int, ...]
    skipped: tuple[int, ...]
    open_periods: int

    @classmethod
    def of(cls, sources: Sequence[str], reads_per_period: int) -> Outage:
        """Classify the reads by their ``x-cache`` source; ``open_periods`` counts the whole open periods (of
        ``reads_per_period`` reads) after the breaker opened, each of which should let exactly one probe through.

        Example:
            >>> Outage.of(["db-cache-error"] * 2 + ["db-cache-skipped"] * 3 + ["db-cache-error"], 3)
            Outage(opening=(0, 1), probes=(5,), skipped=(2, 3, 4), open_periods=1)
        """
        first_skipped = next((index for index, source in enumerate(sources) if source == SKIPPED), len(sources))
        tried = [index for index, source in enumerate(sources) if source == TRIED]
        return cls(
            opening=tuple(index for index in tried if index < first_skipped),
            probes=tuple(index for index in tried if index > first_skipped),
            skipped=tuple(index for index, source in enumerate(sources) if source == SKIPPED),
            open_periods=(len(sources) - first_skipped) // reads_per_period,
        )

    def probes_per_open_period(self) -> float:
        return len(self.probes) / self.open_periods if self.open_periods else float(len(self.probes))


@dataclass(frozen=True)
class Measured:
    """One outage's reads: latencies (ns) of the API's and the direct reads, the part of each spent outside DynamoDB,
    the ``x-cache`` source of each API read, in order, and each read's CPU time (its thread's, ns)."""

    samples: dict[str, list[int]]
    outside: dict[str, list[int]]
    sources: list[str]
    cpu: dict[str, list[int]]


class DynamoDBClock:
    """Time a client spends in DynamoDB calls (from botocore's ``before-call`` to its ``after-call`` event: the
    request, the emulator's work and the response's parsing), so that a read's time outside DynamoDB can be told
    apart from DynamoDB's own, noisy, latency. One thread only."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.total_ns = 0
        self._started = 0

    def __enter__(self) -> DynamoDBClock:
        self.client.meta.events.register("before-call.dynamodb.GetItem", self._before)
        self.client.meta.events.register("after-call.dynamodb.GetItem", self._after)
        return self

    def __exit__(self, *_: object) -> None:
        self.client.meta.events.unregister("before-call.dynamodb.GetItem", self._before)
        self.client.meta.events.unregister("after-call.dynamodb.GetItem", self._after)

    def _before(self, **_: Any) -> None:
        self._started = time.perf_counter_ns()

    def _after(self, **_: Any) -> None:
        self.total_ns += time.perf_counter_ns() - self._started


def _measure_outage(local: Local, outage: str, table_name: str, reads: int) -> Measured:
    """During ``outage``: every API and direct read, the breaker on a :class:`ReadClock`."""
    server = RedisServer().start()
    frozen = False
    try:
        api = Api.from_settings(local.settings(table_name, redis=server))
        if api.cache.breaker is None:
            raise RuntimeError("the API's cache has no circuit breaker")
        clock = ReadClock(READS_PER_SECOND)
        api.cache.breaker.clock = clock
        for number in range(WARM_READS):
            get_item(api, f"item-{number}")
        if server.pid is None:
            raise RuntimeError("the Redis server has no PID")
        if outage == HUNG:
            os.kill(server.pid, signal.SIGSTOP)
            frozen = True
        else:
            server.stop()
        sources: list[str] = []
        api_ids, direct_ids = itertools.count(), itertools.count()
        in_dynamodb: dict[str, list[int]] = {API_READ: [], DIRECT_READ: []}
        cpu: dict[str, list[int]] = {API_READ: [], DIRECT_READ: []}
        with DynamoDBClock(api.table.client) as dynamodb:

            def api_read() -> None:
                started, before = time.thread_time_ns(), dynamodb.total_ns
                clock.tick()
                response = get_item(api, f"item-{next(api_ids)}")
                in_dynamodb[API_READ].append(dynamodb.total_ns - before)
                cpu[API_READ].append(time.thread_time_ns() - started)
                sources.append(str(response.headers.get("x-cache", "")))

            def direct_read() -> None:
                started, before = time.thread_time_ns(), dynamodb.total_ns
                read_item(api.table, f"item-{next(direct_ids)}")
                in_dynamodb[DIRECT_READ].append(dynamodb.total_ns - before)
                cpu[DIRECT_READ].append(time.thread_time_ns() - started)

            samples = interleaved({API_READ: api_read, DIRECT_READ: direct_read}, reads, warmup=0)
    finally:
        if frozen and server.pid is not None:
            os.kill(server.pid, signal.SIGCONT)
        server.stop()
    outside = {name: [total - inside for total, inside in zip(samples[name], in_dynamodb[name], strict=True)] for name in samples}
    return Measured(samples, outside, sources, cpu)


def run(local: Local, quick: bool) -> Result:
    reads = 150 if quick else 500
    table = local.table("bench-breaker")
    for number in range(reads):
        put_item(table, f"item-{number}")
    figures: list[Figure] = []
    rows: list[tuple[str, ...]] = []
    outside_rows: list[tuple[str, ...]] = []
    count_rows: list[tuple[str, ...]] = []
    plot_series: dict[str, list[float]] = {}
    for outage, description in OUTAGES.items():
        measured = _measure_outage(local, outage, table.name, reads)
        found = Outage.of(measured.sources, READS_PER_SECOND * int(BREAKER_OPEN_SECONDS))
        figures += _outage_figures(outage, measured, found)
        rows += _latency_rows(description, measured.samples, found)
        outside_rows += _latency_rows(description, measured.outside, found)
        count_rows.append(
            (description, str(len(found.opening)), str(len(found.probes)), str(found.open_periods), str(len(found.skipped)))
        )
        plot_series[f"API read, {outage}"] = [to_ms(value) for value in measured.samples[API_READ]]
        plot_series[f"direct read ({outage} run)"] = [to_ms(value) for value in measured.samples[DIRECT_READ]]
    return Result(
        name=NAME,
        title="Breaker: reads with Redis down vs reads straight from DynamoDB",
        method=(
            f"For each outage: a fresh Redis server, an `Api` built by `Api.from_settings` against it and the moto "
            f"server, {WARM_READS} reads with Redis up, then the outage and {reads} reads of `get_item` (each item once) "
            f"taking turns with {reads} direct `read_item` calls. The breaker's clock is logical: it advances "
            f"{1 / READS_PER_SECOND:g} s per API read (a container serving {READS_PER_SECOND} reads/s), so its "
            f"{BREAKER_OPEN_SECONDS:g} s open period is {READS_PER_SECOND * BREAKER_OPEN_SECONDS:g} reads on any "
            "machine, however long they take. The reads are told apart by their `x-cache` header: the ones that "
            "opened the breaker, the probes, the ones that found it open."
        ),
        figures=figures,
        tables=[
            Table(LATENCY_HEADERS, tuple(rows)),
            Table(("time outside DynamoDB", *LATENCY_HEADERS[1:]), tuple(outside_rows)),
            Table(COUNT_HEADERS, tuple(count_rows)),
        ],
        notes=_notes(),
        plots=[
            Plot(
                name=NAME,
                title="Per-request latency of reads while Redis is down",
                ylabel="latency (ms, log scale)",
                kind=PER_REQUEST,
                series=plot_series,
                log_y=True,
            )
        ],
    )


def _latency_rows(description: str, samples: dict[str, list[int]], found: Outage) -> list[tuple[str, ...]]:
    """A latency row for each kind of API read there was, and one for the direct reads."""
    api = samples[API_READ]
    kinds = {"opening the breaker": found.opening, "probe": found.probes, "breaker open": found.skipped}
    return [
        *(latency_row(f"{description}: API read, {kind}", [api[i] for i in reads]) for kind, reads in kinds.items() if reads),
        latency_row(f"{description}: {DIRECT_READ}", samples[DIRECT_READ]),
    ]


def _outage_figures(outage: str, measured: Measured, found: Outage) -> list[Figure]:
    """Per outage: the reads that opened the breaker, the probes per open period, what a read that tried Redis cost,
    and the p99 difference of the reads that found the breaker open from direct reads, with and without DynamoDB."""
    samples, outside = measured.samples, measured.outside
    tried = found.opening + found.probes
    direct_outside = median(outside[DIRECT_READ])
    extra = [to_ms(outside[API_READ][index] - direct_outside) for index in tried]
    timeout_ms = CACHE_SOCKET_TIMEOUT_SECONDS * 1000
    reads_per_period = READS_PER_SECOND * BREAKER_OPEN_SECONDS
    return [
        Figure(
            f"reads that tried Redis before the breaker opened, {outage}",
            len(found.opening),
            BREAKER_FAILURE_THRESHOLD,
            unit="",
            reason=f"the breaker opens after {BREAKER_FAILURE_THRESHOLD} failures in a row",
        ),
        Figure(
            f"probes per open period, {outage}",
            found.probes_per_open_period(),
            1,
            unit="",
            reason=f"{len(found.probes)} probes in {found.open_periods} whole open periods of {reads_per_period:g} reads",
        ),
        Figure(
            f"a read that tried Redis - a direct read, outside DynamoDB (medians), in socket timeouts, {outage}",
            median(extra) / timeout_ms,
            TARGET_SOCKET_TIMEOUTS,
            reason=(
                f"{len(tried)} reads, median {median(extra):.1f} ms, slowest {max(extra):.1f} ms: in steady state one "
                f"per {reads_per_period:g} reads, {median(extra) / reads_per_period:.2f} ms per read"
            ),
        ),
        Figure(
            f"p99 CPU time, API read with the breaker open - direct read, {outage}",
            to_ms(percentile([measured.cpu[API_READ][i] for i in found.skipped], 99) - percentile(measured.cpu[DIRECT_READ], 99)),
            TARGET_P99_DIFFERENCE_MS,
            unit="ms",
            reason="the reads' own work (their thread's CPU time): what the cache and the open breaker add",
        ),
        Figure(
            f"p99 API read with the breaker open - p99 direct read, {outage}",
            to_ms(percentile([samples[API_READ][i] for i in found.skipped], 99) - percentile(samples[DIRECT_READ], 99)),
            unit="ms",
            reason="context: two tails of the emulator's latency, tens of ms apart either way on a busy machine",
        ),
        Figure(
            f"p99 time outside DynamoDB, API read with the breaker open - direct read, {outage}",
            to_ms(percentile([outside[API_READ][i] for i in found.skipped], 99) - percentile(outside[DIRECT_READ], 99)),
            unit="ms",
            reason="context: without the emulator's GetItem latency, with the busy machine's scheduler stalls",
        ),
    ]


def _notes() -> list[str]:
    return [
        f"The breaker opens after {BREAKER_FAILURE_THRESHOLD} failures in a row and stays open "
        f"{BREAKER_OPEN_SECONDS:g} s; then one read probes Redis. A hung Redis costs a container "
        f"{BREAKER_FAILURE_THRESHOLD} x {CACHE_SOCKET_TIMEOUT_SECONDS:g} s before the breaker opens and one "
        f"{CACHE_SOCKET_TIMEOUT_SECONDS:g} s probe per open period after: the figures count them per outage and per "
        "open period, and judge the reads that found the breaker open apart, so none depends on how many reads the "
        "run made or how long they took.",
        "On the wall clock an open period would end after a number of reads that depends on the machine's speed (a "
        "slower or busier machine lands more probes in the same reads, and their timeouts in the p99): the logical "
        "clock fixes it at the modelled rate.",
        f"`{TRIED}` reads tried Redis and failed; `{SKIPPED}` reads found the breaker open.",
        "*Time outside DynamoDB* is each read's latency minus the time its client spent in the GetItem call "
        "(botocore's `before-call` to `after-call`): the cache, the breaker and the response, without the "
        "emulator's latency, whose tail on a shared machine is wider than the 5 ms the target allows. *CPU time* "
        "(`time.thread_time`) leaves out every wait, on the emulator and on a busy machine's scheduler alike: the "
        "cache and the open breaker do no I/O, so it is all they add, however loaded the machine is.",
    ]
