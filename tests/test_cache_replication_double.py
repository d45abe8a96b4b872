"""The MemoryDB Multi-Region stand-in between two real Redis servers: a write or a delete reaches the other region
after the lag and not before, with its TTL; concurrent writes converge on the later one (the service's rule, blind to
the cache's order tokens); nothing echoes back; an outage holds copies both ways and releases them; and what that
rule means for the item cache (docs/design/cache.md, "Multi-Region")."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from functions.shared.cache import ItemCache, item_key
from functions.shared.metrics import Metrics
from simulation.cache_replication_double import CacheReplicationDouble
from simulation.local_servers import RedisServer

US, EU = "us-east-1", "eu-west-1"
LAG = (100, 300)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, RedisServer]]:
    started = {US: RedisServer().start(), EU: RedisServer().start()}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def clients(servers: dict[str, RedisServer]) -> dict[str, Any]:
    made = {name: redis.Redis(host=s.host, port=s.port) for name, s in servers.items()}
    for client in made.values():
        client.flushall()
    return made


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def double(clients: dict[str, Any], clock: Clock) -> CacheReplicationDouble:
    return CacheReplicationDouble(clients, random.Random(3), now_ms=clock, min_lag_ms=LAG[0], max_lag_ms=LAG[1])


def test_a_write_reaches_the_other_region_after_the_lag_with_its_ttl(
    double: CacheReplicationDouble, clients: dict[str, Any], clock: Clock
) -> None:
    clients[US].set("item:{a}", "v1", px=60_000)
    clients[US].set("item:{b}", "v2")
    assert double.step() == 0 and double.captured == 2
    assert clients[EU].get("item:{a}") is None  # not before the lag
    clock.now += LAG[1]
    assert double.step() == 2
    assert clients[EU].get("item:{a}") == b"v1" and 0 < clients[EU].pttl("item:{a}") <= 60_000
    assert clients[EU].get("item:{b}") == b"v2" and clients[EU].pttl("item:{b}") == -1
    assert double.origin(EU, "item:{a}") == US
    clock.now += LAG[1]
    assert double.step() == 0 and double.quiescent()  # nothing echoes back to us-east-1
    assert double.captured == 2


def test_a_delete_replicates(double: CacheReplicationDouble, clients: dict[str, Any], clock: Clock) -> None:
    clients[US].set("k", "v")
    double.step()
    clock.now += LAG[1]
    double.step()
    assert clients[EU].get("k") == b"v"
    clients[US].delete("k")
    double.step()
    clock.now += LAG[1]
    double.step()
    assert clients[EU].get("k") is None


def test_concurrent_writes_converge_on_the_later_one_in_both_regions(
    double: CacheReplicationDouble, clients: dict[str, Any], clock: Clock
) -> None:
    clients[EU].set("k", "written first")
    double.step()
    clock.now += 10
    clients[US].set("k", "written later")
    double.step()
    clock.now += LAG[1] * 2
    double.step()
    assert clients[US].get("k") == clients[EU].get("k") == b"written later"
    assert double.superseded == 1  # the earlier write's copy reached us-east-1 after the later write: dropped


def test_an_outage_holds_copies_both_ways_and_releases_them(
    double: CacheReplicationDouble, clients: dict[str, Any], clock: Clock
) -> None:
    double.hold(EU)
    clients[US].set("from-us", "1")
    clients[EU].set("stranded", "unread while held")
    double.step()
    clock.now += LAG[1]
    assert double.step() == 0 and clients[EU].get("from-us") is None
    clients[EU].flushall()  # the region's Redis comes back empty
    assert double.release(EU, emptied=True) == 1
    assert double.step() == 1
    assert clients[EU].get("from-us") == b"1"
    clock.now += LAG[1]
    double.step()
    assert clients[US].get("from-us") == b"1"  # an emptied region's missing keys are not deletions


def _copy(item_id: str, token: str) -> dict[str, Any]:
    return {"Id": item_id, "Data": {"v": token}, "OrderToken": token}


def test_the_services_rule_lets_a_later_fill_of_an_older_version_win_until_that_regions_invalidation_follows(
    double: CacheReplicationDouble, clients: dict[str, Any], clock: Clock
) -> None:
    """Why docs/design/cache.md keeps fills in the active region: put-if-not-older guards each region's own writes,
    not the copies replication applies. us-east-1 commits t2 and invalidates; eu-west-1, whose table still has t1, fills
    t1 a moment later; the later write wins everywhere, so us-east-1 holds t1 over its table's t2, until eu-west-1's
    stream handler sees t2 and invalidates there: that later marker wins everywhere."""
    caches = {name: ItemCache(client, 300, Metrics("test")) for name, client in clients.items()}
    assert caches[US].invalidate("a", "t2")
    double.step()
    clock.now += 1
    item, source = caches[EU].get("a", lambda: _copy("a", "t1"))
    assert source == "db" and item is not None
    double.step()
    clock.now += LAG[1]
    double.step()
    assert json.loads(clients[US].get(item_key("a")))["token"] == "t1"  # an older copy over us-east-1's marker
    assert caches[EU].invalidate("a", "t2")  # eu-west-1's table caught up: its stream handler invalidates
    double.step()
    clock.now += LAG[1]
    double.step()
    for client in clients.values():
        assert json.loads(client.get(item_key("a"))) == {"token": "t2", "invalidated": True}


def test_lag_bounds_are_checked(clients: dict[str, Any], clock: Clock) -> None:
    with pytest.raises(ValueError, match="min_lag_ms <= max_lag_ms"):
        CacheReplicationDouble(clients, random.Random(1), now_ms=clock, min_lag_ms=5, max_lag_ms=1)
