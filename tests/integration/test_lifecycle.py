"""Data lifecycle: a finished run's TTL on every item it owns (and its expiresAt in the API), taken
away when the run is continued; worker job queues are removed with their function."""

from __future__ import annotations

import time
from typing import Any

from runplane.adapters.dynamo import run_pk
from runplane.adapters.dynamo_types import deserialize_value


def _items(harness: Any, cluster: str, run_id: str) -> list[dict[str, Any]]:
    resp = harness.emulator.client("dynamodb").query(
        TableName=harness.emulator.names.table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": run_pk(cluster, run_id)}},
        ConsistentRead=True,
    )
    return [{k: deserialize_value(v) for k, v in i.items()} for i in resp["Items"]]


def _stamped(harness: Any, cluster: str, run_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The run's items once each carries expiresAt (the run item is stamped first, its items right after)."""
    deadline = time.monotonic() + timeout
    while True:
        items = _items(harness, cluster, run_id)
        if all("expiresAt" in i for i in items) or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


def test_every_item_of_a_finished_run_expires_with_it(harness: Any) -> None:
    cluster = harness.cluster()
    script = [{"toolCalls": [{"name": "current_time", "input": {}}]}, {"text": "done", "result": {"ok": True}}]
    before = int(time.time())
    run = harness.run_to_end(
        cluster, {"initialPrompt": "What time is it?", "test": {"enabled": True, "modelScript": script}}
    )
    assert run["status"] == "done"
    items = _stamped(harness, cluster, run["id"])
    kinds = sorted({i["type"] for i in items})
    assert kinds == ["call", "message", "run"], kinds
    expiry = {int(i["expiresAt"]) for i in items if "expiresAt" in i}
    assert len(expiry) == 1 and all("expiresAt" in i for i in items), [(i["SK"], "expiresAt" in i) for i in items]
    (at,) = expiry
    assert before + 90 * 86_400 <= at <= int(time.time()) + 90 * 86_400  # the default retention
    assert run["expiresAt"] is not None and run["expiresAt"].endswith("Z")

    # a follow-up continues the run: nothing it owns may expire while it is open
    status, _ = harness.api("POST", f"/clusters/{cluster}/runs/{run['id']}/messages", {"message": "again"})
    assert status in (200, 201, 202), _
    final = harness.wait_run(cluster, run["id"])
    assert final["expiresAt"] is not None
    items = _stamped(harness, cluster, run["id"])
    assert all("expiresAt" in i for i in items), items  # the new message too


def test_a_cancelled_run_expires_too_and_an_open_one_does_not(harness: Any) -> None:
    cluster = harness.cluster()
    stuck = harness.write_run_only(cluster, "open", "running")
    assert all("expiresAt" not in i for i in _items(harness, cluster, stuck.id))
    assert harness.get_run(cluster, stuck.id)["expiresAt"] is None
    status, body = harness.api("POST", f"/clusters/{cluster}/runs/{stuck.id}/cancel")
    assert status == 200, body
    items = _stamped(harness, cluster, stuck.id)
    assert items and all("expiresAt" in i for i in items), items


def test_a_worker_functions_queue_is_tagged_and_removed_with_it(harness: Any) -> None:
    cluster = harness.cluster()
    harness.put_function(cluster, "slow_job", {"target": {"type": "worker"}})
    from runplane.handlers import wiring

    queues = wiring.job_queues()
    url = queues.queue_url(cluster, "slow_job")
    sqs = harness.emulator.client("sqs")
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"runplane:cluster": cluster, "runplane:function": "slow_job"}
    status, _ = harness.api("DELETE", f"/clusters/{cluster}/functions/slow_job")
    assert status == 204
    names = [u.rsplit("/", 1)[1] for u in sqs.list_queues(QueueNamePrefix=queues.prefix).get("QueueUrls", [])]
    assert queues.queue_name(cluster, "slow_job") not in names
