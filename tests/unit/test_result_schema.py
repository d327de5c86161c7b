from __future__ import annotations

from typing import Any

import pytest

from runplane.errors import InvalidRequest
from runplane.logic.agent import final_tool
from runplane.logic.result import check_schema, sample_instance, validation_errors

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object"},
    {"type": "object", "properties": {"a": {"type": "string", "minLength": 20}}, "required": ["a"]},
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 9}}, "required": ["n"]},
    {"type": "object", "properties": {"n": {"type": "number", "exclusiveMinimum": 0}}, "required": ["n"]},
    {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 3}},
        "required": ["tags"],
    },
    {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"}},
        "required": ["code"],
    },
    {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "mail": {"type": "string", "format": "email"},
        },
        "required": ["when", "mail"],
    },
    {"type": "object", "properties": {"v": {"oneOf": [{"type": "integer"}, {"type": "string"}]}}, "required": ["v"]},
    {
        "type": "object",
        "properties": {"x": {"$ref": "#/$defs/x"}},
        "required": ["x"],
        "$defs": {"x": {"type": "object", "properties": {"y": {"const": 3}}, "required": ["y"]}},
    },
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"]},
            {"properties": {"b": {"type": "null"}}, "required": ["b"]},
        ]
    },
    {"type": "array", "items": {"type": "integer"}, "minItems": 2, "uniqueItems": True},
    {"type": "string", "enum": ["red", "green"]},
    {
        "type": "object",
        "properties": {"k": {"type": ["null", "string"]}},
        "required": ["k"],
        "additionalProperties": False,
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_samples_conform(schema: dict[str, Any]) -> None:
    value = sample_instance(schema)
    assert validation_errors(schema, value) == []
    assert sample_instance(schema) == value  # deterministic


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_final_tool_accepts_what_the_schema_accepts(schema: dict[str, Any]) -> None:
    tool = final_tool(schema)
    sample = sample_instance(tool["input_schema"])
    assert validation_errors(schema, sample["result"]) == []
    assert tool["input_schema"]["type"] == "object"
    assert tool["input_schema"]["required"] == ["result", "summary"]


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "strng"}, "not valid under any of the given schemas"),
        ({"properties": {"a": {"minLength": -1}}}, "at 'properties/a/minLength'"),
        ({"required": "a"}, "is not of type 'array'"),
    ],
)
def test_invalid_schemas_are_named(schema: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        check_schema(schema)
    assert err.value.field == "resultSchema"
    assert words in str(err.value)


def test_validation_errors_name_the_path() -> None:
    schema = SCHEMAS[4]
    errors = validation_errors(schema, {"tags": ["a", 1]})
    assert any(e.startswith("tags/1:") for e in errors)
    assert any("too short" in e for e in errors)
