"""A test double of MemoryDB Multi-Region replication between the regions' local Redis servers.

Each step reads every key of every region's Redis (value and remaining TTL), finds what changed there since the last
step (a new value, a key gone), and sends each change to every other region with a random lag of a given clock,
where it is applied under the service's rule: for a string key, the later write wins, whatever the application
wrote in it (MemoryDB developer guide, "Consistency and conflict resolution"). Writes within one step collapse into
their result, as several writes to a key inside one replication window do. :meth:`hold` and :meth:`release` model a
regional outage. What it simulates and what it does not: docs/design/drill.md.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# A key's state in one region: (value, remaining TTL in ms or None); a write's stamp: (when, the region it was made in).
Value = tuple[bytes, int | None]
Stamp = tuple[int, str]


@dataclass
class CacheCopy:
    """One change of ``key`` on its way from ``source`` to ``target`` (``value`` None: the key was deleted)."""

    source: str
    target: str
    key: bytes
    value: Value | None
    stamp: Stamp
    due: int


@dataclass
class _Region:
    client: Any
    known: dict[bytes, Value] = field(default_factory=dict)  # the keys as this double last saw or wrote them
    stamps: dict[bytes, Stamp] = field(default_factory=dict)  # the stamp of each key's last write, local or replicated


class CacheReplicationDouble:
    """Replicates every key between ``regions``' Redis servers (see the module notes).

    Parameters
    ----------
    regions: region -> a redis-py client of that region's server (its own, not the functions').
    rng: the source of each copy's lag.
    now_ms: the clock (ms) that stamps writes and times the lag.
    min_lag_ms, max_lag_ms: the range of a copy's lag.
    """

    def __init__(
        self,
        regions: Mapping[str, Any],
        rng: random.Random,
        *,
        now_ms: Callable[[], int],
        min_lag_ms: int = 0,
        max_lag_ms: int = 1000,
    ) -> None:
        if not 0 <= min_lag_ms <= max_lag_ms:
            raise ValueError(f"lag: need 0 <= min_lag_ms <= max_lag_ms, got {min_lag_ms}..{max_lag_ms}")
        self.regions = {name: _Region(client) for name, client in regions.items()}
        self.rng, self.now_ms, self.min_lag_ms, self.max_lag_ms = rng, now_ms, min_lag_ms, max_lag_ms
        self.pending: list[CacheCopy] = []
        self.held: set[str] = set()
        self.captured = self.applied = self.superseded = 0

    def step(self) -> int:
        """Capture every reachable region's changes, then deliver the copies due; the number delivered."""
        self.capture()
        return self.deliver()

    def capture(self, regions: Iterable[str] | None = None) -> int:
        """Queue the changes of ``regions`` (every region not held, by default) for every other region."""
        count = 0
        for name in self.regions if regions is None else regions:
            if name not in self.held:
                count += self._capture(name)
        self.captured += count
        return count

    def _capture(self, name: str) -> int:
        region, now = self.regions[name], self.now_ms()
        current = _snapshot(region.client)
        changed: dict[bytes, Value | None] = {k: v for k, v in current.items() if region.known.get(k, (None,))[0] != v[0]}
        changed.update({key: None for key in region.known.keys() - current.keys()})
        region.known = current
        for key, value in changed.items():
            region.stamps[key] = (now, name)
            for target in self.regions:
                if target != name:
                    due = now + self.rng.randint(self.min_lag_ms, self.max_lag_ms)
                    self.pending.append(CacheCopy(name, target, key, value, (now, name), due))
        return len(changed)

    def deliver(self) -> int:
        """Apply the copies that are due to regions not held: a copy older than the key's last write there is dropped."""
        now, delivered, kept = self.now_ms(), 0, []
        for copy in sorted(self.pending, key=lambda c: (c.due, c.stamp)):
            if copy.due > now or copy.target in self.held:
                kept.append(copy)
                continue
            delivered += 1
            self._apply(copy)
        self.pending = kept
        return delivered

    def _apply(self, copy: CacheCopy) -> None:
        region = self.regions[copy.target]
        if region.stamps.get(copy.key, (-1, "")) > copy.stamp:
            self.superseded += 1
            return
        region.stamps[copy.key] = copy.stamp
        if copy.value is None:
            region.client.delete(copy.key)
            region.known.pop(copy.key, None)
        else:
            data, ttl_ms = copy.value
            region.client.set(copy.key, data, px=ttl_ms)
            region.known[copy.key] = copy.value
        self.applied += 1

    # ---- outages -------------------------------------------------------------------------------------------------

    def hold(self, name: str) -> None:
        """The region is down: nothing is read from it or delivered to it; its copies wait."""
        self.held.add(name)

    def release(self, name: str, *, emptied: bool = False) -> int:
        """The region is back (``emptied``: its Redis restarted with nothing in it): the copies held for it are
        delivered from the next step, both ways. The number waiting for it."""
        self.held.discard(name)
        if emptied:
            self.regions[name].known.clear()
            self.regions[name].stamps.clear()
        return sum(1 for copy in self.pending if copy.target == name)

    def quiescent(self) -> bool:
        return not self.pending

    def origin(self, name: str, key: str) -> str | None:
        """The region whose write the key holds in ``name`` (None: the double has seen no write of it)."""
        stamp = self.regions[name].stamps.get(key.encode())
        return stamp[1] if stamp else None


# Every key with its value and remaining TTL, in one round trip (the drill steps often; few keys live there).
_SNAPSHOT_SCRIPT = """
local found = {}
for _, key in ipairs(redis.call('KEYS', '*')) do
  local value = redis.pcall('GET', key)
  if type(value) == 'string' then
    table.insert(found, key)
    table.insert(found, value)
    table.insert(found, redis.call('PTTL', key))
  end
end
return found
"""


def _snapshot(client: Any) -> dict[bytes, Value]:
    """Every string key of a server with its value and remaining TTL (None: no expiry); MemoryDB Multi-Region also
    replicates hashes, sets and sorted sets, which the cache does not use."""
    reply = client.eval(_SNAPSHOT_SCRIPT, 0)
    return {key: (value, ttl if ttl > 0 else None) for key, value, ttl in zip(reply[::3], reply[1::3], reply[2::3], strict=True)}
