"""The agent loop with the ``anthropic`` provider: the real SDK over real HTTP to a fake Messages API.

Emulator (real ASL, real handlers) → agent-step Lambda → ``AnthropicModel`` → ``anthropic`` SDK →
HTTP → ``FakeAnthropic``. Throttling/overload/5xx must be retried by the state machine's ``Retry``
(the SDK's own retries are off here), and rejected requests must fail the run at once with the
API's message in ``failureReason``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runplane import catalog
from runplane.config import settings
from runplane.logic.agent import BASE_SYSTEM, RESULT_SYSTEM
from tests.conftest import emulator_settings
from tests.support.fake_anthropic import (
    FakeAnthropic,
    error_body,
    serving_with_key,
    text_message,
    tool_use_message,
)

CITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "population": {"type": "integer", "minimum": 0},
    },
    "required": ["city", "population"],
}


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with serving_with_key() as server:
        yield server


@pytest.fixture(scope="module")
def emulator_env(fake_anthropic: FakeAnthropic) -> Iterator[dict[str, str]]:
    env = emulator_settings(
        RUNPLANE_MODEL_PROVIDER="anthropic",
        RUNPLANE_ANTHROPIC_BASE_URL=fake_anthropic.url,
        RUNPLANE_MODEL_SDK_RETRIES="0",
        RUNPLANE_MODEL_TIMEOUT_SECONDS="10",
    )
    yield env
    # The emulator copies these into os.environ and leaves them there: keep later modules clean.
    for name in (
        "RUNPLANE_ANTHROPIC_BASE_URL",
        "RUNPLANE_MODEL_SDK_RETRIES",
        "RUNPLANE_MODEL_TIMEOUT_SECONDS",
    ):
        os.environ.pop(name, None)


@pytest.fixture
def fake(fake_anthropic: FakeAnthropic, harness: Any) -> FakeAnthropic:
    """The shared fake server, emptied for this test (tests of this module run one after another)."""
    from runplane.handlers import wiring

    # The agent-step functions run in this process: they must see this module's settings, not the
    # ones cached by an earlier module's emulator.
    seen = wiring.agent_steps().settings.anthropic_base_url
    assert seen == fake_anthropic.url, (
        f"the agent steps use stale settings (anthropic_base_url={seen!r}, expected {fake_anthropic.url!r})"
    )
    fake_anthropic.reset()
    return fake_anthropic


def unique_prompt(text: str) -> str:
    return f"{text} [{uuid.uuid4().hex[:8]}]"


def requests_for(fake: FakeAnthropic, prompt: str) -> list[dict[str, Any]]:
    """The requests the fake API received for the run whose initial prompt is ``prompt``."""
    return [r for r in fake.requests if r["messages"] and _first_text(r["messages"][0]) == prompt]


def _first_text(message: dict[str, Any]) -> str | None:
    content = message["content"]
    if isinstance(content, str):
        return content
    return next((b.get("text") for b in content if b.get("type") == "text"), None)


def model_turn_attempts(harness: Any, run_id: str) -> dict[str, int]:
    """Counts, from the execution history, of the ModelTurn Lambda task's scheduled/failed/succeeded."""
    events = harness.history(run_id)
    counts = {"scheduled": 0, "failed": 0, "succeeded": 0, "entered": 0}
    for e in events:
        kind = e["type"]
        if kind == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "ModelTurn":
            counts["entered"] += 1
        elif kind == "LambdaFunctionScheduled" or (
            kind == "TaskScheduled" and e["taskScheduledEventDetails"].get("resourceType") == "lambda"
        ):
            counts["scheduled"] += 1
        elif kind in ("LambdaFunctionFailed", "TaskFailed"):
            counts["failed"] += 1
        elif kind in ("LambdaFunctionSucceeded", "TaskSucceeded"):
            counts["succeeded"] += 1
    return counts


def failed_errors(harness: Any, run_id: str) -> list[str]:
    out = []
    for e in harness.history(run_id):
        details = e.get("taskFailedEventDetails") or e.get("lambdaFunctionFailedEventDetails")
        if details:
            out.append(details.get("error", ""))
    return out


def test_throttled_overloaded_and_5xx_are_retried_by_the_state_machine(harness: Any, fake: FakeAnthropic) -> None:
    result = {"city": "Paris", "population": 2102650}
    fake.enqueue(
        429,
        error_body("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
        {"retry-after": "1"},
    )
    fake.enqueue(529, error_body("overloaded_error", "Overloaded"))
    fake.enqueue(500, error_body("api_error", "Internal server error"))
    fake.enqueue(
        200,
        tool_use_message(
            "final_result",
            {"result": result, "summary": "Paris, per the 2023 census."},
            input_tokens=120,
            output_tokens=40,
        ),
    )
    prompt = unique_prompt("Which city is the capital of France, and how many people live there?")
    cluster = harness.cluster()
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": prompt,
            "resultSchema": CITY_SCHEMA,
            "systemPrompt": "Answer from memory.",
            "attachedFunctions": [],  # no tools but final_result: its use is forced
        },
    )

    assert run["status"] == "done", run
    assert run["result"] == result
    assert run["summary"] == "Paris, per the 2023 census."
    assert run["failureReason"] is None
    assert run["usage"] == {"inputTokens": 120, "outputTokens": 40}
    assert harness.wait_execution(run["id"])["status"] == "SUCCEEDED"

    # The SDK made one request per attempt: three failures, then the answer.
    sent = requests_for(fake, prompt)
    assert len(sent) == 4
    assert fake.pending == 0
    # The state machine retried the same step: three failed Lambda tasks, one success, one state entry.
    attempts = model_turn_attempts(harness, run["id"])
    assert attempts == {"entered": 1, "scheduled": 4, "failed": 3, "succeeded": 1}, attempts
    assert failed_errors(harness, run["id"]) == ["ModelThrottled", "ModelOverloaded", "ModelUnavailable"]

    # Every attempt sent the same request: forced final_result tool wrapping the resultSchema.
    assert all(r == sent[0] for r in sent)
    body = sent[-1]
    assert body["model"] == catalog.provider_model_id(run["model"], "anthropic")
    assert body["max_tokens"] == 4096
    assert body["system"] == "\n\n".join([BASE_SYSTEM, RESULT_SYSTEM, "Answer from memory."])
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    assert body["tool_choice"] == {"type": "tool", "name": "final_result"}
    [tool] = body["tools"]
    assert tool["name"] == "final_result"
    assert tool["input_schema"]["type"] == "object"
    assert tool["input_schema"]["properties"]["result"] == CITY_SCHEMA
    assert tool["input_schema"]["required"] == ["result", "summary"]
    assert fake.headers[-1]["authorization"] == "Bearer test-key"


def test_rejected_request_fails_the_run_without_retry(harness: Any, fake: FakeAnthropic) -> None:
    api_message = "prompt is too long: 215000 tokens > 200000 maximum"
    fake.enqueue(400, error_body("invalid_request_error", api_message))
    prompt = unique_prompt("Summarize this very long document")
    cluster = harness.cluster()
    run = harness.run_to_end(cluster, {"initialPrompt": prompt})

    assert run["status"] == "failed", run
    assert "rejected" in run["failureReason"]
    assert api_message in run["failureReason"]
    assert "400" in run["failureReason"]
    assert run["result"] is None
    assert len(requests_for(fake, prompt)) == 1
    attempts = model_turn_attempts(harness, run["id"])
    assert attempts["entered"] == 1 and attempts["failed"] == 1, attempts
    assert failed_errors(harness, run["id"]) == ["ModelRequestRejected"]
    assert harness.wait_execution(run["id"])["status"] == "FAILED"


def test_authentication_error_fails_the_run(harness: Any, fake: FakeAnthropic) -> None:
    fake.enqueue(401, error_body("authentication_error", "invalid x-api-key"))
    prompt = unique_prompt("Hello there")
    cluster = harness.cluster()
    run = harness.run_to_end(cluster, {"initialPrompt": prompt})

    assert run["status"] == "failed", run
    assert "401" in run["failureReason"]
    assert "invalid x-api-key" in run["failureReason"]
    assert len(requests_for(fake, prompt)) == 1


def test_plain_text_answer_finishes_the_run(harness: Any, fake: FakeAnthropic) -> None:
    answer = "Hello team! The deploy went out at 10:00 and everything is green."
    fake.enqueue(200, text_message(answer, input_tokens=57, output_tokens=18))
    prompt = unique_prompt("Say hello to the team in one sentence")
    cluster = harness.cluster()
    run = harness.run_to_end(cluster, {"initialPrompt": prompt, "attachedFunctions": []})

    assert run["status"] == "done", run
    assert run["result"] == {"message": answer}
    assert run["summary"] == answer
    assert run["model"] == settings().default_model
    assert run["usage"] == {"inputTokens": 57, "outputTokens": 18}
    [body] = requests_for(fake, prompt)
    assert body["system"] == BASE_SYSTEM
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    assert body["model"] == catalog.provider_model_id(run["model"], "anthropic")
    assert "tools" not in body and "tool_choice" not in body


def test_retries_exhausted_fail_the_run_with_a_clear_reason(harness: Any, fake: FakeAnthropic) -> None:
    for _ in range(10):
        fake.enqueue(529, error_body("overloaded_error", "Overloaded"))
    prompt = unique_prompt("Try while the API is overloaded")
    cluster = harness.cluster()
    run = harness.run_to_end(cluster, {"initialPrompt": prompt})

    assert run["status"] == "failed", run
    assert "overloaded" in run["failureReason"]
    assert "still failing after the state machine's retries" in run["failureReason"]
    # One attempt plus the Retry's MaxAttempts (6) for ModelOverloaded.
    assert len(requests_for(fake, prompt)) == 7
    assert failed_errors(harness, run["id"]) == ["ModelOverloaded"] * 7
