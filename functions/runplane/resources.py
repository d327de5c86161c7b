"""The resources runplane is made of: one description that both the CDK stack (``infra/``) and
local mode (``runplane.local``) build from, so the emulator holds what ``cdk deploy`` creates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = REPO_ROOT / "statemachines" / "agent_loop.asl.json"

TABLE_PARTITION_KEY = "PK"
TABLE_SORT_KEY = "SK"
TABLE_GSI = ("GSI1", "GSI1PK", "GSI1SK")
# Runs waiting for a concurrency slot (sparse: only waiting runs carry these keys), oldest first.
TABLE_WAITING_GSI = ("Waiting", "WaitPK", "WaitSK")
# The per-key request counters of the rate limit: their own table (no stream, items expire by TTL).
LIMITS_PARTITION_KEY = "PK"
LIMITS_TTL_ATTRIBUTE = "expiresAt"
# The admission sweep: waiting runs are admitted when a slot frees (the outbox triggers it); this
# periodic sweep catches what a lost trigger missed.
ADMISSION_SWEEP_MINUTES = 1
TABLE_STREAM_VIEW = "NEW_AND_OLD_IMAGES"

EVENT_SOURCE = "runplane"


@dataclass(frozen=True)
class FunctionSpec:
    key: str
    handler: str
    description: str
    timeout_seconds: int
    memory_mb: int


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.key: spec
    for spec in (
        # The API's timeout stays below API Gateway's 29 s integration timeout (a late answer would be a 504).
        FunctionSpec("api", "runplane.handlers.api.handler", "runplane HTTPS API", 28, 512),
        # ACP: its handler returns a *streamed* answer; on AWS runplane.streaming serves it through
        # Lambda's response-streaming Runtime API (docs/acp.md), locally the gateway streams it.
        FunctionSpec(
            "acp",
            "runplane.handlers.acp.stream_handler",
            "runplane Agent Communication Protocol (ACP) API, streamed responses",
            900,
            512,
        ),
        FunctionSpec(
            "authorizer",
            "runplane.handlers.authorizer.handler",
            "runplane API authorizer (API keys)",
            10,
            256,
        ),
        FunctionSpec(
            "agent_step",
            "runplane.handlers.agent_step.handler",
            "runplane agent loop step (model turns)",
            300,
            1024,
        ),
        FunctionSpec(
            "tools",
            "runplane.handlers.tools.handler",
            "runplane tool calls (lambda, http, builtin targets; approvals)",
            900,
            512,
        ),
        FunctionSpec(
            "reconcile",
            "runplane.handlers.reconcile.handler",
            "runplane: fails runs whose execution ended outside the loop (timeout, abort, service error)",
            60,
            256,
        ),
        FunctionSpec(
            "stream",
            "runplane.handlers.stream.handler",
            "runplane outbox: runs table stream -> EventBridge",
            60,
            256,
        ),
        FunctionSpec(
            "admission",
            "runplane.handlers.admission.handler",
            "runplane: starts runs waiting for a concurrency slot (periodic sweep)",
            60,
            256,
        ),
        FunctionSpec(
            "notify",
            "runplane.handlers.notify.handler",
            "runplane onStatusChange: signed webhooks and function calls",
            60,
            256,
        ),
    )
}

# onStatusChange deliveries: a FIFO queue (one message group per run: in order; deduplicated on the
# webhook id) fed by the outbox, consumed by the notify function. A delivery that keeps failing is
# received this many times (with growing back-off), then lands in the dead-letter queue.
NOTIFY_QUEUE_NAME = "notify.fifo"  # suffix: "<prefix>-notify.fifo"
NOTIFY_DLQ_NAME = "notify-dlq.fifo"
NOTIFY_MAX_RECEIVES = 8
NOTIFY_BATCH_SIZE = 10

# Routes that answer without a key (health checks, and the Playground's page, which holds no data:
# its API calls send the key the person enters); every other route is behind the authorizer.
PUBLIC_ROUTES: tuple[tuple[str, str], ...] = (("GET", "/live"), ("GET", "/ping"), ("GET", "/playground"))
# API Gateway caches the authorizer's answer per authorization header this long: a revoked key may
# still pass for up to this many seconds on AWS (local mode does not cache).
AUTHORIZER_CACHE_SECONDS = 30
# The Agent Communication Protocol's routes (see RUNPLANE_KEYLESS_LOOPBACK_CLUSTER).
ACP_PATH_PREFIXES = ("/runs", "/agents", "/session", "/sessions", "/ping")  # acp-sdk reads /sessions/{id}


def is_public_route(method: str, path: str) -> bool:
    return (method.upper(), path.rstrip("/") or "/") in PUBLIC_ROUTES


def is_acp_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in ACP_PATH_PREFIXES)


# Placeholders in the ASL file, filled by CDK (DefinitionSubstitutions) and by local mode.
ASL_SUBSTITUTIONS = ("AgentStepFunctionArn", "ToolStepFunctionArn")


def load_definition(substitutions: dict[str, str]) -> str:
    text = ASL_PATH.read_text()
    missing = set(ASL_SUBSTITUTIONS) - set(substitutions)
    if missing:
        raise ValueError(f"missing substitutions: {sorted(missing)}")
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    return text
