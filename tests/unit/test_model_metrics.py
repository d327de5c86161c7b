"""Model metrics from the real ``anthropic`` SDK (fake HTTP transport only): latency and the tokens of
the response's ``usage`` per call, and every 429/529 answer counted as a throttle, those the SDK
retried by itself included."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from runplane import metrics
from runplane.llm.base import ModelOverloaded, ModelThrottled
from tests.support.fake_anthropic import error_body, text_message, tool_use_message
from tests.unit.test_anthropic_model import (
    BEDROCK_MODEL,
    FakeTransport,
    api_model,
    aws_creds,  # noqa: F401 (a fixture)
    bedrock_model,
    ok,
    simple_request,
)
from tests.unit.test_metrics import emf_lines, values


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: Any) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    # Model calls made directly (no handler, so no log_metrics flush) by earlier tests in this
    # process leave their values in this thread's metric set: start from an empty one.
    metrics.metrics().clear_metrics()


def flushed(capsys: Any) -> dict[str, Any]:
    metrics.metrics().flush_metrics()
    (line,) = emf_lines(capsys.readouterr().out)
    return line


def _throttled(status: int) -> httpx2.Response:
    kind = "rate_limit_error" if status == 429 else "overloaded_error"
    return httpx2.Response(status, json=error_body(kind, "slow down"), headers={"retry-after-ms": "5"})


def test_latency_and_tokens_per_call(capsys: Any) -> None:
    transport = FakeTransport(
        ok(tool_use_message("lookup", {"q": "x"}, input_tokens=120, output_tokens=30)),
        ok(text_message("done", input_tokens=200, output_tokens=8)),
    )
    model = api_model(transport)
    model.complete(simple_request())
    model.complete(simple_request())
    line = flushed(capsys)
    assert values(line, metrics.MODEL_INPUT_TOKENS) == [120.0, 200.0]
    assert values(line, metrics.MODEL_OUTPUT_TOKENS) == [30.0, 8.0]
    latencies = values(line, metrics.MODEL_LATENCY)
    assert len(latencies) == 2 and all(ms >= 0 for ms in latencies)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units[metrics.MODEL_LATENCY] == "Milliseconds" and units[metrics.MODEL_INPUT_TOKENS] == "Count"
    assert directive["Dimensions"] == [["service"]]  # low cardinality: no model, run or cluster dimension
    assert metrics.MODEL_THROTTLES not in line


def test_throttles_the_sdk_retried_count_too(capsys: Any) -> None:
    transport = FakeTransport(_throttled(429), _throttled(529), ok(text_message("ok")))
    api_model(transport, max_retries=2).complete(simple_request())
    line = flushed(capsys)
    assert len(transport.requests) == 3
    assert values(line, metrics.MODEL_THROTTLES) == [1.0, 1.0]
    assert len(values(line, metrics.MODEL_LATENCY)) == 1


@pytest.mark.parametrize(("status", "error"), [(429, ModelThrottled), (529, ModelOverloaded)])
def test_a_throttle_that_reaches_the_state_machine_counts_once(capsys: Any, status: int, error: type) -> None:
    transport = FakeTransport(_throttled(status))
    with pytest.raises(error):
        api_model(transport).complete(simple_request())
    line = flushed(capsys)
    assert values(line, metrics.MODEL_THROTTLES) == [1.0]
    assert metrics.MODEL_LATENCY not in line  # only completed calls have a latency


def test_other_errors_are_not_throttles(capsys: Any) -> None:
    transport = FakeTransport(httpx2.Response(500, json=error_body("api_error", "boom")))
    with pytest.raises(Exception):  # noqa: B017 - ModelUnavailable; what matters is the count
        api_model(transport).complete(simple_request())
    metrics.count(metrics.RUNS_CREATED)  # something to flush
    assert metrics.MODEL_THROTTLES not in flushed(capsys)


@pytest.mark.usefixtures("aws_creds")
def test_bedrock_throttling_counts(capsys: Any) -> None:
    throttled = httpx2.Response(
        429,
        json={"message": "Too many requests, please wait before trying again."},
        headers={"x-amzn-ErrorType": "ThrottlingException:http://internal"},
    )
    transport = FakeTransport(throttled)
    with pytest.raises(ModelThrottled):
        bedrock_model(transport).complete(simple_request(BEDROCK_MODEL))
    assert values(flushed(capsys), metrics.MODEL_THROTTLES) == [1.0]
