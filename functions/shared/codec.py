"""The DynamoDB attribute codec: plain JSON values to DynamoDB JSON and back, and typed reads of one attribute.

The type tags are boto3's ``TypeSerializer`` / ``TypeDeserializer``; this module adds the one rule they leave to the
caller, numbers. Going in, a float is written as its shortest exact text (``repr``, as ``json.dumps`` writes it);
coming out, a number written without a fraction or an exponent is an ``int``, any other a ``float``. Only plain JSON
passes, both ways: a set, bytes or NaN is refused with ``TypeError`` / ``ValueError``, as DynamoDB JSON written by
anything but this codec is not the functions' data. ``boto3.dynamodb.types`` imports the whole ``boto3`` package, so
it is imported on the first conversion, never with this module (the cold path). The functions speak DynamoDB JSON
through the low-level client (every request explicit and countable: ``docs/design/write-path.md``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from decimal import Decimal, DecimalException
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer


@functools.cache
def _serializer() -> TypeSerializer:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


@functools.cache
def _deserializer() -> TypeDeserializer:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def to_attribute(value: object) -> dict[str, Any]:
    """A JSON value as a DynamoDB attribute value (numbers as their exact decimal text)."""
    try:
        exact = json.loads(json.dumps(value, allow_nan=False), parse_float=Decimal)
    except TypeError as error:
        raise TypeError(f"cannot store {type(value).__name__} in DynamoDB: only plain JSON ({error})") from None
    except ValueError as error:  # NaN, an infinity, a circular reference
        raise ValueError(f"cannot store this value in DynamoDB: {error}") from None
    try:
        attribute: dict[str, Any] = _serializer().serialize(exact)
    except DecimalException:
        raise ValueError(
            "a number does not fit DynamoDB's: at most 38 significant digits, magnitude 1E-130 to 9.99E+125"
        ) from None
    return attribute


def to_item(record: Mapping[str, object]) -> dict[str, dict[str, Any]]:
    """A record of plain JSON values as a DynamoDB item (the inverse of :func:`item_from_image`)."""
    return {name: to_attribute(value) for name, value in record.items()}


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as plain JSON (the inverse of :func:`to_attribute`)."""
    return json.loads(json.dumps(_deserializer().deserialize(attribute), default=_plain_number))


def _plain_number(value: object) -> int | float:
    if not isinstance(value, Decimal):
        raise TypeError(f"DynamoDB {type(value).__name__} is not plain JSON")
    exponent = value.as_tuple().exponent
    return int(value) if exponent == 0 else float(value)


def item_from_image(image: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A record in DynamoDB JSON (an item, a stream image) as plain JSON."""
    plain: dict[str, Any] = from_attribute({"M": image})
    return plain


def string_of(item: Mapping[str, Any] | None, name: str) -> str | None:
    """The string attribute ``name`` of a record in DynamoDB JSON; None when there is no record or no such string."""
    value = item.get(name) if item is not None else None
    return str(value["S"]) if isinstance(value, Mapping) and "S" in value else None


def number_of(item: Mapping[str, Any] | None, name: str) -> int | None:
    """The integer attribute ``name`` of a record in DynamoDB JSON; None when there is no record or no such number."""
    value = item.get(name) if item is not None else None
    return int(value["N"]) if isinstance(value, Mapping) and "N" in value else None
