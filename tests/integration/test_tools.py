"""Tool calls in the agent loop: every target kind, parallel calls, errors, timeouts, mocks."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from runplane import Worker
from tests.support.tool_server import ToolServer


def script(*turns: dict[str, Any]) -> dict[str, Any]:
    return {"modelScript": list(turns)}


def call_turn(*calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"text": "Let me use my tools.", "toolCalls": [{"name": n, "input": i} for n, i in calls]}


def tool_results(harness: Any, cluster: str, run_id: str) -> list[dict[str, Any]]:
    return [b for m in harness.messages(cluster, run_id) if m.kind == "tool-result" for b in m.content]


def http_fn(tools: ToolServer, path: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": f"POST {path}",
        "target": {"type": "http", "url": tools.url + path},
        "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
        **extra,
    }


def test_every_kind_runs_and_results_reach_the_model(harness: Any, tools: ToolServer) -> None:
    cluster = harness.cluster()
    arn = harness.lambda_tool("runplane-tool-echo", "tests.support.tool_lambdas.echo")
    harness.put_function(cluster, "echo_http", http_fn(tools, "/echo"))
    harness.put_function(cluster, "echo_lambda", {"description": "echo", "target": {"type": "lambda", "arn": arn}})
    harness.put_function(
        cluster,
        "shout",
        {
            "description": "upper-cases",
            "target": {"type": "worker"},
            "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    )
    worker = Worker(harness.http_server().url, cluster, api_key=harness.key(cluster, "machine"), poll_wait_seconds=1)

    @worker.function(name="shout", description="upper-cases")
    def shout(args: dict[str, Any]) -> dict[str, Any]:
        return {"loud": args["q"].upper()}

    worker.start()
    try:
        run = harness.run_to_end(
            cluster,
            {
                "initialPrompt": "Use all the tools",
                "context": {"tenant": "acme"},
                "metadata": {"k": "v"},
                "test": script(
                    call_turn(
                        ("echo_http", {"q": "a"}),
                        ("echo_lambda", {"q": "b"}),
                        ("shout", {"q": "c"}),
                        ("current_time", {"timezone": "Europe/Paris"}),
                    ),
                    {"text": "All done."},
                ),
            },
        )
    finally:
        worker.stop()
    assert run["status"] == "done", run
    calls = {c.function: c for c in harness.calls(cluster, run["id"])}
    assert {f: c.status for f, c in calls.items()} == {
        "echo_http": "succeeded",
        "echo_lambda": "succeeded",
        "shout": "succeeded",
        "current_time": "succeeded",
    }
    assert calls["echo_http"].result["echo"] == {"q": "a"}
    assert calls["echo_http"].result["context"] == {"tenant": "acme"}  # the run's context reaches every call
    assert calls["echo_http"].result["run"]["metadata"] == {"k": "v"}
    assert calls["echo_lambda"].result["echo"] == {"q": "b"}
    assert calls["echo_lambda"].result["context"] == {"tenant": "acme"}
    assert calls["shout"].result == {"loud": "C"} and calls["shout"].worker == worker.worker_id
    assert calls["current_time"].result["timezone"] == "Europe/Paris"
    results = tool_results(harness, cluster, run["id"])
    assert len(results) == 4 and not any(r["is_error"] for r in results)
    # the reasoning trace of the turn is recorded with the calls
    assert calls["echo_http"].reasoning == "Let me use my tools."


def test_calls_of_one_turn_run_in_parallel(harness: Any, tools: ToolServer) -> None:
    cluster = harness.cluster()
    harness.put_function(cluster, "together", http_fn(tools, "/together"))
    tools.barrier = threading.Barrier(3)  # each request waits for the other two: sequential calls would fail
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "three at once",
            "test": script(call_turn(*[("together", {"q": str(i)}) for i in range(3)]), {"text": "ok"}),
        },
    )
    assert run["status"] == "done"
    assert [c.status for c in harness.calls(cluster, run["id"])] == ["succeeded"] * 3
    history = harness.history(run["id"])
    assert sum(e["type"] == "MapStateEntered" for e in history) == 1
    assert sum(e["type"] == "MapIterationStarted" for e in history) == 3


def test_failing_and_timing_out_tools_are_errors_for_the_model(harness: Any, tools: ToolServer) -> None:
    cluster = harness.cluster()
    arn = harness.lambda_tool("runplane-tool-broken", "tests.support.tool_lambdas.broken")
    harness.put_function(cluster, "fail_http", http_fn(tools, "/fail"))
    harness.put_function(
        cluster, "slow_http", {**http_fn(tools, "/slow"), "timeoutSeconds": 1, "inputSchema": {"type": "object"}}
    )
    harness.put_function(cluster, "broken_lambda", {"target": {"type": "lambda", "arn": arn}})
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "try them",
            "test": script(
                call_turn(
                    ("fail_http", {}),
                    ("slow_http", {"seconds": 3}),
                    ("broken_lambda", {}),
                    ("nonexistent", {}),
                    ("fail_http", {"q": 5}),
                ),
                {"text": "Some tools failed; here is what I know."},
            ),
        },
    )
    assert run["status"] == "done"
    results = tool_results(harness, cluster, run["id"])
    assert len(results) == 5 and all(r["is_error"] for r in results)
    text = " | ".join(r["content"] for r in results)
    assert "HTTP 500" in text and "inventory service is down" in text
    assert "timed out after 1 s" in text
    assert "RuntimeError: the warehouse database refused the connection" in text
    assert "Unknown tool 'nonexistent'" in text
    assert "does not match the tool's input schema" in text and "q: 5 is not of type 'string'" in text


def test_test_mode_uses_mocks_instead_of_targets(harness: Any, tools: ToolServer) -> None:
    cluster = harness.cluster()
    harness.put_function(cluster, "fail_http", http_fn(tools, "/fail"))
    before = len(tools.requests)
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "mocked",
            "test": {
                "enabled": True,
                "mocks": {"fail_http": {"output": {"stock": 12}}},
                "modelScript": [call_turn(("fail_http", {"q": "x"})), {"text": "12 in stock"}],
            },
        },
    )
    assert run["status"] == "done" and run["test"] is True
    assert harness.calls(cluster, run["id"])[0].result == {"stock": 12}
    assert len(tools.requests) == before  # the target was not called


def test_scripted_model_calls_each_attached_function_once(harness: Any, tools: ToolServer) -> None:
    cluster = harness.cluster()
    harness.put_function(
        cluster,
        "echo_http",
        {
            **http_fn(tools, "/echo"),
            "inputSchema": {
                "type": "object",
                "properties": {"order": {"type": "string", "pattern": "^ORD-[0-9]{3}$"}},
                "required": ["order"],
            },
        },
    )
    run = harness.run_to_end(
        cluster, {"initialPrompt": "Check my order", "attachedFunctions": ["echo_http", "current_time"]}
    )
    assert run["status"] == "done"
    calls = harness.calls(cluster, run["id"])
    assert sorted(c.function for c in calls) == ["current_time", "echo_http"]
    assert next(c for c in calls if c.function == "echo_http").input == {"order": "ORD-000"}
    # without attachedFunctions: the cluster's own functions (not the standard library)
    run = harness.run_to_end(cluster, {"initialPrompt": "Check again"})
    assert [c.function for c in harness.calls(cluster, run["id"])] == ["echo_http"]


def test_unknown_attached_function_is_400(harness: Any) -> None:
    cluster = harness.cluster()
    status, payload = harness.api(
        "POST", f"/clusters/{cluster}/runs", {"initialPrompt": "x", "attachedFunctions": ["nope", "current_time"]}
    )
    assert status == 400 and payload["errors"][0]["field"] == "attachedFunctions"
    assert "nope" in payload["message"] and "current_time" in payload["message"]


def test_function_registry(harness: Any, tools: ToolServer) -> None:
    cluster = harness.cluster()
    base = f"/clusters/{cluster}/functions"
    status, created = harness.api(
        "PUT",
        f"{base}/lookup",
        {
            "description": "Look up",
            "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}},
            "requiresApproval": True,
            "timeoutSeconds": 30,
            "target": {"type": "http", "url": tools.url + "/echo"},
        },
    )
    assert status == 201
    assert created["requiresApproval"] is True and created["target"]["type"] == "http"
    assert harness.api("PUT", f"{base}/lookup", {"target": {"type": "worker"}})[0] == 200
    status, got = harness.api("GET", f"{base}/lookup")
    assert status == 200 and got["target"] == {"type": "worker"} and got["inputSchema"]["type"] == "object"
    status, listing = harness.api("GET", base)
    assert [f["name"] for f in listing["functions"]] == ["current_time", "http_get", "lookup"]
    assert harness.api("DELETE", f"{base}/lookup")[0] == 204
    assert harness.api("GET", f"{base}/lookup")[0] == 404
    assert harness.api("DELETE", f"{base}/lookup")[0] == 404
    assert harness.api("GET", f"{base}/current_time")[1]["target"] == {"type": "builtin"}


@pytest.mark.parametrize(
    ("name", "body", "field", "words"),
    [
        ("bad name!", {"target": {"type": "worker"}}, "name", "pattern"),
        ("f", {"target": {"type": "ftp"}}, "target", "tag"),
        ("f", {"target": {"type": "http", "url": "https://10.0.0.5/x"}}, "target.url", "private"),
        ("f", {"target": {"type": "http", "url": "http://example.com/x"}}, "target.url", "https"),
        ("f", {"target": {"type": "http", "url": "https://169.254.169.254/latest"}}, "target.url", "metadata"),
        (
            "f",
            {"target": {"type": "lambda", "arn": "arn:aws:lambda:us-east-1:123456789012:function:other"}},
            "target.arn",
            "runplane-tool-",
        ),
        ("f", {"target": {"type": "lambda", "arn": "not-an-arn"}}, "target.lambda.arn", "pattern"),
        ("f", {"target": {"type": "worker"}, "inputSchema": {"type": "string"}}, "inputSchema", "object"),
        (
            "f",
            {"target": {"type": "worker"}, "inputSchema": {"type": "object", "required": 3}},
            "inputSchema",
            "JSON Schema",
        ),
        (
            "f",
            {"target": {"type": "http", "url": "https://example.com"}, "timeoutSeconds": 3600},
            "body",
            "between 1 and 300",
        ),
        ("f", {"target": {"type": "builtin"}}, "target", "not a runplane builtin"),
        ("http_get", {"target": {"type": "worker"}}, "name", "builtin"),
    ],
)
def test_bad_function_definitions_are_400(
    harness: Any, name: str, body: dict[str, Any], field: str, words: str
) -> None:
    cluster = harness.cluster("fn-errors")
    status, payload = harness.api("PUT", f"/clusters/{cluster}/functions/{name}", body)
    assert status == 400, payload
    assert any(e["field"].startswith(field) for e in payload["errors"]), payload
    assert words in json.dumps(payload), payload


def test_a_worker_that_dies_mid_job_times_out_and_the_run_goes_on(harness: Any) -> None:
    cluster = harness.cluster()
    harness.put_function(cluster, "fragile", {"target": {"type": "worker"}, "timeoutSeconds": 2})
    run_id = harness.create_run(
        cluster, {"initialPrompt": "go", "test": script(call_turn(("fragile", {})), {"text": "ok"})}
    )
    # A worker claims the job, then dies: no heartbeat, no result.
    jobs: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while not jobs and time.monotonic() < deadline:
        status, body = harness.api(
            "POST", f"/clusters/{cluster}/jobs/poll", {"functions": ["fragile"], "worker": "w1", "waitSeconds": 1}
        )
        assert status == 200, body
        jobs = body["jobs"]
    assert jobs and jobs[0]["input"] == {} and "taskToken" not in json.dumps(jobs)
    run = harness.wait_run(cluster, run_id)
    assert run["status"] == "done"
    call = harness.calls(cluster, run_id)[0]
    assert call.status == "timed_out" and call.worker == "w1"
    result = tool_results(harness, cluster, run_id)[0]
    assert result["is_error"] and "timed out" in result["content"]
    # a late result is refused
    status, _ = harness.api(
        "POST", f"/clusters/{cluster}/runs/{run_id}/calls/{call.id}/result", {"worker": "w1", "result": {"x": 1}}
    )
    assert status == 409


def test_polling_for_functions_that_are_not_workers_is_400(harness: Any) -> None:
    cluster = harness.cluster()
    status, body = harness.api("POST", f"/clusters/{cluster}/jobs/poll", {"functions": ["current_time"], "worker": "w"})
    assert status == 400 and "not a worker function" in body["message"]
