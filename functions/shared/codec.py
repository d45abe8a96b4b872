"""The DynamoDB attribute codec: plain JSON values to DynamoDB JSON and back, and typed reads of one attribute.

Numbers are written as their exact decimal text and read back as ``int`` when the text is an integer. The functions
speak DynamoDB JSON through the low-level client (every request explicit and countable: ``docs/design/write-path.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def to_attribute(value: object) -> dict[str, Any]:
    """A JSON value as a DynamoDB attribute value (numbers as their exact decimal text)."""
    if isinstance(value, bool):
        attribute: dict[str, Any] = {"BOOL": value}
    elif value is None:
        attribute = {"NULL": True}
    elif isinstance(value, str):
        attribute = {"S": value}
    elif isinstance(value, int):
        attribute = {"N": str(value)}
    elif isinstance(value, float):
        attribute = {"N": str(Decimal(repr(value)))}
    elif isinstance(value, list):
        attribute = {"L": [to_attribute(child) for child in value]}
    elif isinstance(value, Mapping):
        attribute = {"M": {str(key): to_attribute(child) for key, child in value.items()}}
    else:
        raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")
    return attribute


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as plain JSON (the inverse of :func:`to_attribute`)."""
    kind, value = next(iter(attribute.items()))
    if kind == "S":
        return value
    if kind == "N":
        number = float(value)
        return int(value) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "L":
        return [from_attribute(child) for child in value]
    if kind == "M":
        return {key: from_attribute(child) for key, child in value.items()}
    raise TypeError(f"unexpected DynamoDB type {kind}")


def item_from_image(image: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A record in DynamoDB JSON (an item, a stream image) as plain JSON."""
    return {name: from_attribute(value) for name, value in image.items()}


def string_of(item: Mapping[str, Any] | None, name: str) -> str | None:
    """The string attribute ``name`` of a record in DynamoDB JSON; None when there is no record or no such string."""
    value = item.get(name) if item is not None else None
    return str(value["S"]) if isinstance(value, Mapping) and "S" in value else None


def number_of(item: Mapping[str, Any] | None, name: str) -> int | None:
    """The integer attribute ``name`` of a record in DynamoDB JSON; None when there is no record or no such number."""
    value = item.get(name) if item is not None else None
    return int(value["N"]) if isinstance(value, Mapping) and "N" in value else None
