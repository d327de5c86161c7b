from __future__ import annotations

import json

from runplane.logic.agent import INTERNAL_FAILURE, failure_reason
from runplane.logic.events import DETAIL_TYPE, MAX_RESULT_BYTES, SOURCE, status_change, to_entry

BASE = {"type": "run", "id": "r1", "clusterId": "c1", "name": "n", "metadata": {"k": "v"}, "updatedAt": "t"}


def test_insert_is_the_pending_event() -> None:
    detail = status_change(None, {**BASE, "status": "pending", "seq": 1})
    assert detail is not None
    assert (detail["previousStatus"], detail["status"], detail["sequence"]) == (None, "pending", 1)


def test_writes_without_a_status_change_emit_nothing() -> None:
    old = {**BASE, "status": "running", "seq": 2}
    assert status_change(old, {**old, "turns": 3}) is None
    assert status_change(None, {"type": "message", "PK": "x"}) is None
    assert status_change(old, None) is None


def test_done_carries_result_and_summary_failed_carries_reason() -> None:
    old = {**BASE, "status": "running", "seq": 2}
    done = status_change(old, {**old, "status": "done", "seq": 3, "result": json.dumps({"a": 1}), "summary": "s"})
    assert done is not None and done["result"] == {"a": 1} and done["summary"] == "s"
    failed = status_change(old, {**old, "status": "failed", "seq": 3, "failureReason": "why"})
    assert failed is not None and failed["failureReason"] == "why" and "result" not in failed


def test_huge_results_are_left_out_of_the_event() -> None:
    old = {**BASE, "status": "running", "seq": 2}
    big = json.dumps({"blob": "x" * (MAX_RESULT_BYTES + 1)})
    detail = status_change(old, {**old, "status": "done", "seq": 3, "result": big})
    assert detail is not None and detail["result"] is None and detail["resultOmitted"] is True
    entry = to_entry(detail)
    assert entry["Source"] == SOURCE and entry["DetailType"] == DETAIL_TYPE
    assert len(entry["Detail"]) < 4096


def test_failure_reasons() -> None:
    cause = json.dumps({"errorMessage": "the model provider is overloaded (529): busy", "errorType": "ModelOverloaded"})
    assert failure_reason({"Error": "ModelOverloaded", "Cause": cause}) == (
        "the model provider is overloaded (529): busy (still failing after the state machine's retries)"
    )
    rejected = json.dumps({"errorMessage": "the model provider rejected the request (400): too long"})
    assert failure_reason({"Error": "ModelRequestRejected", "Cause": rejected}) == (
        "the model provider rejected the request (400): too long"
    )
    assert failure_reason({"Error": "States.Timeout"}) == "an agent step timed out"
    # An unexpected exception in a step: what failed in words, never the exception's own text.
    internal = json.dumps({"errorMessage": "'tool_use_id'", "errorType": "KeyError", "stackTrace": ["  File x"]})
    reason = failure_reason({"Error": "KeyError", "Cause": internal})
    assert reason == INTERNAL_FAILURE
    assert "KeyError" not in reason and "tool_use_id" not in reason and "File" not in reason
    assert failure_reason({"Error": "States.Runtime", "Cause": "An error occurred while executing"}) == INTERNAL_FAILURE
    assert "256 KB" in failure_reason({"Error": "States.DataLimitExceeded", "Cause": "The state/task returned"})
