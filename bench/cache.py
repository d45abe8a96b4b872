"""Cache: what a read through ``ItemCache`` costs, against a bare redis-py GET and a bare DynamoDB read.

- **hit**: ``ItemCache.get`` of a cached key, with the API's circuit breaker, client (``redis_client``) and loader
  (``read_item``): the real code path of ``GET /items/{id}`` minus the HTTP response;
- **raw GET**: redis-py ``GET`` of the same key on the same server, from a second client built by the same
  ``redis_client`` (same settings);
- **miss**: ``ItemCache.get`` of an item not cached: GET, lock, GET again, the strongly consistent GetItem, fill, release;
- **direct DynamoDB read**: ``read_item`` alone (the GetItem the miss makes).

Hits and raw GETs are timed taking turns, as are misses and direct reads (``bench.measure.interleaved``).
"""

from __future__ import annotations

import itertools

from bench.local import Local, put_item
from bench.measure import (
    LATENCY_HEADERS,
    PER_REQUEST,
    Figure,
    Plot,
    Result,
    Table,
    interleaved,
    latency_row,
    percentile,
    to_ms,
)
from functions.api.handler import read_item
from functions.shared.cache import ItemCache, cache_breaker, item_key
from functions.shared.clients import redis_client
from functions.shared.metrics import Metrics

NAME = "cache"
TARGET_HIT_OVER_RAW = 1.25
HOT_ID = "hot"


def run(local: Local, quick: bool) -> Result:
    hits, misses = (300, 40) if quick else (2000, 200)
    warmup_hits, warmup_misses = (50, 5) if quick else (200, 20)
    samples = _measure(local, hits, misses, warmup_hits, warmup_misses)
    return _result(samples, hits, misses)


def _measure(local: Local, hits: int, misses: int, warmup_hits: int, warmup_misses: int) -> dict[str, list[int]]:
    """Hits taking turns with raw GETs, then misses taking turns with direct reads: each call's nanoseconds."""
    table = local.table("bench-cache")
    settings = local.settings(table.name)
    metrics = Metrics("api")
    cache = ItemCache(redis_client(settings), settings.cache_ttl_seconds, metrics, breaker=cache_breaker(metrics))
    lazy = redis_client(settings)
    if lazy is None:
        raise RuntimeError("the benchmark settings name no cache")
    raw = lazy.client  # the redis-py client itself: the raw GET is redis-py's, not the library's wrapper
    raw.flushdb()
    put_item(table, HOT_ID)
    for number in range(misses + warmup_misses):
        put_item(table, f"cold-{number}")

    def load_hot() -> dict[str, object] | None:
        return read_item(table, HOT_ID)

    cache.get(HOT_ID, load_hot)
    loads_before = metrics.snapshot().get("CacheLoads", 0)
    hot_key = item_key(HOT_ID)
    hit_samples = interleaved(
        {"hit": lambda: cache.get(HOT_ID, load_hot), "raw GET": lambda: raw.get(hot_key)}, hits, warmup_hits
    )
    if metrics.snapshot().get("CacheLoads", 0) != loads_before:
        raise RuntimeError("a hit loaded from DynamoDB: the hot key was not cached")

    miss_ids, direct_ids = itertools.count(), itertools.count()

    def miss() -> None:
        item_id = f"cold-{next(miss_ids)}"
        cache.get(item_id, lambda: read_item(table, item_id))

    miss_samples = interleaved(
        {"miss": miss, "direct DynamoDB read": lambda: read_item(table, f"cold-{next(direct_ids)}")}, misses, warmup_misses
    )
    return {**hit_samples, **miss_samples}


def _result(samples: dict[str, list[int]], hits: int, misses: int) -> Result:
    def p(name: str, q: float) -> float:
        return percentile(samples[name], q)

    return Result(
        name=NAME,
        title="Cache: hit vs raw GET, miss vs direct DynamoDB read",
        method=(
            f"{hits} hits of `ItemCache.get` on a cached key (the API's breaker, client and loader) taking turns with "
            f"{hits} redis-py GETs of the same key on the same server from a client with the same settings; then "
            f"{misses} misses (each on an item not yet cached) taking turns with {misses} direct strongly consistent "
            "GetItems (`read_item`) of the same items on the moto server. Warm-up rounds first; "
            "`time.perf_counter_ns` around each call."
        ),
        figures=[
            Figure("hit / raw GET (p50)", p("hit", 50) / p("raw GET", 50), TARGET_HIT_OVER_RAW),
            Figure(
                "hit / raw GET (p99)",
                p("hit", 99) / p("raw GET", 99),
                reason="context: the tail is the shared machine's as much as the code's",
            ),
            Figure(
                "miss / direct DynamoDB read (p50)",
                p("miss", 50) / p("direct DynamoDB read", 50),
                reason="context: a miss adds five cache calls (GET, lock, GET, fill, release) to the read",
            ),
            Figure(
                "direct DynamoDB read / hit (p50)",
                p("direct DynamoDB read", 50) / p("hit", 50),
                reason="context: what a hit saves against the moto server on loopback",
            ),
        ],
        tables=[Table(LATENCY_HEADERS, tuple(latency_row(name, values) for name, values in samples.items()))],
        notes=[
            "A hit costs the raw GET plus the breaker's two lock acquisitions, a metrics counter and `json.loads` "
            "of the cached item.",
            "The moto server answers a GetItem on loopback; a real DynamoDB GetItem from a Lambda function in the "
            "same region takes single-digit milliseconds, and MemoryDB a GET over TLS well under one.",
        ],
        plots=[
            Plot(
                name=NAME,
                title="Per-request latency of cached and uncached reads",
                ylabel="latency (ms, log scale)",
                kind=PER_REQUEST,
                series={name: [to_ms(value) for value in values] for name, values in samples.items()},
                log_y=True,
            )
        ],
    )
