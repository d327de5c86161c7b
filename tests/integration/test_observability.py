"""Metrics and logs of real runs: the real ASL in the emulator, the real handlers, the real ``anthropic``
SDK over HTTP to a fake Messages API.

- Metrics: one run's turns emit what the dashboard and alarms read (runs, model latency, tokens and
  throttles, tool calls and errors, the approval wait, webhook deliveries), each handler flushing its
  own invocation's metrics (local mode turns metrics off; here they are on, as on Lambda).
- Logs: every JSON log line a handler writes while serving a run carries the run id as its
  ``correlation_id`` (API, agent step, tool step, notify, reconcile), also with runs on many threads.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runplane import metrics
from tests.conftest import emulator_settings
from tests.integration.test_approvals import decide, paused
from tests.integration.test_control import execution_status_event, reconcile
from tests.support.fake_anthropic import (
    FakeAnthropic,
    error_body,
    message,
    serving_with_key,
    text_message,
    tool_use_block,
    tool_use_message,
)
from tests.support.hook_server import HookServer
from tests.support.tool_server import ToolServer
from tests.unit.test_metrics import emf_lines, values

SERVICES = ("runplane-api", "runplane-agent", "runplane-tools", "runplane-events", "runplane-notify")


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with serving_with_key() as server:
        yield server


@pytest.fixture(scope="module")
def emulator_env(fake_anthropic: FakeAnthropic, tools: ToolServer, hooks: HookServer) -> Iterator[dict[str, str]]:
    env = emulator_settings(
        RUNPLANE_MODEL_PROVIDER="anthropic",
        RUNPLANE_ANTHROPIC_BASE_URL=fake_anthropic.url,
        RUNPLANE_MODEL_SDK_RETRIES="0",
        RUNPLANE_MODEL_TIMEOUT_SECONDS="10",
        RUNPLANE_NOTIFY_BACKOFF_SECONDS="0",
        RUNPLANE_LOOPBACK_HTTP_ORIGINS=f"{hooks.url('')},{tools.url}",
    )
    yield env
    for name in ("RUNPLANE_ANTHROPIC_BASE_URL", "RUNPLANE_MODEL_SDK_RETRIES", "RUNPLANE_MODEL_TIMEOUT_SECONDS"):
        os.environ.pop(name, None)


@pytest.fixture
def fake(fake_anthropic: FakeAnthropic, harness: Any) -> FakeAnthropic:
    fake_anthropic.reset()
    return fake_anthropic


def _functions(harness: Any, tools: ToolServer) -> str:
    cluster = harness.cluster()
    schema = {"type": "object", "properties": {"order": {"type": "string"}}}
    harness.put_function(
        cluster,
        "refund",
        {
            "description": "Refund an order",
            "requiresApproval": True,
            "inputSchema": schema,
            "target": {"type": "http", "url": tools.url + "/echo"},
        },
    )
    harness.put_function(
        cluster,
        "stock",
        {"description": "Stock level", "inputSchema": schema, "target": {"type": "http", "url": tools.url + "/fail"}},
    )
    return cluster


def _script(fake: FakeAnthropic) -> None:
    """Turn 1 is throttled once (the state machine retries it), then asks for two calls; turn 2 ends."""
    fake.enqueue(429, error_body("rate_limit_error", "Number of request tokens has exceeded your rate limit"))
    calls = [tool_use_block("refund", {"order": "7"}), tool_use_block("stock", {"order": "7"})]
    fake.enqueue(200, message(calls, "tool_use", input_tokens=100, output_tokens=20))
    fake.enqueue(200, text_message("Refunded order 7.", input_tokens=150, output_tokens=10))


def _answer_by_turn(fake: FakeAnthropic, monkeypatch: Any) -> None:
    """Concurrent runs: the fake answers each request by what it holds (a first turn asks for the
    ``stock`` call, a turn with its result ends), whatever order the runs' requests come in."""

    def answer(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with fake._lock:
            fake.requests.append(body)
        blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
        if any(b.get("type") == "tool_result" for b in blocks):
            return 200, text_message("Checked."), {}
        return 200, tool_use_message("stock", {"order": "1"}), {}

    monkeypatch.setattr(fake, "_next", answer)


class Captured:
    """What the handlers print (EMF lines), gathered until a predicate holds."""

    def __init__(self, capsys: Any) -> None:
        self.capsys, self.lines = capsys, []  # type: ignore[var-annotated]

    def until(self, predicate: Any, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            self.lines.extend(emf_lines(self.capsys.readouterr().out))
            if predicate(self.lines) or time.monotonic() > deadline:
                return self.lines
            time.sleep(0.05)


def total(lines: list[dict[str, Any]], name: str) -> list[float]:
    return [v for line in lines if name in line for v in values(line, name)]


def test_one_run_emits_the_metrics_the_dashboard_reads(
    harness: Any, fake: FakeAnthropic, tools: ToolServer, hooks: HookServer, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # as on Lambda
    cluster = _functions(harness, tools)
    status, _ = harness.api("POST", f"/clusters/{cluster}/webhook-secret")
    assert status == 200
    _script(fake)
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "Refund order 7 if it is out of stock",
            "attachedFunctions": ["refund", "stock"],
            "onStatusChange": {"webhook": hooks.url("/metrics"), "statuses": ["done"]},
        },
    )
    run = paused(harness, cluster, run_id)
    time.sleep(0.2)  # a measurable wait
    (pending,) = run["pendingApprovals"]
    assert decide(harness, cluster, run_id, pending["callId"], {"approved": True})[0] == 200
    assert harness.wait_run(cluster, run_id)["status"] == "done"
    hooks.wait("/metrics", lambda d: len(d) >= 1)

    captured = Captured(capsys)
    lines = captured.until(
        lambda ls: total(ls, metrics.RUNS_DONE) and total(ls, metrics.WEBHOOKS_DELIVERED) and total(ls, "ToolCalls")
    )
    assert total(lines, metrics.RUNS_CREATED) == [1.0]
    assert total(lines, metrics.RUNS_DONE) == [1.0]
    assert total(lines, metrics.RUNS_FAILED) == []
    assert total(lines, metrics.MODEL_THROTTLES) == [1.0]  # the 429, retried by the state machine
    assert len(total(lines, metrics.MODEL_LATENCY)) == 2  # two completed model calls
    assert sum(total(lines, metrics.MODEL_INPUT_TOKENS)) == 250
    assert sum(total(lines, metrics.MODEL_OUTPUT_TOKENS)) == 30
    assert total(lines, metrics.TOOL_CALLS) == [1.0, 1.0]  # refund and stock
    assert total(lines, metrics.TOOL_ERRORS) == [1.0]  # stock: its server answered 500
    (waited,) = total(lines, metrics.APPROVAL_WAIT)
    assert waited >= 200
    assert total(lines, metrics.WEBHOOKS_DELIVERED) == [1.0]
    assert total(lines, metrics.NOTIFICATIONS_DELIVERED) == [1.0]
    for line in lines:  # one namespace, one low-cardinality dimension, every line a complete EMF record
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "runplane" and directive["Dimensions"] == [["service"]]


class LogLines(io.TextIOBase):
    """What the handlers' Powertools loggers print (their own handler and formatter, on the thread
    that logs, as the Lambda runtime would see it), one JSON object a line."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._text.append(text)
        return len(text)

    @property
    def lines(self) -> list[dict[str, Any]]:
        with self._lock:
            text = "".join(self._text)
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    @contextlib.contextmanager
    def capturing(self, *services: str) -> Iterator[LogLines]:
        saved = []
        for name in services:
            log = logging.getLogger(name)
            (handler,) = log.handlers  # Powertools' own StreamHandler for the service
            assert isinstance(handler, logging.StreamHandler)
            saved.append((log, log.level, handler, handler.stream))
            handler.stream = self  # (not setStream: it flushes the old stream, which may be closed)
            log.setLevel(logging.INFO)
        try:
            yield self
        finally:
            for log, level, handler, stream in saved:
                handler.stream = stream
                log.setLevel(level)


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    import runplane.handlers.agent_step
    import runplane.handlers.api
    import runplane.handlers.notify
    import runplane.handlers.reconcile
    import runplane.handlers.stream
    import runplane.handlers.tools  # noqa: F401  (their loggers exist once imported)

    with LogLines().capturing(*SERVICES, "runplane-reconcile") as capture:
        yield capture


def test_every_log_line_of_a_run_has_the_run_id_as_correlation_id(
    harness: Any, fake: FakeAnthropic, tools: ToolServer, hooks: HookServer, log_lines: LogLines, monkeypatch: Any
) -> None:
    cluster = _functions(harness, tools)
    harness.api("POST", f"/clusters/{cluster}/webhook-secret")
    _answer_by_turn(fake, monkeypatch)
    runs = []
    for _ in range(3):  # three runs at once, on the emulator's threads
        runs.append(
            harness.create_run(
                cluster,
                {
                    "initialPrompt": "Check the stock of order 1",
                    "attachedFunctions": ["stock"],
                    "onStatusChange": {"webhook": hooks.url("/logs"), "statuses": ["done"]},
                },
            )
        )
    for run_id in runs:
        assert harness.wait_run(cluster, run_id)["status"] == "done"
    hooks.wait("/logs", lambda d: len(d) >= 3)
    # an API request naming the run, refused before routing: its line names the run too
    status, _, _ = harness.request("POST", f"/clusters/{cluster}/runs/{runs[0]}/cancel", body="{nope")
    assert status == 400
    # reconcile, for an execution that ended outside the loop
    stored = harness.store().get_run(cluster, runs[1])
    reconcile(harness, execution_status_event(harness, stored, "older-execution", "ABORTED"))
    deadline = time.monotonic() + 10
    while sum(1 for li in log_lines.lines if li["message"] == "notification delivered") < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    lines = [li for li in log_lines.lines if li.get("correlation_id") in runs or li.get("run_id") in runs]
    by_service: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_service.setdefault(line["service"], []).append(line)
    for run_id in runs:
        mine = [li for li in lines if li.get("correlation_id") == run_id]
        steps = [li for li in mine if li["message"] == "step finished"]
        assert len(steps) == 2, (run_id, steps)  # this run's two model turns, no other run's
        assert len([li for li in mine if li["message"] == "tool step finished"]) == 1
        assert len([li for li in mine if li["message"] == "notification delivered"]) == 1
        assert len([li for li in mine if li["message"] == "run stored"]) == 1
    for line in lines:  # lines that name a run say it in correlation_id, the same one
        if "run_id" in line:
            assert line["correlation_id"] == line["run_id"], line
    assert {"runplane-api", "runplane-agent", "runplane-tools", "runplane-notify"} <= set(by_service)
    refused = [li for li in lines if li["message"] == "request refused"]
    assert refused and all(li["correlation_id"] == runs[0] for li in refused)
    (ended,) = [li for li in log_lines.lines if li["message"] == "execution ended"]
    assert ended["correlation_id"] == runs[1]


def test_log_keys_are_per_thread_in_local_mode(harness: Any) -> None:
    """Two invocations on two threads: each line carries its own thread's run id."""
    from aws_lambda_powertools import Logger

    logger = Logger(service="runplane-threads-test")
    both_set = threading.Barrier(2)

    def invocation(run_id: str) -> None:
        logger.set_correlation_id(run_id)
        both_set.wait(timeout=5)  # the other thread has set its own id meanwhile
        logger.info("working")

    with LogLines().capturing("runplane-threads-test") as capture:
        threads = [threading.Thread(target=invocation, args=(r,)) for r in ("run-a", "run-b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(li["correlation_id"] for li in capture.lines) == ["run-a", "run-b"]
