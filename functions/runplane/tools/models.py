"""Function definitions: what ``PUT /clusters/{clusterId}/functions/{name}`` takes and stores."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    ConfigDict,
    Field,
    SerializationInfo,
    field_serializer,
    model_validator,
)

from ..model import Model
from ..schemas import FUNCTION_NAME_PATTERN, Strict

LAMBDA_ARN_PATTERN = r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$"
DEFAULT_INPUT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
MAX_TIMEOUT = {"lambda": 840, "http": 300, "worker": 86_400, "builtin": 60}
MIN_TIMEOUT = {"lambda": 1, "http": 1, "worker": 2, "builtin": 1}
# ``target.headers`` values are write-only: every dump shows this instead, except the one that
# stores the record (``model_dump_json(context=REVEAL_SECRETS)``), and calls use the real values.
SECRET_MASK = "********"
REVEAL_SECRETS = {"reveal_secrets": True}


def masked_target(target: dict[str, Any]) -> dict[str, Any]:
    headers = target.get("headers")
    if not isinstance(headers, dict):
        return target
    return {**target, "headers": dict.fromkeys(headers, SECRET_MASK)}


def _check_input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    from ..logic.result import check_schema

    check_schema(schema, field="inputSchema")
    if schema.get("type", "object") != "object":
        raise ValueError('must describe an object ("type": "object"): tool inputs are JSON objects')
    return schema


InputSchema = Annotated[dict[str, Any], AfterValidator(_check_input_schema)]


class LambdaTarget(Strict):
    type: Literal["lambda"]
    arn: str = Field(pattern=LAMBDA_ARN_PATTERN)


class HttpTarget(Strict):
    type: Literal["http"]
    url: AnyHttpUrl
    headers: dict[str, str] | None = Field(
        default=None,
        description=f"Sent with every call (e.g. a shared secret). Write-only: responses show '{SECRET_MASK}'; "
        f"sending '{SECRET_MASK}' back keeps the stored value.",
    )


class WorkerTarget(Strict):
    type: Literal["worker"]


class BuiltinTarget(Strict):
    type: Literal["builtin"]


Target = Annotated[LambdaTarget | HttpTarget | WorkerTarget | BuiltinTarget, Field(discriminator="type")]


class FunctionDefinition(Strict):
    """Body of ``PUT /clusters/{clusterId}/functions/{name}``."""

    description: str = Field(default="", max_length=4000)
    input_schema: InputSchema | None = Field(default=None, alias="inputSchema")
    requires_approval: bool = Field(default=False, alias="requiresApproval")
    timeout_seconds: int = Field(default=60, ge=1, le=86_400, alias="timeoutSeconds")
    approval_timeout_seconds: int = Field(default=86_400, ge=1, le=30 * 86_400, alias="approvalTimeoutSeconds")
    target: Target
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _timeout_fits_target(self) -> FunctionDefinition:
        low, high = MIN_TIMEOUT[self.target.type], MAX_TIMEOUT[self.target.type]
        if not low <= self.timeout_seconds <= high:
            raise ValueError(f"timeoutSeconds must be between {low} and {high} for '{self.target.type}' targets")
        return self


class FunctionRecord(Model):
    """A function as stored and returned."""

    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_INPUT_SCHEMA), alias="inputSchema")
    requires_approval: bool = Field(default=False, alias="requiresApproval")
    timeout_seconds: int = Field(default=60, alias="timeoutSeconds")
    approval_timeout_seconds: int = Field(default=86_400, alias="approvalTimeoutSeconds")
    target: dict[str, Any]
    builtin: bool = False
    # Inferable services: the service it belongs to, the plain function name, and its ``config``
    # (timeoutSeconds, retryCountOnStall, private, cache) as the SDK registered it.
    service: str | None = None
    service_function: str | None = Field(default=None, alias="serviceFunction")
    config: dict[str, Any] | None = None
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")
    model_config = ConfigDict(populate_by_name=True)

    @field_serializer("target")
    def _write_only_headers(self, target: dict[str, Any], info: SerializationInfo) -> dict[str, Any]:
        return target if (info.context or {}).get("reveal_secrets") else masked_target(target)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (masked_target(value) if name == "target" else value)

    @property
    def kind(self) -> str:
        return str(self.target["type"])

    @property
    def private(self) -> bool:
        """Inferable's ``config.private``: callable directly (createCall), never offered to a model."""
        return bool((self.config or {}).get("private"))

    @property
    def retry_count_on_stall(self) -> int:
        return int((self.config or {}).get("retryCountOnStall") or 0)

    def tool(self) -> dict[str, Any]:
        """The tool definition the model sees."""
        return {"name": self.name, "description": self.description or self.name, "input_schema": self.input_schema}


def lambda_function_name(arn: str) -> str:
    return arn.split(":")[6]
