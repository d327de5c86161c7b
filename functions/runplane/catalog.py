"""Model names runplane accepts, and what each provider calls them.

Inferable's documented names are accepted as aliases of current Claude models.
"""

from __future__ import annotations

from .errors import InvalidRequest

# name → {provider: provider-specific model id}
MODELS: dict[str, dict[str, str]] = {
    "claude-sonnet-4-5": {
        "anthropic": "claude-sonnet-4-5",
        "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    },
    "claude-haiku-4-5": {
        "anthropic": "claude-haiku-4-5",
        "bedrock": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    },
    "claude-opus-4-5": {
        "anthropic": "claude-opus-4-5",
        "bedrock": "us.anthropic.claude-opus-4-5-20251101-v1:0",
    },
    "claude-opus-4-1": {
        "anthropic": "claude-opus-4-1",
        "bedrock": "us.anthropic.claude-opus-4-1-20250805-v1:0",
    },
}

ALIASES: dict[str, str] = {
    "claude-3-5-sonnet": "claude-sonnet-4-5",
    "claude-3-5-sonnet:beta": "claude-sonnet-4-5",
    "claude-3-7-sonnet": "claude-sonnet-4-5",
    "claude-3-haiku": "claude-haiku-4-5",
    "claude-3-5-haiku": "claude-haiku-4-5",
    "claude-3-opus": "claude-opus-4-5",
}

ACCEPTED: tuple[str, ...] = tuple(sorted([*MODELS, *ALIASES]))


def resolve(requested: str | None, default: str) -> str:
    """The canonical model name for a requested one (an alias or a current name)."""
    name = requested or default
    canonical = ALIASES.get(name, name)
    if canonical not in MODELS:
        raise InvalidRequest(
            f"unknown model '{name}'; accepted models: {', '.join(ACCEPTED)}", field="model"
        )
    return canonical


def provider_model_id(canonical: str, provider: str) -> str:
    if provider == "scripted":
        return f"scripted:{canonical}"
    return MODELS[canonical][provider]
