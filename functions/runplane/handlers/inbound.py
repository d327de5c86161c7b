"""What the API accepts as a request body, checked before any route sees it.

API Gateway hands the Lambda a body as text, or as base64 when it is not text (``isBase64Encoded``:
binary media types, and local mode's adapter for bytes that are not UTF-8). Python's ``json`` is
lenient where runplane must not be: it accepts ``NaN``/``Infinity`` (which would later be stored as
``null`` or break serialization), lone UTF-16 surrogates (``"\\ud800"``: not Unicode, they break
every later encode, e.g. the http calls of a run) and nesting deep enough to raise RecursionError.

Rules (documented in docs/api.md):
- a body must be UTF-8 JSON; ``Content-Type`` ``application/json`` (or ``application/*+json``), or
  none at all (some clients, e.g. the ACP SDK, send JSON without one); anything else is a 415;
- no NaN, Infinity or integers longer than ``MAX_INT_DIGITS``; no lone surrogates in strings or
  keys (also in query parameters); objects and arrays nest at most ``MAX_DEPTH`` levels;
- a refusal is a 400 (415 for the content type) naming the field and the problem.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

MAX_DEPTH = 64
MAX_INT_DIGITS = 1000
_SURROGATE = re.compile("[\ud800-\udfff]")


class Refused(Exception):
    def __init__(self, status: int, field: str, problem: str) -> None:
        super().__init__(problem)
        self.status = status
        self.field = field
        self.problem = problem


class _NotANumber:
    """Stands for a literal the parser met that is not a JSON number, until its field is known."""

    def __init__(self, text: str) -> None:
        self.text = text


def _constant(text: str) -> _NotANumber:
    return _NotANumber(text)


def _float(text: str) -> float | _NotANumber:
    value = float(text)
    return value if value not in (float("inf"), float("-inf")) else _NotANumber(text)


def _int(text: str) -> int | _NotANumber:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else _NotANumber(text)


def header(event: dict[str, Any], name: str) -> str | None:
    name = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name and value is not None:
            return str(value)
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if key.lower() == name and values:
            return str(values[-1])
    return None


def _field(path: list[str | int]) -> str:
    return ".".join(str(p) for p in path) or "body"


def parse_json(text: str) -> Any:
    """Parse a request body strictly; Refused (400) names the first offending field."""
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        raise Refused(400, _deep_field(text), f"nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise Refused(400, "body", f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:
        raise Refused(400, "body", f"not valid JSON ({exc})") from None
    check_value(value)
    return value


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _deep_field(text: str) -> str:
    """The top-level field under which ``text`` nests deeper than MAX_DEPTH (a scan, no recursion)."""
    depth, key = 0, None
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return key if key is not None else "body"
        elif token in "]}":
            depth -= 1
        elif depth == 1:
            try:
                key = json.loads(token)
            except ValueError:
                key = None
    return "body"


def check_value(value: Any, path: list[str | int] | None = None) -> None:
    """Refuse non-numbers, lone surrogates and nesting deeper than MAX_DEPTH (iteratively)."""
    stack: list[tuple[Any, list[str | int], int]] = [(value, list(path or []), 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= MAX_DEPTH:
                raise Refused(400, _field(where[:1]), f"nested more than {MAX_DEPTH} levels deep")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str) and _SURROGATE.search(key):
                    raise Refused(400, _field(where), f"the key {key!r} contains a lone UTF-16 surrogate")
                stack.append((child, [*where, key], depth + 1))
        elif isinstance(node, str):
            if _SURROGATE.search(node):
                raise Refused(400, _field(where), "contains a lone UTF-16 surrogate (e.g. \\ud800): not valid Unicode")
        elif isinstance(node, _NotANumber):
            problem = (
                f"an integer of more than {MAX_INT_DIGITS} digits"
                if node.text.lstrip("-").isdigit()
                else f"{node.text} is not a JSON number (JSON has no NaN or Infinity)"
            )
            raise Refused(400, _field(where), problem)


def _media_type(content_type: str) -> tuple[str, str | None]:
    parts = [p.strip() for p in content_type.split(";")]
    charset = None
    for param in parts[1:]:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip('"').lower()
    return parts[0].lower(), charset


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _set_json_content_type(event: dict[str, Any]) -> None:
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
    headers["content-type"] = "application/json"
    multi["content-type"] = ["application/json"]
    event["headers"], event["multiValueHeaders"] = headers, multi


def body_text(event: dict[str, Any]) -> str:
    """The body as text: base64 (``isBase64Encoded``) decoded, strictly UTF-8; Refused (400) if not."""
    raw = event.get("body")
    if raw is None or raw == "":
        return ""
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(str(raw), validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "body", "the body is marked base64 but is not valid base64") from None
    else:
        data = str(raw).encode("utf-8", errors="surrogatepass")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, "body", f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start})") from None


def normalize(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its body checked and as UTF-8 JSON text (``isBase64Encoded`` false), or Refused."""
    for source in ("queryStringParameters", "pathParameters"):
        for key, value in (event.get(source) or {}).items():
            if _SURROGATE.search(str(key)) or (isinstance(value, str) and _SURROGATE.search(value)):
                raise Refused(400, str(key), "contains a lone UTF-16 surrogate: not valid Unicode")
    if event.get("body") is None or event.get("body") == "":
        return event
    content_type = header(event, "content-type")
    if content_type is not None and content_type.strip():
        media_type, charset = _media_type(content_type)
        if not _is_json(media_type):
            raise Refused(415, "content-type", f"'{media_type}' is not JSON: send the body as application/json")
        if charset not in (None, "utf-8", "utf8"):
            raise Refused(415, "content-type", f"charset '{charset}' is not supported: send UTF-8")
    text = body_text(event)
    if text.strip():
        parse_json(text)
    event = {**event, "body": text, "isBase64Encoded": False}
    _set_json_content_type(event)
    return event
