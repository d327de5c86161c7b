"""The official ACP client (acp-sdk 1.0.3, unmodified) against `runplane local` over real HTTP.

Every response (JSON bodies and each Server-Sent Event) is validated against the JSON Schemas of
ACP's OpenAPI document (tests/e2e/acp_schemas.json, source noted in the file) by a recording
transport handed to the client through its own ``transport=`` option. ACP requests carry no key:
local mode maps keyless ACP requests from loopback to cluster ``default``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import subprocess
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import jsonschema
import pytest
from acp_sdk.client import Client
from acp_sdk.models import (
    ACPError,
    Message,
    MessageAwaitResume,
    MessagePart,
    RunStatus,
)

from tests.support import local_process
from tests.support.tool_server import ToolServer

CLUSTER_KEY = "sk_e2e_acp_cluster_key_0123456789abcdef"
SCHEMAS = json.loads((Path(__file__).parent / "acp_schemas.json").read_text())


def schema(name: str) -> jsonschema.protocols.Validator:
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": SCHEMAS["$defs"],
        "$ref": f"#/$defs/{name}",
    }
    return jsonschema.Draft202012Validator(doc, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def schema_for(method: str, path: str, status: int) -> str:
    if status >= 400:
        return "Error"
    routes = [
        ("GET", r"/ping", "Ping"),
        ("GET", r"/agents", "AgentsListResponse"),
        ("GET", r"/agents/[^/]+", "Agent"),
        ("POST", r"/runs", "Run"),
        ("GET", r"/runs/[^/]+", "Run"),
        ("POST", r"/runs/[^/]+", "Run"),
        ("POST", r"/runs/[^/]+/cancel", "Run"),
        ("GET", r"/runs/[^/]+/events", "RunEventsListResponse"),
        ("GET", r"/sessions?/[^/]+", "Session"),
        ("GET", r"/session/[^/]+/messages/\d+", "Message"),
    ]
    for m, pattern, name in routes:
        if m == method and re.fullmatch(pattern, path):
            return name
    raise AssertionError(f"no schema for {method} {path}")


def sse_data(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """(id, data) of each event in a Server-Sent Events body."""
    out = []
    for block in raw.decode().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line.startswith(":") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.removeprefix(" ")
        if "data" in fields:
            out.append((fields.get("id"), json.loads(fields["data"])))
    return out


class Checked:
    """What the recording transport saw: every request and every validated response."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.validated: list[tuple[str, str, str]] = []  # (method, path, schema name)

    def check(self, request: httpx.Request, status: int, content_type: str, body: bytes) -> None:
        path = request.url.path
        if content_type.startswith("text/event-stream"):
            events = sse_data(body)
            assert events, body
            for event_id, data in events:
                assert event_id, "every event has an id"
                schema("Event").validate(data)
                self.validated.append((request.method, path, "Event"))
            return
        name = schema_for(request.method, path, status)
        payload = json.loads(body)
        schema(name).validate(payload)
        if name == "AgentsListResponse":
            for agent in payload["agents"]:
                schema("Agent").validate(agent)
        if name == "RunEventsListResponse":
            for event in payload["events"]:
                schema("Event").validate(event)
        self.validated.append((request.method, path, name))


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, checked: Checked) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.checked = checked

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.checked.requests.append(request)
        response = await self.inner.handle_async_request(request)
        checked, status = self.checked, response.status_code
        ctype = response.headers.get("content-type", "")
        stream = response.stream

        class Tee(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                chunks = []
                async for chunk in stream:  # type: ignore[union-attr]
                    chunks.append(chunk)
                    yield chunk
                checked.check(request, status, ctype, b"".join(chunks))

            async def aclose(self) -> None:
                await stream.aclose()  # type: ignore[union-attr]

        return httpx.Response(status, headers=response.headers, stream=Tee(), extensions=response.extensions)


@pytest.fixture(scope="module")
def tools() -> Iterator[ToolServer]:
    """The http target of the `refund` function (a plain-http origin local mode is told about)."""
    server = ToolServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def local_mode(tools: ToolServer) -> Iterator[dict[str, Any]]:
    # CLUSTER_KEY for the Inferable routes; ACP requests here send no key (keyless loopback).
    env = {"RUNPLANE_API_KEY": CLUSTER_KEY, "RUNPLANE_LOOPBACK_HTTP_ORIGINS": tools.url}
    with local_process.local_mode(env) as server:
        yield server


@pytest.fixture()
def checked() -> Checked:
    return Checked()


def acp(local_mode: dict[str, Any], checked: Checked) -> Client:
    return Client(base_url=local_mode["api"], transport=RecordingTransport(checked), timeout=60)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def text_of(messages: list[Message]) -> str:
    return "".join(str(m) for m in messages)


# -- discovery --------------------------------------------------------------------------------------
def test_ping_agents_and_agent(local_mode: dict[str, Any], checked: Checked) -> None:
    async def go() -> tuple[list[Any], Any]:
        async with acp(local_mode, checked) as client:
            await client.ping()
            agents = [a async for a in client.agents()]
            return agents, await client.agent(name="chat")

    agents, chat = run(go())
    assert "chat" in [a.name for a in agents]
    assert chat.name == "chat" and chat.description and "image/png" in chat.input_content_types
    assert chat.output_content_types == ["text/plain"]
    assert [v[2] for v in checked.validated] == ["Ping", "AgentsListResponse", "Agent"]

    async def missing() -> None:
        async with acp(local_mode, checked) as client:
            await client.agent(name="no-such-agent")

    with pytest.raises(ACPError) as err:
        run(missing())
    assert err.value.error.code == "not_found"


# -- the three modes -------------------------------------------------------------------------------
def test_run_sync(local_mode: dict[str, Any], checked: Checked) -> None:
    async def go() -> Any:
        async with acp(local_mode, checked) as client:
            return await client.run_sync("Hello there", agent="chat")

    result = run(go())
    assert result.status == RunStatus.COMPLETED and result.finished_at is not None
    assert text_of(result.output) == "Scripted answer to: Hello there"
    assert result.output[0].role == "agent/chat"
    # The client posts its JSON body with no Content-Type header: the server reads it anyway.
    posted = [r for r in checked.requests if r.method == "POST"]
    assert posted and all("content-type" not in r.headers for r in posted)


def test_run_async_then_run_status(local_mode: dict[str, Any], checked: Checked) -> None:
    async def go() -> tuple[Any, Any]:
        async with acp(local_mode, checked) as client:
            started = await client.run_async("Draft a haiku", agent="chat")
            deadline = time.monotonic() + 30
            status = await client.run_status(run_id=started.run_id)
            while not status.status.is_terminal and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                status = await client.run_status(run_id=started.run_id)
            return started, status

    started, final = run(go())
    assert started.status in (RunStatus.CREATED, RunStatus.IN_PROGRESS)
    assert final.run_id == started.run_id and final.status == RunStatus.COMPLETED
    assert text_of(final.output) == "Scripted answer to: Draft a haiku"


def test_run_stream_and_run_events(local_mode: dict[str, Any], checked: Checked) -> None:
    async def go() -> tuple[list[Any], list[Any]]:
        async with acp(local_mode, checked) as client:
            streamed = [e async for e in client.run_stream("Stream me", agent="chat")]
            run_id = streamed[-1].run.run_id
            listed = [e async for e in client.run_events(run_id=run_id)]
            return streamed, listed

    streamed, listed = run(go())
    types = [e.type for e in streamed]
    assert types == [
        "run.created",
        "run.in-progress",
        "message.created",
        "message.part",
        "message.completed",
        "run.completed",
    ]
    assert streamed[3].part.content == "Scripted answer to: Stream me"
    assert [e.model_dump(mode="json") for e in listed] == [e.model_dump(mode="json") for e in streamed]
    assert ("POST", "/runs", "Event") in checked.validated


def test_acp_curl_example_verbatim(local_mode: dict[str, Any]) -> None:
    # ACP's quickstart request, as written (only the port is the one this server listens on).
    command = f"""curl --request POST \\
  --url http://localhost:{local_mode["port"]}/runs \\
  --header 'content-type: application/json' \\
  --data '{{
  "agent_name": "chat",
  "input": [
    {{
      "role": "user",
      "parts": [
        {{
          "content": "Howdy!",
          "content_type": "text/plain"
        }}
      ]
    }}
  ]
}}'"""
    out = subprocess.run(
        ["bash", "-c", command + " --silent --show-error --write-out '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = out.stdout.rpartition("\n")
    assert status == "200", out
    payload = json.loads(body)
    schema("Run").validate(payload)
    assert payload["status"] == "completed" and payload["output"][0]["parts"][0]["content"].endswith("Howdy!")


def test_json_body_without_content_type(local_mode: dict[str, Any]) -> None:
    body = json.dumps({"agent_name": "chat", "mode": "async", "input": [{"parts": [{"content": "no header"}]}]})
    request = httpx.Request("POST", local_mode["api"] + "/runs", content=body.encode())
    assert "content-type" not in request.headers
    with httpx.Client(timeout=30) as http:
        response = http.send(request)
    assert response.status_code == 202, response.text
    schema("Run").validate(response.json())


# -- sessions --------------------------------------------------------------------------------------
def test_a_session_across_two_runs(local_mode: dict[str, Any], checked: Checked) -> None:
    async def go() -> tuple[Any, Any, Any]:
        async with acp(local_mode, checked) as client, client.session() as session:
            first = await session.run_sync("My name is Ada", agent="chat")
            second = await session.run_sync("What is my name?", agent="chat")
            return first, second, session._session

    first, second, session = run(go())
    assert first.session_id == second.session_id == session.id
    # The second run's model got the first exchange (the scripted model answers the first user text).
    assert text_of(second.output) == "Scripted answer to: My name is Ada"
    with httpx.Client(base_url=local_mode["api"], timeout=30) as http:
        read = http.get(f"/session/{session.id}")
        assert read.status_code == 200, read.text
        schema("Session").validate(read.json())
        history = [http.get(url) for url in read.json()["history"]]
    messages = [h.json() for h in history]
    for m in messages:
        schema("Message").validate(m)
    assert [(m["role"], m["parts"][0]["content"]) for m in messages] == [
        ("user", "My name is Ada"),
        ("agent/chat", "Scripted answer to: My name is Ada"),
        ("user", "What is my name?"),
        ("agent/chat", "Scripted answer to: My name is Ada"),
    ]
    # The client's first run sent the whole `session` object (it had not seen this server), the second
    # only its id: both forms are accepted.
    bodies = [json.loads(r.content) for r in checked.requests if r.method == "POST"]
    assert "session" in bodies[0] and bodies[1].get("session_id") == str(session.id)


# -- input parts -------------------------------------------------------------------------------------
def tiny_png() -> bytes:
    raw = b"\x00\xff\x00\x00"  # one red pixel

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_an_image_part_reaches_the_model_and_is_kept_outside_dynamodb(
    local_mode: dict[str, Any], checked: Checked
) -> None:
    png = tiny_png()
    encoded = base64.b64encode(png).decode()
    parts = [
        MessagePart(content="What is in this picture?"),
        MessagePart(content=encoded, content_type="image/png", content_encoding="base64"),
    ]

    async def go() -> Any:
        async with acp(local_mode, checked) as client:
            return await client.run_sync(Message(parts=parts), agent="chat")

    result = run(go())
    answer = text_of(result.output)
    assert answer.startswith("Scripted answer to: What is in this picture?")
    assert f"image/png {len(png)} bytes sha256={hashlib.sha256(png).hexdigest()}" in answer  # what the model got

    aws = {
        "endpoint_url": local_mode["endpoint"],
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    from runplane.logic.acp import run_ulid

    run_id = run_ulid(str(result.run_id))
    items = boto3.client("dynamodb", **aws).query(
        TableName="runplane-runs",
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"RUN#default#{run_id}"}},
    )["Items"]
    assert items and all(encoded not in json.dumps(item) for item in items)
    keys = [
        o["Key"]
        for o in boto3.client("s3", **aws).list_objects_v2(
            Bucket="runplane-blobs", Prefix=f"runs/default/{run_id}/input/"
        )["Contents"]
    ]
    assert keys == [f"runs/default/{run_id}/input/00-01.png"]


def test_an_unsupported_part_is_invalid_input_naming_the_part(local_mode: dict[str, Any], checked: Checked) -> None:
    parts = [
        MessagePart(content="hi"),
        MessagePart(content="AAAA", content_type="audio/wav", content_encoding="base64"),
    ]

    async def go() -> None:
        async with acp(local_mode, checked) as client:
            await client.run_sync(Message(parts=parts), agent="chat")

    with pytest.raises(ACPError) as err:
        run(go())
    assert err.value.error.code == "invalid_input"
    assert err.value.error.message.startswith("input[0].parts[1]:") and "audio/wav" in err.value.error.message
    assert checked.validated[-1][2] == "Error"


# -- a stream cut mid-run, resumed with Last-Event-ID ----------------------------------------------------
def test_a_stream_cut_and_resumed_with_last_event_id_loses_and_repeats_nothing(local_mode: dict[str, Any]) -> None:
    body = {"agent_name": "chat", "mode": "stream", "input": [{"role": "user", "parts": [{"content": "Go on"}]}]}
    first: list[tuple[str | None, dict[str, Any]]] = []
    with httpx.Client(base_url=local_mode["api"], timeout=30) as http:
        with http.stream("POST", "/runs", content=json.dumps(body)) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            run_id = response.headers["run-id"]
            buffer = b""
            for chunk in response.iter_raw():
                buffer += chunk
                first = sse_data(buffer[: buffer.rfind(b"\n\n") + 2]) if b"\n\n" in buffer else []
                if first:
                    break  # cut the connection after the first event, while the run goes on
        last_id = first[-1][0]
        with http.stream("GET", f"/runs/{run_id}/events", headers={"Last-Event-ID": str(last_id)}) as response:
            rest = sse_data(response.read())
        listed = http.get(f"/runs/{run_id}/events").json()["events"]
    for _, data in first + rest:
        schema("Event").validate(data)
    ids = [i for i, _ in first + rest]
    assert len(ids) == len(set(ids)) and ids == sorted(ids), ids  # nothing repeated, in order
    assert [d for _, d in first + rest] == listed  # nothing lost
    assert listed[0]["type"] == "run.created" and listed[-1]["type"] == "run.completed"


# -- approvals: awaiting, resume, cancel (the chat agent may call every function of the cluster) ---------
@pytest.fixture(scope="module")
def refund_function(local_mode: dict[str, Any], tools: ToolServer) -> Iterator[ToolServer]:
    definition = {
        "description": "Refund an order",
        "requiresApproval": True,
        "inputSchema": {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]},
        "target": {"type": "http", "url": tools.url + "/echo"},
    }
    with httpx.Client(base_url=local_mode["api"], timeout=30) as http:
        put = http.put("/clusters/default/functions/refund", json=definition, headers=inferable_headers())
        assert put.status_code in (200, 201), put.text
    try:
        yield tools
    finally:
        with httpx.Client(base_url=local_mode["api"], timeout=30) as http:
            http.delete("/clusters/default/functions/refund", headers=inferable_headers())


def inferable_headers() -> dict[str, str]:
    """Inferable routes always need a key (ACP routes from loopback need none in local mode)."""
    return {"authorization": CLUSTER_KEY}


async def until_awaiting(client: Client, run_id: Any) -> Any:
    deadline = time.monotonic() + 30
    status = await client.run_status(run_id=run_id)
    while status.status != RunStatus.AWAITING and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        status = await client.run_status(run_id=run_id)
    return status


def test_run_resume_approves_the_awaited_call(
    local_mode: dict[str, Any], checked: Checked, refund_function: ToolServer
) -> None:
    async def go() -> tuple[list[Any], Any, Any]:
        async with acp(local_mode, checked) as client:
            streamed = [e async for e in client.run_stream("Refund order 7", agent="chat")]
            awaiting = await until_awaiting(client, streamed[-1].run.run_id)
            resume = MessageAwaitResume(message=Message(parts=[MessagePart(content="approve: the customer is right")]))
            resumed = await client.run_resume_sync(resume, run_id=awaiting.run_id)
            return streamed, awaiting, resumed

    streamed, awaiting, resumed = run(go())
    assert streamed[-1].type == "run.awaiting"  # the stream ends where the run waits for a human
    assert awaiting.status == RunStatus.AWAITING and awaiting.await_request.type == "message"
    prompt = str(awaiting.await_request.message)
    assert "refund" in prompt and "approve" in prompt
    assert resumed.status == RunStatus.COMPLETED, resumed
    assert [path for path, _ in refund_function.requests] == ["/echo"]  # the approved call ran


def test_run_sync_ends_at_awaiting_and_run_cancel(
    local_mode: dict[str, Any], checked: Checked, refund_function: ToolServer
) -> None:
    before = len(refund_function.requests)

    async def go() -> tuple[Any, Any, Any]:
        async with acp(local_mode, checked) as client:
            started = await client.run_sync("Refund order 8", agent="chat")  # answers once the run awaits
            cancelled = await client.run_cancel(run_id=started.run_id)
            return started, cancelled, await client.run_status(run_id=started.run_id)

    started, cancelled, final = run(go())
    assert started.status == RunStatus.AWAITING and started.await_request is not None
    assert cancelled.run_id == started.run_id
    assert cancelled.status in (RunStatus.CANCELLING, RunStatus.CANCELLED)
    assert final.status == RunStatus.CANCELLED and final.finished_at is not None
    assert ("POST", f"/runs/{started.run_id}/cancel", "Run") in checked.validated
    assert len(refund_function.requests) == before  # the awaited call never ran
