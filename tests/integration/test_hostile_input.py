"""Hostile input through the real API handler: each case → the expected 4xx, naming the field.

Bodies are sent as API Gateway sends them: text, or base64 with ``isBase64Encoded`` (binary, and
local mode's adapter for bytes that are not UTF-8)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest

ACP_HEADERS = {"user-agent": "acp-sdk"}  # a JSON body with no content type at all


@dataclass
class Case:
    name: str
    method: str
    path: str  # {c}: the cluster, {r}: a run of it
    body: str | None = None
    status: int = 400
    field: str | None = None  # the first error's field
    words: str = ""  # in the first error's problem (or the message)
    headers: dict[str, str] | None = None
    query: dict[str, str] | None = None
    is_base64: bool = False
    allow: str | None = None


def run_body(**extra: Any) -> str:
    return json.dumps({"initialPrompt": "Hello", **extra})


def nested(depth: int, leaf: str = "1") -> str:
    return '{"a":' * depth + leaf + "}" * depth


RUNS = "/clusters/{c}/runs"
BIG_SCHEMA = {"type": "object", "description": "x" * 500_000}

CASES = [
    # -- nesting -------------------------------------------------------------------------------
    Case("deep-array-100k", "POST", RUNS, "[" * 100_000 + "]" * 100_000, field="body", words="64 levels"),
    Case("deep-context-5000", "POST", RUNS, '{"initialPrompt":"x","context":' + nested(5000) + "}", field="context"),
    Case("context-500-deep", "POST", RUNS, '{"initialPrompt":"x","context":' + nested(500) + "}", field="context"),
    Case("body-65-deep", "POST", RUNS, '{"initialPrompt":"x","context":' + nested(64) + "}", field="context"),
    Case("body-64-deep-is-fine", "POST", RUNS, '{"initialPrompt":"x","context":' + nested(63) + "}", 201),
    # -- encoding --------------------------------------------------------------------------------
    Case(
        "invalid-utf8",
        "POST",
        RUNS,
        base64.b64encode(b'{"initialPrompt":"caf\xe9 \xff"}').decode(),
        is_base64=True,
        field="body",
        words="UTF-8",
    ),
    Case("not-base64", "POST", RUNS, "%%%not base64%%%", is_base64=True, field="body", words="base64"),
    Case("surrogate-in-context", "POST", RUNS, run_body(context={"note": "\ud800"}), field="context.note"),
    Case("surrogate-in-prompt", "POST", RUNS, '{"initialPrompt":"hi \\udfff"}', field="initialPrompt"),
    Case("surrogate-in-key", "POST", RUNS, '{"initialPrompt":"x","context":{"\\ud83d":1}}', field="context"),
    Case(
        "surrogate-in-query",
        "GET",
        RUNS,
        query={"metadata.team": "\ud800"},
        field="metadata.team",
        words="surrogate",
    ),
    # -- numbers JSON does not have ------------------------------------------------------------
    Case("nan", "POST", RUNS, '{"initialPrompt":"x","context":{"x":NaN}}', field="context.x", words="NaN"),
    Case("infinity", "POST", RUNS, '{"initialPrompt":"x","context":{"x":Infinity}}', field="context.x"),
    Case("minus-infinity", "POST", RUNS, '{"initialPrompt":"x","context":{"x":[-Infinity]}}', field="context.x.0"),
    Case("overflowing-float", "POST", RUNS, '{"initialPrompt":"x","context":{"x":1e999}}', field="context.x"),
    Case("huge-integer", "POST", RUNS, '{"initialPrompt":"x","context":{"x":' + "9" * 5000 + "}}", field="context.x"),
    Case(
        "nan-in-schema",
        "POST",
        RUNS,
        '{"initialPrompt":"x","resultSchema":{"type":"number","maximum":NaN}}',
        field="resultSchema.maximum",
    ),
    Case(
        "nan-in-cancel",
        "POST",
        "/clusters/{c}/runs/{r}/cancel",
        '{"reason":NaN}',
        field="reason",
    ),
    # found by the fuzzer: a float nearer to zero than a DynamoDB number can be (was a 500)
    Case(
        "subnormal-feedback-score",
        "POST",
        "/clusters/{c}/runs/{r}/feedback",
        '{"score":2.225073858507e-311,"comment":null}',
        204,
    ),
    # -- content types ---------------------------------------------------------------------------
    Case("text-plain", "POST", RUNS, run_body(), 415, "content-type", "text/plain", {"content-type": "text/plain"}),
    Case("xml", "POST", RUNS, run_body(), 415, "content-type", "application/xml", {"content-type": "application/xml"}),
    Case(
        "form",
        "POST",
        RUNS,
        "initialPrompt=Hello",
        415,
        "content-type",
        "not JSON",
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    Case(
        "latin-1",
        "POST",
        RUNS,
        run_body(),
        415,
        "content-type",
        "UTF-8",
        {"content-type": "application/json; charset=latin-1"},
    ),
    Case("no-content-type", "POST", RUNS, run_body(), 201, headers=ACP_HEADERS),
    Case("json-utf8", "POST", RUNS, run_body(), 201, headers={"Content-Type": "application/json; charset=UTF-8"}),
    Case("bad-json", "POST", RUNS, '{"initialPrompt": ', field="body", words="not valid JSON"),
    # -- methods -------------------------------------------------------------------------------
    Case("delete-runs", "DELETE", RUNS, status=405, allow="GET, POST"),
    Case("patch-run", "PATCH", "/clusters/{c}/runs/{r}", '{"name":"x"}', status=405, allow="DELETE, GET"),
    Case("get-cancel", "GET", "/clusters/{c}/runs/{r}/cancel", status=405, allow="POST"),
    Case("put-clusters", "PUT", "/clusters", "{}", status=405, allow="POST"),
    Case("unknown-path", "GET", "/nothing/here", status=404),
    # -- sizes ---------------------------------------------------------------------------------
    Case(
        "500kb-function-schema",
        "PUT",
        "/clusters/{c}/functions/big",
        json.dumps({"target": {"type": "worker"}, "inputSchema": BIG_SCHEMA}),
        413,
        "inputSchema",
        "limit",
    ),
    Case("300kb-context", "POST", RUNS, run_body(context={"blob": "y" * 300_000}), 413, "context", "limit"),
    # -- schemas compiled at create --------------------------------------------------------------
    Case(
        "remote-ref",
        "POST",
        RUNS,
        run_body(resultSchema={"$ref": "https://schemas.example.com/order.json"}),
        field="resultSchema",
        words="outside the schema",
    ),
    Case(
        "file-ref",
        "POST",
        RUNS,
        run_body(resultSchema={"type": "object", "properties": {"a": {"$ref": "file:///etc/passwd"}}}),
        field="resultSchema",
        words="outside the schema",
    ),
    Case(
        "relative-ref",
        "POST",
        RUNS,
        run_body(resultSchema={"$ref": "other.json#/x"}),
        field="resultSchema",
        words="outside the schema",
    ),
    Case(
        "unresolvable-ref",
        "POST",
        RUNS,
        run_body(resultSchema={"$ref": "#/$defs/missing"}),
        field="resultSchema",
        words="cannot be resolved",
    ),
    Case(
        "self-ref-root",
        "POST",
        RUNS,
        run_body(resultSchema={"$ref": "#"}),
        field="resultSchema",
        words="recurse forever",
    ),
    Case(
        "ref-cycle-through-allOf",
        "POST",
        RUNS,
        run_body(
            resultSchema={
                "$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}},
                "$ref": "#/$defs/a",
            }
        ),
        field="resultSchema",
        words="recurse forever",
    ),
    Case(
        "function-remote-ref",
        "PUT",
        "/clusters/{c}/functions/remote",
        json.dumps({"target": {"type": "worker"}, "inputSchema": {"type": "object", "$ref": "https://x.test/s"}}),
        field="inputSchema",
        words="outside the schema",
    ),
    # -- cursors ---------------------------------------------------------------------------------
    Case("negative-timeline-cursor", "GET", "/clusters/{c}/runs/{r}/log", query={"cursor": "-1"}, field="cursor"),
    Case("text-timeline-cursor", "GET", "/clusters/{c}/runs/{r}/log", query={"cursor": "abc"}, field="cursor"),
    Case("unicode-digit-cursor", "GET", "/clusters/{c}/runs/{r}/log", query={"cursor": "²"}, field="cursor"),
    Case("malformed-list-cursor", "GET", RUNS, query={"cursor": "!!!not-a-cursor"}, field="cursor"),
    Case(
        "forged-list-cursor",
        "GET",
        RUNS,
        query={"cursor": base64.urlsafe_b64encode(b'{"PK":"x"}').decode().rstrip("=")},
        field="cursor",
    ),
    Case("negative-limit", "GET", RUNS, query={"limit": "-5"}, field="limit"),
]


@pytest.fixture(scope="module")
def ctx(harness: Any) -> dict[str, str]:
    cluster = harness.cluster()
    run_id = harness.create_run(cluster, {"initialPrompt": "A run to poke at"})
    harness.wait_run(cluster, run_id)
    return {"c": cluster, "r": run_id}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(harness: Any, ctx: dict[str, str], case: Case) -> None:
    headers = case.headers if case.headers is not None else {"content-type": "application/json"}
    status, out_headers, text = harness.request(
        case.method,
        case.path.format(**ctx),
        body=case.body,
        headers=headers,
        query=case.query,
        is_base64=case.is_base64,
    )
    assert status == case.status, text[:500]
    body = json.loads(text) if text else None
    if case.allow is not None:
        assert out_headers.get("Allow") == case.allow, out_headers
    if case.field is not None:
        first = body["errors"][0]
        assert first["field"] == case.field, body
        assert case.words in first["problem"], body
        assert body["message"].startswith(f"{case.field}: ")
    elif case.words:
        assert case.words in body["message"], body
    assert "Traceback" not in text


def test_accepted_schemas_do_not_fail_the_run_later(harness: Any, ctx: dict[str, str]) -> None:
    """Self-referencing schemas that do consume the value (trees, lists), and references into
    $defs, definitions and the schema's own properties, all finish: none fails with an internal error."""
    schemas = [
        {  # a linked list through $defs
            "$defs": {
                "node": {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"$ref": "#/$defs/node"}}}
            },
            "$ref": "#/$defs/node",
        },
        {  # a tree through the root
            "type": "object",
            "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
            "required": ["name"],
        },
        {  # a reference to a sibling property
            "type": "object",
            "properties": {"a": {"type": "string", "minLength": 2}, "b": {"$ref": "#/properties/a"}},
            "required": ["a", "b"],
        },
        {  # draft-07 definitions
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"id": {"type": "string", "pattern": "^[a-z]{3}$"}},
            "type": "object",
            "properties": {"id": {"$ref": "#/definitions/id"}},
            "required": ["id"],
        },
    ]
    from runplane.logic.result import validation_errors

    for schema in schemas:
        run = harness.run_to_end(ctx["c"], {"initialPrompt": "Produce it", "resultSchema": schema})
        assert run["status"] == "done", run
        assert run["resultError"] is None, run
        assert validation_errors(schema, run["result"]) == []


def test_an_internal_error_fails_the_run_in_words(harness: Any, ctx: dict[str, str]) -> None:
    """The scripted model cannot build a value for a lookahead pattern: its step raises. The run fails
    saying what failed, without the exception's text (which stays in the logs)."""
    schema = {"type": "object", "properties": {"x": {"type": "string", "pattern": "^(?=a)b"}}, "required": ["x"]}
    run = harness.run_to_end(ctx["c"], {"initialPrompt": "Produce it", "resultSchema": schema})
    assert run["status"] == "failed"
    from runplane.logic.agent import INTERNAL_FAILURE

    assert run["failureReason"] == INTERNAL_FAILURE
    assert "Error" not in run["failureReason"] and "regular expression" not in run["failureReason"]


ACP_CASES = [
    ("invalid-utf8", base64.b64encode(b'{"agent_name":"chat \xff"}').decode(), True, "body", "UTF-8"),
    ("nan", '{"agent_name":"chat","input":[{"parts":[{"content":"x"}]}],"session":NaN}', False, "session", "NaN"),
    (
        "surrogate",
        '{"agent_name":"chat","input":[{"parts":[{"content":"\\ud800"}]}]}',
        False,
        "input.0.parts.0.content",
        "",
    ),
    ("deep", '{"agent_name":"chat","input":' + "[" * 5000 + "]" * 5000 + "}", False, "input", "64 levels"),
]


@pytest.mark.parametrize(("name", "body", "is_base64", "field", "words"), ACP_CASES, ids=[c[0] for c in ACP_CASES])
def test_acp_bodies_are_checked_as_the_api_checks_them(
    harness: Any, ctx: dict[str, str], name: str, body: str, is_base64: bool, field: str, words: str
) -> None:
    """ACP's POST /runs (its own function; JSON whatever the Content-Type): the same strict body rules."""
    from runplane.handlers import acp as acp_handler
    from runplane.local.emulator import _Context
    from runplane.local.http import proxy_event

    event = proxy_event("POST", "/runs", body=body, is_base64=is_base64, headers={"user-agent": ["acp-sdk"]})
    event["requestContext"]["authorizer"] = {"keyId": "k1", "clusterId": ctx["c"], "kind": "consumer"}
    answer = acp_handler.handler(event, _Context("runplane-acp", 512, 900))
    assert answer["statusCode"] == 400, answer
    error = json.loads(answer["body"])
    assert field in json.dumps(error) and words in json.dumps(error), error
