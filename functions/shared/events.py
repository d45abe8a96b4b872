"""The write event of ARCHITECTURE §3 and its validation: ``{id, data, timestamp, idempotencyKey}`` (+ ``expectedVersion``).

An event is parsed once, at the edge (``POST /events``, an SQS record), into a frozen :class:`Event`; every malformed
input raises :class:`~functions.shared.errors.ValidationError` naming the field. :func:`order_token` is the event's
place in last-writer-wins, ``(timestamp, idempotencyKey, payloadHash)`` as one sortable string; why its string order
is the tuple order: ``docs/design/write-path.md``.

Example: ``parse_event('{"id": "item-1", "data": {"n": 1}, "timestamp": 1000, "idempotencyKey": "k-1"}',
now_ms=2000, max_skew_ms=300_000).order_key[:2] == (1000, "k-1")``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from functions.shared.errors import ValidationError

# Ids and idempotency keys: printable ASCII without '#' (the separator of the table's own records, e.g. STATE#...,
# IDEMPOTENCY#..., CONFLICT#..., and of the order token) and without '/' (ids appear in the API's paths).
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
MAX_ID_LENGTH = 128
MAX_IDEMPOTENCY_KEY_LENGTH = 128
# DynamoDB items are at most 400 KB; this leaves room for the other attributes and the order token.
MAX_DATA_BYTES = 256 * 1024
MAX_DATA_DEPTH = 32  # DynamoDB's nesting limit for maps and lists
# DynamoDB numbers: at most 38 significant digits, magnitude 1E-130 to below 1E+126.
MAX_NUMBER_DIGITS = 38
MIN_NUMBER_MAGNITUDE = 1e-130
MAX_NUMBER_MAGNITUDE = 1e126
# Timestamps are epoch milliseconds, at most 16 digits (year 2286 is 10**13; the width of the order token).
TIMESTAMP_DIGITS = 16
MAX_TIMESTAMP = 10**TIMESTAMP_DIGITS - 1
ORDER_SEPARATOR = "#"

FIELDS = ("id", "data", "timestamp", "idempotencyKey", "expectedVersion")
REQUIRED_FIELDS = ("id", "data", "timestamp", "idempotencyKey")

# An event put on the stack's event bus: EventBridge wraps it, ``detail`` is the event and ``detail-type`` says so; the
# region's rule matches this detail-type (and the project as ``source``) and sends the whole envelope to the queue.
EVENT_DETAIL_TYPE = "ItemWrite"
ENVELOPE_FIELDS = ("detail", "detail-type")
VIA_QUEUE, VIA_EVENTBRIDGE = "queue", "eventbridge"

EventData = dict[str, Any] | str


@dataclass(frozen=True)
class Event:
    """A validated write event.

    Parameters
    ----------
    id: the item's id.
    data: the item's new content (a JSON object, stored as a map, or a string).
    timestamp: client epoch milliseconds: the first component of the total order.
    idempotency_key: the client's key for this event: the same key again is the same event.
    expected_version: when set, the write applies only if the item's current Version equals it (0: it must not exist).
    """

    id: str
    data: EventData
    timestamp: int
    idempotency_key: str
    expected_version: int | None = None

    @cached_property
    def payload_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of id, data and timestamp: what "the same payload" means. Computed once
        per event: the write path reads it and the order token several times, and ``data`` may be 256 KB."""
        return payload_hash(self.id, self.data, self.timestamp)

    @property
    def order_key(self) -> tuple[int, str, str]:
        """The event's place in the total order of last-writer-wins."""
        return (self.timestamp, self.idempotency_key, self.payload_hash)

    @cached_property
    def order_token(self) -> str:
        """:attr:`order_key` as a string whose string order is the tuple order (what the table stores)."""
        return order_token(self.timestamp, self.idempotency_key, self.payload_hash)

    def as_body(self) -> dict[str, Any]:
        """The event in its wire form (camelCase keys), e.g. to enqueue it."""
        body: dict[str, Any] = {
            "id": self.id,
            "data": self.data,
            "timestamp": self.timestamp,
            "idempotencyKey": self.idempotency_key,
        }
        if self.expected_version is not None:
            body["expectedVersion"] = self.expected_version
        return body


def canonical_json(value: object) -> str:
    """Sorted keys, no whitespace, UTF-8 kept as is: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_hash(item_id: str, data: EventData, timestamp: int) -> str:
    document = canonical_json({"id": item_id, "data": data, "timestamp": timestamp})
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def order_token(timestamp: int, idempotency_key: str, payload_hash_hex: str) -> str:
    """The sortable string form of ``(timestamp, idempotency_key, payload_hash)``.

    Example:
        >>> order_token(1000, "k-1", "ab")
        '0000000000001000#k-1#ab'
    """
    return f"{timestamp:0{TIMESTAMP_DIGITS}d}{ORDER_SEPARATOR}{idempotency_key}{ORDER_SEPARATOR}{payload_hash_hex}"


def validate_key(value: object, field: str, max_length: int = MAX_ID_LENGTH) -> str:
    """An id or idempotency key: a string of 1..max_length characters from ``[A-Za-z0-9._:-]``, starting alphanumeric.

    The API validates the ``{id}`` of ``GET /items/{id}`` with this too.
    """
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {_type_name(value)}")
    if not value:
        raise ValidationError(field, "must not be empty")
    if len(value) > max_length:
        raise ValidationError(field, f"must be at most {max_length} characters, got {len(value)}")
    if not KEY_PATTERN.fullmatch(value):
        raise ValidationError(field, "may contain only letters, digits and . _ : - and must start with a letter or digit")
    return value


def parse_event(body: object, *, now_ms: int, max_skew_ms: int) -> Event:
    """Validate ``body`` (a JSON text or an already decoded mapping) into an :class:`Event`.

    Raises
    ------
    ValidationError
        Naming the first bad field: ``body`` (not a JSON object), ``id``, ``data``, ``timestamp``,
        ``idempotencyKey``, ``expectedVersion``, or an unknown field's own name.
    """
    document = _decode(body)
    for name in document:
        if name not in FIELDS:
            # The name as it came, but printable: a lone surrogate in it is shown as its escape.
            shown = str(name).encode("utf-8", "backslashreplace").decode("utf-8")
            raise ValidationError(shown, f"unknown field; allowed: {', '.join(FIELDS)}")
    for name in REQUIRED_FIELDS:
        if name not in document:
            raise ValidationError(name, "is required")
    item_id = validate_key(document["id"], "id", MAX_ID_LENGTH)
    data = _data(document["data"])
    timestamp = _timestamp(document["timestamp"], now_ms=now_ms, max_skew_ms=max_skew_ms)
    idempotency_key = validate_key(document["idempotencyKey"], "idempotencyKey", MAX_IDEMPOTENCY_KEY_LENGTH)
    expected_version = _expected_version(document.get("expectedVersion"))
    return Event(item_id, data, timestamp, idempotency_key, expected_version)


@dataclass(frozen=True)
class Delivery:
    """An event as a queue delivered it: ``via`` is ``queue`` (the event itself was the message) or ``eventbridge``
    (the message was EventBridge's envelope of it, from this region's bus: put there, or replicated by the global
    endpoint)."""

    event: Event
    via: str


def parse_message(body: object, *, now_ms: int, max_skew_ms: int) -> Delivery:
    """An SQS message body in either form: the event itself, or EventBridge's envelope (an object with ``detail`` or
    ``detail-type``) whose ``detail`` is the event.

    Raises
    ------
    ValidationError
        ``detail-type`` other than ``ItemWrite``, ``detail`` missing or not an object, or a bad field of the event,
        named ``detail.<field>`` when it came in an envelope.
    """
    document = _decode(body)
    if not any(name in document for name in ENVELOPE_FIELDS):
        return Delivery(parse_event(document, now_ms=now_ms, max_skew_ms=max_skew_ms), VIA_QUEUE)
    detail_type = document.get("detail-type")
    if detail_type != EVENT_DETAIL_TYPE:
        raise ValidationError("detail-type", f"must be {EVENT_DETAIL_TYPE!r} in an EventBridge envelope, got {detail_type!r}")
    if "detail" not in document:
        raise ValidationError("detail", "is required in an EventBridge envelope (the event)")
    detail = document["detail"]
    if not isinstance(detail, Mapping):
        raise ValidationError("detail", f"must be a JSON object (the event), got {_type_name(detail)}")
    try:
        event = parse_event(detail, now_ms=now_ms, max_skew_ms=max_skew_ms)
    except ValidationError as error:
        raise ValidationError(f"detail.{error.field}", error.message) from None
    return Delivery(event, VIA_EVENTBRIDGE)


def _decode(body: object) -> Mapping[str, Any]:
    if isinstance(body, bytes | bytearray):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("body", "must be UTF-8 text") from None
    if isinstance(body, str):
        text = body
        try:
            body = json.loads(text, parse_constant=_refuse_constant)
        except ValueError as error:
            raise ValidationError("body", f"must be a JSON object ({error})") from None
        except RecursionError:
            # Nested deeper than the parser goes (about a thousand levels): only ``data`` may nest at all.
            field = "data" if text.lstrip().startswith("{") else "body"
            raise ValidationError(field, f"must be nested at most {MAX_DATA_DEPTH} levels deep") from None
    if not isinstance(body, Mapping):
        raise ValidationError("body", f"must be a JSON object, got {_type_name(body)}")
    return body


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _data(value: object) -> EventData:
    if isinstance(value, str):
        if not value:
            raise ValidationError("data", "must not be an empty string")
        _check_text(value)
        encoded = value
    elif isinstance(value, Mapping):
        _check_json_value(value, depth=1)
        encoded = canonical_json(value)
    else:
        raise ValidationError("data", f"must be a JSON object or a string, got {_type_name(value)}")
    size = len(encoded.encode("utf-8"))
    if size > MAX_DATA_BYTES:
        raise ValidationError("data", f"must be at most {MAX_DATA_BYTES} bytes as JSON, got {size}")
    return dict(value) if isinstance(value, Mapping) else value


def _check_json_value(value: object, depth: int) -> None:
    """Plain JSON (objects with string keys, arrays, strings, finite numbers, booleans, null); objects and arrays
    nested at most 32 levels deep (``depth`` is the level of ``value`` if it is one)."""
    if isinstance(value, Mapping | list):
        _check_json_container(value, depth)
    else:
        _check_json_scalar(value)


def _check_json_container(value: Mapping[Any, object] | list[object], depth: int) -> None:
    if depth > MAX_DATA_DEPTH:
        raise ValidationError("data", f"must be nested at most {MAX_DATA_DEPTH} levels deep")
    if isinstance(value, Mapping):
        for key, child in value.items():
            if not isinstance(key, str) or not key:
                raise ValidationError("data", "object keys must be non-empty strings")
            _check_text(key)
            _check_json_value(child, depth + 1)
    else:
        for child in value:
            _check_json_value(child, depth + 1)


def _check_json_scalar(value: object) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) >= 10**MAX_NUMBER_DIGITS:
            raise ValidationError("data", f"integers must have at most {MAX_NUMBER_DIGITS} digits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError("data", "numbers must be finite")
        if value != 0 and not MIN_NUMBER_MAGNITUDE <= abs(value) < MAX_NUMBER_MAGNITUDE:
            raise ValidationError(
                "data", f"numbers must be 0 or of magnitude {MIN_NUMBER_MAGNITUDE:g} to below {MAX_NUMBER_MAGNITUDE:g}"
            )
    elif isinstance(value, str):
        _check_text(value)
    else:
        raise ValidationError("data", f"must be plain JSON, found {_type_name(value)}")


def _check_text(value: str) -> None:
    """Strings must be Unicode that UTF-8 can carry: JSON's ``\\ud800`` escapes can produce lone surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("data", "strings must be valid Unicode (a lone surrogate such as \\ud800 is not)") from None


def _timestamp(value: object, *, now_ms: int, max_skew_ms: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("timestamp", f"must be an integer (epoch milliseconds), got {_type_name(value)}")
    if value < 0:
        raise ValidationError("timestamp", f"must not be negative, got {value}")
    if value > MAX_TIMESTAMP:
        raise ValidationError("timestamp", f"must have at most {TIMESTAMP_DIGITS} digits (epoch milliseconds)")
    if value > now_ms + max_skew_ms:
        raise ValidationError(
            "timestamp", f"is {value - now_ms} ms in the future; at most {max_skew_ms} ms of clock skew is accepted"
        )
    return value


def _expected_version(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("expectedVersion", f"must be an integer, got {_type_name(value)}")
    if value < 0:
        raise ValidationError("expectedVersion", f"must not be negative, got {value}")
    if value >= 10**MAX_NUMBER_DIGITS:
        raise ValidationError("expectedVersion", f"must have at most {MAX_NUMBER_DIGITS} digits (a DynamoDB number)")
    return value


def _type_name(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )
