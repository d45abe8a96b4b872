"""Event validation (every malformed input names its field), future-skew rejection, and the total order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.shared import events
from functions.shared.errors import ValidationError
from functions.shared.events import (
    MAX_DATA_BYTES,
    MAX_TIMESTAMP,
    Event,
    order_token,
    parse_event,
    payload_hash,
    validate_key,
)

NOW = 1_700_000_000_000
SKEW = 300_000
VALID: dict[str, Any] = {"id": "item-1", "data": {"n": 1}, "timestamp": NOW, "idempotencyKey": "k-1"}


def parse(body: object) -> Event:
    return parse_event(body, now_ms=NOW, max_skew_ms=SKEW)


def with_(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


def without(name: str) -> dict[str, Any]:
    return {key: value for key, value in VALID.items() if key != name}


def test_a_valid_event_parses_from_text_bytes_or_a_mapping() -> None:
    expected = Event("item-1", {"n": 1}, NOW, "k-1", None)
    assert parse(json.dumps(VALID)) == expected
    assert parse(json.dumps(VALID).encode()) == expected
    assert parse(VALID) == expected
    assert parse(with_(expectedVersion=3, data="text")) == Event("item-1", "text", NOW, "k-1", 3)
    assert parse(with_(expectedVersion=None)).expected_version is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ("not json", "body", "must be a JSON object"),
        ("[1, 2]", "body", "must be a JSON object, got an array"),
        (b"\xff", "body", "must be UTF-8"),
        (42, "body", "got int"),
        (without("id"), "id", "is required"),
        (without("data"), "data", "is required"),
        (without("timestamp"), "timestamp", "is required"),
        (without("idempotencyKey"), "idempotencyKey", "is required"),
        (with_(extra=1), "extra", "unknown field"),
        (with_(idempotency_key="k"), "idempotency_key", "unknown field"),
        (with_(id=7), "id", "must be a string, got int"),
        (with_(id=""), "id", "must not be empty"),
        (with_(id="x" * 129), "id", "at most 128 characters, got 129"),
        (with_(id="a#b"), "id", "may contain only"),
        (with_(id="a/b"), "id", "may contain only"),
        (with_(id="-a"), "id", "must start with a letter or digit"),
        (with_(data=None), "data", "got null"),
        (with_(data=[1]), "data", "got an array"),
        (with_(data=""), "data", "must not be an empty string"),
        (with_(data="x" * (MAX_DATA_BYTES + 1)), "data", f"at most {MAX_DATA_BYTES} bytes"),
        (with_(data={"": 1}), "data", "keys must be non-empty"),
        (with_(data={"n": 10**38}), "data", "at most 38 digits"),
        (with_(data={"n": 1e200}), "data", "magnitude"),
        (with_(data={"n": 1e-200}), "data", "magnitude"),
        ('{"id": "a", "data": {"n": NaN}, "timestamp": 1, "idempotencyKey": "k"}', "body", "NaN is not JSON"),
        (with_(timestamp="1700000000000"), "timestamp", "must be an integer (epoch milliseconds), got a string"),
        (with_(timestamp=1.7e12), "timestamp", "got float"),
        (with_(timestamp=True), "timestamp", "got a boolean"),
        (with_(timestamp=-1), "timestamp", "must not be negative"),
        (with_(timestamp=MAX_TIMESTAMP + 1), "timestamp", "at most 16 digits"),
        (with_(timestamp=NOW + SKEW + 1), "timestamp", f"is {SKEW + 1} ms in the future; at most {SKEW} ms"),
        (with_(idempotencyKey=""), "idempotencyKey", "must not be empty"),
        (with_(idempotencyKey="k" * 129), "idempotencyKey", "at most 128"),
        (with_(idempotencyKey="k k"), "idempotencyKey", "may contain only"),
        (with_(idempotencyKey=["k"]), "idempotencyKey", "got an array"),
        (with_(expectedVersion="1"), "expectedVersion", "must be an integer, got a string"),
        (with_(expectedVersion=-1), "expectedVersion", "must not be negative"),
        (with_(expectedVersion=1.0), "expectedVersion", "got float"),
    ],
)
def test_every_malformed_input_names_its_field(body: object, field: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse(body)
    assert raised.value.field == field
    assert message in raised.value.message
    assert raised.value.as_dict() == {"error": "validation", "field": field, "message": raised.value.message}


def test_deep_data_is_refused_beyond_dynamodbs_nesting_limit() -> None:
    deep: dict[str, Any] = {"n": 1}
    for _ in range(32):
        deep = {"d": deep}
    with pytest.raises(ValidationError, match="nested at most 32 levels"):
        parse(with_(data=deep))
    assert parse(with_(data=deep["d"])).data == deep["d"]


def test_the_skew_limit_is_inclusive_and_past_timestamps_are_accepted() -> None:
    assert parse(with_(timestamp=NOW + SKEW)).timestamp == NOW + SKEW
    assert parse(with_(timestamp=0)).timestamp == 0
    with pytest.raises(ValidationError, match="1 ms in the future; at most 0 ms"):
        parse_event(with_(timestamp=NOW + 1), now_ms=NOW, max_skew_ms=0)


def test_the_payload_hash_covers_id_data_and_timestamp_but_not_key_order_or_expected_version() -> None:
    base = parse(with_(data={"a": 1, "b": [1, 2]}))
    assert parse(with_(data={"b": [1, 2], "a": 1}, idempotencyKey="other", expectedVersion=4)).payload_hash == base.payload_hash
    assert parse(with_(data={"a": 1, "b": [2, 1]})).payload_hash != base.payload_hash
    assert parse(with_(id="item-2", data={"a": 1, "b": [1, 2]})).payload_hash != base.payload_hash
    assert parse(with_(timestamp=NOW - 1, data={"a": 1, "b": [1, 2]})).payload_hash != base.payload_hash
    assert parse(with_(data='{"a":1}')).payload_hash != parse(with_(data={"a": 1})).payload_hash
    assert base.payload_hash == payload_hash("item-1", {"a": 1, "b": [1, 2]}, NOW)
    assert len(base.payload_hash) == 64


def test_an_event_hashes_its_payload_once_however_often_the_write_path_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[str] = []

    def counted(item_id: str, data: Any, timestamp: int) -> str:
        hashed.append(item_id)
        return payload_hash(item_id, data, timestamp)

    monkeypatch.setattr(events, "payload_hash", counted)
    ev = parse(VALID)
    tokens = {ev.order_token for _ in range(3)} | {ev.order_key[2] for _ in range(3)} | {ev.payload_hash}
    assert hashed == ["item-1"]
    assert tokens == {order_token(NOW, "k-1", payload_hash("item-1", {"n": 1}, NOW)), payload_hash("item-1", {"n": 1}, NOW)}


def test_the_wire_form_parses_back_to_the_same_event() -> None:
    ev = parse(with_(expectedVersion=2))
    assert parse(ev.as_body()) == ev
    assert "expectedVersion" not in parse(VALID).as_body()


def test_validate_key_is_what_the_api_checks_ids_with() -> None:
    assert validate_key("abc.DEF_1:2-3", "id") == "abc.DEF_1:2-3"
    with pytest.raises(ValidationError) as raised:
        validate_key("a b", "id")
    assert raised.value.field == "id"


keys = st.text(alphabet="AZaz09._:-", min_size=1, max_size=8).filter(lambda key: key[0].isalnum())
hashes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
order_keys = st.tuples(st.integers(min_value=0, max_value=MAX_TIMESTAMP), keys, hashes)


@settings(max_examples=500, deadline=None)
@given(order_keys, order_keys)
def test_the_order_token_sorts_exactly_like_the_order_key(a: tuple[int, str, str], b: tuple[int, str, str]) -> None:
    token_a, token_b = order_token(*a), order_token(*b)
    assert (token_a < token_b) == (a < b)
    assert (token_a == token_b) == (a == b)
    # DynamoDB compares strings by their UTF-8 bytes.
    assert (token_a.encode() < token_b.encode()) == (a < b)


def test_the_order_key_is_timestamp_then_key_then_payload_hash() -> None:
    ev = parse(VALID)
    assert ev.order_key == (NOW, "k-1", ev.payload_hash)
    assert ev.order_token == f"{NOW:016d}#k-1#{ev.payload_hash}"
    assert parse(with_(idempotencyKey="k-2")).order_key > ev.order_key
    assert parse(with_(timestamp=NOW + 1, idempotencyKey="a")).order_key > ev.order_key
