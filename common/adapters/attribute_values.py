"""DynamoDB's attribute values to and from Python values, without boto3.

Reading is Powertools' ``TypeDeserializer`` (boto3's, with bytes for binary).
Writing is this module's ``to_attribute_value``: boto3's ``TypeSerializer``
lives in boto3's package, whose ``__init__`` imports s3transfer and with it
multiprocessing, which no function here uses (about a tenth of ``import boto3``
at every cold start; docs/adr/0033-cold-starts.md).
It writes what boto3's writes, value for value, and refuses what boto3's
refuses (``tests/unit/test_attribute_values.py`` holds them side by side).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.shared.dynamodb_deserializer import DYNAMODB_CONTEXT, TypeDeserializer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item = dict[str, "AttributeValueTypeDef"]

_deserializer = TypeDeserializer()


def _number(value: int | Decimal) -> str:
    """DynamoDB's number: 38 digits at most, exact (the context traps any rounding)."""
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def to_attribute_value(value: Any) -> AttributeValueTypeDef:
    """One Python value as DynamoDB's attribute value: ``None`` NULL, ``bool``
    BOOL, ``int``/``Decimal`` N, ``str`` S, ``bytes`` B, a set of one of those
    kinds NS/SS/BS, a list or tuple L, a mapping M. A ``float`` is refused, as
    boto3 refuses it (DynamoDB's numbers are exact decimals)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    if isinstance(value, int | Decimal):  # a bool was answered above
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        if all(isinstance(member, int | Decimal) for member in value):  # as boto3: a bool counts here
            return {"NS": [_number(member) for member in value]}
        if all(isinstance(member, str) for member in value):
            return {"SS": list(value)}
        if all(isinstance(member, bytes | bytearray) for member in value):
            return {"BS": [bytes(member) for member in value]}
    elif isinstance(value, list | tuple):
        return {"L": [to_attribute_value(member) for member in value]}
    elif isinstance(value, Mapping):
        return {"M": {key: to_attribute_value(member) for key, member in value.items()}}
    # The type only, never the value: it may be an address (boto3's message quotes it).
    raise TypeError(f"DynamoDB has no attribute value for a {type(value).__name__}")


def serialize(values: Mapping[str, Any]) -> Item:
    """An item's attributes, leaving out those that are ``None``."""
    return {key: to_attribute_value(value) for key, value in values.items() if value is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}
