"""Builds the configured model client once per process (cold start), not per invocation."""

from __future__ import annotations

import os
from functools import lru_cache

from ..config import Settings
from .base import ModelClient


@lru_cache(maxsize=4)
def _cached(provider: str, settings_json: str) -> ModelClient:
    settings = Settings.model_validate_json(settings_json)
    if provider == "scripted":
        from .scripted import ScriptedModel

        return ScriptedModel()
    from .anthropic_model import AnthropicModel

    if provider == "bedrock":
        return AnthropicModel.bedrock(timeout=settings.model_timeout_seconds, max_retries=settings.model_sdk_retries)
    return AnthropicModel.anthropic(
        api_key=_anthropic_key(settings),
        base_url=settings.anthropic_base_url,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_sdk_retries,
    )


def model_for(provider: str, settings: Settings) -> ModelClient:
    return _cached(provider, settings.model_dump_json())


def _anthropic_key(settings: Settings) -> str:
    key = os.environ.get("ANTHROPIC_API_KEY")
    if key:
        return key
    if settings.anthropic_secret_arn:
        from aws_lambda_powertools.utilities.parameters import get_secret

        value = get_secret(settings.anthropic_secret_arn, max_age=300)
        return value if isinstance(value, str) else value.decode()
    from .base import ModelRequestRejected

    raise ModelRequestRejected("no Anthropic API key: set ANTHROPIC_API_KEY or RUNPLANE_ANTHROPIC_SECRET_ARN")
