"""Inferable's routes (the SDK's ``contract.ts``) that runplane's own API did not have: machines,
services and their calls, call approvals and blobs by call id, messages, feedback, deleting runs,
the timeline. Included by ``handlers.api``; the same error handlers apply."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ConfigDict, Field

from .. import access
from ..errors import InvalidRequest
from ..ids import CLUSTER_ID_PATTERN, RUN_ID_PATTERN
from ..logic.services import Gone
from ..model import Model
from ..schemas import FollowUpMessage, Strict
from . import wiring
from .binding import Path, Query

router = Router()

ClusterId = Annotated[str, Path(pattern=CLUSTER_ID_PATTERN)]
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN)]
# Contract call ids are <runId>.<toolUseId>; blob ids <runId>.<ulid>.
ContractId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{3,200}$")]


def _require(cluster_id: str | None, capability: access.Capability) -> access.Principal:
    return access.check(router.current_event.raw_event, cluster_id, capability)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=payload, headers=headers or {}
    )


def _empty(status: int) -> Response:
    return Response(status_code=status, body=None)


def _machine() -> dict[str, Any]:
    """Who is calling: the SDK's ``x-machine-*`` headers and the caller's address."""
    event = router.current_event
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    identity = (event.raw_event.get("requestContext") or {}).get("identity") or {}
    forwarded = (headers.get("x-forwarded-for") or "").split(",")[0].strip()
    return {
        "id": (headers.get("x-machine-id") or "")[:128] or None,
        "ip": identity.get("sourceIp") or forwarded or None,
        "sdkVersion": (headers.get("x-machine-sdk-version") or "")[:64] or None,
        "sdkLanguage": (headers.get("x-machine-sdk-language") or "")[:64] or None,
    }


# -- health ---------------------------------------------------------------------------------------
@router.get("/live")
def live() -> Response[dict[str, str]]:
    # No _require: a health check (the authorizer lets /live and /ping through without a key).
    return _json(200, {"status": "ok"})


# -- machines and services --------------------------------------------------------------------------
class CacheConfig(Strict):
    key_path: str = Field(alias="keyPath", max_length=256)
    ttl_seconds: float = Field(alias="ttlSeconds", ge=0)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FunctionConfig(Strict):
    cache: CacheConfig | None = None
    retry_count_on_stall: int | None = Field(default=None, alias="retryCountOnStall", ge=0, le=10)
    timeout_seconds: int | None = Field(default=None, alias="timeoutSeconds", ge=1, le=86_400)
    private: bool | None = False
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ServiceFunction(Strict):
    name: str = Field(min_length=1, max_length=63)
    description: str | None = Field(default=None, max_length=4000)
    schema_: str | None = Field(default=None, alias="schema", max_length=200_000)
    config: FunctionConfig | None = None
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CreateMachine(Model):
    service: str | None = None
    functions: list[ServiceFunction] | None = Field(default=None, max_length=100)


@router.post("/machines")
def create_machine(body: CreateMachine) -> Response[dict[str, str]]:
    p = _require(None, "machine")
    wiring.run_service().require_cluster(p.cluster_id)
    functions = [
        {
            "name": f.name,
            "description": f.description,
            "schema": f.schema_,
            "config": f.config.model_dump(mode="json", by_alias=True, exclude_none=True) if f.config else None,
        }
        for f in body.functions or []
    ]
    wiring.services().register(p.cluster_id, _machine(), body.service, functions if body.service else None)
    return _json(200, {"clusterId": p.cluster_id})


@router.get("/clusters/<clusterId>/machines")
def list_machines(clusterId: ClusterId) -> Response[list[dict[str, Any]]]:
    _require(clusterId, "cluster")
    wiring.run_service().require_cluster(clusterId)
    return _json(200, wiring.services().list_machines(clusterId))


@router.get("/clusters/<clusterId>/services")
def list_services(clusterId: ClusterId) -> Response[list[dict[str, Any]]]:
    _require(clusterId, "cluster")
    wiring.run_service().require_cluster(clusterId)
    return _json(200, wiring.services().list_services(clusterId))


# -- calls ------------------------------------------------------------------------------------------
@router.get("/clusters/<clusterId>/calls")
def list_calls(
    clusterId: ClusterId,
    service: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: Annotated[Literal["pending", "running", "paused", "done", "failed"], Query()] = "pending",
    limit: Annotated[int, Query(ge=1, le=20)] = 10,
    acknowledge: Annotated[str, Query(pattern=r"^(true|false|1|0)$")] = "false",
) -> Response[Any]:
    """A service's poll: acknowledges (marks running) and returns the calls waiting for it."""
    _require(clusterId, "machine")
    wiring.run_service().require_cluster(clusterId)
    if service is None:
        raise InvalidRequest("name the service whose calls to hand out", field="service")
    if acknowledge not in ("true", "1") or status != "pending":
        raise InvalidRequest("runplane hands out calls only as status=pending&acknowledge=true", field="acknowledge")
    try:
        calls = wiring.services().poll(clusterId, service, _machine(), limit)
    except Gone as exc:
        return _json(410, {"message": str(exc)}, {"retry-after": "1"})
    waited = wiring.services().poll_wait_seconds >= 1
    return _json(200, calls, {"retry-after": "0" if waited else "1"})


class CreateCall(Model):
    service: str = Field(min_length=1, max_length=64)
    function: str = Field(min_length=1, max_length=64)
    input: dict[str, Any]


@router.post("/clusters/<clusterId>/calls")
def create_call(
    clusterId: ClusterId, body: CreateCall, waitTime: Annotated[int, Query(ge=0, le=20)] = 0
) -> Response[dict[str, Any]]:
    """Call one service function directly, outside any run; wait up to ``waitTime`` s for its result."""
    _require(clusterId, "machine")
    wiring.run_service().require_cluster(clusterId)
    out = wiring.services().create_call(clusterId, body.service, body.function, body.input, waitTime)
    return _json(200, out)


class CallResult(Model):
    result: Any = None
    result_type: Literal["resolution", "rejection", "interrupt"] = Field(alias="resultType")
    meta: dict[str, Any] = Field(default_factory=dict)
    model_config = ConfigDict(populate_by_name=True)


@router.post("/clusters/<clusterId>/calls/<callId>/result")
def create_call_result(clusterId: ClusterId, callId: ContractId, body: CallResult) -> Response[None]:
    _require(clusterId, "machine")
    wiring.services().result(clusterId, callId, body.result, body.result_type, machine_id=_machine()["id"])
    return _empty(204)


class CallApproval(Strict):
    approved: bool


@router.post("/clusters/<clusterId>/calls/<callId>/approval")
def create_call_approval(clusterId: ClusterId, callId: ContractId, body: CallApproval) -> Response[None]:
    _require(clusterId, "runs")
    wiring.services().approve(clusterId, callId, body.approved)
    return _empty(204)


class CallBlob(Model):
    name: str = Field(min_length=1, max_length=256)
    type: str
    encoding: str
    size: int | None = None
    data: str = Field(max_length=6 * 1024 * 1024)


@router.post("/clusters/<clusterId>/calls/<callId>/blobs")
def create_call_blob(clusterId: ClusterId, callId: ContractId, body: CallBlob) -> Response[dict[str, str]]:
    _require(clusterId, "machine")
    blob_id = wiring.services().add_blob(clusterId, callId, body.model_dump())
    return _json(201, {"id": blob_id})


@router.get("/clusters/<clusterId>/blobs/<blobId>/data")
def get_blob_data(clusterId: ClusterId, blobId: ContractId) -> Response[Any]:
    _require(clusterId, "runs")
    blob, data = wiring.services().blob_data(clusterId, blobId)
    if blob["type"] == "application/json":
        return Response(status_code=200, content_type="application/json", body=data.decode("utf-8", "replace"))
    # bytes: Powertools sends them base64-encoded (isBase64Encoded), as API Gateway wants binary bodies
    return Response(
        status_code=200,
        content_type=str(blob["type"]),
        body=data,
        headers={"content-disposition": f'inline; filename="{blob["name"]}"'},
    )


@router.get("/clusters/<clusterId>/calls/<callId>")
def get_call(clusterId: ClusterId, callId: ContractId) -> Response[dict[str, Any]]:
    _require(clusterId, "machine")
    return _json(200, wiring.services().get(clusterId, callId))


# -- runs -------------------------------------------------------------------------------------------
@router.get("/clusters/<clusterId>/runs/<runId>/messages")
def list_messages(clusterId: ClusterId, runId: RunId) -> Response[list[dict[str, Any]]]:
    _require(clusterId, "runs")
    return _json(200, wiring.run_service().message_views(clusterId, runId))


@router.post("/clusters/<clusterId>/runs/<runId>/messages")
def create_message(clusterId: ClusterId, runId: RunId, body: FollowUpMessage) -> Response[None]:
    _require(clusterId, "runs")
    wiring.run_service().send_message(clusterId, runId, body.message, body.id)
    return _empty(201)


@router.get("/clusters/<clusterId>/runs/<runId>/timeline")
def get_run_timeline(
    clusterId: ClusterId,
    runId: RunId,
    messagesAfter: Annotated[str, Query(max_length=64)] = "0",
    activityAfter: Annotated[str, Query(max_length=200)] = "0",
    jobsAfter: Annotated[str, Query(max_length=200)] = "0",
) -> Response[dict[str, Any]]:
    _require(clusterId, "runs")
    return _json(200, wiring.run_service().contract_timeline(clusterId, runId, messagesAfter, activityAfter))


class Feedback(Strict):
    comment: str | None = Field(max_length=10_000)
    score: float | None = Field(ge=0, le=1)


@router.post("/clusters/<clusterId>/runs/<runId>/feedback")
def create_feedback(clusterId: ClusterId, runId: RunId, body: Feedback) -> Response[None]:
    _require(clusterId, "runs")
    wiring.run_service().feedback(clusterId, runId, body.comment, body.score)
    return _empty(204)


@router.delete("/clusters/<clusterId>/runs/<runId>")
def delete_run(clusterId: ClusterId, runId: RunId) -> Response[None]:
    _require(clusterId, "runs")
    wiring.run_service().delete_run(clusterId, runId)
    return _empty(204)
