"""Result schemas: checking them, validating results against them, and sampling conforming values.

``jsonschema`` (with ``referencing`` and ``attrs``, ~0.5x a bare ``import boto3``) is imported by the
first call that checks or validates, not with this module: most requests and agent turns have no
schema to check.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest

MAX_SCHEMA_ERRORS = 5


# Keywords whose subschemas apply to the instance itself (a cycle through only these never ends)
# and keywords whose subschemas apply to parts of it (properties, items, ...).
_SAME_INSTANCE_ONE = ("not", "if", "then", "else")
_SAME_INSTANCE_MANY = ("allOf", "anyOf", "oneOf")
_SAME_INSTANCE_MAP = ("dependentSchemas", "dependencies")
_PART_ONE = (
    "additionalProperties",
    "additionalItems",
    "items",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
_PART_MANY = ("prefixItems", "items")
_PART_MAP = ("properties", "patternProperties", "$defs", "definitions")
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def check_schema(schema: dict[str, Any], field: str = "resultSchema") -> None:
    """Compile ``schema`` as a run would use it; raise InvalidRequest naming the problem.

    Beyond the meta-schema: every ``$ref`` must resolve inside the schema (remote and file references
    are never fetched), and no chain of ``$ref``/``allOf``/... may lead back to the same subschema
    without descending into a property or item (validation would recurse forever).
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        at = f" at '{where}'" if where else ""
        raise InvalidRequest(f"not a valid JSON Schema{at}: {exc.message}", field=field) from None
    except RecursionError:
        raise InvalidRequest("the schema is nested too deeply", field=field) from None
    problem = _reference_problem(schema)
    if problem:
        raise InvalidRequest(problem, field=field)


def _reference_problem(schema: dict[str, Any]) -> str | None:
    """The first unresolvable, non-local or endlessly recursive reference, in words; None if all is well."""
    from referencing import Registry
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012, specification_with

    asked: list[str] = []

    def refuse(uri: str) -> Any:
        asked.append(uri)
        raise LookupError(uri)  # referencing reports it as Unresolvable

    spec = specification_with(str(schema.get("$schema", "")), default=DRAFT202012)
    root = spec.create_resource(schema)
    resolver = Registry(retrieve=refuse).with_resource(root.id() or "", root).resolver(base_uri=root.id() or "")
    # Edges between subschemas that apply to the same instance, keyed by id() of the schema object.
    same: dict[int, list[tuple[int, str]]] = {}
    nodes: dict[int, Any] = {}
    queue: list[tuple[Any, Any, str]] = [(schema, resolver, "#")]
    while queue:
        node, res, where = queue.pop()
        if not isinstance(node, dict) or id(node) in nodes:
            continue
        nodes[id(node)] = node
        if "$id" in node and node is not schema and isinstance(node.get("$id"), str):
            res = res.in_subresource(spec.create_resource(node))
        edges = same.setdefault(id(node), [])
        for keyword in _REF_KEYWORDS:
            ref = node.get(keyword)
            if not isinstance(ref, str):
                continue
            asked.clear()
            try:
                resolved = res.lookup(ref)
            except Unresolvable:
                if asked:
                    return (
                        f"the {keyword} '{ref}' at '{where}' points outside the schema ({asked[0]}): remote and "
                        "file references are not fetched; put the definition under $defs and use '#/$defs/...'"
                    )
                return f"the {keyword} '{ref}' at '{where}' cannot be resolved: nothing in the schema has that address"
            if not isinstance(resolved.contents, dict | bool):
                return f"the {keyword} '{ref}' at '{where}' does not point to a schema"
            if isinstance(resolved.contents, dict):
                edges.append((id(resolved.contents), f"{where}/{keyword}"))
                queue.append((resolved.contents, resolved.resolver, ref))
        for keyword in _SAME_INSTANCE_ONE:
            sub = node.get(keyword)
            if isinstance(sub, dict):
                edges.append((id(sub), f"{where}/{keyword}"))
                queue.append((sub, res, f"{where}/{keyword}"))
        for keyword in _SAME_INSTANCE_MANY:
            for i, sub in enumerate(node.get(keyword) or []):
                if isinstance(sub, dict):
                    edges.append((id(sub), f"{where}/{keyword}/{i}"))
                    queue.append((sub, res, f"{where}/{keyword}/{i}"))
        for keyword in _SAME_INSTANCE_MAP:
            group = node.get(keyword)
            for name, sub in group.items() if isinstance(group, dict) else ():
                if isinstance(sub, dict):
                    edges.append((id(sub), f"{where}/{keyword}/{name}"))
                    queue.append((sub, res, f"{where}/{keyword}/{name}"))
        for keyword in _PART_ONE:
            sub = node.get(keyword)
            if isinstance(sub, dict):
                queue.append((sub, res, f"{where}/{keyword}"))
        for keyword in _PART_MANY:
            sub = node.get(keyword)
            for i, part in enumerate(sub if isinstance(sub, list) else ()):
                queue.append((part, res, f"{where}/{keyword}/{i}"))
        for keyword in _PART_MAP:
            group = node.get(keyword)
            for name, sub in group.items() if isinstance(group, dict) else ():
                queue.append((sub, res, f"{where}/{keyword}/{name}"))
    return _cycle(same)


def _cycle(edges: dict[int, list[tuple[int, str]]]) -> str | None:
    """A cycle in the same-instance graph, in words (iterative depth-first search)."""
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    for start in edges:
        if state.get(start):
            continue
        state[start] = 1
        stack: list[tuple[int, int]] = [(start, 0)]
        while stack:
            node, i = stack[-1]
            out = edges.get(node, [])
            if i >= len(out):
                state[node] = 2
                stack.pop()
                continue
            stack[-1] = (node, i + 1)
            target, where = out[i]
            if state.get(target) == 1:
                return (
                    f"'{where}' leads back to a schema it is part of without descending into a property or "
                    "item: validating any value would recurse forever"
                )
            if not state.get(target):
                state[target] = 1
                stack.append((target, 0))
    return None


def validation_errors(schema: dict[str, Any], value: Any) -> list[str]:
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    cls = validator_for(schema, default=Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    try:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except RecursionError:  # a schema stored before references were checked at create
        return ["(root): the value is nested too deeply to validate against the schema"]
    except Exception as exc:  # referencing.exceptions.Unresolvable and kin: never fail the run
        return [f"(root): the schema cannot be applied ({type(exc).__name__})"]
    out = []
    for err in errors[:MAX_SCHEMA_ERRORS]:
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(f"{where}: {err.message}")
    return out


def sample_instance(schema: dict[str, Any]) -> Any:
    """A small value that conforms to ``schema``, the same for the same schema.

    Raises ValueError for schemas it cannot satisfy (contradictions, exotic keywords).
    """
    candidate = _walk(schema, schema, depth=0)
    problems = validation_errors(schema, candidate)
    if problems:
        raise ValueError(f"could not build a conforming sample: {'; '.join(problems)}")
    return candidate


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
    if schema.get("examples"):
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
            value = _walk(items, root, depth + 1)
            if schema.get("uniqueItems") and value in values:
                value = _variant(value, len(values))
            values.append(value)
        return values
    if typ == "string":
        fmt = schema.get("format")
        value = {
            "date-time": "2026-01-01T00:00:00Z",
            "date": "2026-01-01",
            "time": "00:00:00Z",
            "email": "agent@example.com",
            "uri": "https://example.com",
            "uuid": "00000000-0000-4000-8000-000000000000",
        }.get(fmt or "", "example")
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        if len(value) < lo:
            value = value + "x" * (lo - len(value))
        if hi is not None and len(value) > hi:
            value = value[:hi]
        if "pattern" in schema:
            value = _from_pattern(schema["pattern"])
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


def _variant(value: Any, n: int) -> Any:
    if isinstance(value, bool) or value is None:
        raise ValueError("cannot make distinct items")
    if isinstance(value, int | float):
        return value + n
    if isinstance(value, str):
        return f"{value}{n}"
    raise ValueError("cannot make distinct items")


def _from_pattern(pattern: str) -> str:
    """The shortest string the regular expression matches, for the common constructs."""
    import re
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    category = {
        c.CATEGORY_DIGIT: "0",
        c.CATEGORY_WORD: "a",
        c.CATEGORY_SPACE: " ",
        c.CATEGORY_NOT_DIGIT: "a",
        c.CATEGORY_NOT_WORD: "-",
        c.CATEGORY_NOT_SPACE: "a",
    }

    def emit(items: Any) -> str:
        out = []
        for op, arg in items:
            if op is c.LITERAL:
                out.append(chr(arg))
            elif op is c.NOT_LITERAL:
                out.append("a" if chr(arg) != "a" else "b")
            elif op is c.ANY:
                out.append("a")
            elif op is c.IN:
                out.append(first_in(arg))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                low, _high, sub = arg
                out.append(emit(sub) * low)
            elif op in (c.SUBPATTERN, c.ATOMIC_GROUP):
                out.append(emit(arg[-1] if op is c.SUBPATTERN else arg))
            elif op is c.BRANCH:
                out.append(emit(arg[1][0]))
            elif op is c.CATEGORY:
                out.append(category.get(arg, "a"))
            elif op is c.AT:
                continue
            else:
                raise ValueError(f"unsupported regular expression construct {op}")
        return "".join(out)

    def first_in(items: Any) -> str:
        if items and items[0][0] is c.NEGATE:
            excluded = {chr(a) for op, a in items[1:] if op is c.LITERAL}
            return next(ch for ch in "abcxyz0123" if ch not in excluded)
        op, arg = items[0]
        if op is c.LITERAL:
            return chr(arg)
        if op is c.RANGE:
            return chr(arg[0])
        if op is c.CATEGORY:
            return category.get(arg, "a")
        raise ValueError("unsupported character set")

    value = emit(_parser.parse(pattern))
    if not re.search(pattern, value):
        raise ValueError(f"could not build a string matching {pattern!r}")
    return value
