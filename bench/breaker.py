"""Breaker: the API's item read while Redis is down, against reads that go straight to DynamoDB.

The read is ``functions.api.handler.get_item`` on an :class:`~functions.api.handler.Api` built by
``Api.from_settings`` (the container's real clients, cache and circuit breaker), its Redis server taken down after a
few reads, in two ways: **stopped** (the server exits; each cache call fails at once, connection refused, until the
breaker opens) and **hung** (SIGSTOP: the kernel still accepts connections but nothing answers, so each cache call
waits the client's socket timeout, ``CACHE_SOCKET_TIMEOUT_SECONDS``, until the breaker opens). Each API read takes
turns with a direct ``read_item`` (the same strongly consistent GetItem, no cache). The reads that open the breaker
are measured too: they are part of what an outage costs.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import Counter
from typing import Any

from bench.local import Local, RedisServer, put_item
from bench.measure import LATENCY_HEADERS, PER_REQUEST, Figure, Plot, Result, Table, interleaved, latency_row, percentile, to_ms
from functions.api.handler import Api, get_item, read_item
from functions.shared.cache import BREAKER_FAILURE_THRESHOLD, BREAKER_OPEN_SECONDS
from functions.shared.clients import CACHE_SOCKET_TIMEOUT_SECONDS

NAME = "breaker"
TARGET_P99_DIFFERENCE_MS = 5.0
WARM_READS = 5
API_READ = "API read, Redis down"
DIRECT_READ = "direct DynamoDB read"
STOPPED = "stopped"
HUNG = "hung"
OUTAGES = {
    STOPPED: "Redis stopped (connection refused)",
    HUNG: "Redis hung (SIGSTOP: connections accepted, never answered)",
}


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


def _measure_outage(
    local: Local, outage: str, table_name: str, reads: int
) -> tuple[dict[str, list[int]], dict[str, list[int]], Counter[str]]:
    """During ``outage``: the per-read latencies of the API and of direct reads, the part of each spent outside
    DynamoDB, and where the API served from."""
    server = RedisServer().start()
    frozen = False
    try:
        api = Api.from_settings(local.settings(table_name, redis=server))
        for number in range(WARM_READS):
            get_item(api, f"item-{number}")
        if server.pid is None:
            raise RuntimeError("the Redis server has no PID")
        if outage == HUNG:
            os.kill(server.pid, signal.SIGSTOP)
            frozen = True
        else:
            server.stop()
        sources: Counter[str] = Counter()
        api_ids, direct_ids = itertools.count(), itertools.count()
        in_dynamodb: dict[str, list[int]] = {API_READ: [], DIRECT_READ: []}
        with DynamoDBClock(api.table.client) as clock:

            def api_read() -> None:
                before = clock.total_ns
                response = get_item(api, f"item-{next(api_ids)}")
                in_dynamodb[API_READ].append(clock.total_ns - before)
                sources[str(response.headers.get("x-cache", ""))] += 1

            def direct_read() -> None:
                before = clock.total_ns
                read_item(api.table, f"item-{next(direct_ids)}")
                in_dynamodb[DIRECT_READ].append(clock.total_ns - before)

            samples = interleaved({API_READ: api_read, DIRECT_READ: direct_read}, reads, warmup=0)
    finally:
        if frozen and server.pid is not None:
            os.kill(server.pid, signal.SIGCONT)
        server.stop()
    outside = {name: [total - inside for total, inside in zip(samples[name], in_dynamodb[name], strict=True)] for name in samples}
    return samples, outside, sources


def _what_redis_cost(api_samples: list[int], direct_samples: list[int], sources: Counter[str]) -> str:
    """Which reads paid for trying Redis: the ones that opened the breaker, then a probe per open period."""
    seconds = (sum(api_samples) + sum(direct_samples)) / 1e9
    timeout_ms = CACHE_SOCKET_TIMEOUT_SECONDS * 1000
    waited = sum(1 for value in api_samples if to_ms(value) >= timeout_ms)
    return (
        f"{sources['db-cache-error']} of {len(api_samples)} reads in {seconds:.0f} s tried Redis and failed (the "
        f"breaker opens after {BREAKER_FAILURE_THRESHOLD}, then lets one probe through per {BREAKER_OPEN_SECONDS:g} s); "
        f"{waited} waited the {timeout_ms:g} ms socket timeout; slowest {to_ms(max(api_samples)):.0f} ms"
    )


def run(local: Local, quick: bool) -> Result:
    reads = 150 if quick else 500
    table = local.table("bench-breaker")
    for number in range(reads):
        put_item(table, f"item-{number}")
    figures: list[Figure] = []
    outside_figures: list[Figure] = []
    rows: list[tuple[str, ...]] = []
    outside_rows: list[tuple[str, ...]] = []
    sources_rows: list[tuple[str, ...]] = []
    plot_series: dict[str, list[float]] = {}
    for outage, description in OUTAGES.items():
        samples, outside, sources = _measure_outage(local, outage, table.name, reads)
        api_samples, direct_samples = samples[API_READ], samples[DIRECT_READ]
        figure, outside_figure = _outage_figures(outage, samples, outside, sources)
        figures.append(figure)
        outside_figures.append(outside_figure)
        outside_rows += [latency_row(f"{description}: {name}", values) for name, values in outside.items()]
        rows += [latency_row(f"{description}: {name}", values) for name, values in samples.items()]
        sources_rows.append((description, ", ".join(f"{source} {count}" for source, count in sorted(sources.items()))))
        plot_series[f"API read, {outage}"] = [to_ms(value) for value in api_samples]
        plot_series[f"direct read ({outage} run)"] = [to_ms(value) for value in direct_samples]
    return Result(
        name=NAME,
        title="Breaker: reads with Redis down vs reads straight from DynamoDB",
        method=(
            f"For each outage: a fresh Redis server, an `Api` built by `Api.from_settings` against it and the moto "
            f"server, {WARM_READS} reads with Redis up, then the outage and {reads} reads of `get_item` (each item once) "
            f"taking turns with {reads} direct `read_item` calls. No warm-up after the outage: the reads that open "
            "the breaker count."
        ),
        figures=figures + outside_figures,
        tables=[
            Table(LATENCY_HEADERS, tuple(rows)),
            Table(("time outside DynamoDB", *LATENCY_HEADERS[1:]), tuple(outside_rows)),
            Table(("outage", "where the API served from (x-cache)"), tuple(sources_rows)),
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


def _outage_figures(
    outage: str, samples: dict[str, list[int]], outside: dict[str, list[int]], sources: Counter[str]
) -> tuple[Figure, Figure]:
    """The p99 difference between API and direct reads in one outage, with and without the time in DynamoDB."""
    api_samples, direct_samples = samples[API_READ], samples[DIRECT_READ]
    difference = to_ms(percentile(api_samples, 99) - percentile(direct_samples, 99))
    outside_difference = to_ms(percentile(outside[API_READ], 99) - percentile(outside[DIRECT_READ], 99))
    return (
        Figure(
            f"p99 API read - p99 direct read, {outage}",
            difference,
            TARGET_P99_DIFFERENCE_MS,
            unit="ms",
            reason=_what_redis_cost(api_samples, direct_samples, sources),
        ),
        Figure(
            f"p99 time outside DynamoDB, API read - direct read, {outage}",
            outside_difference,
            TARGET_P99_DIFFERENCE_MS,
            unit="ms",
            reason="the same reads without the emulator's GetItem latency: what the cache and the breaker add",
        ),
    )


def _notes() -> list[str]:
    return [
        f"The breaker opens after {BREAKER_FAILURE_THRESHOLD} failures in a row and stays open "
        f"{BREAKER_OPEN_SECONDS:g} s; then one read probes Redis. A hung Redis costs a container "
        f"{BREAKER_FAILURE_THRESHOLD} x {CACHE_SOCKET_TIMEOUT_SECONDS:g} s before the breaker opens and one "
        f"{CACHE_SOCKET_TIMEOUT_SECONDS:g} s probe every {BREAKER_OPEN_SECONDS:g} s after: the max column shows "
        "them, and p99 does once they are 1 % of a container's reads: below 10 reads per second per container "
        "in steady state, or in a short window like this one.",
        "`db-cache-error` reads tried Redis and failed; `db-cache-skipped` reads found the breaker open.",
        "*Time outside DynamoDB* is each read's latency minus the time its client spent in the GetItem call "
        "(botocore's `before-call` to `after-call`): the cache, the breaker and the response, without the "
        "emulator's latency, whose tail on a shared machine is wider than the 5 ms the target allows. The plain "
        "p99 difference compares two noisy tails: when a few reads wait the socket timeout they take the top "
        "places of the API's reads, and its p99 lands on a rarer (slower) point of the emulator's tail than the "
        "direct reads' p99 does.",
    ]
