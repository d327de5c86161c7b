"""`runplane local` as a user runs it: a separate process, the API over HTTP on its port, and the
AWS emulator endpoint it prints, used with plain boto3 to subscribe to status events."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from tests.support import local_process

CLUSTER_KEY, ADMIN_KEY = local_process.CLUSTER_KEY, local_process.ADMIN_KEY


@pytest.fixture(scope="module")
def local_mode() -> Iterator[dict[str, Any]]:
    with local_process.local_mode() as server:
        yield server


def test_banner_names_the_api_the_emulator_the_provider_and_how_to_stop(local_mode: dict[str, Any]) -> None:
    banner = local_mode["banner"]
    assert local_mode["api"] in banner
    assert "model provider  scripted" in banner
    assert "Ctrl-C" in banner
    # The keys it was given, so that scripts know them in advance.
    assert f"cluster key     {CLUSTER_KEY}" in banner and f"admin key       {ADMIN_KEY}" in banner


def test_a_run_over_http_with_events_through_the_emulator_endpoint(local_mode: dict[str, Any]) -> None:
    aws = {
        "endpoint_url": local_mode["endpoint"],
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    sqs, events = boto3.client("sqs", **aws), boto3.client("events", **aws)
    queue_url = sqs.create_queue(QueueName="e2e-sink")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="e2e",
        EventBusName="runplane",
        EventPattern=json.dumps({"source": ["runplane"], "detail-type": ["Run Status Changed"]}),
    )
    events.put_targets(Rule="e2e", EventBusName="runplane", Targets=[{"Id": "q", "Arn": queue_arn}])

    schema = {"type": "object", "properties": {"greeting": {"type": "string"}}, "required": ["greeting"]}
    with httpx.Client(base_url=local_mode["api"], timeout=10, headers={"authorization": CLUSTER_KEY}) as http:
        created = http.post("/clusters/default/runs", json={"initialPrompt": "Greet the user", "resultSchema": schema})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        deadline = time.monotonic() + 30
        while True:
            run = http.get(f"/clusters/default/runs/{run_id}").json()
            if run["status"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert run["status"] == "done", run
    assert isinstance(run["result"]["greeting"], str) and run["summary"]

    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(e["detail"]["status"] == "done" for e in received):
        for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            received.append(json.loads(m["Body"]))
    mine = [e["detail"] for e in received if e["detail"]["runId"] == run_id]
    assert [(d["status"], d["sequence"]) for d in mine] == [("pending", 1), ("running", 2), ("done", 3)]


def test_stops_cleanly_on_ctrl_c(local_mode: dict[str, Any]) -> None:
    proc = local_mode["proc"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
