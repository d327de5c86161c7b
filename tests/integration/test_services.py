"""Inferable services against the real ASL: machines register, poll their calls, answer them
(resolution, rejection, approval interrupts), stalled calls are retried, late results are refused;
and the contract's call, blob, message, timeline, feedback and delete routes."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from tests.conftest import emulator_settings

MACHINE = {"x-machine-id": "m-test-1", "x-machine-sdk-version": "0.30.61", "x-machine-sdk-language": "typescript"}
ADD_SCHEMA = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }
)


@pytest.fixture(scope="module")
def emulator_env() -> dict[str, str]:
    return emulator_settings(RUNPLANE_CALL_POLL_WAIT_SECONDS="1")


def call_api(
    harness: Any, cluster: str, method: str, path: str, body: Any = None, **query: str
) -> tuple[int, Any, dict[str, str]]:
    """A request as the SDK makes it (its machine headers, the cluster's key): (status, body, headers
    with lower-case names)."""
    return harness.api_with_headers(
        method, path, body, {k: str(v) for k, v in query.items()}, headers=MACHINE, key=harness.keys[cluster]
    )


def register(harness: Any, cluster: str, service: str = "calc", **configs: dict[str, Any]) -> None:
    functions = [
        {"name": "add", "description": "Adds a and b.", "schema": ADD_SCHEMA, "config": configs.get("add")},
        {"name": "echo", "description": "Echoes.", "config": configs.get("echo")},
    ]
    functions = [{k: v for k, v in f.items() if v is not None} for f in functions]
    status, body, _ = call_api(harness, cluster, "POST", "/machines", {"service": service, "functions": functions})
    assert status == 200 and body == {"clusterId": cluster}, body


def poll(harness: Any, cluster: str, service: str = "calc", want: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    got: list[dict[str, Any]] = []
    while len(got) < want:
        assert time.monotonic() < deadline, f"only {len(got)} calls after {timeout}s"
        status, calls, headers = call_api(
            harness,
            cluster,
            "GET",
            f"/clusters/{cluster}/calls",
            service=service,
            status="pending",
            acknowledge="true",
            limit="10",
        )
        assert status == 200, calls
        assert headers.get("retry-after") == "0"
        got += calls
    return got


def result(harness: Any, cluster: str, call_id: str, value: Any, kind: str = "resolution") -> int:
    body = {"result": value, "resultType": kind, "meta": {"functionExecutionTime": 3}}
    return call_api(harness, cluster, "POST", f"/clusters/{cluster}/calls/{call_id}/result", body)[0]


def tool_results(harness: Any, cluster: str, run_id: str) -> list[dict[str, Any]]:
    msgs = harness.messages(cluster, run_id)
    return [b for m in msgs if m.kind == "tool-result" for b in m.content]


def wait_status(harness: Any, cluster: str, run_id: str, status: str, timeout: float = 20) -> dict[str, Any]:
    return harness.wait_run(cluster, run_id, {status}, timeout=timeout)


def states_entered(harness: Any, run_id: str) -> dict[str, int]:
    """How many times the run's execution entered each state (the bill: one transition each)."""
    counts: dict[str, int] = {}
    for e in harness.history(run_id):
        if e["type"].endswith("StateEntered"):
            name = e["stateEnteredEventDetails"]["name"]
            counts[name] = counts.get(name, 0) + 1
    return counts


def script(*turns: dict[str, Any]) -> dict[str, Any]:
    return {"modelScript": list(turns)}


def test_register_list_and_bad_registrations(harness: Any) -> None:
    cluster = harness.cluster()
    status, body, _ = call_api(harness, cluster, "POST", "/machines", {})
    assert (status, body) == (200, {"clusterId": cluster})
    register(harness, cluster, add={"timeoutSeconds": 30, "retryCountOnStall": 2, "private": False})
    _, fns = harness.api("GET", f"/clusters/{cluster}/functions")
    add = next(f for f in fns["functions"] if f["name"] == "calc_add")
    assert add["timeoutSeconds"] == 30 and add["target"] == {"type": "service", "service": "calc", "function": "add"}
    assert "$schema" not in add["inputSchema"] and add["inputSchema"]["required"] == ["a", "b"]
    status, services, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/services")
    assert status == 200 and [s["name"] for s in services] == ["calc"]
    assert [f["name"] for f in services[0]["functions"]] == ["add", "echo"]
    assert services[0]["functions"][0]["config"] == {"timeoutSeconds": 30, "retryCountOnStall": 2, "private": False}
    assert json.loads(services[0]["functions"][0]["schema"])["required"] == ["a", "b"]
    assert services[0]["lastPingAt"]
    status, machines, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/machines")
    assert status == 200 and [(m["id"], m["ip"]) for m in machines] == [("m-test-1", "127.0.0.1")]
    assert machines[0]["lastPingAt"]
    # re-registering with fewer functions drops the others
    status, _, _ = call_api(harness, cluster, "POST", "/machines", {"service": "calc", "functions": [{"name": "add"}]})
    assert status == 200
    names = {f["name"] for f in harness.api("GET", f"/clusters/{cluster}/functions")[1]["functions"]}
    assert "calc_add" in names and "calc_echo" not in names
    bad = [
        ({"service": "my_svc", "functions": []}, "service"),
        ({"service": "runplane", "functions": []}, "service"),
        ({"service": "calc", "functions": [{"name": "a-b"}]}, "functions.0.name"),
        ({"service": "calc", "functions": [{"name": "x", "schema": "{not json"}]}, "functions.0.schema"),
        ({"service": "calc", "functions": [{"name": "x", "schema": '{"type": "string"}'}]}, "functions.0.schema"),
        (
            {"service": "calc", "functions": [{"name": "x", "config": {"timeoutSeconds": 0}}]},
            "functions.0.config.timeoutSeconds",
        ),
    ]
    for body, field in bad:
        status, payload, _ = call_api(harness, cluster, "POST", "/machines", body)
        assert status == 400 and payload["errors"][0]["field"] == field, (body, payload)


def test_poll_answers_410_when_the_machine_must_register(harness: Any) -> None:
    cluster = harness.cluster()
    status, body, headers = call_api(
        harness, cluster, "GET", f"/clusters/{cluster}/calls", service="nope", acknowledge="true"
    )
    assert status == 410 and "register" in body["message"] and headers["retry-after"] == "1", body
    register(harness, cluster)
    status, body, _ = harness.api_with_headers(
        "GET",
        f"/clusters/{cluster}/calls",
        query={"service": "calc", "acknowledge": "true"},
        headers={"x-machine-id": "never-registered"},
    )
    assert status == 410 and "never-registered" in body["message"]
    status, body, _ = call_api(
        harness, cluster, "GET", f"/clusters/{cluster}/calls", service="calc", acknowledge="false"
    )
    assert status == 400 and body["errors"][0]["field"] == "acknowledge"


def test_a_run_calls_service_functions_with_its_context(harness: Any) -> None:
    cluster = harness.cluster()
    register(harness, cluster)
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "Add 1 and 2, then echo",
            "attachedFunctions": [{"service": "calc", "function": "add"}, {"service": "calc", "function": "echo"}],
            "context": {"tenant": "t1"},
            "test": script(
                {
                    "toolCalls": [
                        {"name": "calc_add", "input": {"a": 1, "b": 2}},
                        {"name": "calc_echo", "input": {"x": 1}},
                    ]
                },
                {"text": "The sum is 3."},
            ),
        },
    )
    calls = poll(harness, cluster, want=2)
    by_fn = {c["function"]: c for c in calls}
    assert set(by_fn) == {"add", "echo"}
    add = by_fn["add"]
    assert add["input"] == {"a": 1, "b": 2} and add["runContext"] == {"tenant": "t1"}
    assert add["approved"] is False and add["authContext"] is None and add["id"].startswith(f"{run_id}.")
    status, call, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/calls/{add['id']}")
    assert status == 200 and call["status"] == "running" and call["executingMachineId"] == "m-test-1"
    assert result(harness, cluster, add["id"], {"sum": 3}) == 204
    assert result(harness, cluster, by_fn["echo"]["id"], {"x": 1}) == 204
    run = harness.wait_run(cluster, run_id)
    assert run["status"] == "done" and run["result"] == {"message": "The sum is 3."}
    # a second answer for an answered call: 409, nothing changed
    assert result(harness, cluster, add["id"], {"sum": 4}) == 409
    status, call, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/calls/{add['id']}")
    assert call["status"] == "success" and json.loads(call["result"]) == {"sum": 3}
    assert call["service"] == "calc" and call["targetFn"] == "add" and call["resultType"] == "resolution"
    assert {
        "id",
        "status",
        "targetFn",
        "service",
        "executingMachineId",
        "targetArgs",
        "result",
        "resultType",
        "createdAt",
        "blobs",
    } <= set(call)
    results = {b["tool_use_id"]: b for b in tool_results(harness, cluster, run_id)}
    assert json.loads(results[add["id"].split(".", 1)[1]]["content"]) == {"sum": 3}
    # the contract's messages
    status, messages, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/runs/{run_id}/messages")
    assert status == 200
    assert [m["type"] for m in messages] == ["human", "agent", "invocation-result", "invocation-result", "agent"]
    for m in messages:
        assert set(m) == {"id", "type", "data", "createdAt", "pending", "displayableContext"}
    assert messages[0]["data"] == {"message": "Add 1 and 2, then echo"}
    invocations = messages[1]["data"]["invocations"]
    assert [(i["toolName"], i["input"]) for i in invocations] == [
        ("calc_add", {"a": 1, "b": 2}),
        ("calc_echo", {"x": 1}),
    ]
    assert messages[2]["data"] == {"id": add["id"], "result": {"sum": 3}}
    assert messages[4]["data"] == {"message": "The sum is 3.", "done": True, "result": {"message": "The sum is 3."}}
    # per service call: CallRoute → AwaitService → CallRoute (→ CallDone)
    counts = states_entered(harness, run_id)
    assert {k: counts.get(k, 0) for k in ("ModelTurn", "ToolCalls", "CallRoute", "AwaitService", "CallFailed")} == {
        "ModelTurn": 2,
        "ToolCalls": 1,
        "CallRoute": 4,
        "AwaitService": 2,
        "CallFailed": 0,
    }


def test_a_rejection_reaches_the_model(harness: Any) -> None:
    cluster = harness.cluster()
    register(harness, cluster)
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "add",
            "attachedFunctions": [{"service": "calc", "function": "add"}],
            "test": script({"toolCalls": [{"name": "calc_add", "input": {"a": 1, "b": 2}}]}, {"text": "It failed."}),
        },
    )
    (call,) = poll(harness, cluster)
    error = {"name": "Error", "message": "the adder is broken", "stack": "Error: the adder is broken\n    at ..."}
    assert result(harness, cluster, call["id"], error, "rejection") == 204
    assert harness.wait_run(cluster, run_id)["status"] == "done"
    (block,) = tool_results(harness, cluster, run_id)
    assert block["is_error"] is True and "Error: the adder is broken" in block["content"]
    _, messages, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/runs/{run_id}/messages")
    rejected = next(m for m in messages if m["type"] == "invocation-result")
    assert "the adder is broken" in rejected["data"]["result"]["error"]


def test_an_interrupt_pauses_for_approval_then_the_service_runs_it_again(harness: Any) -> None:
    cluster = harness.cluster()
    register(harness, cluster)
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "add with approval",
            "attachedFunctions": [{"service": "calc", "function": "add"}],
            "test": script({"toolCalls": [{"name": "calc_add", "input": {"a": 2, "b": 2}}]}, {"text": "4"}),
        },
    )
    (call,) = poll(harness, cluster)
    assert call["approved"] is False
    assert result(harness, cluster, call["id"], {"type": "approval"}, "interrupt") == 204
    run = wait_status(harness, cluster, run_id, "paused")
    assert [p["callId"] for p in run["pendingApprovals"]] == [call["id"].split(".", 1)[1]]
    _, timeline, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/runs/{run_id}/timeline")
    (job,) = timeline["jobs"]
    assert job["approvalRequested"] is True and job["approved"] is None and job["resultType"] == "interrupt"
    status, _, _ = call_api(
        harness, cluster, "POST", f"/clusters/{cluster}/calls/{call['id']}/approval", {"approved": True}
    )
    assert status == 204
    (again,) = poll(harness, cluster)
    assert again["id"] == call["id"] and again["approved"] is True and again["input"] == {"a": 2, "b": 2}
    assert result(harness, cluster, again["id"], {"sum": 4}) == 204
    assert harness.wait_run(cluster, run_id)["status"] == "done"
    _, timeline, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/runs/{run_id}/timeline")
    assert timeline["jobs"][0]["approved"] is True and timeline["jobs"][0]["status"] == "success"
    assert {a["type"] for a in timeline["activity"]} >= {
        "jobCreated",
        "jobAcknowledged",
        "approvalRequested",
        "approvalGranted",
    }
    # the interrupt's way through the Map iteration: service → approval → service again
    counts = states_entered(harness, run_id)
    assert (counts["CallRoute"], counts["AwaitService"], counts["AwaitApproval"]) == (4, 2, 1)
    # a second decision: 409
    status, _, _ = call_api(
        harness, cluster, "POST", f"/clusters/{cluster}/calls/{call['id']}/approval", {"approved": False}
    )
    assert status == 409


def test_a_denied_interrupt_goes_to_the_model_as_the_reason(harness: Any) -> None:
    cluster = harness.cluster()
    register(harness, cluster)
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "add",
            "attachedFunctions": [{"service": "calc", "function": "add"}],
            "test": script({"toolCalls": [{"name": "calc_add", "input": {"a": 2, "b": 2}}]}, {"text": "denied"}),
        },
    )
    (call,) = poll(harness, cluster)
    assert result(harness, cluster, call["id"], {"type": "approval"}, "interrupt") == 204
    wait_status(harness, cluster, run_id, "paused")
    assert (
        call_api(harness, cluster, "POST", f"/clusters/{cluster}/calls/{call['id']}/approval", {"approved": False})[0]
        == 204
    )
    assert harness.wait_run(cluster, run_id)["status"] == "done"
    (block,) = tool_results(harness, cluster, run_id)
    assert block["is_error"] and "denied" in block["content"]


def test_requires_approval_functions_are_approved_by_call_id(harness: Any) -> None:
    cluster = harness.cluster()
    harness.put_function(cluster, "current_time", {"target": {"type": "builtin"}, "requiresApproval": True})
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "time?",
            "attachedFunctions": [{"service": "runplane", "function": "current_time"}],
            "test": script({"toolCalls": [{"name": "current_time", "input": {}}]}, {"text": "now"}),
        },
    )
    run = wait_status(harness, cluster, run_id, "paused")
    call_id = f"{run_id}.{run['pendingApprovals'][0]['callId']}"
    assert (
        call_api(harness, cluster, "POST", f"/clusters/{cluster}/calls/{call_id}/approval", {"approved": True})[0]
        == 204
    )
    assert harness.wait_run(cluster, run_id)["status"] == "done"
    assert (
        call_api(harness, cluster, "POST", f"/clusters/{cluster}/calls/{run_id}.nope/approval", {"approved": True})[0]
        == 404
    )
    assert call_api(harness, cluster, "POST", f"/clusters/{cluster}/calls/nodot/approval", {"approved": True})[0] == 404


def test_a_stalled_call_is_retried_then_fails_and_a_late_result_is_refused(harness: Any) -> None:
    cluster = harness.cluster()
    register(harness, cluster, add={"timeoutSeconds": 2, "retryCountOnStall": 1})
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "add",
            "attachedFunctions": [{"service": "calc", "function": "add"}],
            "test": script({"toolCalls": [{"name": "calc_add", "input": {"a": 1, "b": 1}}]}, {"text": "gave up"}),
        },
    )
    (first,) = poll(harness, cluster)  # acknowledged, never answered
    (second,) = poll(harness, cluster)  # the stall retry: the same call, queued again
    assert second["id"] == first["id"]
    run = harness.wait_run(cluster, run_id, timeout=30)
    assert run["status"] == "done"
    (block,) = tool_results(harness, cluster, run_id)
    assert block["is_error"] and "stalled" in block["content"] and "2 attempts" in block["content"]
    # the answer arrives after all: 409, and nothing changes
    assert result(harness, cluster, first["id"], {"sum": 2}) == 409
    _, call, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/calls/{first['id']}")
    assert call["status"] == "stalled" and call["result"] is None
    # two deliveries, two timeouts, then the failure
    counts = states_entered(harness, run_id)
    assert (counts["AwaitService"], counts["CallFailed"], counts["CallRoute"]) == (2, 2, 3)
    # no third delivery
    status, calls, _ = call_api(
        harness, cluster, "GET", f"/clusters/{cluster}/calls", service="calc", acknowledge="true"
    )
    assert status == 200 and calls == []


def test_blobs_feedback_and_delete(harness: Any) -> None:
    cluster = harness.cluster()
    register(harness, cluster)
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "echo",
            "attachedFunctions": [{"service": "calc", "function": "echo"}],
            "test": script({"toolCalls": [{"name": "calc_echo", "input": {}}]}, {"text": "ok"}),
        },
    )
    (call,) = poll(harness, cluster)
    data = base64.b64encode(json.dumps({"rows": [1, 2]}).encode()).decode()
    blob = {"name": "rows", "type": "application/json", "encoding": "base64", "size": len(data), "data": data}
    status, created, _ = call_api(harness, cluster, "POST", f"/clusters/{cluster}/calls/{call['id']}/blobs", blob)
    assert status == 201 and created["id"].startswith(f"{run_id}.")
    bad = {**blob, "type": "text/html"}
    assert call_api(harness, cluster, "POST", f"/clusters/{cluster}/calls/{call['id']}/blobs", bad)[0] == 400
    status, got, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/blobs/{created['id']}/data")
    assert status == 200 and got == {"rows": [1, 2]}
    assert call_api(harness, cluster, "GET", f"/clusters/{cluster}/blobs/{run_id}.nope/data")[0] == 404
    # still running: it cannot be deleted
    status, payload, _ = call_api(harness, cluster, "DELETE", f"/clusters/{cluster}/runs/{run_id}")
    assert status == 409 and "running" in payload["message"]
    assert result(harness, cluster, call["id"], {}) == 204
    harness.wait_run(cluster, run_id)
    _, timeline, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/runs/{run_id}/timeline")
    assert set(timeline) == {"messages", "activity", "jobs", "run", "blobs"}
    assert [b["id"] for b in timeline["blobs"]] == [created["id"]] and timeline["blobs"][0]["jobId"] == call["id"]
    assert timeline["run"]["id"] == run_id and timeline["run"]["status"] == "done"
    later = call_api(
        harness,
        cluster,
        "GET",
        f"/clusters/{cluster}/runs/{run_id}/timeline",
        messagesAfter=timeline["messages"][1]["id"],
    )[1]
    assert [m["id"] for m in later["messages"]] == [m["id"] for m in timeline["messages"][2:]]
    status, _, _ = call_api(
        harness, cluster, "POST", f"/clusters/{cluster}/runs/{run_id}/feedback", {"comment": "good", "score": 0.8}
    )
    assert status == 204
    run = harness.get_run(cluster, run_id)
    assert (run["feedbackComment"], run["feedbackScore"], run["userId"]) == ("good", 0.8, None)
    bad_score = {"comment": None, "score": 2}
    assert call_api(harness, cluster, "POST", f"/clusters/{cluster}/runs/{run_id}/feedback", bad_score)[0] == 400
    assert call_api(harness, cluster, "DELETE", f"/clusters/{cluster}/runs/{run_id}")[0] == 204
    assert harness.api("GET", f"/clusters/{cluster}/runs/{run_id}")[0] == 404
    assert call_api(harness, cluster, "GET", f"/clusters/{cluster}/blobs/{created['id']}/data")[0] == 404
    assert harness.store().calls(cluster, run_id) == []
    assert call_api(harness, cluster, "DELETE", f"/clusters/{cluster}/runs/{run_id}")[0] == 404


def test_create_message_and_live(harness: Any) -> None:
    cluster = harness.cluster()
    run = harness.run_to_end(cluster, {"initialPrompt": "hi", "test": script({"text": "one"}, {"text": "two"})})
    msg_id = "01JABCDEFGHJKMNPQRSTVWXYZ0"
    status, body, _ = call_api(
        harness,
        cluster,
        "POST",
        f"/clusters/{cluster}/runs/{run['id']}/messages",
        {"id": msg_id, "message": "again", "type": "human"},
    )
    assert status == 201 and body is None
    assert harness.wait_run(cluster, run["id"])["result"] == {"message": "two"}
    _, messages, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/runs/{run['id']}/messages")
    assert [m["type"] for m in messages] == ["human", "agent", "human", "agent"] and messages[2]["id"] == msg_id
    status, body, _ = harness.api_with_headers("GET", "/live", key="")
    assert (status, body) == (200, {"status": "ok"})
    status, body = harness.api("POST", f"/clusters/{cluster}/runs", {"initialPrompt": "x", "template": {"id": "t"}})
    assert status == 400 and "template" in body["message"] and "deprecated" in body["message"]


def test_create_call_calls_one_function_directly(harness: Any) -> None:
    import threading

    cluster = harness.cluster()
    register(harness, cluster)
    status, made, _ = call_api(
        harness,
        cluster,
        "POST",
        f"/clusters/{cluster}/calls",
        {"service": "calc", "function": "add", "input": {"a": 5, "b": 6}},
    )
    assert status == 200 and made["status"] == "pending" and made["result"] is None
    (call,) = poll(harness, cluster)
    assert call["id"] == made["id"] and call["input"] == {"a": 5, "b": 6} and call["runContext"] is None
    assert result(harness, cluster, call["id"], {"type": "approval"}, "interrupt") == 400
    assert result(harness, cluster, call["id"], {"sum": 11}) == 204
    _, got, _ = call_api(harness, cluster, "GET", f"/clusters/{cluster}/calls/{made['id']}")
    assert got["status"] == "success" and json.loads(got["result"]) == {"sum": 11}
    # waitTime: the request waits for the machine's answer
    answered: list[int] = []

    def machine() -> None:
        (c,) = poll(harness, cluster)
        answered.append(result(harness, cluster, c["id"], {"sum": 3}))

    worker = threading.Thread(target=machine)
    worker.start()
    status, made, _ = call_api(
        harness,
        cluster,
        "POST",
        f"/clusters/{cluster}/calls",
        {"service": "calc", "function": "add", "input": {"a": 1, "b": 2}},
        waitTime="15",
    )
    worker.join(timeout=30)
    assert answered == [204]
    assert status == 200 and made == {
        "id": made["id"],
        "result": {"sum": 3},
        "resultType": "resolution",
        "status": "success",
    }
    bad = {"service": "calc", "function": "add", "input": {"a": "x"}}
    status, payload, _ = call_api(harness, cluster, "POST", f"/clusters/{cluster}/calls", bad)
    assert status == 400 and payload["errors"][0]["field"] == "input"
    missing = {"service": "calc", "function": "nope", "input": {}}
    assert call_api(harness, cluster, "POST", f"/clusters/{cluster}/calls", missing)[0] == 404


def test_mocks_keyed_service_function(harness: Any) -> None:
    cluster = harness.cluster()
    register(harness, cluster)
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "add",
            "attachedFunctions": [
                {"service": "calc", "function": "add"},
                {"service": "runplane", "function": "current_time"},
            ],
            "test": {
                "enabled": True,
                "mocks": {"calc_add": {"output": {"sum": 42}}, "runplane_current_time": {"output": {"iso": "then"}}},
                "modelScript": [
                    {
                        "toolCalls": [
                            {"name": "calc_add", "input": {"a": 1, "b": 2}},
                            {"name": "current_time", "input": {}},
                        ]
                    },
                    {"text": "42"},
                ],
            },
        },
    )
    assert run["status"] == "done"
    contents = sorted(b["content"] for b in tool_results(harness, cluster, run["id"]))
    assert [json.loads(c) for c in contents] == [{"iso": "then"}, {"sum": 42}]
    status, calls, _ = call_api(
        harness, cluster, "GET", f"/clusters/{cluster}/calls", service="calc", acknowledge="true"
    )
    assert status == 200 and calls == []  # a mocked call never reaches the service
