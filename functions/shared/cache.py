"""The region's item cache over Redis (MemoryDB): one key per item, written only after the database commit.

This module holds what every writer of the cache shares: the key of an item, storing an item with a TTL
plus jitter (so keys filled together do not expire together), and invalidation. A cache that cannot be
reached never fails the caller: the database is the source of truth, the failure is logged and counted,
and the TTL bounds how long a missed invalidation can leave a stale copy.

Example:
    >>> cache = ItemCache(redis_client, ttl_seconds=300, metrics=Metrics("api"))
    >>> cache.store("item-1", {"Id": "item-1", "Version": 3})
    >>> cache.invalidate("item-1")
"""

from __future__ import annotations

import json
import random
from typing import Any, Protocol

from functions.shared.log import get_logger
from functions.shared.metrics import Metrics

logger = get_logger("cache")

KEY_PREFIX = "item:"
JITTER_FRACTION = 0.1


class RedisLike(Protocol):
    """What the cache needs of a redis-py client (``redis.Redis`` or ``redis.RedisCluster``)."""

    def get(self, name: str) -> Any: ...

    def set(self, name: str, value: str, ex: int | None = None, nx: bool = False, px: int | None = None) -> Any: ...

    def delete(self, *names: str) -> Any: ...


def item_key(item_id: str) -> str:
    """The cache key of an item (one key per item; the hash tag keeps an item on one cluster slot)."""
    return f"{KEY_PREFIX}{{{item_id}}}"


def ttl_with_jitter(ttl_seconds: int, rng: random.Random | None = None) -> int:
    """``ttl_seconds`` plus up to 10 % more, at least 1."""
    spread = max(1, int(ttl_seconds * JITTER_FRACTION))
    return max(1, ttl_seconds + (rng or random).randint(0, spread))


class ItemCache:
    """Store and invalidate items in the cache; never raises for a cache failure."""

    def __init__(self, client: RedisLike | None, ttl_seconds: int, metrics: Metrics) -> None:
        self.client, self.ttl_seconds, self.metrics = client, ttl_seconds, metrics

    def store(self, item_id: str, item: dict[str, Any]) -> bool:
        """Cache ``item`` (after the database committed it). False when the cache could not take it."""
        if self.client is None:
            return False
        try:
            self.client.set(item_key(item_id), json.dumps(item, default=str), ex=ttl_with_jitter(self.ttl_seconds))
        except Exception as error:
            self._failed("store", item_id, error)
            return False
        return True

    def invalidate(self, item_id: str) -> bool:
        """Drop the cached copy of ``item_id``. False when the cache could not be reached."""
        if self.client is None:
            return False
        try:
            self.client.delete(item_key(item_id))
        except Exception as error:
            self._failed("invalidate", item_id, error)
            return False
        self.metrics.add("CacheInvalidations")
        return True

    def _failed(self, operation: str, item_id: str, error: Exception) -> None:
        self.metrics.add("CacheErrors")
        logger.warning("cache unavailable", extra={"fields": {"operation": operation, "id": item_id, "error": repr(error)}})
