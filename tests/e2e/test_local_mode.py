"""`runplane local` as a user runs it: a separate process, the API over HTTP on its port, and the
AWS emulator endpoint it prints, used with plain boto3 to subscribe to status events."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from runplane.local.emulator import free_port

CLUSTER_KEY = "sk_e2e_cluster_key_0123456789abcdef"
ADMIN_KEY = "sk_e2e_admin_key_0123456789abcdef"


@pytest.fixture(scope="module")
def local_mode() -> Iterator[dict[str, Any]]:
    api_port, emu_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNPLANE_", "ANTHROPIC_", "MOTO_"))}
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    env["RUNPLANE_API_KEY"] = CLUSTER_KEY
    env["RUNPLANE_ADMIN_KEY"] = ADMIN_KEY
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runplane.cli",
            "local",
            "--port",
            str(api_port),
            "--emulator-port",
            str(emu_port),
            "--ephemeral",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    banner: list[str] = []
    deadline = time.monotonic() + 180  # a loaded CI machine starts slowly
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        banner.append(line)
        if line.strip().startswith("stop"):
            break
    text = "".join(banner)
    assert "runplane local mode is ready" in text, text
    endpoint = re.search(r"AWS emulator\s+(http://\S+)", text)
    assert endpoint, text
    try:
        yield {"api": f"http://127.0.0.1:{api_port}", "endpoint": endpoint.group(1), "banner": text, "proc": proc}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


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
