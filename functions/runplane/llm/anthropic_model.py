"""Claude through the official ``anthropic`` SDK: the Anthropic API or Amazon Bedrock.

Metrics (``runplane.metrics``): each call's latency and its input and output tokens (the response's
``usage``), and every 429 (rate limited) or 529 (overloaded) answer the provider gives, counted on the
HTTP client, so that those the SDK retried by itself count too.
"""

from __future__ import annotations

import time
from typing import Any

from . import lazy_packages

# Before the SDK's first import: only the parts of `anthropic` this module reaches get loaded (no
# Vertex, Foundry or Google Cloud client, no unused types); see lazy_packages.
lazy_packages.install("anthropic")

import anthropic  # noqa: E402
import httpx2  # noqa: E402

from .. import metrics  # noqa: E402
from .base import (  # noqa: E402
    ModelError,
    ModelOverloaded,
    ModelRequest,
    ModelRequestRejected,
    ModelResponse,
    ModelThrottled,
    ModelUnavailable,
)


class AnthropicModel:
    """Wraps ``Anthropic`` or ``AnthropicBedrock``; both share ``messages.create`` and error types."""

    def __init__(self, sdk: anthropic.Anthropic | anthropic.AnthropicBedrock, provider: str) -> None:
        self.sdk = sdk
        self.provider = provider

    @classmethod
    def anthropic(
        cls,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 1,
        http_client: httpx2.Client | None = None,
    ) -> AnthropicModel:
        sdk = anthropic.Anthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=_counting_throttles(http_client),
        )
        return cls(sdk, "anthropic")

    @classmethod
    def bedrock(
        cls,
        *,
        region: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 1,
        http_client: httpx2.Client | None = None,
    ) -> AnthropicModel:
        sdk = anthropic.AnthropicBedrock(
            aws_region=region, timeout=timeout, max_retries=max_retries, http_client=_counting_throttles(http_client)
        )
        return cls(sdk, "bedrock")

    def complete(self, request: ModelRequest) -> ModelResponse:
        kwargs: dict[str, Any] = {
            "model": request.model_id,
            "max_tokens": request.max_tokens,
            "messages": request.messages,
        }
        if request.system:
            kwargs["system"] = request.system
        if request.tools:
            kwargs["tools"] = request.tools
        if request.tool_choice:
            kwargs["tool_choice"] = request.tool_choice
        started = time.perf_counter()
        try:
            message = self.sdk.messages.create(**kwargs)
        except anthropic.APIStatusError as exc:
            raise classify_status(exc.status_code, _describe(exc)) from None
        except anthropic.APITimeoutError as exc:
            raise ModelUnavailable(f"the model request timed out: {exc}") from None
        except anthropic.APIConnectionError as exc:
            raise ModelUnavailable(f"could not reach the model provider: {exc}") from None
        metrics.record(metrics.MODEL_LATENCY, round((time.perf_counter() - started) * 1000, 1), metrics.MILLISECONDS)
        metrics.count(metrics.MODEL_INPUT_TOKENS, message.usage.input_tokens)
        metrics.count(metrics.MODEL_OUTPUT_TOKENS, message.usage.output_tokens)
        content = [block.model_dump(mode="json", exclude_none=True) for block in message.content]
        return ModelResponse(
            content=[_wire_block(b) for b in content],
            stop_reason=message.stop_reason or "end_turn",
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
        )


THROTTLE_STATUSES = (429, 529)


def _count_throttle(response: httpx2.Response) -> None:
    if response.status_code in THROTTLE_STATUSES:
        metrics.count(metrics.MODEL_THROTTLES)


def _counting_throttles(http_client: httpx2.Client | None) -> httpx2.Client:
    """The SDK's HTTP client (its default one unless given), with a response hook counting throttles."""
    client = http_client if http_client is not None else anthropic.DefaultHttpxClient()
    hooks = client.event_hooks
    client.event_hooks = {**hooks, "response": [*hooks.get("response", []), _count_throttle]}
    return client


def classify_status(status: int, detail: str) -> ModelError:
    if status == 429:
        return ModelThrottled(f"the model provider is rate limiting requests (429): {detail}")
    if status == 529:
        return ModelOverloaded(f"the model provider is overloaded (529): {detail}")
    if status >= 500 or status in (408, 409):
        return ModelUnavailable(f"the model provider failed ({status}): {detail}")
    return ModelRequestRejected(f"the model provider rejected the request ({status}): {detail}")


def _describe(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return f"{error.get('type', 'error')}: {error['message']}"
        if body.get("message"):
            return str(body["message"])
    return str(exc.message)


_BLOCK_KEYS = {
    "text": ("type", "text"),
    "tool_use": ("type", "id", "name", "input"),
    "thinking": ("type", "thinking", "signature"),
    "redacted_thinking": ("type", "data"),
}


def _wire_block(block: dict[str, Any]) -> dict[str, Any]:
    """Keep only the fields the Messages API accepts back in a later request."""
    keys = _BLOCK_KEYS.get(block.get("type", ""))
    return {k: block[k] for k in keys if k in block} if keys else block
