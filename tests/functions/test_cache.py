"""The cache-aside read against a real Redis server and the moto server's DynamoDB.

Test 8 (Redis stopped in the middle of a read load) and test 9 (64 concurrent misses, one DynamoDB read) of the
application-layer issue, plus negative caching, TTL jitter, the fill that never overwrites a writer, and the
cross-container load lock.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from functions.api.handler import read_item
from functions.shared.breaker import CLOSED, OPEN
from functions.shared.cache import (
    LOCK_TTL_MS,
    NEGATIVE_ENTRY,
    NEGATIVE_TTL_SECONDS,
    ItemCache,
    _release_load_lock,
    _take_load_lock,
    cache_breaker,
    copy_entry,
    item_key,
    lock_key,
    ttl_with_jitter,
)
from functions.shared.clients import redis_client
from functions.shared.metrics import Metrics
from functions.shared.settings import Settings
from functions.shared.state import ItemTable
from simulation.local_servers import RedisClusterServers, RedisServer
from simulation.local_tables import create_items_table as create_table
from tests.support.cache_doubles import CallCounter, CountingRedis, FakeClock, put_item
from tests.support.dynamo import function_client

REGION = "us-east-1"
TTL = 300


@pytest.fixture
def cache_settings(redis_server: RedisServer) -> Settings:
    return Settings(
        region=REGION,
        table_name="multi-region-test-items",
        cache_host=redis_server.host,
        cache_port=redis_server.port,
        cache_tls=False,
        cache_cluster=False,
        cache_ttl_seconds=TTL,
    )


@pytest.fixture
def cache_client(cache_settings: Settings) -> Iterator[Any]:
    """The library's own Redis client (short timeouts, no TLS against the local server), on an empty database."""
    client = redis_client(cache_settings)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def table(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, cache_settings: Settings) -> ItemTable:
    """The table with its real schema on the moto server, read through a client built as the library builds one
    (a fresh one per test: counters are registered on it)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    client = function_client("dynamodb", REGION)
    create_table(client, cache_settings.table_name)
    return ItemTable(client, cache_settings.table_name)


def new_cache(client: Any, **options: Any) -> tuple[ItemCache, Metrics]:
    metrics = Metrics("test")
    breaker = options.pop("breaker", None) or cache_breaker(metrics)
    return ItemCache(client, TTL, metrics, breaker=breaker, **options), metrics


def loader_of(table: ItemTable, item_id: str) -> Callable[[], dict[str, Any] | None]:
    return lambda: read_item(table, item_id)


def expected(item_id: str, version: int) -> dict[str, Any]:
    return {"Id": item_id, "Data": {"n": version}, "Version": version, "Timestamp": 1000 + version, "LastUpdatedRegion": REGION}


def seed(table: ItemTable, count: int) -> list[str]:
    ids = [f"item-{index:02d}" for index in range(count)]
    for version, item_id in enumerate(ids, start=1):
        put_item(table, item_id, data={"n": version}, version=version, timestamp=1000 + version, region=REGION)
    return ids


# ---- TTL and jitter --------------------------------------------------------------------------------


def test_ttl_jitter_stays_within_ten_percent_above_the_ttl_and_spreads() -> None:
    rng = random.Random(7)
    draws = [ttl_with_jitter(300, rng) for _ in range(2000)]
    assert min(draws) == 300
    assert max(draws) == 330
    assert len(set(draws)) == 31
    assert {ttl_with_jitter(5, rng) for _ in range(200)} == {5, 6}
    assert {ttl_with_jitter(0, rng) for _ in range(200)} <= {1}


def test_a_filled_item_expires_after_the_ttl_plus_jitter(cache_client: Any, table: ItemTable) -> None:
    ids = seed(table, 20)
    cache, _ = new_cache(cache_client)
    for item_id in ids:
        cache.get(item_id, loader_of(table, item_id))
    ttls = [cache_client.ttl(item_key(item_id)) for item_id in ids]
    assert all(TTL - 1 <= ttl <= TTL + TTL // 10 for ttl in ttls), ttls
    assert len(set(ttls)) > 1  # keys filled together do not expire together


# ---- hits, misses, negative entries ------------------------------------------------------------------


def test_a_miss_loads_from_dynamodb_fills_redis_and_the_next_read_hits(cache_client: Any, table: ItemTable) -> None:
    (item_id,) = seed(table, 1)
    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    cache, metrics = new_cache(cache_client)
    assert cache.get(item_id, loader_of(table, item_id)) == (expected(item_id, 1), "db")
    assert cache.get(item_id, loader_of(table, item_id)) == (expected(item_id, 1), "cache")
    assert cache.get(item_id, loader_of(table, item_id)) == (expected(item_id, 1), "cache")
    assert get_items.count == 1
    counts = metrics.snapshot()
    assert (counts["CacheMisses"], counts["CacheHits"], counts["CacheLoads"]) == (1, 2, 1)
    assert "CacheErrors" not in counts
    assert cache_client.exists(lock_key(item_id)) == 0  # the load lock is released


def test_a_missing_item_is_cached_briefly_as_a_negative_entry(cache_client: Any, table: ItemTable) -> None:
    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    cache, metrics = new_cache(cache_client)
    assert cache.get("ghost", loader_of(table, "ghost")) == (None, "db")
    assert cache_client.get(item_key("ghost")) == NEGATIVE_ENTRY
    assert 1 <= cache_client.ttl(item_key("ghost")) <= NEGATIVE_TTL_SECONDS < TTL
    for _ in range(5):
        assert cache.get("ghost", loader_of(table, "ghost")) == (None, "negative-cache")
    assert get_items.count == 1
    assert metrics.snapshot()["NegativeHits"] == 5
    # A write stores the new item over the negative entry: the next read sees it.
    put_item(table, "ghost", data={"n": 1}, version=1, timestamp=1001, region=REGION)
    assert cache.store("ghost", expected("ghost", 1))
    assert cache.get("ghost", loader_of(table, "ghost")) == (expected("ghost", 1), "cache")


def test_a_fill_never_overwrites_a_copy_a_writer_stored_during_the_load(cache_client: Any, table: ItemTable) -> None:
    (item_id,) = seed(table, 1)
    cache, _ = new_cache(cache_client)

    def load_then_a_write_lands() -> dict[str, Any] | None:
        loaded = read_item(table, item_id)
        put_item(table, item_id, data={"n": 2}, version=2, timestamp=1002, region=REGION)
        cache.store(item_id, expected(item_id, 2))  # the writer, after its commit
        return loaded

    assert cache.get(item_id, load_then_a_write_lands) == (expected(item_id, 1), "db")
    assert cache.get(item_id, loader_of(table, item_id)) == (expected(item_id, 2), "cache")


def test_a_failed_load_reaches_the_caller_and_the_next_read_loads_again(cache_client: Any, table: ItemTable) -> None:
    (item_id,) = seed(table, 1)
    cache, _ = new_cache(cache_client)

    def broken() -> dict[str, Any] | None:
        raise RuntimeError("DynamoDB throttled")

    with pytest.raises(RuntimeError, match="throttled"):
        cache.get(item_id, broken)
    assert cache_client.exists(item_key(item_id)) == 0  # nothing cached for a failed load
    assert cache.get(item_id, loader_of(table, item_id)) == (expected(item_id, 1), "db")


def test_without_a_cache_every_read_goes_to_the_table(table: ItemTable) -> None:
    (item_id,) = seed(table, 1)
    cache, metrics = new_cache(None)
    assert cache.get(item_id, loader_of(table, item_id)) == (expected(item_id, 1), "db-cache-skipped")
    assert cache.get(item_id, loader_of(table, item_id)) == (expected(item_id, 1), "db-cache-skipped")
    assert metrics.snapshot()["CacheLoads"] == 2
    assert not cache.ping()


# ---- the cross-container load lock -----------------------------------------------------------------


def test_a_loader_waits_for_another_containers_load_instead_of_reading_the_table(cache_client: Any, table: ItemTable) -> None:
    (item_id,) = seed(table, 1)
    cache_client.set(lock_key(item_id), "other-container", px=30_000)
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:  # the other container's load lands while this one polls
            cache_client.set(item_key(item_id), copy_entry({"Id": "item-00", "Version": 1}), ex=TTL)

    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    cache, _ = new_cache(cache_client, sleep=sleep, lock_wait_seconds=30.0)
    assert cache.get(item_id, loader_of(table, item_id)) == ({"Id": "item-00", "Version": 1}, "cache-wait")
    assert get_items.count == 0
    assert len(polls) == 3


def test_a_lock_whose_holder_never_fills_delays_the_load_only_briefly_and_is_not_stolen(
    cache_client: Any, table: ItemTable
) -> None:
    (item_id,) = seed(table, 1)
    cache_client.set(lock_key(item_id), "other-container", px=30_000)
    cache, _ = new_cache(cache_client, lock_wait_seconds=0.05)
    assert cache.get(item_id, loader_of(table, item_id)) == (expected(item_id, 1), "db")
    assert cache_client.get(lock_key(item_id)) == "other-container"  # only its owner releases a lock


def test_a_loader_that_takes_the_lock_after_another_fill_reads_the_fill_instead_of_the_table(
    cache_client: Any, table: ItemTable
) -> None:
    (item_id,) = seed(table, 1)

    class FillBeforeLock:
        """Another container fills the key and releases its lock between this reader's miss and its lock."""

        def __getattr__(self, name: str) -> Any:
            return getattr(cache_client, name)

        def set(self, name: str, value: str, **options: Any) -> Any:
            if name == lock_key(item_id):
                cache_client.set(item_key(item_id), copy_entry({"Id": "item-00", "Version": 1}), ex=TTL)
            return cache_client.set(name, value, **options)

    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    cache, _ = new_cache(FillBeforeLock())
    assert cache.get(item_id, loader_of(table, item_id)) == ({"Id": "item-00", "Version": 1}, "cache")
    assert get_items.count == 0
    assert cache_client.exists(lock_key(item_id)) == 0


def test_a_loader_releases_only_its_own_lock(cache_client: Any, table: ItemTable) -> None:
    (item_id,) = seed(table, 1)
    cache, _ = new_cache(cache_client)

    def slow_load() -> dict[str, Any] | None:
        # Our lock expired meanwhile and another container took it.
        cache_client.set(lock_key(item_id), "next-owner", px=30_000)
        return read_item(table, item_id)

    assert cache.get(item_id, slow_load) == (expected(item_id, 1), "db")
    assert cache_client.get(lock_key(item_id)) == "next-owner"


@pytest.mark.parametrize("cluster", [False, True], ids=["single", "cluster"])
def test_the_load_lock_is_redis_pys_lock_through_the_lazy_client(
    cluster: bool, cache_settings: Settings, redis_cluster: RedisClusterServers
) -> None:
    """Taken without waiting, with an expiry, by one loader at a time, released by its owner only: on one server and
    on a Redis Cluster (the lock key shares the item key's slot), through ``LazyRedis`` and a double wrapping it."""
    where = {"cache_host": redis_cluster.host, "cache_port": redis_cluster.port} if cluster else {}
    client = redis_client(Settings(**{**cache_settings.__dict__, **where, "cache_cluster": cluster}))
    try:
        calls = CountingRedis(client)
        first = _take_load_lock(calls, "item-1")  # type: ignore[arg-type]
        assert first is not None and 0 < client.pttl(lock_key("item-1")) <= LOCK_TTL_MS
        assert _take_load_lock(client, "item-1") is None
        assert _release_load_lock(first) and client.exists(lock_key("item-1")) == 0
        assert calls.calls >= 2  # the SET NX and the release script went through the double
        second = _take_load_lock(client, "item-1")
        assert second is not None
        client.set(lock_key("item-1"), "next-owner", px=30_000)  # ours expired, another loader took it
        assert not _release_load_lock(second) and client.get(lock_key("item-1")) == "next-owner"
        client.delete(lock_key("item-1"))
    finally:
        client.close()


# ---- test 9: a stampede on one key -------------------------------------------------------------------


def concurrent_reads(caches: list[ItemCache], table: ItemTable, item_id: str, threads: int) -> list[tuple[Any, str]]:
    start = threading.Barrier(threads)

    def read(index: int) -> tuple[Any, str]:
        start.wait()
        return caches[index % len(caches)].get(item_id, loader_of(table, item_id))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(read, range(threads)))


def test_64_concurrent_misses_on_one_key_cause_one_dynamodb_read(cache_client: Any, table: ItemTable) -> None:
    (item_id,) = seed(table, 1)
    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    cache, metrics = new_cache(cache_client)
    results = concurrent_reads([cache], table, item_id, 64)
    assert get_items.count == 1
    assert [item for item, _ in results] == [expected(item_id, 1)] * 64
    sources = Counter(source for _, source in results)
    assert sources["db"] == 1
    assert set(sources) <= {"db", "shared", "cache"}
    counts = metrics.snapshot()
    assert counts["CacheLoads"] == 1
    assert "CacheErrors" not in counts
    print(f"\ntest 9 (one container): DynamoDB GetItem={get_items.count}, sources={dict(sources)}, metrics={counts}")


def test_64_concurrent_misses_from_two_containers_cause_one_dynamodb_read(cache_client: Any, table: ItemTable) -> None:
    (item_id,) = seed(table, 1)
    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    # Two containers: each its own single-flight and breaker, one Redis. A generous lock wait keeps the outcome
    # independent of how long the first container's load takes.
    (first, first_metrics), (second, second_metrics) = (new_cache(cache_client, lock_wait_seconds=30.0) for _ in range(2))
    results = concurrent_reads([first, second], table, item_id, 64)
    assert get_items.count == 1
    assert [item for item, _ in results] == [expected(item_id, 1)] * 64
    sources = Counter(source for _, source in results)
    assert sources["db"] == 1
    assert first_metrics.snapshot().get("CacheLoads", 0) + second_metrics.snapshot().get("CacheLoads", 0) == 1
    print(f"\ntest 9 (two containers): DynamoDB GetItem={get_items.count}, sources={dict(sources)}")


# ---- test 8: Redis stopped in the middle of a read load -----------------------------------------------


Reads = list[tuple[str, Any, str]]


class ReadLoad:
    """Reads of seeded items through one cache by ``workers`` threads; every read must return the right item."""

    workers = 8

    def __init__(self, table: ItemTable, ids: list[str], cache: ItemCache) -> None:
        self.table, self.ids, self.cache = table, ids, cache
        self.versions = {item_id: version for version, item_id in enumerate(ids, start=1)}

    def read(self, index: int) -> tuple[str, Any, str]:
        item_id = self.ids[index % len(self.ids)]
        item, source = self.cache.get(item_id, loader_of(self.table, item_id))
        return item_id, item, source

    def load(self, count: int, before_each: Callable[[int], None] = lambda _: None) -> Reads:
        def task(index: int) -> tuple[str, Any, str]:
            before_each(index)
            return self.read(index)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = list(pool.map(task, range(count)))
        for item_id, item, _ in results:
            assert item == expected(item_id, self.versions[item_id])  # every read succeeds, with the right item
        return results


def sources(results: Reads) -> Counter[str]:
    return Counter(source for *_, source in results)


def _load_while_redis_stops(reads: ReadLoad, redis_server: RedisServer) -> Reads:
    """300 reads; Redis is stopped once 60 of them have started; the last 150 start only after it is down."""
    halfway, stopped = threading.Event(), threading.Event()

    def pace(index: int) -> None:
        if index == 60:
            halfway.set()
        if index >= 150:
            stopped.wait()

    with ThreadPoolExecutor(max_workers=1) as stopper:
        stopping = stopper.submit(lambda: (halfway.wait(), redis_server.stop(), stopped.set()))
        during = reads.load(300, pace)
        stopping.result()
    return during


def test_reads_survive_redis_stopping_mid_load_skip_it_once_the_breaker_opens_and_use_it_again_after(
    redis_server: RedisServer, cache_settings: Settings, table: ItemTable
) -> None:
    ids = seed(table, 20)
    get_items = CallCounter(table.client, "dynamodb", "GetItem")
    clock = FakeClock()
    metrics = Metrics("test")
    breaker = cache_breaker(metrics, failure_threshold=3, open_seconds=10.0, clock=clock)
    library_client = redis_client(cache_settings)
    library_client.flushdb()
    redis_calls = CountingRedis(library_client)
    cache = ItemCache(redis_calls, TTL, metrics, breaker=breaker)  # type: ignore[arg-type]
    reads = ReadLoad(table, ids, cache)
    workers = reads.workers

    try:
        for item_id in ids:  # fill every key, then read under load: all hits
            cache.get(item_id, loader_of(table, item_id))
        warm = reads.load(100)
        assert sources(warm) == {"cache": 100}
        before_outage = metrics.snapshot()

        during = _load_while_redis_stops(reads, redis_server)
        assert breaker.state == OPEN
        outage = metrics.snapshot()
        assert outage["BreakerOpen"] == 1
        errors = outage.get("CacheErrors", 0) - before_outage.get("CacheErrors", 0)
        # Failed cache calls are few and bounded, whatever the number of reads: at most threshold - 1 between two
        # resets, a reset only from a call in flight when Redis stopped (one per worker), and one call per worker
        # in flight when the breaker opened.
        assert 0 < errors <= breaker.failure_threshold * (workers + 1) + workers, errors
        after_stop = sources(during[150:])
        assert set(after_stop) <= {"db-cache-skipped", "db-cache-error", "shared"}
        assert after_stop["db-cache-error"] <= errors

        # The breaker is open: reads do not touch Redis at all, so no read waits on a socket timeout.
        attempts_when_open = redis_calls.calls
        skipped = reads.load(100)
        assert redis_calls.calls == attempts_when_open
        assert set(sources(skipped)) <= {"db-cache-skipped", "shared"}
        assert metrics.snapshot()["CacheSkipped"] - outage["CacheSkipped"] >= 100

        # Redis back, the open period over: the first read probes and closes the breaker, the keys are filled
        # again, and reads under load hit the cache without reading the table.
        redis_server.start()
        clock.advance(10.0)
        for item_id in ids:
            assert cache.get(item_id, loader_of(table, item_id))[1] == "db"
        assert breaker.state == CLOSED
        hits_before, reads_before = metrics.snapshot()["CacheHits"], get_items.count
        after = reads.load(200)
        final = metrics.snapshot()
        assert sources(after) == {"cache": 200}
        assert final["CacheHits"] - hits_before == 200
        assert get_items.count == reads_before
        assert final["BreakerClosed"] == 1
        print(
            "\ntest 8: under load before the outage", dict(sources(warm)),
            "| during (Redis stopped after read 60)", dict(sources(during)),
            "| breaker open", dict(sources(skipped)),
            "| Redis back", dict(sources(after)),
            f"| CacheErrors={final.get('CacheErrors', 0)} CacheHits={final['CacheHits']} CacheMisses={final['CacheMisses']}"
            f" CacheSkipped={final['CacheSkipped']} Redis calls={redis_calls.calls}"
            f" DynamoDB GetItem={get_items.count} for {2 * len(ids) + 700} reads",
        )  # fmt: skip
    finally:
        if redis_server.pid is None:
            redis_server.start()


def test_ping_answers_through_the_breaker(redis_server: RedisServer, cache_client: Any) -> None:
    clock = FakeClock()
    metrics = Metrics("test")
    breaker = cache_breaker(metrics, failure_threshold=1, open_seconds=10.0, clock=clock)
    calls = CountingRedis(cache_client)
    cache = ItemCache(calls, TTL, metrics, breaker=breaker)  # type: ignore[arg-type]
    assert cache.ping()
    breaker.record_failure()
    assert breaker.state == OPEN
    assert not cache.ping()
    assert calls.calls == 1  # the open breaker answered without calling Redis


def test_redis_errors_are_counted_and_never_reach_the_reader(table: ItemTable, cache_settings: Settings) -> None:
    (item_id,) = seed(table, 1)
    nowhere = redis_client(Settings(**{**cache_settings.__dict__, "cache_port": _closed_port()}))
    cache, metrics = new_cache(nowhere)
    assert cache.get(item_id, loader_of(table, item_id)) == (expected(item_id, 1), "db-cache-error")
    assert metrics.snapshot()["CacheErrors"] >= 1
    with pytest.raises(redis.ConnectionError):
        nowhere.ping()


def _closed_port() -> int:
    from simulation.local_servers import free_port

    return free_port()
