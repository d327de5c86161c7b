"""DynamoDB attribute values ⇄ Python values, without boto3.

Deserializing is Powertools' ``TypeDeserializer`` (a copy of boto3's that needs no boto3). Serializing
follows boto3's ``TypeSerializer`` for the types runplane stores: ``import boto3.dynamodb.types``
imports boto3 itself (and s3transfer), which no handler otherwise needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import DYNAMODB_CONTEXT, TypeDeserializer

_deserializer = TypeDeserializer()


def deserialize_value(value: dict[str, Any]) -> Any:
    """``{"N": "1"}`` → ``Decimal(1)``, ``{"M": {...}}`` → dict, and so on (as boto3's)."""
    return _deserializer.deserialize(value)


def serialize_value(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value, as boto3's ``TypeSerializer`` makes it: ``None``,
    bool, int, Decimal, str, bytes, sets of numbers, strings or bytes, lists/tuples and mappings.
    floats are refused (as boto3 does): a number's exact decimal form is the caller's to choose."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): serialize_value(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize_value(v) for v in value]}
    if isinstance(value, Set) and value:
        items = list(value)
        if all(isinstance(v, str) for v in items):
            return {"SS": items}
        if all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in items):
            return {"NS": [_number(v) for v in items]}
        if all(isinstance(v, bytes | bytearray) for v in items):
            return {"BS": [bytes(v) for v in items]}
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    raise TypeError(f"Unsupported type {type(value).__name__!r} for value {value!r}")


def _number(value: int | Decimal) -> str:
    number = DYNAMODB_CONTEXT.create_decimal(value)
    if number.is_nan() or number.is_infinite():
        raise TypeError("Infinity and NaN not supported")
    return str(number)
