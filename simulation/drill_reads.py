"""What the drill's reads saw: each item read during the run, compared with its region's table at that moment, and the
first reads in a region the runbook just activated (where they were served from, and whether the region's cache held
copies it had only received by replication). The comparison and the choices behind it: docs/design/drill.md, "The
cache across regions".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from functions.shared.schema import ATTR_TIMESTAMP

SERVED_FROM_CACHE = ("cache", "negative-cache")
SAME, OLDER, NEWER = "same", "older", "newer"


def compare_read(body: Mapping[str, Any] | None, record: Mapping[str, Any] | None, attributes: Sequence[str]) -> str:
    """``same`` when a read's body (None: 404) is the table record's public attributes (None: no record); ``older`` when
    it is a version before the table's (a 404 for an item the table has, or an earlier ``Timestamp``, the first part of
    the order token; an equal one with other data counts as older too); ``newer`` otherwise."""
    expected = {name: record[name] for name in attributes if name in record} if record is not None else None
    if body == expected:
        return SAME
    if body is None or expected is None:
        return OLDER if body is None else NEWER
    return NEWER if int(body.get(ATTR_TIMESTAMP, 0)) > int(expected.get(ATTR_TIMESTAMP, 0)) else OLDER


@dataclass(frozen=True)
class FirstReads:
    """Every item read once in ``region`` right after ``run`` activated it.

    ``copies_found``: item keys that held a copy (not an invalidation) before the reads; ``replicated``: how many of
    those the cache replication had written there; ``item_reads_before``: item reads the region served since its cache
    was last emptied (0: whatever it held came by replication).
    """

    run: str
    region: str
    reads: int
    hits: int
    copies_found: int
    replicated: int
    item_reads_before: int
    older: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "region": self.region,
            "reads": self.reads,
            "cacheHits": self.hits,
            "copiesFound": self.copies_found,
            "copiesReplicated": self.replicated,
            "itemReadsBefore": self.item_reads_before,
            "olderThanTable": self.older,
        }


@dataclass
class ReadLog:
    """Every checked read: how many, which were older than the table (``region:item@ms``), how many newer."""

    checked: int = 0
    older: list[str] = field(default_factory=list)
    newer: int = 0
    first: list[FirstReads] = field(default_factory=list)

    def record(self, region: str, item_id: str, at_ms: int, outcome: str) -> None:
        self.checked += 1
        if outcome == OLDER:
            self.older.append(f"{region}:{item_id}@{at_ms}")
        elif outcome == NEWER:
            self.newer += 1
