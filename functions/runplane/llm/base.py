"""Provider-neutral model request/response, and the errors the state machine retries on.

The exception class names are part of the contract with ``statemachines/agent_loop.asl.json``:
Lambda reports them as ``errorType`` and the state machine's ``Retry`` matches them by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..schemas import ScriptedTurn


@dataclass
class ModelRequest:
    model_id: str
    system: str | None
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: dict[str, Any] | None = None
    max_tokens: int = 4096
    # Only the offline scripted provider reads these.
    script: list[ScriptedTurn] | None = None
    turn: int = 0
    run_id: str = ""
    default_calls: list[str] = field(default_factory=list)
    # "turn" for the agent's turns, "summarize" for summarizing a large tool result.
    purpose: str = "turn"


@dataclass
class ModelResponse:
    content: list[dict[str, Any]]
    stop_reason: str
    input_tokens: int = 0
    output_tokens: int = 0


class ModelError(Exception):
    """A model call failed; the subclass names say how the state machine treats it."""


class ModelThrottled(ModelError):
    """429 / rate limited. Retried by the state machine with backoff."""


class ModelOverloaded(ModelError):
    """529 / overloaded. Retried by the state machine with backoff."""


class ModelUnavailable(ModelError):
    """5xx, connection errors and timeouts. Retried by the state machine with backoff."""


class ModelRequestRejected(ModelError):
    """400/401/403/404/413/422: retrying cannot help; the run fails with this reason."""


class ModelClient(Protocol):
    provider: str

    def complete(self, request: ModelRequest) -> ModelResponse: ...
