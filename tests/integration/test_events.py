"""Status events: EventBridge rule → SQS sink, as a subscriber attaches one."""

from __future__ import annotations

import time
from typing import Any


def test_one_event_per_status_change_in_order(harness: Any) -> None:
    queue = harness.subscribe()
    cluster = harness.cluster()
    run_id = harness.create_run(cluster, {"initialPrompt": "Hello", "metadata": {"team": "ops"}, "name": "greeting"})
    run = harness.wait_run(cluster, run_id)
    events = harness.received(queue, run_id, until_status="done")
    details = [e["detail"] for e in events]
    assert [(d["previousStatus"], d["status"], d["sequence"]) for d in details] == [
        (None, "pending", 1),
        ("pending", "running", 2),
        ("running", "done", 3),
    ]
    for event in events:
        assert event["source"] == "runplane"
        assert event["detail-type"] == "Run Status Changed"
    done = details[-1]
    assert done["runId"] == run_id and done["clusterId"] == cluster
    assert done["name"] == "greeting" and done["metadata"] == {"team": "ops"}
    assert done["result"] == run["result"] and done["summary"] == run["summary"]
    assert done["occurredAt"] == run["updatedAt"]


def test_failed_event_carries_the_reason(harness: Any) -> None:
    queue = harness.subscribe({"source": ["runplane"], "detail": {"status": ["failed"]}})
    cluster = harness.cluster()
    run_id = harness.create_run(cluster, {"initialPrompt": "x", "test": {"modelScript": [{"error": "auth"}]}})
    events = harness.received(queue, run_id, until_status="failed")
    assert len(events) == 1
    detail = events[0]["detail"]
    assert detail["previousStatus"] == "running" and detail["sequence"] == 3
    assert "rejected the request (401)" in detail["failureReason"]


def test_rule_pattern_on_metadata_filters_events(harness: Any) -> None:
    queue = harness.subscribe({"source": ["runplane"], "detail": {"metadata": {"env": ["prod"]}, "status": ["done"]}})
    cluster = harness.cluster()
    prod = harness.create_run(cluster, {"initialPrompt": "a", "metadata": {"env": "prod"}})
    dev = harness.create_run(cluster, {"initialPrompt": "b", "metadata": {"env": "dev"}})
    harness.wait_run(cluster, dev)
    events = harness.received(queue, prod, until_status="done")
    harness.emulator.wait_for_stream()
    assert {e["detail"]["runId"] for e in events} == {prod}
    assert harness.received(queue, dev) == []


def test_a_change_committed_without_its_follow_up_still_starts_and_emits(harness: Any) -> None:
    """A writer that dies right after the write: the run exists, nothing started it. The stream
    (outbox) both emits the event and starts the execution."""
    queue = harness.subscribe()
    cluster = harness.cluster()
    run = harness.write_run_only(cluster, "orphan", "pending")
    final = harness.wait_run(cluster, run.id)
    assert final["status"] == "done"
    statuses = [e["detail"]["status"] for e in harness.received(queue, run.id, until_status="done")]
    assert statuses == ["pending", "running", "done"]


def test_events_are_not_lost_while_eventbridge_refuses_them(harness: Any) -> None:
    """PutEvents fails (the publisher's bus is unreachable): the stream function reports the batch
    item, the stream delivers it again, and once EventBridge accepts them nothing is missing."""
    from runplane.handlers import wiring

    queue = harness.subscribe()
    cluster = harness.cluster()
    sink = wiring.event_sink()
    errors_before = harness.emulator._poller.errors
    sink.bus = "no-such-bus"  # PutEvents → ResourceNotFoundException, as during an outage
    try:
        run_id = harness.create_run(cluster, {"initialPrompt": "during the outage"})
        harness.wait_run(cluster, run_id)
        deadline = time.monotonic() + 10
        while harness.emulator._poller.errors <= errors_before + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert harness.emulator._poller.errors > errors_before + 1  # retried, not dropped
        assert harness.received(queue, run_id) == []
    finally:
        sink.bus = harness.emulator.names.bus
    statuses = [e["detail"]["status"] for e in harness.received(queue, run_id, until_status="done")]
    assert statuses == ["pending", "running", "done"]
