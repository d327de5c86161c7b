"""Secrets stay secret: ``target.headers`` values are write-only (masked in every response, log and
timeline, real in the call); a job's heartbeats and result are accepted only from its claimant."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.tool_server import ToolServer

SECRET = "Bearer sk-live-7f3a9c1e5d"
KEY = "k-4b8e2d6a0c"
NEW_KEY = "k-9d1f3b5e7a"


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """What every runplane handler logs during the test, at DEBUG, formatted as Powertools writes it."""
    import importlib

    from runplane import resources

    for spec in resources.FUNCTIONS.values():  # the handler modules (and so their loggers) exist now
        importlib.import_module(spec.handler.rsplit(".", 1)[0])
    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.startswith("runplane")]
    levels = [lg.level for lg in loggers]
    captured = Captured()
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        if lg.handlers and lg.handlers[0].formatter is not None:
            captured.setFormatter(lg.handlers[0].formatter)  # Powertools' JSON formatter
        lg.addHandler(captured)
    yield captured.lines
    for lg, level in zip(loggers, levels, strict=True):
        lg.setLevel(level)
        lg.removeHandler(captured)


def script(*turns: dict[str, Any]) -> dict[str, Any]:
    return {"modelScript": list(turns)}


def test_header_values_are_write_only(harness: Any, tools: ToolServer, logs: list[str]) -> None:
    cluster = harness.cluster()
    base = f"/clusters/{cluster}/functions/billing"
    definition = {
        "description": "Charge an order",
        "target": {"type": "http", "url": tools.url + "/echo", "headers": {"Authorization": SECRET, "X-Api-Key": KEY}},
    }
    seen: list[str] = []  # every response body and the timeline

    status, created = harness.api("PUT", base, definition)
    assert status == 201, created
    assert created["target"]["headers"] == {"Authorization": "********", "X-Api-Key": "********"}
    seen.append(json.dumps(created))
    status, got = harness.api("GET", base)
    assert status == 200 and got["target"]["headers"] == {"Authorization": "********", "X-Api-Key": "********"}
    seen.append(json.dumps(got))
    status, listed = harness.api("GET", f"/clusters/{cluster}/functions")
    assert status == 200
    [billing] = [f for f in listed["functions"] if f["name"] == "billing"]
    assert billing["target"]["headers"] == {"Authorization": "********", "X-Api-Key": "********"}
    seen.append(json.dumps(listed))

    # What a GET returned, sent back with one header changed: the masked one keeps its stored value.
    got["target"]["headers"]["X-Api-Key"] = NEW_KEY
    update = {k: got[k] for k in ("description", "target")}
    status, updated = harness.api("PUT", base, update)
    assert status == 200 and updated["target"]["headers"]["X-Api-Key"] == "********", updated
    seen.append(json.dumps(updated))
    stored = harness.store().get_function(cluster, "billing")  # server-side: the real values
    assert stored.target["headers"] == {"Authorization": SECRET, "X-Api-Key": NEW_KEY}

    # The mask for a header that has no stored value is refused, naming the header.
    status, refused = harness.api(
        "PUT", base, {"target": {"type": "http", "url": tools.url + "/echo", "headers": {"X-Other": "********"}}}
    )
    assert status == 400 and refused["errors"][0]["field"] == "target.headers.X-Other", refused

    # The call itself sends the real values.
    tools.requests.clear()
    tools.headers.clear()
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "Charge order 7",
            "test": script({"toolCalls": [{"name": "billing", "input": {"order": "7"}}]}, {"text": "Charged."}),
        },
    )
    assert run["status"] == "done", run
    assert [p for p, _ in tools.requests] == ["/echo"]
    assert tools.headers[0]["authorization"] == SECRET and tools.headers[0]["x-api-key"] == NEW_KEY
    seen.append(json.dumps(run))
    status, log = harness.api("GET", f"/clusters/{cluster}/runs/{run['id']}/log")
    assert status == 200 and any(e["type"] == "call" for e in log["entries"])
    seen.append(json.dumps(log))
    status, timeline = harness.api("GET", f"/clusters/{cluster}/runs/{run['id']}/timeline")  # Inferable's
    assert status == 200 and timeline["messages"], timeline
    seen.append(json.dumps(timeline))

    assert any("run stored" in line for line in logs)  # the handlers did log, at DEBUG and up
    for text in [*seen, *logs]:
        for secret in (SECRET, KEY, NEW_KEY, "sk-live"):
            assert secret not in text


def poll(harness: Any, cluster: str, function: str, worker: str | None) -> tuple[int, Any]:
    body: dict[str, Any] = {"functions": [function], "waitSeconds": 1}
    if worker is not None:
        body["worker"] = worker
    return harness.api("POST", f"/clusters/{cluster}/jobs/poll", body)


def test_only_the_claimant_reports_on_a_job(harness: Any) -> None:
    cluster = harness.cluster()
    harness.put_function(cluster, "pack", {"target": {"type": "worker"}, "timeoutSeconds": 60})
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "Pack order 7",
            "test": script({"toolCalls": [{"name": "pack", "input": {}}]}, {"text": "ok"}),
        },
    )
    status, body = poll(harness, cluster, "pack", None)  # the worker id is required to claim
    assert status == 400 and body["errors"][0]["field"] == "worker", body
    jobs: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while not jobs and time.monotonic() < deadline:
        status, body = poll(harness, cluster, "pack", "w1")
        assert status == 200, body
        jobs = body["jobs"]
    [job] = jobs
    call = f"/clusters/{cluster}/runs/{run_id}/calls/{job['callId']}"

    for action, extra in (("heartbeat", {}), ("result", {"result": {"forged": True}})):
        status, body = harness.api("POST", f"{call}/{action}", extra)  # no worker: refused
        assert status == 400 and body["errors"][0]["field"] == "worker", (action, body)
        status, body = harness.api("POST", f"{call}/{action}", {"worker": "w2", **extra})  # not the claimant
        assert status == 403 and body["errors"][0]["field"] == "worker", (action, body)
        assert "another worker" in body["message"]
    assert harness.calls(cluster, run_id)[0].status == "running"  # nothing forged got in

    assert harness.api("POST", f"{call}/heartbeat", {"worker": "w1"})[0] == 204
    status, body = harness.api("POST", f"{call}/result", {"worker": "w1", "result": {"packed": True}})
    assert status == 200 and body["status"] == "succeeded", body
    run = harness.wait_run(cluster, run_id)
    assert run["status"] == "done"
    [stored] = harness.calls(cluster, run_id)
    assert stored.worker == "w1" and stored.result == {"packed": True}
    # A second result, even from the claimant, finds the call finished.
    assert harness.api("POST", f"{call}/result", {"worker": "w1", "result": {"again": 1}})[0] == 409
