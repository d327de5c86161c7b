"""``AnthropicModel`` drives the real ``anthropic`` SDK; only the HTTP transport is fake.

The SDK sends real requests (headers, JSON body, SigV4 signature for Bedrock) into an
``httpx2.MockTransport`` whose handler answers the way the Anthropic API / Amazon Bedrock does.
Note: ``anthropic`` 2.x uses the ``httpx2`` package and refuses ``httpx`` clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from runplane.llm.anthropic_model import AnthropicModel
from runplane.llm.base import (
    ModelError,
    ModelOverloaded,
    ModelRequest,
    ModelRequestRejected,
    ModelThrottled,
    ModelUnavailable,
)
from tests.support.fake_anthropic import error_body, text_message, tool_use_message

BEDROCK_MODEL = "us.anthropic.claude-sonnet-5-5-v1:0"

Reply = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]


class FakeTransport:
    """Answers each request with the next scripted reply (the last one repeats); records requests."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies) or [httpx2.Response(200, json=text_message("ok"))]
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx2.Response):
            return reply(request)
        return reply

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))

    def body(self, i: int = -1) -> dict[str, Any]:
        return dict(json.loads(self.requests[i].content))


def _asl_retried() -> set[str]:
    import json

    from runplane.resources import ASL_PATH

    retry = json.loads(ASL_PATH.read_text())["States"]["ModelTurn"]["Retry"]
    return {name for rule in retry for name in rule["ErrorEquals"]}


ASL_RETRIED = _asl_retried()


def ok(body: dict[str, Any]) -> httpx2.Response:
    return httpx2.Response(200, json=body, headers={"request-id": "req_011CTest"})


def api_model(transport: FakeTransport, max_retries: int = 0) -> AnthropicModel:
    return AnthropicModel.anthropic(api_key="test", http_client=transport.client(), max_retries=max_retries)


@pytest.fixture
def aws_creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDRUNPLANETEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-for-tests")
    for name in (
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_BEARER_TOKEN_BEDROCK",
        "ANTHROPIC_BEDROCK_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def bedrock_model(transport: FakeTransport, max_retries: int = 0) -> AnthropicModel:
    return AnthropicModel.bedrock(region="us-east-1", http_client=transport.client(), max_retries=max_retries)


def simple_request(model_id: str = "claude-sonnet-5-5") -> ModelRequest:
    return ModelRequest(
        model_id=model_id,
        system="Be brief.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    )


def tool_request(model_id: str = "claude-sonnet-5-5") -> ModelRequest:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    return ModelRequest(
        model_id=model_id,
        system="You are an agent.\n\nCall final_result.",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Where is the Louvre?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Let me think."}]},
            {"role": "user", "content": [{"type": "text", "text": "Use the tool."}]},
        ],
        tools=[{"name": "final_result", "description": "Report the result.", "input_schema": schema}],
        tool_choice={"type": "tool", "name": "final_result"},
        max_tokens=1024,
    )


# -- successful answers ----------------------------------------------------------------------------


def test_text_answer_maps_stop_reason_usage_and_content() -> None:
    transport = FakeTransport(ok(text_message("Paris.", input_tokens=31, output_tokens=4)))
    response = api_model(transport).complete(simple_request())
    assert response.content == [{"type": "text", "text": "Paris."}]
    assert response.stop_reason == "end_turn"
    assert (response.input_tokens, response.output_tokens) == (31, 4)
    assert len(transport.requests) == 1


def test_tool_use_answer_keeps_only_wire_fields() -> None:
    body = tool_use_message(
        "final_result",
        {"result": {"city": "Paris"}, "summary": "Found it."},
        text="Calling the tool.",
        tool_id="toolu_01A09q90qw90lq917835lq9",
    )
    body["content"][0]["citations"] = None
    assert body["content"][1]["caller"] == {"type": "direct"}
    transport = FakeTransport(ok(body))
    response = api_model(transport).complete(tool_request())
    assert response.stop_reason == "tool_use"
    assert response.content == [
        {"type": "text", "text": "Calling the tool."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "final_result",
            "input": {"result": {"city": "Paris"}, "summary": "Found it."},
        },
    ]


def test_request_the_sdk_sends_to_the_anthropic_api() -> None:
    transport = FakeTransport(ok(tool_use_message("final_result", {"result": {"city": "Paris"}, "summary": "s"})))
    request = tool_request()
    api_model(transport).complete(request)
    sent = transport.requests[0]
    assert sent.method == "POST"
    assert str(sent.url) == "https://api.anthropic.com/v1/messages"
    assert sent.headers["authorization"] == "Bearer test"  # anthropic 2.x sends the API key as a bearer token
    assert sent.headers["anthropic-version"]
    assert sent.headers["content-type"] == "application/json"
    assert transport.body() == {
        "model": "claude-sonnet-5-5",
        "max_tokens": 1024,
        "system": request.system,
        "messages": request.messages,
        "tools": request.tools,
        "tool_choice": {"type": "tool", "name": "final_result"},
    }


def test_optional_fields_are_left_out_when_not_set() -> None:
    transport = FakeTransport()
    api_model(transport).complete(
        ModelRequest(model_id="claude-haiku-4-5", system=None, messages=[{"role": "user", "content": "hi"}])
    )
    assert transport.body() == {
        "model": "claude-haiku-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_base_url_points_the_sdk_elsewhere() -> None:
    transport = FakeTransport()
    model = AnthropicModel.anthropic(
        api_key="test", base_url="http://127.0.0.1:9/prefix", http_client=transport.client(), max_retries=0
    )
    model.complete(simple_request())
    assert str(transport.requests[0].url) == "http://127.0.0.1:9/prefix/v1/messages"


# -- errors: what the state machine retries, and what fails the run ----------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected", "fragment"),
    [
        (
            429,
            error_body("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
            ModelThrottled,
            "429",
        ),
        (529, error_body("overloaded_error", "Overloaded"), ModelOverloaded, "Overloaded"),
        (500, error_body("api_error", "Internal server error"), ModelUnavailable, "500"),
        (503, error_body("api_error", "Service unavailable"), ModelUnavailable, "503"),
        (
            400,
            error_body("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
            ModelRequestRejected,
            "prompt is too long: 210000 tokens > 200000 maximum",
        ),
        (
            401,
            error_body("authentication_error", "invalid x-api-key"),
            ModelRequestRejected,
            "invalid x-api-key",
        ),
        (
            403,
            error_body("permission_error", "Your API key does not have permission"),
            ModelRequestRejected,
            "403",
        ),
        (
            404,
            error_body("not_found_error", "model: claude-nope"),
            ModelRequestRejected,
            "model: claude-nope",
        ),
        (
            413,
            error_body("request_too_large", "Request exceeds the maximum allowed size"),
            ModelRequestRejected,
            "413",
        ),
    ],
)
def test_status_errors_are_classified(
    status: int, body: dict[str, Any], expected: type[ModelError], fragment: str
) -> None:
    transport = FakeTransport(httpx2.Response(status, json=body, headers={"request-id": "req_011CErr"}))
    with pytest.raises(ModelError) as caught:
        api_model(transport).complete(simple_request())
    assert type(caught.value) is expected
    # retryable exactly when the state machine's ModelTurn Retry names the error
    assert (type(caught.value).__name__ in ASL_RETRIED) is (expected is not ModelRequestRejected)
    assert fragment in str(caught.value)
    assert body["error"]["message"] in str(caught.value)
    assert len(transport.requests) == 1  # max_retries=0: the SDK itself did not retry


def test_rejected_request_names_the_api_error_type_and_message() -> None:
    transport = FakeTransport(
        httpx2.Response(400, json=error_body("invalid_request_error", "max_tokens: must be at most 64000"))
    )
    with pytest.raises(ModelRequestRejected, match=r"\(400\): invalid_request_error: max_tokens: must be at most"):
        api_model(transport).complete(simple_request())


def test_error_without_json_body_still_classified() -> None:
    transport = FakeTransport(httpx2.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(ModelUnavailable, match="502"):
        api_model(transport).complete(simple_request())


def test_transport_timeout_is_unavailable() -> None:
    transport = FakeTransport(httpx2.ReadTimeout("timed out"))
    with pytest.raises(ModelUnavailable, match="timed out"):
        api_model(transport).complete(simple_request())
    assert len(transport.requests) == 1


def test_connection_error_is_unavailable() -> None:
    transport = FakeTransport(httpx2.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(ModelUnavailable, match="could not reach the model provider"):
        api_model(transport).complete(simple_request())
    assert len(transport.requests) == 1


def test_sdk_retry_count_is_honoured() -> None:
    # retry-after-ms keeps the SDK's back-off short without patching it.
    failing = httpx2.Response(
        500, json=error_body("api_error", "Internal server error"), headers={"retry-after-ms": "5"}
    )
    transport = FakeTransport(failing)
    with pytest.raises(ModelUnavailable):
        api_model(transport, max_retries=1).complete(simple_request())
    assert len(transport.requests) == 2
    assert [r.headers.get("x-stainless-retry-count") for r in transport.requests] == ["0", "1"]


def test_sdk_retry_then_success_returns_the_answer() -> None:
    transport = FakeTransport(
        httpx2.Response(529, json=error_body("overloaded_error", "Overloaded"), headers={"retry-after-ms": "5"}),
        ok(text_message("Second time lucky.")),
    )
    response = api_model(transport, max_retries=1).complete(simple_request())
    assert response.content == [{"type": "text", "text": "Second time lucky."}]
    assert len(transport.requests) == 2


def test_sdk_does_not_retry_a_rejected_request() -> None:
    transport = FakeTransport(httpx2.Response(400, json=error_body("invalid_request_error", "bad")))
    with pytest.raises(ModelRequestRejected):
        api_model(transport, max_retries=2).complete(simple_request())
    assert len(transport.requests) == 1


def test_sdk_refuses_httpx_clients() -> None:
    """anthropic 2.x is built on httpx2: an ``httpx.Client`` must not be handed to it."""
    httpx = pytest.importorskip("httpx")
    with pytest.raises(TypeError, match="httpx2"):
        AnthropicModel.anthropic(api_key="test", http_client=httpx.Client(), max_retries=0)  # type: ignore[arg-type]


# -- Amazon Bedrock ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_creds")
def test_bedrock_posts_to_invoke_with_sigv4_and_no_model_in_body() -> None:
    transport = FakeTransport(
        ok(tool_use_message("final_result", {"result": {"city": "Paris"}, "summary": "s"}, model=BEDROCK_MODEL))
    )
    request = tool_request(BEDROCK_MODEL)
    response = bedrock_model(transport).complete(request)
    assert response.stop_reason == "tool_use"
    assert response.content[0]["name"] == "final_result"
    sent = transport.requests[0]
    assert sent.method == "POST"
    assert sent.url.host == "bedrock-runtime.us-east-1.amazonaws.com"
    assert sent.url.path == f"/model/{BEDROCK_MODEL}/invoke"
    auth = sent.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/us-east-1/bedrock/aws4_request" in auth
    assert "x-amz-date" in sent.headers
    assert "x-api-key" not in sent.headers
    body = transport.body()
    assert "model" not in body
    assert body.pop("anthropic_version")
    assert body == {
        "max_tokens": 1024,
        "system": request.system,
        "messages": request.messages,
        "tools": request.tools,
        "tool_choice": {"type": "tool", "name": "final_result"},
    }


@pytest.mark.usefixtures("aws_creds")
def test_bedrock_text_answer() -> None:
    transport = FakeTransport(ok(text_message("Bonjour.", model=BEDROCK_MODEL, input_tokens=9, output_tokens=3)))
    model = bedrock_model(transport)
    assert model.provider == "bedrock"
    response = model.complete(simple_request(BEDROCK_MODEL))
    assert response.content == [{"type": "text", "text": "Bonjour."}]
    assert (response.stop_reason, response.input_tokens, response.output_tokens) == ("end_turn", 9, 3)


@pytest.mark.usefixtures("aws_creds")
@pytest.mark.parametrize(
    ("status", "error_type", "text", "expected"),
    [
        (429, "ThrottlingException", "Too many requests, please wait before trying again.", ModelThrottled),
        (503, "ServiceUnavailableException", "Bedrock is unable to process your request.", ModelUnavailable),
        (500, "InternalServerException", "The server encountered an internal error.", ModelUnavailable),
        (
            400,
            "ValidationException",
            "prompt is too long: 210000 tokens > 200000 maximum",
            ModelRequestRejected,
        ),
        (
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            ModelRequestRejected,
        ),
    ],
)
def test_bedrock_errors_are_classified(status: int, error_type: str, text: str, expected: type[ModelError]) -> None:
    # Bedrock's error shape: {"message": ...} with the exception name in x-amzn-ErrorType.
    transport = FakeTransport(
        httpx2.Response(status, json={"message": text}, headers={"x-amzn-ErrorType": f"{error_type}:http://internal"})
    )
    with pytest.raises(ModelError) as caught:
        bedrock_model(transport).complete(simple_request(BEDROCK_MODEL))
    assert type(caught.value) is expected
    assert text in str(caught.value)
    assert len(transport.requests) == 1


@pytest.mark.usefixtures("aws_creds")
def test_bedrock_timeout_is_unavailable() -> None:
    transport = FakeTransport(httpx2.ReadTimeout("timed out"))
    with pytest.raises(ModelUnavailable):
        bedrock_model(transport).complete(simple_request(BEDROCK_MODEL))
