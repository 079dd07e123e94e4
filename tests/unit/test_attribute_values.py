"""The attribute-value codec writes what boto3's TypeSerializer writes and reads
what its TypeDeserializer reads (bytes for binary), without importing boto3."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from common.adapters.attribute_values import deserialize, serialize, to_attribute_value

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    10**37,
    Decimal("3.14"),
    Decimal("-0.000001"),
    Decimal("1E+10"),
    "",
    "acme.com",
    "ünïcödé ✉",
    b"\x00\x01zip",
    {"a", "b"},
    {1, 2, Decimal("2.5")},
    {b"x", b"y"},
    [],
    [1, "two", None, [True, {"k": Decimal("1.5")}]],
    {},
    {"at": "2026-01-01T00:00:00.000Z", "outcome": "sent", "error": None, "n": 3},
    ("a", 1),
]


def _ids(values: list[Any]) -> list[str]:
    """Ids that do not depend on a set's order or an object's address (pytest-xdist's
    workers must collect the same ids)."""
    return [f"{index}-{type(value).__name__}" for index, value in enumerate(values)]


def _normal(value: Any) -> Any:
    """Sets in a fixed order, so two serializations compare equal."""
    if isinstance(value, dict):
        return {key: sorted(member) if key in ("SS", "NS", "BS") else _normal(member) for key, member in value.items()}
    if isinstance(value, list):
        return [_normal(member) for member in value]
    return value


@pytest.mark.parametrize("value", VALUES, ids=_ids(VALUES))
def test_each_value_is_written_as_boto3_writes_it(value: Any) -> None:
    assert _normal(to_attribute_value(value)) == _normal(TypeSerializer().serialize(value))


@pytest.mark.parametrize("value", VALUES, ids=_ids(VALUES))
def test_each_value_reads_back_as_boto3_reads_it(value: Any) -> None:
    written = TypeSerializer().serialize(value)
    expected = TypeDeserializer().deserialize(written)
    ours = deserialize({"v": written})["v"]
    if isinstance(expected, Binary):
        expected = expected.value
    elif isinstance(expected, set) and expected and isinstance(next(iter(expected)), Binary):
        expected = {member.value for member in expected}
    assert ours == expected


REFUSED: list[Any] = [
    1.5,
    float("nan"),
    Decimal("Infinity"),
    Decimal("NaN"),
    Decimal("1." + "1" * 40),
    {1, "a"},
    object(),
    {1.5},
]


@pytest.mark.parametrize("value", REFUSED, ids=_ids(REFUSED))
def test_what_boto3_refuses_is_refused(value: Any) -> None:
    with pytest.raises(Exception) as boto3s:
        TypeSerializer().serialize(value)
    with pytest.raises(type(boto3s.value)):
        to_attribute_value(value)


def test_a_refusal_names_the_type_never_the_value() -> None:
    with pytest.raises(TypeError) as refused:
        to_attribute_value({"owner@acme.com", 7})
    assert "owner@acme.com" not in str(refused.value)
    assert "set" in str(refused.value)


def test_an_item_leaves_out_its_none_attributes() -> None:
    assert serialize({"pk": "job#1", "error": None, "attempts": 0}) == {"pk": {"S": "job#1"}, "attempts": {"N": "0"}}


def test_the_codec_does_not_import_boto3() -> None:
    code = "import sys, common.adapters.attribute_values; print('boto3' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
