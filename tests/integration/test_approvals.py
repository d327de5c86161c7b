"""Human approval: pause on a task token, decide, expire; the status events of each change."""

from __future__ import annotations

import threading
from typing import Any

from tests.support.tool_server import ToolServer


def approval_fn(tools_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": "Refund an order",
        "requiresApproval": True,
        "inputSchema": {
            "type": "object",
            "properties": {"order": {"type": "string"}, "amount": {"type": "number"}},
            "required": ["order", "amount"],
        },
        "target": {"type": "http", "url": tools_url + "/echo"},
        **extra,
    }


def refund_run(harness: Any, cluster: str, *calls: dict[str, Any]) -> str:
    return harness.create_run(
        cluster,
        {
            "initialPrompt": "Refund order 7",
            "test": {
                "modelScript": [{"toolCalls": [{"name": "refund", "input": c} for c in calls]}, {"text": "Handled."}]
            },
        },
    )


def setup(harness: Any, tools: ToolServer, **extra: Any) -> tuple[str, ToolServer]:
    tools.requests.clear()  # the module's tool server (conftest), listed in the emulator's loopback origins
    cluster = harness.cluster()
    harness.put_function(cluster, "refund", approval_fn(tools.url, **extra))
    return cluster, tools


def paused(harness: Any, cluster: str, run_id: str, count: int = 1) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 20
    while True:
        run = harness.get_run(cluster, run_id)
        if run["status"] == "paused" and len(run["pendingApprovals"]) == count:
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def decide(harness: Any, cluster: str, run_id: str, call_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    return harness.api("POST", f"/clusters/{cluster}/runs/{run_id}/calls/{call_id}/approval", body)


def test_approve_runs_the_call_and_events_show_the_pause(harness: Any, tools: ToolServer) -> None:
    queue = harness.subscribe()
    cluster, tools = setup(harness, tools)
    run_id = refund_run(harness, cluster, {"order": "7", "amount": 20})
    run = paused(harness, cluster, run_id)
    pending = run["pendingApprovals"][0]
    assert pending["function"] == "refund" and pending["input"] == {"order": "7", "amount": 20}
    assert pending["requestedAt"] < pending["expiresAt"]
    assert tools.requests == []  # nothing ran yet
    assert "taskToken" not in str(run) and "task_token" not in str(run)
    status, call = decide(harness, cluster, run_id, pending["callId"], {"approved": True})
    assert status == 200 and call["status"] in ("approved", "running", "succeeded")
    final = harness.wait_run(cluster, run_id)
    assert final["status"] == "done"
    assert [p for p, b in tools.requests] == ["/echo"]
    statuses = [e["detail"]["status"] for e in harness.received(queue, run_id, until_status="done")]
    assert statuses == ["pending", "running", "paused", "running", "done"]


def test_deny_with_reason_reaches_the_model(harness: Any, tools: ToolServer) -> None:
    cluster, tools = setup(harness, tools)
    run_id = refund_run(harness, cluster, {"order": "7", "amount": 20})
    call_id = paused(harness, cluster, run_id)["pendingApprovals"][0]["callId"]
    assert decide(harness, cluster, run_id, call_id, {"approved": False, "reason": "over the limit"})[0] == 200
    assert harness.wait_run(cluster, run_id)["status"] == "done"
    assert tools.requests == []
    result = next(b for m in harness.messages(cluster, run_id) if m.kind == "tool-result" for b in m.content)
    assert result["is_error"] and result["content"] == "A human denied this call: over the limit"


def test_approve_with_edited_input(harness: Any, tools: ToolServer) -> None:
    cluster, tools = setup(harness, tools)
    run_id = refund_run(harness, cluster, {"order": "7", "amount": 500})
    call_id = paused(harness, cluster, run_id)["pendingApprovals"][0]["callId"]
    bad = decide(harness, cluster, run_id, call_id, {"approved": True, "input": {"order": "7", "amount": "lots"}})
    assert bad[0] == 400 and bad[1]["errors"][0]["field"] == "input" and "amount" in bad[1]["message"]
    assert (
        decide(harness, cluster, run_id, call_id, {"approved": True, "input": {"order": "7", "amount": 50}})[0] == 200
    )
    assert harness.wait_run(cluster, run_id)["status"] == "done"
    assert tools.requests[0][1]["input"] == {"order": "7", "amount": 50}
    call = harness.calls(cluster, run_id)[0]
    assert call.approval.edited_input == {"order": "7", "amount": 50}


def test_expired_approval_counts_as_denial(harness: Any, tools: ToolServer) -> None:
    queue = harness.subscribe()
    cluster, tools = setup(harness, tools, approvalTimeoutSeconds=1)
    run_id = refund_run(harness, cluster, {"order": "7", "amount": 20})
    final = harness.wait_run(cluster, run_id)
    assert final["status"] == "done"
    call = harness.calls(cluster, run_id)[0]
    assert call.status == "expired" and call.approval.reason == "expired"
    result = next(b for m in harness.messages(cluster, run_id) if m.kind == "tool-result" for b in m.content)
    assert result["is_error"] and "expired" in result["content"]
    assert tools.requests == []
    statuses = [e["detail"]["status"] for e in harness.received(queue, run_id, until_status="done")]
    assert statuses == ["pending", "running", "paused", "running", "done"]


def test_two_concurrent_decisions_one_wins(harness: Any, tools: ToolServer) -> None:
    cluster, tools = setup(harness, tools)
    run_id = refund_run(harness, cluster, {"order": "7", "amount": 20})
    call_id = paused(harness, cluster, run_id)["pendingApprovals"][0]["callId"]
    results: list[tuple[int, Any]] = []
    start = threading.Barrier(2)

    def go(approved: bool) -> None:
        start.wait()
        results.append(decide(harness, cluster, run_id, call_id, {"approved": approved, "reason": "r"}))

    threads = [threading.Thread(target=go, args=(flag,)) for flag in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for code, _ in results) == [200, 409]
    assert harness.wait_run(cluster, run_id)["status"] == "done"
    again = decide(harness, cluster, run_id, call_id, {"approved": True})
    assert again[0] == 409


def test_run_stays_paused_until_every_approval_is_decided(harness: Any, tools: ToolServer) -> None:
    cluster, tools = setup(harness, tools)
    run_id = refund_run(harness, cluster, {"order": "1", "amount": 1}, {"order": "2", "amount": 2})
    pending = paused(harness, cluster, run_id, count=2)["pendingApprovals"]
    assert decide(harness, cluster, run_id, pending[0]["callId"], {"approved": True})[0] == 200
    run = harness.get_run(cluster, run_id)
    assert run["status"] == "paused" and len(run["pendingApprovals"]) == 1
    assert decide(harness, cluster, run_id, pending[1]["callId"], {"approved": False})[0] == 200
    assert harness.wait_run(cluster, run_id)["status"] == "done"


def test_unknown_call_is_404(harness: Any) -> None:
    cluster = harness.cluster()
    run = harness.run_to_end(cluster, {"initialPrompt": "x"})
    assert decide(harness, cluster, run["id"], "toolu_nope", {"approved": True})[0] == 404
    assert decide(harness, cluster, "nosuchrun", "toolu_nope", {"approved": True})[0] == 404
