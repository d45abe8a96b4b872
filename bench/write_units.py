"""DynamoDB's write billing, from item sizes: write units in the region written, replicated write units on a global table.

The rules (cited in docs/design/write-path.md): an item's size is the sum of its attribute names' and values' lengths;
a standard write takes one unit per started KB of the item, a transactional write two per started KB of each item; on
a global table every write is billed in replicated write units in every replica region, the one written and each it
reaches (a transaction's items arrive there as standard writes); a write refused by its condition only where written.

Example:
    >>> units(1500), write_request(1500, regions=3), write_request(300, regions=3, transactional=True)
    (2, 6, 4)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

KB = 1024


def item_bytes(item: Mapping[str, Any]) -> int:
    """The size DynamoDB bills an item (DynamoDB JSON) at: each attribute's name and value."""
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def value_bytes(value: Mapping[str, Any]) -> int:
    """One attribute value's size: a string its UTF-8 bytes, a number about half its significant digits plus one, a
    boolean or null one byte, a list or map three bytes plus one per element and the elements (a map's names too)."""
    kind, content = next(iter(value.items()))
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        digits = Decimal(str(content)).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_bytes(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_bytes(element) for name, element in content.items())
    raise ValueError(f"attribute type {kind!r}: expected one of S, N, B, BOOL, NULL, L, M")


def units(size: int) -> int:
    """Write units of a standard write of an item of ``size`` bytes: one per started KB, at least one."""
    return max(1, math.ceil(size / KB))


def write_request(size: int, *, regions: int, transactional: bool = False, committed: bool = True) -> int:
    """Replicated write units (all regions) of one item's write: ``regions`` is 1 for a table that is not global."""
    here = units(size) * (2 if transactional else 1)
    return here + (units(size) * (regions - 1) if committed else 0)
