"""Runtime configuration, read from the environment.

The CDK stack sets these variables on every Lambda; local mode sets the very same variables for
the process that hosts the emulator. Nothing in the handlers or the logic asks "am I local?".
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator

from .model import Model

_LOOPBACK_ORIGIN = re.compile(r"http://127\.0\.0\.1:[0-9]{1,5}")
ModelProvider = Literal["anthropic", "bedrock", "scripted"]


class Settings(Model):
    table_name: str = "runplane"
    blob_bucket: str = "runplane-blobs"
    event_bus_name: str = "runplane"
    state_machine_arn: str = ""
    model_provider: ModelProvider = "anthropic"
    default_model: str = "claude-sonnet-5-5"
    bedrock_model_ids: dict[str, str] = Field(default_factory=dict)
    # Anthropic API key: taken from ANTHROPIC_API_KEY when set, else read once from this secret.
    anthropic_secret_arn: str | None = None
    anthropic_base_url: str | None = None
    max_turns: int = Field(default=24, ge=1)
    max_result_repairs: int = Field(default=2, ge=0)
    max_output_tokens: int = Field(default=4096, ge=256)
    # The SDK's own timeout/retries stay inside the Lambda timeout; the state machine retries the rest.
    model_timeout_seconds: float = Field(default=120.0, gt=0)
    model_sdk_retries: int = Field(default=1, ge=0)
    # Lambda function targets must be named with this prefix (the stack's role may invoke only these).
    tool_lambda_prefix: str = "runplane-tool-"
    # Worker jobs travel through SQS queues named with this prefix (one per cluster and function).
    job_queue_prefix: str = "runplane-jobs-"
    # Plain-http origins ``http://127.0.0.1:<port>`` that http targets and http_get may call
    # (local mode: test and demo tool servers; comma-separated in RUNPLANE_LOOPBACK_HTTP_ORIGINS).
    # Everything else must be https to a public address (tools/netguard.py).
    loopback_http_origins: list[str] = Field(default_factory=list)
    # "hold": no garbage collection while a handler module imports (the stack sets it). Read from
    # RUNPLANE_INIT_GC by handlers/__init__.py itself, before anything is imported; listed here so
    # that every RUNPLANE_ variable is a setting.
    init_gc: Literal["", "hold"] = ""
    # This deployment's own endpoints, never called even when listed above (RUNPLANE_OWN_ORIGINS; the
    # AWS endpoint of AWS_ENDPOINT_URL and the emulator's MOTO_PORT are added from the environment).
    own_origins: list[str] = Field(default_factory=list)
    # ACP has no authentication of its own: when set (local mode sets "default"), keyless requests for
    # ACP routes from a loopback address act as a consumer key of this cluster. Unset on AWS.
    keyless_loopback_cluster: str | None = None
    # Tool results longer than this are summarized (callSummarization) or truncated for the model.
    max_tool_result_chars: int = Field(default=10_000, ge=100)
    # Inferable services: a queued call no machine has taken is queued again until it is this old.
    service_pending_seconds: int = Field(default=3600, ge=1)
    # How long GET /clusters/{c}/calls (a service's poll) waits for calls (API Gateway allows 29 s).
    call_poll_wait_seconds: int = Field(default=20, ge=0, le=25)
    # Messages larger than this go to S3 (DynamoDB items are capped at 400 KB).
    inline_message_bytes: int = Field(default=200_000, ge=1_000)
    # onStatusChange: the delivery queue (FIFO), the back-off between attempts (doubling from the
    # base up to the cap), and how long a webhook receiver may take to answer.
    # Finished runs (and everything they own: messages, calls, blobs) expire this long after they
    # finish (DynamoDB TTL on ``expiresAt``; the bucket's lifecycle rule matches, see infra/storage.py).
    retention_days: int = Field(default=90, ge=1, le=3650)
    notify_queue_url: str = ""
    notify_backoff_seconds: int = Field(default=5, ge=0, le=900)
    notify_max_backoff_seconds: int = Field(default=900, ge=0, le=43_200)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=30)
    # Bounded concurrency in front of the model quota (logic/admission.py): at most this many runs
    # hold a slot (running or paused) at once in the whole deployment, and in any one cluster.
    # 0 = no cap (unset: local mode's default; the CDK stack sets 100, see infra/stack.py).
    # Runs over a cap wait in ``pending`` and start oldest first.
    max_running: int = Field(default=0, ge=0)
    max_running_per_cluster: int = Field(default=0, ge=0)
    # Per-key rate limit (logic/ratelimit.py): a key may send ``rate_limit_burst`` requests in any
    # window of ``rate_limit_burst / rate_limit_per_second`` seconds (fixed windows); over it → 429
    # with retry-after. 0 = off. The counters live in their own table (``limits_table_name``).
    rate_limit_per_second: float = Field(default=50.0, ge=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    limits_table_name: str = "runplane-limits"

    @field_validator("loopback_http_origins", "own_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("loopback_http_origins")
    @classmethod
    def _loopback_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not _LOOPBACK_ORIGIN.fullmatch(origin):
                raise ValueError(f"'{origin}' is not an origin of the form http://127.0.0.1:<port>")
        return value

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(f"RUNPLANE_{name.upper()}")
            if raw not in (None, ""):
                values[name] = json.loads(raw) if name == "bedrock_model_ids" else raw
        own = cls._comma_separated(values.get("own_origins", []))
        assert isinstance(own, list)
        if env.get("AWS_ENDPOINT_URL"):
            own.append(env["AWS_ENDPOINT_URL"])
        if (env.get("MOTO_PORT") or "").isdigit():
            own.append(f"http://127.0.0.1:{env['MOTO_PORT']}")
        values["own_origins"] = own
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


def reset_settings_cache() -> None:
    settings.cache_clear()
