"""The handlers' DynamoDB attribute codec (adapters/dynamo_types.py, no boto3) gives what boto3's
TypeSerializer/TypeDeserializer give, values and refusals alike (boto3 is a dev dependency)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from runplane.adapters.dynamo_types import deserialize_value, serialize_value

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -5,
    10**20,
    Decimal("1.50"),
    Decimal("1e5"),
    "x",
    "",
    {"a": [1, "b", {"c": None, "d": True}]},
    [],
    {},
    {"a", "b"},
    {1, 2},
    (1, 2),
    12345678901234567890123456789012345678,
]


@pytest.mark.parametrize("value", VALUES, ids=[f"{i}-{type(v).__name__}" for i, v in enumerate(VALUES)])
def test_as_boto3(value: Any) -> None:
    ours = serialize_value(value)
    assert ours == TypeSerializer().serialize(value)
    assert deserialize_value(ours) == TypeDeserializer().deserialize(ours)


def test_bytes_round_trip_as_bytes() -> None:
    assert serialize_value(b"\x00\xff") == {"B": b"\x00\xff"}
    assert deserialize_value({"B": b"\x00\xff"}) == b"\x00\xff"  # boto3 gives a Binary wrapper
    assert serialize_value({b"x"}) == {"BS": [b"x"]}


@pytest.mark.parametrize(
    "value",
    [1.5, Decimal("NaN"), Decimal("Infinity"), object(), 10**40],
    ids=["float", "nan", "infinity", "object", "41-digits"],  # stable ids: pytest-xdist compares them
)
def test_refused_as_boto3(value: Any) -> None:
    with pytest.raises(Exception) as boto3_refusal:
        TypeSerializer().serialize(value)
    with pytest.raises(type(boto3_refusal.value)):
        serialize_value(value)
