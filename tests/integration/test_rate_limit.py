"""Per-key rate limits (logic/ratelimit.py): every authenticated request counts against its key, in
the API function and the ACP function alike; over the limit → 429 with ``retry-after`` and no side
effect. The emulator runs with a burst of 5 in a 5000-second window (0.001 requests per second), so
that a test's requests fall in one window.

Also here (this module runs with no concurrency cap, the local default): uncapped runs start as they
always did — no slot counter, no waiting index, no admission write.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from runplane.handlers import acp as acp_handler
from runplane.handlers import wiring
from runplane.local.emulator import _Context
from runplane.local.gateway import authorize
from runplane.local.http import proxy_event
from runplane.logic.run_configs import RunConfigBody
from tests.conftest import emulator_settings
from tests.support.harness import Harness
from tests.support.tool_server import ToolServer

BURST = 5
RATE = 0.001  # per second: a window of BURST / RATE = 5000 s


@pytest.fixture(scope="module")
def emulator_env(tools: ToolServer) -> dict[str, str]:
    return emulator_settings(
        RUNPLANE_LOOPBACK_HTTP_ORIGINS=tools.url,
        RUNPLANE_RATE_LIMIT_PER_SECOND=str(RATE),
        RUNPLANE_RATE_LIMIT_BURST=str(BURST),
    )


def _fresh(harness: Harness) -> tuple[str, str]:
    """A new cluster and a key of it that has sent nothing yet (harness.cluster() mints keys directly)."""
    cluster = harness.cluster()
    return cluster, harness.keys[cluster]


def test_the_request_over_the_limit_is_429_with_retry_after_and_creates_nothing(harness: Harness) -> None:
    cluster, key = _fresh(harness)
    for _ in range(BURST):
        status, body, _ = harness.api_with_headers("GET", f"/clusters/{cluster}/runs", key=key)
        assert status == 200, body
    run_id = f"limited-{uuid.uuid4().hex[:8]}"
    status, body, headers = harness.api_with_headers(
        "POST", f"/clusters/{cluster}/runs", {"id": run_id, "initialPrompt": "Hi"}, key=key
    )
    assert status == 429, body
    assert 1 <= int(headers["retry-after"]) <= BURST / RATE
    assert "rate limit" in body["message"] or "requests" in body["message"]
    assert body["errors"] == [{"field": "authorization", "problem": body["errors"][0]["problem"]}]
    assert headers["retry-after"] in body["errors"][0]["problem"]
    # No side effect: no run, no execution.
    assert wiring.store().get_run(cluster, run_id) is None
    with pytest.raises(ClientError, match="ExecutionDoesNotExist"):
        harness.sfn.describe_execution(executionArn=harness.execution_arn(run_id))
    # Refused requests count too: the key stays refused for the rest of its window.
    assert harness.api_with_headers("GET", f"/clusters/{cluster}/runs", key=key)[0] == 429
    # Every route counts, the Inferable SDK's call poll included (it reads retry-after on any answer).
    status, _, headers = harness.api_with_headers(
        "GET", f"/clusters/{cluster}/calls", query={"service": "s", "status": "pending", "acknowledge": "true"}, key=key
    )
    assert status == 429 and int(headers["retry-after"]) >= 1


def test_other_keys_are_unaffected(harness: Harness) -> None:
    cluster, key = _fresh(harness)
    for _ in range(BURST):
        assert harness.api_with_headers("GET", f"/clusters/{cluster}/runs", key=key)[0] == 200
    assert harness.api_with_headers("GET", f"/clusters/{cluster}/runs", key=key)[0] == 429
    consumer = harness.key(cluster, "consumer")  # another key of the same cluster
    status, body, _ = harness.api_with_headers(
        "POST", f"/clusters/{cluster}/runs", {"initialPrompt": "Hi"}, key=consumer
    )
    assert status == 201, body
    other, other_key = _fresh(harness)  # and a key of another cluster
    assert harness.api_with_headers("GET", f"/clusters/{other}/runs", key=other_key)[0] == 200
    # Health checks carry no key and count against nothing.
    assert harness.api_with_headers("GET", "/live", key="")[0] == 200


def _acp(harness: Harness, key: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A request to the ACP function as API Gateway sends it: the real authorizer, then the function."""
    event = proxy_event(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        headers={"authorization": [key]},
        stage="test",
    )
    refused = authorize(event, harness.emulator.names.function("authorizer"))
    assert refused is None, refused
    return acp_handler.handler(event, _Context("runplane-acp", 512, 900))


def test_the_acp_function_counts_too(harness: Harness) -> None:
    cluster = harness.cluster()
    wiring.run_configs().upsert(cluster, "chat-agent", RunConfigBody(name="chat", public=True))
    key = harness.key(cluster, "consumer")
    for _ in range(BURST):
        assert _acp(harness, key, "GET", "/agents")["statusCode"] == 200
    body = {"agent_name": "chat", "mode": "async", "input": [{"parts": [{"content": "Hi"}]}]}
    refused = _acp(harness, key, "POST", "/runs", body)
    assert refused["statusCode"] == 429 and int(refused["headers"]["retry-after"]) >= 1
    payload = json.loads(refused["body"])
    assert payload["message"] and payload["errors"][0]["field"] == "authorization" and payload["code"]
    runs, _ = wiring.store().list_runs(cluster, status=None, metadata={}, limit=10, cursor=None)
    assert runs == []  # the refused request created no run


def test_uncapped_runs_start_as_before_no_slot_and_no_queue(harness: Harness) -> None:
    cluster, key = _fresh(harness)
    status, body, _ = harness.api_with_headers("POST", f"/clusters/{cluster}/runs", {"initialPrompt": "Hi"}, key=key)
    assert status == 201, body
    store = wiring.store()
    deadline = time.monotonic() + 30
    while (run := store.get_run(cluster, body["id"])).status != "done":
        assert time.monotonic() < deadline, run.status
        time.sleep(0.05)
    assert [h["status"] for h in run.history] == ["running", "done"]
    assert run.slots == [] and run.admitted_at is None
    ddb = harness.emulator.client("dynamodb")
    item = ddb.get_item(
        TableName=harness.emulator.names.table, Key={"PK": {"S": f"RUN#{cluster}#{run.id}"}, "SK": {"S": "RUN"}}
    )["Item"]
    assert not {"slots", "admittedAt", "WaitPK", "WaitSK"} & set(item)
    counters = ddb.scan(
        TableName=harness.emulator.names.table,
        FilterExpression="begins_with(PK, :p)",
        ExpressionAttributeValues={":p": {"S": "SLOTS#"}},
    )["Items"]
    assert counters == []
