"""Result schemas: checking them, validating results against them, and sampling conforming values."""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from ..errors import InvalidRequest

MAX_SCHEMA_ERRORS = 5


def check_schema(schema: dict[str, Any]) -> None:
    """Raise InvalidRequest naming the problem if ``schema`` is not a valid JSON Schema."""
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        at = f" at '{where}'" if where else ""
        raise InvalidRequest(f"not a valid JSON Schema{at}: {exc.message}", field="resultSchema") from None


def validation_errors(schema: dict[str, Any], value: Any) -> list[str]:
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    out = []
    for err in errors[:MAX_SCHEMA_ERRORS]:
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(f"{where}: {err.message}")
    return out


def sample_instance(schema: dict[str, Any]) -> Any:
    """A small value that conforms to ``schema``, deterministic for a given schema.

    A hand-written walk covers the common keywords; anything it gets wrong falls back to
    hypothesis-jsonschema's search for a minimal example (installed with local mode).
    """
    try:
        candidate = _walk(schema, schema, depth=0)
    except Exception:
        candidate = _Unset
    if candidate is not _Unset and not validation_errors(schema, candidate):
        return candidate
    return _search(schema)


class _UnsetType:
    pass


_Unset = _UnsetType()


def _search(schema: dict[str, Any]) -> Any:
    from hypothesis import HealthCheck, find, settings
    from hypothesis_jsonschema import from_schema

    return find(
        from_schema(schema),
        lambda _: True,
        settings=settings(database=None, max_examples=200, suppress_health_check=list(HealthCheck)),
    )


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#"):
        raise ValueError("only local $ref")
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _walk(schema: Any, root: dict[str, Any], depth: int) -> Any:
    if depth > 12:
        raise ValueError("too deep")
    if schema is True or schema == {}:
        return {}
    if not isinstance(schema, dict):
        raise ValueError("unsupported")
    if "$ref" in schema:
        return _walk(_resolve(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    if "examples" in schema and schema["examples"]:
        return schema["examples"][0]
    for key in ("allOf",):
        if key in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != key}
            for part in schema[key]:
                part = _resolve(part["$ref"], root) if isinstance(part, dict) and "$ref" in part else part
                for k, v in part.items():
                    if k == "properties":
                        merged.setdefault("properties", {}).update(v)
                    elif k == "required":
                        merged["required"] = sorted(set(merged.get("required", [])) | set(v))
                    else:
                        merged.setdefault(k, v)
            return _walk(merged, root, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _walk(schema[key][0], root, depth + 1)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), typ[0])
    if typ is None:
        typ = "object" if "properties" in schema else "string" if "minLength" in schema else "object"
    if typ == "object":
        props = schema.get("properties", {})
        out = {}
        for name in schema.get("required", []):
            out[name] = _walk(props.get(name, {"type": "string"}), root, depth + 1)
        for _ in range(max(0, schema.get("minProperties", 0) - len(out))):
            extra = next((p for p in props if p not in out), None)
            if extra is None:
                raise ValueError("minProperties")
            out[extra] = _walk(props[extra], root, depth + 1)
        return out
    if typ == "array":
        items = schema.get("items", {})
        count = schema.get("minItems", 0)
        prefix = schema.get("prefixItems", [])
        values = [_walk(p, root, depth + 1) for p in prefix]
        while len(values) < count:
            values.append(_walk(items, root, depth + 1))
        if schema.get("uniqueItems") and len(values) > 1:
            raise ValueError("uniqueItems")
        return values
    if typ == "string":
        fmt = schema.get("format")
        value = {
            "date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01", "time": "00:00:00Z",
            "email": "agent@example.com", "uri": "https://example.com", "uuid": "00000000-0000-4000-8000-000000000000",
        }.get(fmt or "", "example")
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        if len(value) < lo:
            value = value + "x" * (lo - len(value))
        if hi is not None and len(value) > hi:
            value = value[:hi]
        if "pattern" in schema:
            raise ValueError("pattern")
        return value
    if typ in ("integer", "number"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum", None))
        value: float = 0
        if lo is not None:
            value = lo + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        hi = schema.get("maximum")
        if hi is not None and value > hi:
            value = hi
        if typ == "integer":
            value = int(value)
        return value
    if typ == "boolean":
        return True
    if typ == "null":
        return None
    raise ValueError(f"unsupported type {typ}")
