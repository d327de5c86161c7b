"""The metrics the alarms and the dashboard read, and their embedded-metric-format output (Powertools
Metrics). Passes alone and after emulator modules in the same process: local mode turns metrics off
and then nothing is gathered, so no counts pile up in Powertools' process-wide metric set."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runplane import metrics


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.splitlines() if '"_aws"' in x]


def values(line: dict[str, Any], name: str) -> list[float]:
    value = line.get(name, [])
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


@pytest.fixture
def metrics_on(monkeypatch: Any) -> None:
    # On Lambda metrics are on; the emulator turns them off (POWERTOOLS_METRICS_DISABLED) for local mode.
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def test_status_changes_map_to_run_counters() -> None:
    assert metrics.run_status_metric({"status": "pending", "previousStatus": None}) == "RunsCreated"
    assert metrics.run_status_metric({"status": "done", "previousStatus": "running"}) == "RunsDone"
    assert metrics.run_status_metric({"status": "failed", "previousStatus": "paused"}) == "RunsFailed"
    assert metrics.run_status_metric({"status": "cancelled", "previousStatus": "pending"}) == "RunsCancelled"
    assert metrics.run_status_metric({"status": "running", "previousStatus": "pending"}) is None


def test_counters_are_emitted_in_the_namespace_and_dimension_the_alarms_use(capsys: Any, metrics_on: None) -> None:
    metrics.count(metrics.RUNS_FAILED)
    metrics.count(metrics.RUNS_FAILED)
    metrics.metrics().flush_metrics()
    (line,) = emf_lines(capsys.readouterr().out)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == metrics.NAMESPACE
    assert directive["Dimensions"] == [list(metrics.DIMENSIONS)]
    assert line["service"] == metrics.DIMENSIONS["service"]
    assert sum(values(line, metrics.RUNS_FAILED)) == 2


def test_nothing_is_gathered_while_metrics_are_disabled(capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    for _ in range(3):
        metrics.count(metrics.RUNS_CREATED)
        metrics.metrics().flush_metrics()  # a disabled flush prints nothing and keeps the set
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.count(metrics.RUNS_CREATED)
    metrics.metrics().flush_metrics()
    (line,) = emf_lines(capsys.readouterr().out)
    assert values(line, metrics.RUNS_CREATED) == [1.0]


def test_a_flushed_handler_prints_its_metrics_once_also_when_it_raises(capsys: Any, metrics_on: None) -> None:
    @metrics.flushed
    def handler(event: dict[str, Any], context: Any) -> None:
        metrics.count(metrics.TOOL_CALLS)
        if event.get("fail"):
            raise RuntimeError("boom")

    handler({}, None)
    with pytest.raises(RuntimeError):
        handler({"fail": True}, None)
    handler({}, None)
    lines = emf_lines(capsys.readouterr().out)
    assert [values(line, metrics.TOOL_CALLS) for line in lines] == [[1.0], [1.0], [1.0]]


def _call(status: str, approval: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "PK": "RUN#c#r1",
        "SK": "CALL#t1",
        "type": "call",
        "status": status,
        "data": json.dumps({"id": "t1", "status": status, "approval": approval}),
    }


def test_call_changes_map_to_tool_and_approval_metrics() -> None:
    assert metrics.call_metrics(_call("pending"), _call("running")) == []
    assert metrics.call_metrics(_call("running"), _call("succeeded")) == [("ToolCalls", 1, "Count")]
    assert metrics.call_metrics(_call("running"), _call("failed")) == [
        ("ToolCalls", 1, "Count"),
        ("ToolErrors", 1, "Count"),
    ]
    assert ("ToolErrors", 1, "Count") in metrics.call_metrics(_call("running"), _call("timed_out"))
    assert metrics.call_metrics(_call("failed"), _call("failed")) == []  # a re-write is not a new end
    assert metrics.call_metrics(None, {"type": "run", "status": "done"}) == []
    requested = {"requested_at": "2026-01-01T00:00:00.000Z", "expires_at": "2026-01-02T00:00:00.000Z"}
    decided = {**requested, "decided_at": "2026-01-01T00:01:30.250Z", "approved": True}
    assert metrics.call_metrics(_call("awaiting_approval", requested), _call("approved", decided)) == [
        ("ApprovalWaitTime", 90_250.0, "Milliseconds")
    ]
    denied = metrics.call_metrics(_call("awaiting_approval", requested), _call("denied", decided))
    assert denied == [("ToolCalls", 1, "Count"), ("ApprovalWaitTime", 90_250.0, "Milliseconds")]
    # an approval that expired was never decided by anyone: not a wait time
    assert metrics.call_metrics(_call("awaiting_approval", requested), _call("expired", decided)) == [
        ("ToolCalls", 1, "Count")
    ]
