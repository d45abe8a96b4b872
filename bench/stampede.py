"""Stampede: DynamoDB reads made by 64 concurrent misses of one key, ``ItemCache`` against a naive cache-aside.

The naive cache-aside is the textbook one (:func:`naive_get`): GET, and on a miss read the table and SET. Every
thread that misses before the first fill reads the table. ``ItemCache`` reads it once: within a container the
first thread to miss leads and the others wait for its result; across containers a short Redis lock lets one
leader load while the others poll the key. Both are measured with 64 threads released at once by a barrier, in one
container (one ``ItemCache``) and spread over four (four ``ItemCache`` objects, each with its own Redis client: four
Lambda containers of one region). The loads are counted with botocore's ``before-call.dynamodb.GetItem`` event on
the client every loader uses.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from bench.local import Local, RequestCounter, put_item
from bench.measure import BARS, Figure, Plot, Result, Table
from functions.api.handler import read_item
from functions.shared.cache import ItemCache, cache_breaker, item_key
from functions.shared.clients import redis_client
from functions.shared.metrics import Metrics
from functions.shared.state import ItemTable

NAME = "stampede"
THREADS = 64
TARGET_LOADS = 1
NAIVE_TTL_SECONDS = 300


def naive_get(client: Any, table: ItemTable, item_id: str) -> dict[str, Any] | None:
    """Cache-aside without any stampede protection: GET; on a miss, read the table and SET."""
    cached = client.get(item_key(item_id))
    if cached is not None:
        loaded: dict[str, Any] | None = json.loads(cached)
        return loaded
    item = read_item(table, item_id)
    client.set(item_key(item_id), json.dumps(item), ex=NAIVE_TTL_SECONDS)
    return item


def stampede(reads: list[Callable[[], object]]) -> None:
    """Run every read in its own thread, all released at once."""
    barrier = threading.Barrier(len(reads))
    errors: list[BaseException] = []

    def reader(read: Callable[[], object]) -> None:
        barrier.wait()
        try:
            read()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=reader, args=(read,)) for read in reads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(reads)} reads failed, first: {errors[0]!r}")


def run(local: Local, quick: bool) -> Result:
    rounds = 2 if quick else 5
    return _result(_loads(local, rounds), rounds)


def _loads(local: Local, rounds: int) -> dict[str, list[int]]:
    """Per scenario, the GetItem calls of each round's stampede on a fresh item."""
    table = local.table("bench-stampede")
    settings = local.settings(table.name)
    loads: dict[str, list[int]] = {}

    def item_cache() -> ItemCache:
        metrics = Metrics("api")
        return ItemCache(redis_client(settings), settings.cache_ttl_seconds, metrics, breaker=cache_breaker(metrics))

    def cached_read(cache: ItemCache, item_id: str) -> Callable[[], object]:
        return lambda: cache.get(item_id, lambda: read_item(table, item_id))

    def cached_reads(containers: int, item_id: str) -> list[Callable[[], object]]:
        caches = [item_cache() for _ in range(containers)]
        return [cached_read(caches[number % containers], item_id) for number in range(THREADS)]

    naive_client = redis_client(settings)
    scenarios: dict[str, Callable[[str], list[Callable[[], object]]]] = {
        "naive cache-aside, 1 container": lambda item_id: [
            lambda: naive_get(naive_client, table, item_id) for _ in range(THREADS)
        ],
        "ItemCache, 1 container x 64 threads": lambda item_id: cached_reads(1, item_id),
        "ItemCache, 4 containers x 16 threads": lambda item_id: cached_reads(4, item_id),
    }
    with RequestCounter(table.client, "GetItem") as counter:
        for round_number in range(rounds):
            for scenario_number, (scenario, reads_of) in enumerate(scenarios.items()):
                item_id = f"stampede-{round_number}-{scenario_number}"
                put_item(table, item_id)
                before = counter.snapshot()["GetItem"]
                stampede(reads_of(item_id))
                loads.setdefault(scenario, []).append(counter.snapshot()["GetItem"] - before)
    return loads


def _result(loads: dict[str, list[int]], rounds: int) -> Result:
    naive, one, four = loads.values()
    return Result(
        name=NAME,
        title="Stampede: DynamoDB loads of 64 concurrent misses on one key",
        method=(
            f"{rounds} rounds; in each, for every scenario, a fresh item is written to the table and {THREADS} threads "
            "released by one barrier read it through the cache. GetItem calls counted with botocore's "
            "`before-call.dynamodb.GetItem` event."
        ),
        figures=[
            Figure("ItemCache loads, 1 container (most in a round)", max(one), TARGET_LOADS, unit=""),
            Figure("ItemCache loads, 4 containers (most in a round)", max(four), TARGET_LOADS, unit=""),
            Figure(
                "naive loads / ItemCache loads (mean)",
                (sum(naive) / len(naive)) / max(1.0, sum(one + four) / len(one + four)),
                reason="context: what single-flight and the load lock spare the table",
            ),
        ],
        tables=[
            Table(
                ("scenario", "DynamoDB loads per round", "mean"),
                tuple((name, ", ".join(map(str, counts)), f"{sum(counts) / len(counts):.1f}") for name, counts in loads.items()),
            )
        ],
        notes=[
            "The naive cache-aside reads the table once for every thread that missed before the first fill; how many "
            "that is depends on scheduling, not on the code.",
            "Across containers the lock's waiters poll the key every 20 ms for up to 0.5 s "
            "(`LOCK_POLL_SECONDS`, `LOCK_WAIT_SECONDS`); they load themselves only if nothing arrives.",
        ],
        plots=[
            Plot(
                name=NAME,
                title=f"DynamoDB loads for {THREADS} concurrent misses of one key (mean of {rounds} rounds)",
                ylabel="GetItem calls",
                kind=BARS,
                series={name: [sum(counts) / len(counts)] for name, counts in loads.items()},
            )
        ],
    )
