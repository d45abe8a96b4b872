"""The region's item cache over Redis (MemoryDB): one key per item, written only after the database commit.

Writers call ``invalidate`` (False when Redis did not answer: the stream handler retries); the API reads with ``get``,
cache-aside, single-flight within the container and under redis-py's ``Lock`` across containers. Every write to a key
is the ``put if not older`` Lua script, versioned by the item's order token; anything unusable under a key is a miss.
A failing Redis never fails the caller (circuit breaker). Entries, the read step by step, the metrics, and why two Lua
scripts stay ours (no library or MemoryDB command does them): ``docs/design/cache.md``.

Example: ``ItemCache(redis_client, ttl_seconds=300, metrics=m, breaker=cache_breaker(m)).get("item-1", load=read)``
answers ``(item, "cache")`` on a hit."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from functions.shared.breaker import CLOSED, OPEN, CircuitBreaker
from functions.shared.log import get_logger
from functions.shared.metrics import Metrics
from functions.shared.schema import ATTR_ORDER_TOKEN
from functions.shared.tracing import subsegment

if TYPE_CHECKING:
    from redis.lock import Lock

logger = get_logger("cache")

KEY_PREFIX = "item:"
LOCK_PREFIX = "lock:"
JITTER_FRACTION = 0.1
# Long enough to spare the table a client polling for a missing id, short enough that an item created meanwhile
# is seen soon even if its write's cache update was lost.
NEGATIVE_TTL_SECONDS = 5
# The cross-container load lock: it outlives a normal load (a GetItem with its retries) and expires on its own
# when the holder dies; waiters give up polling well before a client would notice.
LOCK_TTL_MS = 3000
LOCK_WAIT_SECONDS = 0.5
LOCK_POLL_SECONDS = 0.02
BREAKER_FAILURE_THRESHOLD = 3
BREAKER_OPEN_SECONDS = 10.0

# Compare and delete a value found unusable, only if it is still there (a writer may have replaced it since).
_DELETE_IF_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
# Put if not older (see "Entries and versions"). ARGV: the entry's token, the entry, its TTL in seconds, "1" when the
# entry holds an item. A value that is not an entry (another type: pcall; not JSON; no token) is replaced. An item copy
# replaces a negative entry of the same token: an item written without a token still beats "no such item".
_PUT_SCRIPT = """
local current = redis.pcall('GET', KEYS[1])
if type(current) == 'string' then
  local ok, entry = pcall(cjson.decode, current)
  if ok and type(entry) == 'table' and type(entry.token) == 'string' then
    if entry.token > ARGV[1] then return 0 end
    if entry.token == ARGV[1] and entry.item ~= nil and not (entry.item == cjson.null and ARGV[4] == '1') then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

Item = dict[str, Any]
Loader = Callable[[], Item | None]

# Outcomes of one guarded cache call.
_OK, _SKIPPED, _FAILED = "ok", "skipped", "failed"


class RedisLike(Protocol):
    """What the cache needs of a redis-py client (``redis.Redis`` or ``redis.RedisCluster``)."""

    def get(self, name: str) -> Any: ...

    def set(self, name: str, value: str, ex: int | None = None, px: int | None = None, nx: bool = False) -> Any: ...

    def eval(self, script: str, numkeys: int, *keys_and_args: str) -> Any: ...

    def ping(self) -> Any: ...

    # What redis-py's Lock calls besides ``set``: its release script, loaded on first use.
    def register_script(self, script: str) -> Any: ...

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any: ...

    def script_load(self, script: str) -> Any: ...


def item_key(item_id: str) -> str:
    """The cache key of an item (one key per item; the hash tag keeps an item on one cluster slot)."""
    return f"{KEY_PREFIX}{{{item_id}}}"


def lock_key(item_id: str) -> str:
    """The load lock of an item: same hash tag, so it lives on the item key's cluster slot."""
    return f"{LOCK_PREFIX}{item_key(item_id)}"


def copy_entry(item: Item | None) -> str:
    """The cached copy of ``item`` (None: a negative entry), versioned by its order token."""
    token = _token(item) if item is not None else ""
    return json.dumps({"token": token, "item": item}, default=str, separators=(",", ":"))


def _token(item: Item) -> str:
    return str(item.get(ATTR_ORDER_TOKEN) or "")


def invalidation_marker(order_token: str) -> str:
    """What a writer leaves under the key after committing ``order_token``: a miss that refuses older fills."""
    return json.dumps({"token": order_token, "invalidated": True}, separators=(",", ":"))


NEGATIVE_ENTRY = copy_entry(None)


def ttl_with_jitter(ttl_seconds: int, rng: random.Random | None = None) -> int:
    """``ttl_seconds`` plus up to 10 % more, at least 1."""
    spread = max(1, int(ttl_seconds * JITTER_FRACTION))
    return max(1, ttl_seconds + (rng or random).randint(0, spread))


def cache_breaker(
    metrics: Metrics,
    failure_threshold: int = BREAKER_FAILURE_THRESHOLD,
    open_seconds: float = BREAKER_OPEN_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> CircuitBreaker:
    """The cache's circuit breaker, counting its state changes as ``BreakerOpen`` / ``BreakerClosed``."""

    def count(_old: str, new: str) -> None:
        if new == OPEN:
            metrics.add("BreakerOpen")
        elif new == CLOSED:
            metrics.add("BreakerClosed")

    return CircuitBreaker("cache", failure_threshold, open_seconds, clock, on_transition=count)


class _Flight:
    """One in-progress load of a key in this container: the leader sets the outcome, followers wait for it."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._item: Item | None = None
        self._error: BaseException | None = None

    def finish(self, item: Item | None, error: BaseException | None = None) -> None:
        self._item, self._error = item, error
        self._done.set()

    def wait(self) -> Item | None:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._item


class ItemCache:
    """Parameters
    ----------
    client: a redis-py client, or None when the region has no cache (every read then goes to the loader).
    ttl_seconds: TTL of a cached item; jitter of up to 10 % is added.
    metrics: where the counters go.
    breaker: guards every cache call (None: no breaker). An invalidation the open breaker skips answers False, as
        a failed one does, so the writer retries it.
    negative_ttl_seconds: how long "no such item" is cached.
    lock_wait_seconds: how long a loader waits for another container's load before loading itself.
    sleep: how waiting for another container's load sleeps (tests may pass their own).
    accept: whether a cached item is one the caller can serve (a copy it cannot is a miss, and gets repaired).
    """

    def __init__(
        self,
        client: RedisLike | None,
        ttl_seconds: int,
        metrics: Metrics,
        *,
        breaker: CircuitBreaker | None = None,
        negative_ttl_seconds: int = NEGATIVE_TTL_SECONDS,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        accept: Callable[[Item], bool] = lambda _item: True,
    ) -> None:
        self.client, self.ttl_seconds, self.metrics = client, ttl_seconds, metrics
        self.breaker = breaker
        self.negative_ttl_seconds = negative_ttl_seconds
        self.lock_wait_seconds = lock_wait_seconds
        self.sleep = sleep
        self.accept = accept
        self._flights: dict[str, _Flight] = {}
        self._flights_lock = threading.Lock()

    def store(self, item_id: str, item: Item) -> bool:
        """Cache a committed ``item`` (put if not older). False when the cache could not be asked."""
        outcome, _ = self._put(item_id, copy_entry(item), token=_token(item), ttl=self._item_ttl(), holds_item=True)
        return outcome == _OK

    def invalidate(self, item_id: str, order_token: str = "") -> bool:
        """Mark ``item_id`` as written at ``order_token`` (after the commit): copies older than it are gone and no
        fill can put one back. False when the cache could not be asked (the caller must retry the invalidation)."""
        outcome, _ = self._put(
            item_id, invalidation_marker(order_token), token=order_token, ttl=self.ttl_seconds, holds_item=False
        )
        if outcome != _OK:
            return False
        self.metrics.add("CacheInvalidations")
        return True

    def get(self, item_id: str, load: Loader) -> tuple[Item | None, str]:
        """The item (None: it does not exist) and where it was served from (``docs/design/cache.md``).

        ``load`` reads the item from the database; it is called at most once per key at a time in this
        container, and its exceptions reach the caller (and every follower waiting on that load). Followers get
        the leader's item object itself: callers must not modify it.
        """
        outcome, cached = self._read(item_id)
        if cached is not None:
            return self._served(cached)
        if outcome == _OK:
            self.metrics.add("CacheMisses")
        return self._load_once(item_id, load, cache_state=outcome)

    def ping(self) -> bool:
        """One PING through the breaker (the health check): True when the cache answered."""
        outcome, _ = self._guarded("ping", "", lambda client: client.ping())
        return outcome == _OK

    def _read(self, item_id: str) -> tuple[str, _Copy | None]:
        """The cache's state and the copy under the item's key (None: nothing usable there). A value that is no entry
        of this item is discarded (if it is still there), so that the fill that follows can take its place."""
        outcome, value = self._guarded("get", item_id, lambda client: client.get(item_key(item_id)))
        if outcome != _OK or value is None:
            return outcome, None
        entry = self._parse(item_id, value)
        if entry is _UNUSABLE:
            self.metrics.add("CacheUnusable")
            self._guarded("discard", item_id, lambda client: client.eval(_DELETE_IF_SCRIPT, 1, item_key(item_id), value))
            return outcome, None
        return outcome, entry if isinstance(entry, _Copy) else None

    def _parse(self, item_id: str, value: object) -> _Copy | object | None:
        """A usable copy, None for an invalidation marker, or ``_UNUSABLE``."""
        try:
            entry = json.loads(value) if isinstance(value, str | bytes) else None
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            return _UNUSABLE
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            return _UNUSABLE
        if "item" not in entry:
            return None if entry.get("invalidated") is True else _UNUSABLE
        item = entry["item"]
        if item is None:
            return _Copy(None)
        if not isinstance(item, dict) or item.get("Id") != item_id or not self.accept(item):
            return _UNUSABLE
        return _Copy(item)

    def _served(self, copy: _Copy) -> tuple[Item | None, str]:
        if copy.item is None:
            self.metrics.add("NegativeHits")
            return None, "negative-cache"
        self.metrics.add("CacheHits")
        return copy.item, "cache"

    def _load_once(self, item_id: str, load: Loader, cache_state: str) -> tuple[Item | None, str]:
        with self._flights_lock:
            flight = self._flights.get(item_id)
            leading = flight is None
            if flight is None:
                flight = self._flights[item_id] = _Flight()
        if not leading:
            return flight.wait(), "shared"
        try:
            item, source = self._lead(item_id, load, cache_state)
        except BaseException as error:
            flight.finish(None, error)
            raise
        else:
            flight.finish(item)
        finally:
            # Only after the fill and the lock's release: a thread that missed before the fill and leads next takes
            # the lock and finds the key filled.
            with self._flights_lock:
                del self._flights[item_id]
        return item, source

    def _lead(self, item_id: str, load: Loader, cache_state: str) -> tuple[Item | None, str]:
        if cache_state != _OK:
            return self._load(item_id, load, cache_state, lock=None)
        cache_state, lock = self._guarded("lock", item_id, lambda client: _take_load_lock(client, item_id))
        if cache_state != _OK:
            return self._load(item_id, load, cache_state, lock=None)
        if lock is None:
            cache_state, filled = self._wait_for_fill(item_id)
            if filled is None:
                return self._load(item_id, load, cache_state, lock=None)
            item, source = self._served(filled)
            return item, "cache-wait" if source == "cache" else source
        # Read again under the lock: whoever held it before (another container, or this container's previous
        # leader for the key) filled the key before releasing it.
        cache_state, cached = self._read(item_id)
        if cached is not None:
            self._release(item_id, lock)
            return self._served(cached)
        return self._load(item_id, load, cache_state, lock=lock)

    def _load(self, item_id: str, load: Loader, cache_state: str, *, lock: Lock | None) -> tuple[Item | None, str]:
        """Read the database, fill the key when the cache works, and only then release the lock (if held)."""
        self.metrics.add("CacheLoads")
        try:
            item = load()
            if cache_state == _OK:
                self._fill(item_id, item)
        finally:
            if lock is not None:
                self._release(item_id, lock)
        return item, {_OK: "db", _SKIPPED: "db-cache-skipped", _FAILED: "db-cache-error"}[cache_state]

    def _release(self, item_id: str, lock: Lock) -> None:
        self._guarded("unlock", item_id, lambda _client: _release_load_lock(lock))

    def _wait_for_fill(self, item_id: str) -> tuple[str, _Copy | None]:
        """Poll the item key while another container loads it: the cache's state and the copy, None if none came."""
        deadline = time.monotonic() + self.lock_wait_seconds
        while time.monotonic() < deadline:
            self.sleep(LOCK_POLL_SECONDS)
            outcome, cached = self._read(item_id)
            if outcome != _OK or cached is not None:
                return outcome, cached
        return _OK, None

    def _fill(self, item_id: str, item: Item | None) -> None:
        if item is None:
            self._put(item_id, NEGATIVE_ENTRY, token="", ttl=self.negative_ttl_seconds, holds_item=False, operation="fill")
        else:
            self._put(item_id, copy_entry(item), token=_token(item), ttl=self._item_ttl(), holds_item=True, operation="fill")

    def _item_ttl(self) -> int:
        return ttl_with_jitter(self.ttl_seconds)

    def _put(
        self, item_id: str, entry: str, *, token: str, ttl: int, holds_item: bool, operation: str = "put"
    ) -> tuple[str, Any]:
        flag = "1" if holds_item else "0"
        return self._guarded(
            operation, item_id, lambda client: client.eval(_PUT_SCRIPT, 1, item_key(item_id), token, entry, str(ttl), flag)
        )

    def _guarded(self, operation: str, item_id: str, call: Callable[[Any], Any]) -> tuple[str, Any]:
        """One cache call through the breaker: (ok, its result), (skipped, None) or (failed, None)."""
        if self.client is None:
            return _SKIPPED, None
        if self.breaker is not None and not self.breaker.allow():
            self.metrics.add("CacheSkipped")
            return _SKIPPED, None
        try:
            with subsegment(f"redis {operation}", {"operation": operation}):
                result = call(self.client)
        except Exception as error:
            if _answered(error):
                # Redis is up and said the value is unusable (another type): a miss for this key, not an outage.
                if self.breaker is not None:
                    self.breaker.record_success()
                self.metrics.add("CacheUnusable")
                return _OK, None
            if self.breaker is not None:
                self.breaker.record_failure()
            self._failed(operation, item_id, error)
            return _FAILED, None
        if self.breaker is not None:
            self.breaker.record_success()
        return _OK, result

    def _failed(self, operation: str, item_id: str, error: BaseException) -> None:
        self.metrics.add("CacheErrors")
        logger.warning("cache unavailable", extra={"operation": operation, "id": item_id, "error": repr(error)})


def _take_load_lock(client: RedisLike, item_id: str) -> Lock | None:
    """The item's load lock if this loader took it (redis-py's ``Lock``: a random token, ``SET NX PX``, no waiting), None
    when another loader holds it. The lock gets this client, so its commands go through it (``LazyRedis``, doubles)."""
    from redis.lock import Lock

    lock = Lock(client, lock_key(item_id), timeout=LOCK_TTL_MS / 1000, blocking=False, thread_local=False)
    return lock if lock.acquire() else None


def _release_load_lock(lock: Lock) -> bool:
    """Release the load lock if it still holds this loader's token (``Lock``'s compare-and-delete script): False when
    it expired meanwhile, and perhaps another loader took it: that loader's to release."""
    from redis.exceptions import LockNotOwnedError

    try:
        lock.release()
    except LockNotOwnedError:
        return False
    return True


def _answered(error: BaseException) -> bool:
    """Redis answered, and what it said is about the value, not the server: another type (``WRONGTYPE``), or bytes
    that are not UTF-8 (the client decodes replies as text)."""
    return isinstance(error, UnicodeDecodeError) or str(error).startswith("WRONGTYPE")


_UNUSABLE = object()


class _Copy:
    """A usable copy read from the cache: the item, or None for a negative entry."""

    __slots__ = ("item",)

    def __init__(self, item: Item | None) -> None:
        self.item = item
