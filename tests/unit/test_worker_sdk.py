"""The worker SDK's declarations and its HTTP conversation (against httpx.MockTransport)."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
from pydantic import BaseModel, Field

from runplane import Worker


class Lookup(BaseModel):
    order_id: str = Field(pattern=r"^ORD-\d+$")
    verbose: bool = False


def test_schema_from_a_pydantic_annotation_and_registration() -> None:
    sent: list[tuple[str, str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(201, json={})

    worker = Worker(
        "http://api", "c1", http_client=httpx.Client(base_url="http://api", transport=httpx.MockTransport(handler))
    )

    @worker.function(description="Look up an order", requires_approval=True, timeout_seconds=30)
    def lookup_order(args: Lookup) -> dict[str, Any]:
        return {"id": args.order_id, "verbose": args.verbose}

    @worker.function(name="ping", input_schema={"type": "object", "properties": {"n": {"type": "integer"}}})
    def ping(args: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
        return {"n": args["n"], "run": job["runId"]}

    worker.register()
    assert [(m, p) for m, p, _ in sent] == [
        ("PUT", "/clusters/c1/functions/lookup_order"),
        ("PUT", "/clusters/c1/functions/ping"),
    ]
    body = sent[0][2]
    assert body["target"] == {"type": "worker"} and body["requiresApproval"] is True and body["timeoutSeconds"] == 30
    assert body["inputSchema"]["properties"]["order_id"]["pattern"] == r"^ORD-\d+$"
    assert body["inputSchema"]["required"] == ["order_id"]
    assert worker.functions["lookup_order"].call({"input": {"order_id": "ORD-7"}}) == {"id": "ORD-7", "verbose": False}
    assert worker.functions["ping"].call({"input": {"n": 2}, "runId": "r1"}) == {"n": 2, "run": "r1"}


def test_a_job_is_run_and_its_result_or_error_reported() -> None:
    posted: list[tuple[str, Any]] = []
    done = threading.Event()
    jobs = [
        {
            "runId": "r1",
            "callId": "t1",
            "function": "lookup_order",
            "input": {"order_id": "ORD-1"},
            "heartbeatSeconds": 30,
        },
        {
            "runId": "r1",
            "callId": "t2",
            "function": "lookup_order",
            "input": {"order_id": "bad"},
            "heartbeatSeconds": 30,
        },
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/jobs/poll"):
            assert body["functions"] == ["lookup_order"] and body["maxJobs"] == 2
            return httpx.Response(200, json={"jobs": jobs})
        posted.append((request.url.path, body))
        if len(posted) == 2:
            done.set()
        return httpx.Response(200, json={})

    worker = Worker(
        "http://api",
        "c1",
        worker_id="w9",
        max_concurrency=2,
        http_client=httpx.Client(base_url="http://api", transport=httpx.MockTransport(handler)),
    )

    @worker.function()
    def lookup_order(args: Lookup) -> Lookup:
        return args

    assert worker.run_once(wait_seconds=0) == 2
    assert done.wait(5)
    results = dict(posted)
    assert results["/clusters/c1/runs/r1/calls/t1/result"] == {
        "worker": "w9",
        "result": {"order_id": "ORD-1", "verbose": False},
    }
    failed = results["/clusters/c1/runs/r1/calls/t2/result"]
    assert failed["worker"] == "w9" and failed["error"].startswith("ValidationError")
