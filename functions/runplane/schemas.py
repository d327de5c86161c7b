"""Pydantic models at the API boundary and for what runplane stores."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from .ids import RUN_ID_PATTERN
from .model import Model
from .status import RunStatus

FUNCTION_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
METADATA_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
_META_KEY_RE = re.compile(METADATA_KEY_PATTERN)
MAX_METADATA_ENTRIES = 20


def _check_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # Imported here: jsonschema's validators module costs ~60 ms to import, only needed for schemas.
    from .logic.result import check_schema

    check_schema(schema)
    return schema


JsonSchema = Annotated[dict[str, Any], AfterValidator(_check_json_schema)]


class Strict(Model):
    model_config = ConfigDict(extra="forbid")


# The service name of runplane's own functions (builtins and the function registry) in Inferable's
# ``{service, function}`` references; a service's function ``F`` of service ``S`` is named ``S_F``.
RUNPLANE_SERVICE = "runplane"


class FunctionReference(Strict):
    """Inferable's ``{service, function}`` reference."""

    function: str = Field(pattern=FUNCTION_NAME_PATTERN)
    service: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


def service_function_name(service: str, function: str) -> str:
    """The name (and tool name) of function ``function`` of Inferable service ``service``."""
    return f"{service}_{function}"


def function_name(ref: str | FunctionReference) -> str:
    """A reference → the function's name: ``{service: "runplane", function: F}`` (or a plain ``F``)
    is runplane's own ``F``; ``{service: S, function: F}`` is the service function ``S_F``."""
    if isinstance(ref, str):
        return ref
    if ref.service in (None, RUNPLANE_SERVICE):
        return ref.function
    return service_function_name(ref.service, ref.function)


def mock_key(key: str) -> str:
    """Test mocks are keyed ``<service>_<function>``; runplane's own functions may also be keyed plainly."""
    prefix = f"{RUNPLANE_SERVICE}_"
    return key[len(prefix) :] if key.startswith(prefix) else key


class WebhookTarget(Strict):
    url: AnyHttpUrl
    statuses: list[RunStatus] | None = Field(default=None, min_length=1)


class OnStatusChange(Strict):
    """Where a run reports its own status changes: a signed webhook, or a function (see
    ``logic.notify``). Default statuses: ``paused`` and every terminal status."""

    type: Literal["function", "webhook"] | None = Field(default=None, description="Inferable's discriminator.")
    webhook: AnyHttpUrl | WebhookTarget | None = None
    function: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)] | FunctionReference | None = None
    statuses: list[RunStatus] | None = Field(
        default=None, min_length=1, description="Only these statuses notify (default: paused, done, failed, cancelled)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> OnStatusChange:
        if (self.webhook is None) == (self.function is None):
            raise ValueError("give exactly one of 'webhook' or 'function'")
        if self.type is not None and getattr(self, self.type) is None:
            raise ValueError(f"type is '{self.type}' but '{self.type}' is not given")
        return self


class FunctionMock(Strict):
    output: dict[str, Any]


ScriptedError = Literal["throttled", "overloaded", "server_error", "timeout", "bad_request", "auth"]


class ScriptedToolCall(Strict):
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    reasoning: str | None = None


class ScriptedTurn(Strict):
    """One model turn for the offline ``scripted`` provider (ignored by real providers)."""

    text: str | None = None
    text_bytes: int | None = Field(
        default=None, alias="textBytes", ge=1, le=1_000_000, description="Pad the text to this many bytes."
    )
    tool_calls: list[ScriptedToolCall] | None = Field(default=None, alias="toolCalls")
    result: Any = None
    summary: str | None = None
    error: ScriptedError | None = None
    times: int | None = Field(
        default=None, ge=1, description="With 'error': fail only this many attempts, then answer."
    )
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TestOptions(Strict):
    enabled: bool = False
    mocks: dict[str, FunctionMock] | None = None
    model_script: list[ScriptedTurn] | None = Field(default=None, alias="modelScript", max_length=200)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RunConfigReference(Strict):
    id: str = Field(min_length=1, max_length=128)
    input: dict[str, Any] | None = None


class CreateRunRequest(Strict):
    """Body of ``POST /clusters/{clusterId}/runs`` (Inferable's run API)."""

    id: str | None = Field(default=None, pattern=RUN_ID_PATTERN)
    # Required unless a run configuration (``configId`` / ``config``) supplies it.
    initial_prompt: str | None = Field(default=None, alias="initialPrompt", min_length=1, max_length=200_000)
    system_prompt: str | None = Field(default=None, alias="systemPrompt", max_length=100_000)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    model: str | None = None
    result_schema: JsonSchema | None = Field(default=None, alias="resultSchema")
    attached_functions: list[Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)] | FunctionReference] | None = Field(
        default=None, alias="attachedFunctions", max_length=128
    )
    on_status_change: OnStatusChange | None = Field(default=None, alias="onStatusChange")
    metadata: dict[str, Annotated[str, Field(max_length=1024)]] | None = None
    context: dict[str, Any] | None = None
    reasoning_traces: bool = Field(default=True, alias="reasoningTraces")
    call_summarization: bool = Field(default=True, alias="callSummarization")
    interactive: bool = True
    test: TestOptions | None = None
    config: RunConfigReference | None = None
    # Inferable's run configurations: the run inherits the configuration; its own fields override it.
    config_id: str | None = Field(default=None, alias="configId", min_length=1, max_length=128)
    input: dict[str, Any] | None = Field(
        default=None, description="Checked against the configuration's inputSchema, merged into the prompt."
    )
    template: dict[str, Any] | None = Field(default=None, description="Deprecated by Inferable; refused.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _prompt_or_config(cls, data: Any) -> Any:
        # 'initialPrompt' is required unless a run configuration ('configId' / 'config') supplies it.
        if isinstance(data, dict) and not any(
            data.get(k) is not None for k in ("initialPrompt", "initial_prompt", "configId", "config_id", "config")
        ):
            raise ValidationError.from_exception_data(
                cls.__name__, [InitErrorDetails(type="missing", loc=("initialPrompt",), input=data)]
            )
        return data

    @model_validator(mode="after")
    def _one_config(self) -> CreateRunRequest:
        if self.config_id is not None and self.config is not None and self.config.id != self.config_id:
            raise ValueError("'configId' and 'config.id' name different run configurations")
        return self

    @field_validator("template")
    @classmethod
    def _no_template(cls, value: dict[str, Any] | None) -> None:
        if value is not None:
            raise ValueError("'template' is deprecated in Inferable's API and runplane does not support it")
        return None

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > MAX_METADATA_ENTRIES:
            raise ValueError(f"at most {MAX_METADATA_ENTRIES} entries")
        for key in value:
            if not _META_KEY_RE.match(key):
                raise ValueError(f"key '{key}' must match {METADATA_KEY_PATTERN}")
        return value

    @field_validator("initial_prompt")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value


class Usage(Model):
    input_tokens: int = Field(default=0, alias="inputTokens")
    output_tokens: int = Field(default=0, alias="outputTokens")
    model_config = ConfigDict(populate_by_name=True)


class Run(Model):
    """A run as runplane stores it."""

    id: str
    cluster_id: str
    name: str
    status: RunStatus
    seq: int = 1
    created_at: str
    updated_at: str
    request_hash: str
    initial_prompt: str | None = None
    system_prompt: str | None = None
    model: str
    provider: str
    model_id: str
    result_schema: dict[str, Any] | None = None
    attached_functions: list[str] | None = None
    on_status_change: dict[str, Any] | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    context: dict[str, Any] | None = None
    reasoning_traces: bool = True
    call_summarization: bool = True
    interactive: bool = True
    test: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    # The run configuration it inherited (and which version), and ACP's agent and session.
    config_id: str | None = None
    config_version: int | None = None
    agent_name: str | None = None
    session_id: str | None = None
    result: Any = None
    summary: str | None = None
    result_error: str | None = None
    failure_reason: str | None = None
    cancel_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    turns: int = 0
    executions: int = 1
    feedback_comment: str | None = None
    feedback_score: float | None = None
    # Status changes after creation: {sequence, status, previousStatus, at}, oldest first.
    history: list[dict[str, Any]] = Field(default_factory=list)
    # A finished run's expiry (epoch seconds, the table's TTL attribute); None while it is open.
    expires_at: int | None = None
    # The concurrency slots (counter ids) the run holds while admitted, and when it was last admitted.
    slots: list[str] = Field(default_factory=list)
    admitted_at: str | None = None

    @property
    def execution_name(self) -> str:
        """Its current agent-loop execution: the run id, then ``<runId>-<n>`` for the n-th follow-up."""
        return self.id if self.executions <= 1 else f"{self.id}-{self.executions}"


class PendingApproval(Model):
    call_id: str = Field(alias="callId")
    function: str
    input: dict[str, Any]
    requested_at: str = Field(alias="requestedAt")
    expires_at: str = Field(alias="expiresAt")
    model_config = ConfigDict(populate_by_name=True)


class RunView(Model):
    """What ``GET /clusters/{clusterId}/runs/{runId}`` returns."""

    id: str
    name: str
    status: RunStatus
    result: Any = None
    summary: str | None = None
    failure_reason: str | None = Field(default=None, alias="failureReason")
    result_error: str | None = Field(default=None, alias="resultError")
    metadata: dict[str, str]
    model: str
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    usage: Usage
    test: bool
    interactive: bool
    attached_functions: list[str] | None = Field(default=None, alias="attachedFunctions")
    result_schema: dict[str, Any] | None = Field(default=None, alias="resultSchema")
    pending_approvals: list[PendingApproval] = Field(default_factory=list, alias="pendingApprovals")
    cancel_reason: str | None = Field(default=None, alias="cancelReason")
    user_id: str | None = Field(default=None, alias="userId")
    feedback_comment: str | None = Field(default=None, alias="feedbackComment")
    feedback_score: float | None = Field(default=None, alias="feedbackScore")
    expires_at: str | None = Field(
        default=None, alias="expiresAt", description="When a finished run and all it owns are deleted (ISO 8601)."
    )
    config_id: str | None = Field(default=None, alias="configId")
    config_version: int | None = Field(default=None, alias="configVersion")
    model_config = ConfigDict(populate_by_name=True)

    @classmethod
    def of(cls, run: Run, pending: list[Call] | None = None) -> RunView:
        return cls(
            id=run.id,
            name=run.name,
            status=run.status,
            result=run.result,
            summary=run.summary,
            failure_reason=run.failure_reason,
            result_error=run.result_error,
            metadata=run.metadata,
            model=run.model if run.provider != "scripted" else f"scripted:{run.model}",
            created_at=run.created_at,
            updated_at=run.updated_at,
            usage=run.usage,
            test=bool(run.test and run.test.get("enabled")),
            interactive=run.interactive,
            attached_functions=run.attached_functions,
            result_schema=run.result_schema,
            cancel_reason=run.cancel_reason,
            feedback_comment=run.feedback_comment,
            feedback_score=run.feedback_score,
            expires_at=_iso(run.expires_at),
            config_id=run.config_id,
            config_version=run.config_version,
            pending_approvals=[
                PendingApproval(
                    call_id=c.id,
                    function=c.function,
                    input=c.input,
                    requested_at=c.approval.requested_at if c.approval else c.created_at,
                    expires_at=c.approval.expires_at if c.approval else c.created_at,
                )
                for c in pending or []
            ],
        )


class RunSummaryView(Model):
    id: str
    name: str
    status: RunStatus
    metadata: dict[str, str]
    model: str
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    test: bool
    config_id: str | None = Field(default=None, alias="configId")
    config_version: int | None = Field(default=None, alias="configVersion")
    model_config = ConfigDict(populate_by_name=True)


class RunList(Model):
    runs: list[RunSummaryView]
    next_cursor: str | None = Field(default=None, alias="nextCursor")
    model_config = ConfigDict(populate_by_name=True)


class CreatedRun(Model):
    id: str


class CreateClusterRequest(Strict):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", max_length=2000)


class Cluster(Model):
    id: str
    name: str
    description: str = ""
    created_at: str = Field(alias="createdAt")
    model_config = ConfigDict(populate_by_name=True)


class Message(Model):
    """One conversation message (Anthropic Messages format), stored one per item."""

    index: int
    role: Literal["user", "assistant"]
    kind: Literal["human", "agent", "tool-result", "repair", "notice"]
    content: list[dict[str, Any]]
    created_at: str
    id: str | None = None  # a client-chosen id (Inferable's createMessage)


CallStatus = Literal[
    "pending",
    "awaiting_approval",
    "approved",
    "denied",
    "expired",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
]
CALL_FINAL: frozenset[str] = frozenset({"denied", "expired", "succeeded", "failed", "timed_out", "cancelled"})


class Approval(Model):
    requested_at: str = Field(alias="requestedAt")
    expires_at: str = Field(alias="expiresAt")
    decided_at: str | None = Field(default=None, alias="decidedAt")
    approved: bool | None = None
    reason: str | None = None
    edited_input: dict[str, Any] | None = Field(default=None, alias="editedInput")
    decided_by: str | None = Field(default=None, alias="decidedBy")  # the deciding API key's id
    model_config = ConfigDict(populate_by_name=True)


class Call(Model):
    """One tool call of a run (a ``tool_use`` block of an agent message)."""

    id: str
    run_id: str
    cluster_id: str
    message_index: int
    function: str
    input: dict[str, Any]
    status: CallStatus = "pending"
    kind: str = "builtin"
    requires_approval: bool = False
    mocked: bool = False  # a test run's mock stands in for the target
    timeout_seconds: int = 60
    approval_timeout_seconds: int = 86_400
    reasoning: str | None = None
    result: Any = None
    result_chars: int | None = None
    result_blob: str | None = None
    error: str | None = None
    approval: Approval | None = None
    task_token: str | None = None  # server-side only: never returned by the API
    created_at: str
    updated_at: str
    worker: str | None = None
    # Inferable services: the service, stall retries, deliveries (each queued job carries its number).
    service: str | None = None
    retry_count_on_stall: int = 0
    stalls: int = 0
    delivery: int = 0
    acknowledged_at: str | None = None
    result_type: str | None = None


CALL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"


class ApprovalDecision(Strict):
    approved: bool
    reason: str | None = Field(default=None, max_length=4000)
    input: dict[str, Any] | None = Field(default=None, description="Edited arguments (approvals only).")


class FollowUpMessage(Strict):
    id: str | None = Field(default=None, pattern=r"^[0-9A-Za-z]{26}$")
    message: str = Field(min_length=1, max_length=200_000)
    type: Literal["human", "supervisor"] = "human"


class CancelRequest(Strict):
    reason: str | None = Field(default=None, max_length=4000)


class CallView(Model):
    id: str
    function: str
    input: dict[str, Any]
    status: str
    result: Any = None
    error: str | None = None
    approval: Approval | None = None
    model_config = ConfigDict(populate_by_name=True)

    @classmethod
    def of(cls, call: Call) -> CallView:
        return cls(
            id=call.id,
            function=call.function,
            input=call.input,
            status=call.status,
            result=call.result,
            error=call.error,
            approval=call.approval,
        )


# The worker's own id: it claims jobs with it and must give it again with each heartbeat and result.
WorkerId = Annotated[
    str, Field(min_length=1, max_length=128, description="The claiming worker's id (heartbeats and results too).")
]


class JobPoll(Strict):
    functions: list[Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]] = Field(min_length=1, max_length=50)
    worker: WorkerId
    wait_seconds: int = Field(default=10, ge=0, le=20, alias="waitSeconds")
    max_jobs: int = Field(default=1, ge=1, le=10, alias="maxJobs")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class JobHeartbeat(Strict):
    worker: WorkerId


class JobResult(Strict):
    worker: WorkerId
    result: Any = None
    error: str | None = Field(default=None, max_length=4000)


class AgentStepEvent(Model):
    """What the state machine's ModelTurn / RecordFailure tasks send the agent-step function."""

    action: Literal["model", "fail"] = "model"
    run_id: str = Field(alias="runId")
    cluster_id: str = Field(alias="clusterId")
    error: dict[str, Any] | None = None


class ToolStepEvent(Model):
    """What the Map iteration's tasks send the tool-step function."""

    action: Literal["run_call", "await_approval", "approval_expired", "call_failed"]
    run_id: str = Field(alias="runId")
    cluster_id: str = Field(alias="clusterId")
    call_id: str = Field(alias="callId")
    task_token: str | None = Field(default=None, alias="taskToken")
    error: dict[str, Any] | None = None


def _iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
