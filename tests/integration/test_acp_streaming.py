"""The ACP function as AWS runs it: API Gateway's proxy event → runplane.streaming (the Runtime API
client) → the real ACP handler → Server-Sent Events streamed chunk by chunk; keys and clusters."""

from __future__ import annotations

import json
from typing import Any

from runplane.handlers import acp as acp_handler
from runplane.handlers import wiring
from runplane.local.emulator import _Context
from runplane.local.http import proxy_event
from runplane.logic.acp import run_ulid
from runplane.logic.run_configs import RunConfigBody
from runplane.streaming import serve_one
from tests.e2e.test_acp import schema, sse_data
from tests.support.fake_runtime_api import FakeRuntimeApi


def acp_event(method: str, path: str, body: Any = None, *, cluster: str | None, **headers: str) -> dict[str, Any]:
    event = proxy_event(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        headers={k.replace("_", "-"): [v] for k, v in headers.items()},  # no Content-Type, as acp-sdk sends
        stage="prod",
    )
    if cluster is not None:
        event["requestContext"]["authorizer"] = {"keyId": "k1", "clusterId": cluster, "kind": "consumer"}
    return event


def buffered(event: dict[str, Any], _: Any) -> dict[str, Any]:
    """The ACP function's buffered entry point (a non-streaming integration), with a Lambda context."""
    return acp_handler.handler(event, _Context("runplane-acp", 512, 900))


def chat(cluster: str) -> None:
    wiring.run_configs().upsert(cluster, "chat-agent", RunConfigBody(name="chat", public=True))


def test_stream_mode_through_the_runtime_api_one_chunk_per_event(harness: Any) -> None:
    cluster = harness.cluster()
    chat(cluster)
    body = {"agent_name": "chat", "mode": "stream", "input": [{"parts": [{"content": "Hi"}]}]}
    with FakeRuntimeApi(acp_event("POST", "/runs", body, cluster=cluster)) as api:
        serve_one(api.address, acp_handler.stream_handler)
    prelude = api.prelude()
    assert prelude["statusCode"] == 200 and prelude["headers"]["Content-Type"] == "text/event-stream"
    events = sse_data(api.body())
    for _, event in events:
        schema("Event").validate(event)
    assert events[0][1]["type"] == "run.created" and events[-1][1]["type"] == "run.completed"
    assert len(api.chunks) == 1 + len(events)  # the metadata, then each event as it was produced


def test_keys_decide_the_cluster(harness: Any) -> None:
    mine, other = harness.cluster(), harness.cluster()
    chat(mine)
    body = {"agent_name": "chat", "mode": "async", "input": [{"parts": [{"content": "Hi"}]}]}
    created = buffered(acp_event("POST", "/runs", body, cluster=mine), None)
    assert created["statusCode"] == 202, created
    run_id = json.loads(created["body"])["run_id"]
    # Another cluster's key sees no such run and no such agent; no key at all is a 401.
    assert buffered(acp_event("GET", f"/runs/{run_id}", cluster=other), None)["statusCode"] == 404
    assert buffered(acp_event("GET", "/agents/chat", cluster=other), None)["statusCode"] == 404
    denied = buffered(acp_event("GET", "/agents", cluster=None), None)
    assert denied["statusCode"] == 401 and json.loads(denied["body"])["code"]
    assert buffered(acp_event("GET", "/ping", cluster=None), None)["statusCode"] == 200


def test_structured_input_meets_the_agents_input_schema(harness: Any) -> None:
    cluster = harness.cluster()
    schema_ = {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}
    wiring.run_configs().upsert(
        cluster,
        "refunds-agent",
        RunConfigBody(name="refunds", initial_prompt="Refund the order.", input_schema=schema_),
    )

    def post(data: Any) -> dict[str, Any]:
        parts = [{"content_type": "application/json", "content": json.dumps(data)}]
        body = {"agent_name": "refunds", "mode": "sync", "input": [{"parts": parts}]}
        return buffered(acp_event("POST", "/runs", body, cluster=cluster), None)

    bad = post({"order": 7})
    assert bad["statusCode"] == 400
    assert json.loads(bad["body"])["code"] == "invalid_input" and "input.order" in json.loads(bad["body"])["message"]
    good = post({"order": "A-7"})
    assert good["statusCode"] == 200 and json.loads(good["body"])["status"] == "completed"
    run = wiring.store().get_run(cluster, run_ulid(json.loads(good["body"])["run_id"]))
    assert run.initial_prompt.startswith("Refund the order.\n\n<DATA>") and run.config_id == "refunds-agent"
