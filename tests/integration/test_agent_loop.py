"""The agent loop end to end in the emulator: real ASL, real handlers, scripted model."""

from __future__ import annotations

from typing import Any

from runplane.adapters.dynamo import DynamoRunStore
from runplane.config import settings
from runplane.logic.result import validation_errors

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 3},
        "severity": {"enum": ["low", "medium", "high"]},
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 2},
    },
    "required": ["title", "severity", "items"],
    "$defs": {
        "item": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "count": {"type": "integer", "minimum": 1}},
            "required": ["name", "count"],
        }
    },
}


def script(*turns: dict[str, Any]) -> dict[str, Any]:
    return {"enabled": False, "modelScript": list(turns)}


def state_entries(harness: Any, run_id: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in harness.history(run_id) if e["type"].endswith("StateEntered")
    ]


def test_done_without_schema_has_result_and_summary(harness: Any) -> None:
    cluster = harness.cluster()
    run = harness.run_to_end(cluster, {"initialPrompt": "Say hello to the team in one sentence"})
    assert run["status"] == "done"
    assert run["result"] == {"message": "Scripted answer to: Say hello to the team in one sentence"}
    assert run["summary"]
    assert run["name"] == "Say hello to the team"
    assert run["model"] == "scripted:claude-sonnet-5-5"
    assert run["usage"]["inputTokens"] > 0 and run["usage"]["outputTokens"] > 0
    assert run["failureReason"] is None
    assert harness.wait_execution(run["id"])["status"] == "SUCCEEDED"


def test_done_with_schema_result_conforms(harness: Any) -> None:
    cluster = harness.cluster()
    run = harness.run_to_end(cluster, {"initialPrompt": "Summarize the incident", "resultSchema": REPORT_SCHEMA})
    assert run["status"] == "done"
    assert validation_errors(REPORT_SCHEMA, run["result"]) == []
    assert run["summary"]
    # One model turn: ModelTurn + Route, then the terminal state.
    assert state_entries(harness, run["id"]) == ["ModelTurn", "Route", "RunFinished"]


def test_invalid_result_is_repaired(harness: Any) -> None:
    cluster = harness.cluster()
    good = {
        "title": "Disk full",
        "severity": "high",
        "items": [{"name": "db", "count": 2}, {"name": "web", "count": 1}],
    }
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "Report",
            "resultSchema": REPORT_SCHEMA,
            "test": script(
                {"result": {"title": "x", "severity": "urgent", "items": []}, "summary": "first try"},
                {"result": good, "summary": "Found two services with full disks."},
            ),
        },
    )
    assert run["status"] == "done"
    assert run["result"] == good
    assert run["summary"] == "Found two services with full disks."
    assert run["resultError"] is None
    store = DynamoRunStore(settings())
    stored = store.get_run(cluster, run["id"])
    assert stored is not None
    kinds = [m.kind for m in store.messages(stored)]
    assert kinds == ["human", "agent", "repair", "agent"]
    repair = store.messages(stored)[2].content[0]
    assert repair["type"] == "tool_result" and repair["is_error"] is True
    assert "severity" in repair["content"] and "title" in repair["content"]


def test_unrepairable_result_is_null_with_reason(harness: Any) -> None:
    cluster = harness.cluster()
    bad = {"result": {"title": 1}, "summary": "nope"}
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "Report",
            "resultSchema": REPORT_SCHEMA,
            "test": script(bad, bad, bad, bad),
        },
    )
    assert run["status"] == "done"
    assert run["result"] is None
    assert "did not produce a result conforming to resultSchema after 3 attempts" in run["resultError"]
    assert state_entries(harness, run["id"]).count("ModelTurn") == 3


def test_plain_text_answer_with_schema_is_asked_for_the_tool(harness: Any) -> None:
    cluster = harness.cluster()
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "Report",
            "resultSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
            "test": script({"text": "It is all fine."}, {"result": {"ok": True}, "summary": "All fine."}),
        },
    )
    assert run["status"] == "done"
    assert run["result"] == {"ok": True}


def test_retry_then_success_uses_state_machine_retry(harness: Any) -> None:
    cluster = harness.cluster()
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "Hello",
            "test": script({"error": "throttled", "times": 2}, {"text": "unused"}),
        },
    )
    assert run["status"] == "done", run
    history = harness.history(run["id"])
    failures = [e for e in history if e["type"] in ("TaskFailed", "LambdaFunctionFailed")]
    assert len(failures) == 2
    assert all("ModelThrottled" in str(e) for e in failures)


def test_fatal_model_error_fails_the_run_with_reason(harness: Any) -> None:
    cluster = harness.cluster()
    run = harness.run_to_end(cluster, {"initialPrompt": "Hello", "test": script({"error": "bad_request"})})
    assert run["status"] == "failed"
    assert "rejected the request (400)" in run["failureReason"]
    assert harness.wait_execution(run["id"])["status"] == "FAILED"
    entries = state_entries(harness, run["id"])
    assert entries.count("ModelTurn") == 1  # not retried
    assert entries[-2:] == ["RecordFailure", "RunFailed"]


def test_retries_exhausted_fail_the_run(harness: Any) -> None:
    cluster = harness.cluster()
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "Hello",
            "test": script({"error": "overloaded", "times": 99}),
        },
    )
    assert run["status"] == "failed"
    assert "overloaded" in run["failureReason"] and "retries" in run["failureReason"]
    assert state_entries(harness, run["id"]).count("ModelTurn") == 1


def test_max_turns_fails_with_clear_reason(harness: Any) -> None:
    cluster = harness.cluster()
    loop = {"toolCalls": [{"name": "lookup", "input": {}}]}
    run = harness.run_to_end(cluster, {"initialPrompt": "Loop forever", "test": script(*[loop] * 20)})
    assert run["status"] == "failed"
    assert run["failureReason"] == "the run reached the maximum of 8 model turns without finishing"
    assert state_entries(harness, run["id"]).count("ModelTurn") == 9
