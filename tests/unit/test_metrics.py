"""The run counters the alarms read, and their embedded-metric-format output (Powertools Metrics)."""

from __future__ import annotations

import json
from typing import Any

from runplane import metrics


def test_status_changes_map_to_run_counters() -> None:
    assert metrics.run_status_metric({"status": "pending", "previousStatus": None}) == "RunsCreated"
    assert metrics.run_status_metric({"status": "done", "previousStatus": "running"}) == "RunsDone"
    assert metrics.run_status_metric({"status": "failed", "previousStatus": "paused"}) == "RunsFailed"
    assert metrics.run_status_metric({"status": "cancelled", "previousStatus": "pending"}) == "RunsCancelled"
    assert metrics.run_status_metric({"status": "running", "previousStatus": "pending"}) is None


def test_counters_are_emitted_in_the_namespace_and_dimension_the_alarms_use(capsys: Any, monkeypatch: Any) -> None:
    # On Lambda metrics are on; the emulator turns them off (POWERTOOLS_METRICS_DISABLED) for local mode.
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics.metrics().clear_metrics()  # counts left by runs earlier in this process
    metrics.count(metrics.RUNS_FAILED)
    metrics.count(metrics.RUNS_FAILED)
    metrics.metrics().flush_metrics()
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == metrics.NAMESPACE
    assert directive["Dimensions"] == [list(metrics.DIMENSIONS)]
    assert line["service"] == metrics.DIMENSIONS["service"]
    assert line[metrics.RUNS_FAILED] == [1.0, 1.0] or line[metrics.RUNS_FAILED] == 2.0
