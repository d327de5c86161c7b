"""Cancel, follow-up messages, the run log, and large tool results."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.tool_server import ToolServer


def wait_for(harness: Any, cluster: str, run_id: str, status: str, pending: int | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        run = harness.get_run(cluster, run_id)
        if run["status"] == status and (pending is None or len(run["pendingApprovals"]) == pending):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def test_cancel_while_running(harness: Any, tools: ToolServer) -> None:
    queue = harness.subscribe()
    cluster = harness.cluster()
    harness.put_function(
        cluster, "slow", {"target": {"type": "http", "url": tools.url + "/slow"}, "timeoutSeconds": 30}
    )
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "slow",
            "test": {
                "modelScript": [{"toolCalls": [{"name": "slow", "input": {"seconds": 2}}]}, {"text": "never reached"}]
            },
        },
    )
    deadline = time.monotonic() + 10
    while not any(c.status == "running" for c in harness.calls(cluster, run_id)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status, run = harness.api("POST", f"/clusters/{cluster}/runs/{run_id}/cancel", {"reason": "user gave up"})
    assert status == 200 and run["status"] == "cancelled" and run["cancelReason"] == "user gave up"
    # On AWS StopExecution aborts it; moto reports the aborted Map iteration as FAILED.
    assert harness.wait_execution(run_id)["status"] in ("ABORTED", "FAILED", "SUCCEEDED")
    time.sleep(2.5)  # the slow call returns meanwhile: nothing may resurrect the run
    assert harness.get_run(cluster, run_id)["status"] == "cancelled"
    assert not any(m.role == "assistant" and m.index > 1 for m in harness.messages(cluster, run_id))
    statuses = [e["detail"]["status"] for e in harness.received(queue, run_id, until_status="cancelled")]
    assert statuses == ["pending", "running", "cancelled"]
    assert harness.api("POST", f"/clusters/{cluster}/runs/{run_id}/cancel")[0] == 409


def test_cancel_while_paused_voids_the_approval(harness: Any, tools: ToolServer) -> None:
    queue = harness.subscribe()
    cluster = harness.cluster()
    harness.put_function(
        cluster, "refund", {"requiresApproval": True, "target": {"type": "http", "url": tools.url + "/echo"}}
    )
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "refund",
            "test": {"modelScript": [{"toolCalls": [{"name": "refund", "input": {}}]}, {"text": "done"}]},
        },
    )
    call_id = wait_for(harness, cluster, run_id, "paused", pending=1)["pendingApprovals"][0]["callId"]
    status, run = harness.api("POST", f"/clusters/{cluster}/runs/{run_id}/cancel")
    assert status == 200 and run["status"] == "cancelled" and run["pendingApprovals"] == []
    assert harness.calls(cluster, run_id)[0].status == "cancelled"
    # the execution does not stay parked on the approval's task token (it ends one way or the other:
    # the released token finishes the iteration, or the stop aborts it; moto reports that as FAILED)
    assert harness.wait_execution(run_id)["status"] in ("ABORTED", "FAILED", "SUCCEEDED")
    decided = harness.api("POST", f"/clusters/{cluster}/runs/{run_id}/calls/{call_id}/approval", {"approved": True})
    assert decided[0] == 409
    assert harness.get_run(cluster, run_id)["status"] == "cancelled"
    statuses = [e["detail"]["status"] for e in harness.received(queue, run_id, until_status="cancelled")]
    assert statuses == ["pending", "running", "paused", "cancelled"]


def test_cancel_finished_runs_is_409(harness: Any) -> None:
    cluster = harness.cluster()
    run = harness.run_to_end(cluster, {"initialPrompt": "x"})
    status, payload = harness.api("POST", f"/clusters/{cluster}/runs/{run['id']}/cancel")
    assert status == 409 and "already done" in payload["message"]
    assert harness.api("POST", f"/clusters/{cluster}/runs/nosuchrun/cancel")[0] == 404


def test_follow_up_message_continues_a_done_run(harness: Any) -> None:
    queue = harness.subscribe()
    cluster = harness.cluster()
    run = harness.run_to_end(
        cluster,
        {"initialPrompt": "What is 2+2?", "test": {"modelScript": [{"text": "4"}, {"text": "4 times 3 is 12"}]}},
    )
    assert run["result"] == {"message": "4"}
    status, body = harness.api("POST", f"/clusters/{cluster}/runs/{run['id']}/messages", {"message": "Times 3?"})
    assert status == 201 and body is None
    assert harness.get_run(cluster, run["id"])["status"] in ("running", "done")
    again = harness.wait_run(cluster, run["id"])
    assert again["status"] == "done" and again["result"] == {"message": "4 times 3 is 12"}
    kinds = [m.kind for m in harness.messages(cluster, run["id"])]
    assert kinds == ["human", "agent", "human", "agent"]
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while len(events) < 5 and time.monotonic() < deadline:
        events += harness.received(queue, run["id"], until_status="done")
    assert [(e["detail"]["status"], e["detail"]["sequence"]) for e in events] == [
        ("pending", 1),
        ("running", 2),
        ("done", 3),
        ("running", 4),
        ("done", 5),
    ]
    from runplane.logic.runs import status_history

    seqs = [s["sequence"] for s in status_history(harness.store().get_run(cluster, run["id"]))]
    assert seqs == [1, 2, 3, 4, 5]
    executions = harness.sfn.list_executions(stateMachineArn=harness.emulator.state_machine_arn)["executions"]
    assert {f"{run['id']}", f"{run['id']}-2"} <= {e["name"] for e in executions}


def test_follow_up_rules(harness: Any, tools: ToolServer) -> None:
    cluster = harness.cluster()
    closed = harness.run_to_end(cluster, {"initialPrompt": "x", "interactive": False})
    status, payload = harness.api("POST", f"/clusters/{cluster}/runs/{closed['id']}/messages", {"message": "more"})
    assert status == 409 and "not interactive" in payload["message"]
    harness.put_function(cluster, "slow", {"target": {"type": "http", "url": tools.url + "/slow"}})
    busy = harness.create_run(
        cluster,
        {
            "initialPrompt": "slow",
            "test": {"modelScript": [{"toolCalls": [{"name": "slow", "input": {"seconds": 3}}]}, {"text": "ok"}]},
        },
    )
    wait_for(harness, cluster, busy, "running")
    status, payload = harness.api("POST", f"/clusters/{cluster}/runs/{busy}/messages", {"message": "hurry"})
    assert status == 409 and "running" in payload["message"]
    harness.wait_run(cluster, busy)
    assert harness.api("POST", f"/clusters/{cluster}/runs/{busy}/messages", {"message": ""})[0] == 400


def test_failed_run_can_be_continued(harness: Any) -> None:
    cluster = harness.cluster()
    script = {"modelScript": [{"error": "bad_request", "times": 1}]}  # the first attempt is rejected
    run = harness.run_to_end(cluster, {"initialPrompt": "x", "test": script})
    assert run["status"] == "failed"
    assert harness.api("POST", f"/clusters/{cluster}/runs/{run['id']}/messages", {"message": "try again"})[0] == 201
    again = harness.wait_run(cluster, run["id"])
    assert again["status"] == "done" and again["failureReason"] is None


def test_timeline_in_order_and_paginated(harness: Any, tools: ToolServer) -> None:
    cluster = harness.cluster()
    harness.put_function(
        cluster, "refund", {"requiresApproval": True, "target": {"type": "http", "url": tools.url + "/echo"}}
    )
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "refund it",
            "test": {
                "modelScript": [
                    {"text": "I'll refund.", "toolCalls": [{"name": "refund", "input": {"order": 1}}]},
                    {"text": "Refunded."},
                ]
            },
        },
    )
    call_id = wait_for(harness, cluster, run_id, "paused", pending=1)["pendingApprovals"][0]["callId"]
    harness.api(
        "POST", f"/clusters/{cluster}/runs/{run_id}/calls/{call_id}/approval", {"approved": True, "reason": "ok"}
    )
    harness.wait_run(cluster, run_id)
    status, page = harness.api("GET", f"/clusters/{cluster}/runs/{run_id}/log")
    assert status == 200
    kinds = [(e["type"], e.get("status") or e.get("kind") or "") for e in page["entries"]]
    assert kinds == [
        ("status", "pending"),
        ("message", "human"),
        ("status", "running"),
        ("message", "agent"),
        ("call", "succeeded"),
        ("approval-requested", ""),
        ("status", "paused"),
        ("approval-decided", ""),
        ("status", "running"),
        ("message", "tool-result"),
        ("message", "agent"),
        ("status", "done"),
    ]
    call = next(e for e in page["entries"] if e["type"] == "call")
    assert (
        call["input"] == {"order": 1} and call["reasoning"] == "I'll refund." and call["result"]["echo"] == {"order": 1}
    )
    ats = [e["at"] for e in page["entries"]]
    assert ats == sorted(ats)
    seen, cursor = [], None
    while True:
        _, part = harness.api(
            "GET",
            f"/clusters/{cluster}/runs/{run_id}/log",
            query={"limit": "5", **({"cursor": cursor} if cursor else {})},
        )
        seen += part["entries"]
        cursor = part["nextCursor"]
        if not cursor:
            break
    assert seen == page["entries"]


def test_large_result_is_summarized_and_the_payload_stays_small(harness: Any, tools: ToolServer) -> None:
    cluster = harness.cluster()
    harness.put_function(cluster, "big", {"target": {"type": "http", "url": tools.url + "/big"}})
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "big data",
            "test": {
                "modelScript": [{"toolCalls": [{"name": "big", "input": {"n": 3000}}]}, {"text": "Summarized it."}]
            },
        },
    )
    assert run["status"] == "done"
    call = harness.calls(cluster, run["id"])[0]
    assert call.result_chars > 300_000 and call.result_blob is not None and call.result is None
    result_block = next(b for m in harness.messages(cluster, run["id"]) if m.kind == "tool-result" for b in m.content)
    assert result_block["content"].startswith("[Summarized: the full result has")
    assert len(result_block["content"]) < 2_000
    assert harness.max_payload_bytes(run["id"]) <= 8 * 1024
    # with callSummarization off the result is truncated with a notice
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "big data",
            "callSummarization": False,
            "test": {
                "modelScript": [{"toolCalls": [{"name": "big", "input": {"n": 3000}}]}, {"text": "Truncated it."}]
            },
        },
    )
    block = next(b for m in harness.messages(cluster, run["id"]) if m.kind == "tool-result" for b in m.content)
    assert "[Truncated: the result has" in block["content"] and len(block["content"]) < 10_200


def execution_status_event(harness: Any, run: Any, name: str, status: str) -> dict[str, Any]:
    """What Step Functions sends to EventBridge when an execution ends (source aws.states)."""
    arn = f"{harness.execution_arn(run.id).rsplit(':', 1)[0]}:{name}"
    return {
        "version": "0",
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": arn,
            "stateMachineArn": harness.emulator.state_machine_arn,
            "name": name,
            "status": status,
            "input": json.dumps({"runId": run.id, "clusterId": run.cluster_id}),
            "error": "States.Timeout" if status == "TIMED_OUT" else None,
            "cause": None,
        },
    }


def reconcile(harness: Any, event: dict[str, Any]) -> dict[str, Any]:
    resp = harness.emulator.client("lambda").invoke(
        FunctionName=harness.emulator.names.function("reconcile"), Payload=json.dumps(event)
    )
    assert "FunctionError" not in resp
    return dict(json.loads(resp["Payload"].read()))


def test_an_execution_that_ends_outside_the_loop_fails_its_run(harness: Any) -> None:
    queue = harness.subscribe()
    cluster = harness.cluster()
    stuck = harness.write_run_only(cluster, "stuck", "running")  # no execution will ever finish it
    assert reconcile(harness, execution_status_event(harness, stuck, stuck.id, "TIMED_OUT")) == {"changed": True}
    run = harness.get_run(cluster, stuck.id)
    assert run["status"] == "failed"
    assert run["failureReason"] == "the agent loop's execution timed out before the run finished"
    assert [e["detail"]["status"] for e in harness.received(queue, stuck.id, until_status="failed")] == [
        "running",
        "failed",
    ]
    # a finished run, or an older execution of a continued run, is left alone
    done = harness.run_to_end(cluster, {"initialPrompt": "x"})
    stored = harness.store().get_run(cluster, done["id"])
    assert reconcile(harness, execution_status_event(harness, stored, done["id"], "ABORTED")) == {"changed": False}
    assert harness.get_run(cluster, done["id"])["status"] == "done"
    assert reconcile(harness, {"detail": {"input": "not json"}}) == {"changed": False}
