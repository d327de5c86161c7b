"""Model names runplane accepts, and what each provider calls them.

Inferable's documented names are accepted as aliases of current Claude models.
"""

from __future__ import annotations

from .errors import InvalidRequest

# name → {provider: provider-specific model id}. Bedrock ids are cross-region inference profiles;
# override or extend them with RUNPLANE_BEDROCK_MODEL_IDS (a JSON object: name → Bedrock model id).
MODELS: dict[str, dict[str, str]] = {
    "claude-sonnet-5-5": {"anthropic": "claude-sonnet-5-5", "bedrock": "us.anthropic.claude-sonnet-5-5-v1:0"},
    "claude-opus-5-5": {"anthropic": "claude-opus-5-5", "bedrock": "us.anthropic.claude-opus-5-5-v1:0"},
    "claude-haiku-5-5": {"anthropic": "claude-haiku-5-5", "bedrock": "us.anthropic.claude-haiku-5-5-v1:0"},
    "claude-sonnet-4-6": {"anthropic": "claude-sonnet-4-6", "bedrock": "us.anthropic.claude-sonnet-4-6-v1:0"},
    "claude-opus-4-5": {"anthropic": "claude-opus-4-5", "bedrock": "us.anthropic.claude-opus-4-5-20251101-v1:0"},
    "claude-haiku-4-5": {"anthropic": "claude-haiku-4-5", "bedrock": "us.anthropic.claude-haiku-4-5-20251001-v1:0"},
}

# Inferable's documented names, and retired Claude names, → current models.
ALIASES: dict[str, str] = {
    "claude-3-5-sonnet": "claude-sonnet-5-5",
    "claude-3-5-sonnet:beta": "claude-sonnet-5-5",
    "claude-3-haiku": "claude-haiku-5-5",
    "claude-3-7-sonnet": "claude-sonnet-5-5",
    "claude-3-5-haiku": "claude-haiku-5-5",
    "claude-3-opus": "claude-opus-5-5",
    "claude-sonnet-4-5": "claude-sonnet-5-5",  # end of life 2026-11-30
}

ACCEPTED: tuple[str, ...] = tuple(sorted([*MODELS, *ALIASES]))


def resolve(requested: str | None, default: str) -> str:
    """The canonical model name for a requested one (an alias or a current name)."""
    name = requested or default
    canonical = ALIASES.get(name, name)
    if canonical not in MODELS:
        raise InvalidRequest(f"unknown model '{name}'; accepted models: {', '.join(ACCEPTED)}", field="model")
    return canonical


def provider_model_id(canonical: str, provider: str, overrides: dict[str, str] | None = None) -> str:
    if provider == "scripted":
        return f"scripted:{canonical}"
    if provider == "bedrock" and overrides and canonical in overrides:
        return overrides[canonical]
    return MODELS[canonical][provider]
