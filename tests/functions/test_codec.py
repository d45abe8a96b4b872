"""The DynamoDB attribute codec on boto3's TypeSerializer / TypeDeserializer: the number rule, what is refused, and
that importing it does not import boto3."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from functions.shared.codec import from_attribute, item_from_image, to_attribute, to_item
from planning.harness import ROOT


@pytest.mark.parametrize(
    ("value", "attribute"),
    [
        (1, {"N": "1"}),
        (10**20, {"N": "100000000000000000000"}),
        (2.5, {"N": "2.5"}),
        (0.1, {"N": "0.1"}),  # the float's shortest text, not its binary expansion
        (1e20, {"N": "1E+20"}),
        (None, {"NULL": True}),
        (True, {"BOOL": True}),
        ("x", {"S": "x"}),
        ([1, "a"], {"L": [{"N": "1"}, {"S": "a"}]}),
        ({"k": {"n": 1.5}}, {"M": {"k": {"M": {"n": {"N": "1.5"}}}}}),
    ],
)
def test_json_values_become_dynamodb_attributes(value: Any, attribute: dict[str, Any]) -> None:
    assert to_attribute(value) == attribute


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ({"N": "7"}, 7),
        ({"N": "-0"}, 0),
        ({"N": "7.0"}, 7.0),
        ({"N": "1E+2"}, 100.0),
        ({"N": "0.25"}, 0.25),
    ],
)
def test_a_number_without_fraction_or_exponent_is_an_int_any_other_a_float(attribute: dict[str, Any], value: Any) -> None:
    read = from_attribute(attribute)
    assert (read, type(read)) == (value, type(value))


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", Decimal("1.5"), object()])
def test_values_that_are_not_plain_json_are_refused(value: Any) -> None:
    with pytest.raises(TypeError, match=r"cannot store .* in DynamoDB: only plain JSON"):
        to_attribute(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**40, 1e-200])
def test_numbers_dynamodb_cannot_hold_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="DynamoDB"):
        to_attribute(value)


@pytest.mark.parametrize("attribute", [{"SS": ["a"]}, {"NS": ["1"]}, {"B": b"x"}, {"BS": [b"x"]}])
def test_attributes_that_are_not_plain_json_are_refused(attribute: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="is not plain JSON"):
        from_attribute(attribute)


def test_an_item_goes_in_and_comes_back_whole() -> None:
    record = {"Id": "item-1", "Version": 3, "Data": {"n": [1, 2.5, None, True]}}
    assert item_from_image(to_item(record)) == record


def test_importing_the_codec_does_not_import_boto3() -> None:
    probe = "import sys, functions.shared.codec; print('boto3' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"
