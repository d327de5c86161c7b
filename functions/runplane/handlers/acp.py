"""The Agent Communication Protocol (ACP v0.2) routes, served by their own function ("acp").

Agents are the run configurations of the caller's cluster (the key's cluster; capability ``runs``).
The function answers in one of two ways:

- :func:`stream_handler` — status, headers and an *iterator* of body chunks. This is what API
  Gateway's response streaming serves on AWS (``runplane.streaming`` writes the chunks to Lambda's
  Runtime API as they come) and what local mode's gateway streams over HTTP. ``mode: stream`` and
  ``GET /runs/{id}/events`` with ``Last-Event-ID`` answer Server-Sent Events as the run goes on.
- :func:`handler` — the same answers buffered (an API Gateway proxy response), for a plain,
  non-streaming integration.

Bodies are parsed as JSON whatever their Content-Type says (the acp-sdk client sends none). Errors
are ACP's ``{code, message, data}``. Waits (``mode: sync``) and streams run after the route returns,
outside the resolver; what a route asks for afterwards, and the event it answers, are kept per thread.
A body is checked as the API checks one (``handlers.inbound``: UTF-8, no NaN/Infinity, no lone
surrogates, nesting ≤ 64), whatever its Content-Type.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ValidationError

from .. import access
from ..errors import Conflict, InvalidRequest, NotFound, RateLimited
from ..ids import ulid
from ..logic import acp
from ..schemas import CreateRunRequest, Run
from ..status import RunStatus
from . import inbound, initialized, wiring

logger = Logger(service="runplane-acp")
app = APIGatewayRestResolver()
_local = threading.local()

# mode: sync waits this long at most (API Gateway's limit for a buffered answer is 29 s).
SYNC_WAIT_SECONDS = 25.0
POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 10.0
INPUT_CONTENT_TYPES = ["text/plain", "text/*", "application/json", *acp.IMAGE_TYPES, *acp.DOCUMENT_TYPES]


@dataclass
class Streamed:
    """An answer whose body is produced as it is sent."""

    status: int
    headers: dict[str, str]
    chunks: Iterator[bytes]

    def prelude(self) -> dict[str, Any]:
        """API Gateway's metadata for a streamed Lambda proxy response."""
        return {"statusCode": self.status, "headers": self.headers}


@dataclass
class _Follow:
    """What a route asks to do after it returns: wait for the run, or stream its events."""

    cluster_id: str
    run_id: str
    kind: str  # "wait" | "sse"
    after: tuple[int, int] = (0, 0)
    headers: dict[str, str] = field(default_factory=dict)


def _event() -> APIGatewayProxyEvent:
    """This request's event. Powertools keeps ``current_event`` on a class attribute shared by every
    resolver of the process; local mode serves the API and ACP from threads of one process, so
    routes read the event this thread is answering instead."""
    event: APIGatewayProxyEvent = _local.event
    return event


def _run_of_path(path: str) -> str | None:
    """The run id (runplane's, as in every other function's logs) that ``/runs/<uuid>...`` names."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "runs":
        return None
    try:
        return acp.run_ulid(parts[1])
    except acp.AcpError:
        return None


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _cluster() -> str:
    return access.check(_event().raw_event, None, "runs").cluster_id


def _body(model: type[BaseModel]) -> Any:
    try:
        raw = inbound.body_text(_event().raw_event)
        if raw.strip():
            inbound.parse_json(raw)
    except inbound.Refused as exc:
        raise acp.invalid(exc.field, exc.problem) from None
    try:
        return model.model_validate_json(raw or "")
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "problem": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        if errors and errors[0]["problem"].startswith("Invalid JSON"):
            raise acp.invalid("body", "the request body is not valid JSON") from None
        first = errors[0]
        raise acp.AcpError(400, "invalid_input", f"{first['field']}: {first['problem']}", {"errors": errors}) from None


def _run(cluster_id: str, acp_run_id: str) -> Run:
    run = wiring.store().get_run(cluster_id, acp.run_ulid(acp_run_id))
    if run is None:
        raise acp.AcpError(404, "not_found", f"run '{acp_run_id}' not found")
    return run


def _view(run: Run) -> dict[str, Any]:
    pending = wiring.run_service().pending_approvals(run)
    return acp.acp_run(run, awaiting=pending)


def _manifest(config: Any) -> dict[str, Any]:
    return {
        "name": config.name,
        "description": config.description or config.name,
        "metadata": {
            "documentation": config.description,
            "framework": "runplane",
            "created_at": config.created_at,
            "updated_at": config.updated_at,
            "annotations": {
                "runplane": {
                    "configId": config.id,
                    "version": config.version,
                    "model": config.model,
                    "inputSchema": config.input_schema,
                    "resultSchema": config.result_schema,
                }
            },
        },
        "input_content_types": INPUT_CONTENT_TYPES,
        "output_content_types": ["application/json"] if config.result_schema else ["text/plain"],
    }


# -- routes ---------------------------------------------------------------------------------------
@app.get("/ping")
def ping() -> Response:
    return _json(200, {})


@app.get("/agents")
def list_agents() -> Response:
    cluster = _cluster()
    params = _event().query_string_parameters or {}
    try:
        limit, offset = int(params.get("limit", 10)), int(params.get("offset", 0))
    except ValueError:
        raise acp.invalid("limit", "limit and offset must be integers") from None
    if not (1 <= limit <= 1000 and offset >= 0):
        raise acp.invalid("limit", "limit must be 1..1000 and offset ≥ 0")
    configs = wiring.run_configs().list(cluster)[offset : offset + limit]
    return _json(200, {"agents": [_manifest(c) for c in configs]})


@app.get("/agents/<name>")
def get_agent(name: str) -> Response:
    config = wiring.run_configs().by_name(_cluster(), name)
    if config is None:
        raise acp.AcpError(404, "not_found", f"agent '{name}' not found")
    return _json(200, _manifest(config))


@app.post("/runs")
def create_run() -> Response:
    cluster = _cluster()
    req: acp.RunCreateRequest = _body(acp.RunCreateRequest)
    if req.session_id and req.session and req.session.id != req.session_id:
        raise acp.invalid("session_id", "session_id and session.id differ")
    config = wiring.run_configs().by_name(cluster, req.agent_name)
    if config is None:
        raise acp.AcpError(404, "not_found", f"agent '{req.agent_name}' not found")
    session_id = str(req.session_id or (req.session.id if req.session else uuid.uuid4()))
    run_id = ulid()
    store = wiring.store()
    parsed = acp.parse_input(req.input, f"runs/{cluster}/{run_id}/input", store.put_blob)
    prompt = parsed.prompt()
    if config.initial_prompt and parsed.texts:
        prompt = f"{config.initial_prompt}\n\n{prompt}"
    elif config.initial_prompt:
        prompt = config.initial_prompt
    data: dict[str, Any] | None = None
    if config.input_schema is not None:
        if len(parsed.data) > 1:
            raise acp.invalid("input", "give the agent's structured input as one application/json part")
        data = parsed.data[0] if parsed.data else {}
        if not isinstance(data, dict):
            raise acp.invalid("input", "the application/json part must be a JSON object (the agent's inputSchema)")
    elif parsed.data:
        prompt += "\n\n" + "\n\n".join(json.dumps(d, indent=2) for d in parsed.data)
    earlier = []
    for prior_id in wiring.config_store().session_runs(cluster, session_id)[-2 * acp.MAX_SESSION_EXCHANGES :]:
        prior = store.get_run(cluster, prior_id)
        if prior is not None:
            earlier.append((prior, store.messages(prior)))
    body = CreateRunRequest(id=run_id, initial_prompt=prompt, config_id=config.id, input=data)
    run, _ = wiring.run_service().create_run(
        cluster,
        body,
        attachments=parsed.attachments,
        history=acp.prior_conversation(earlier),
        agent_name=req.agent_name,
        session_id=session_id,
    )
    wiring.config_store().add_session_run(cluster, session_id, run.id, run.created_at)
    logger.set_correlation_id(run.id)
    logger.info("acp run stored", run_id=run.id, agent=req.agent_name, mode=req.mode)
    headers = {"Run-ID": str(acp.run_uuid(run.id))}
    return _answer(cluster, run, req.mode, headers, after=(0, 0))


def _answer(cluster: str, run: Run, mode: str, headers: dict[str, str], after: tuple[int, int]) -> Response:
    if mode == "async":
        return _json(202, _view(run), headers)
    _local.follow = _Follow(cluster, run.id, "sse" if mode == "stream" else "wait", after, headers)
    return Response(status_code=200, body="")


@app.get("/runs/<run_id>")
def read_run(run_id: str) -> Response:
    return _json(200, _view(_run(_cluster(), run_id)))


@app.post("/runs/<run_id>")
def resume_run(run_id: str) -> Response:
    cluster = _cluster()
    run = _run(cluster, run_id)
    req: acp.RunResumeRequest = _body(acp.RunResumeRequest)
    pending = wiring.run_service().pending_approvals(run)
    if not pending:
        raise acp.AcpError(409, "invalid_input", f"run '{run_id}' is {acp.acp_status(run.status)}, not awaiting")
    last = acp.parse_event_id(acp.run_events(run, wiring.store().calls(cluster, run.id))[-1][0])
    for call_id, approved, reason in acp.decisions(req.await_resume, pending):
        wiring.run_service().decide(cluster, run.id, call_id, approved=approved, reason=reason, edited_input=None)
    run = wiring.store().get_run(cluster, run.id) or run
    return _answer(cluster, run, req.mode, {"Run-ID": run_id}, after=last)


@app.post("/runs/<run_id>/cancel")
def cancel_run(run_id: str) -> Response:
    cluster = _cluster()
    run = _run(cluster, run_id)
    if run.status in (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED):
        raise acp.AcpError(
            409, "invalid_input", f"run '{run_id}' is {acp.acp_status(run.status)}: it cannot be cancelled"
        )
    run = wiring.run_service().cancel(cluster, run.id, "cancelled through ACP")
    return _json(202, _view(run))


@app.get("/runs/<run_id>/events")
def list_run_events(run_id: str) -> Response:
    cluster = _cluster()
    run = _run(cluster, run_id)
    headers = _event().headers or {}
    last = next((v for k, v in headers.items() if k.lower() == "last-event-id"), None)
    accept = next((v for k, v in headers.items() if k.lower() == "accept"), "") or ""
    if last is not None or "text/event-stream" in accept:
        _local.follow = _Follow(cluster, run.id, "sse", acp.parse_event_id(last), {"Run-ID": run_id})
        return Response(status_code=200, body="")
    events = acp.run_events(run, wiring.store().calls(cluster, run.id))
    return _json(200, {"events": [e for _, e in events]})


def _session(cluster: str, session_id: str) -> list[tuple[Run, list[Any]]]:
    try:
        sid = str(uuid.UUID(session_id))
    except ValueError:
        raise acp.AcpError(404, "not_found", f"session '{session_id}' not found (session ids are UUIDs)") from None
    store = wiring.store()
    runs = []
    for run_id in wiring.config_store().session_runs(cluster, sid):
        run = store.get_run(cluster, run_id)
        if run is not None:
            runs.append((run, acp.session_messages(run, store.messages(run))))
    if not runs:
        raise acp.AcpError(404, "not_found", f"session '{session_id}' not found")
    return runs


def _base_url() -> str:
    event = _event()
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    host = headers.get("host", "localhost")
    proto = headers.get("x-forwarded-proto", "https" if host.endswith("amazonaws.com") else "http")
    stage = event.request_context.stage if host.endswith("amazonaws.com") else ""
    return f"{proto}://{host}" + (f"/{stage}" if stage else "")


@app.get("/session/<session_id>")
def read_session(session_id: str) -> Response:
    runs = _session(_cluster(), session_id)
    count = sum(len(messages) for _, messages in runs)
    base = _base_url()
    sid = str(uuid.UUID(session_id))
    history = [f"{base}/session/{sid}/messages/{n}" for n in range(count)]
    return _json(200, {"id": sid, "history": history, "state": None})


# acp-sdk 1.0.3's Client.refresh_session reads /sessions/{id}: the same answer.
app.get("/sessions/<session_id>")(read_session)


@app.get("/session/<session_id>/messages/<n>")
def read_session_message(session_id: str, n: str) -> Response:
    messages = [m for _, ms in _session(_cluster(), session_id) for m in ms]
    if not n.isdigit() or int(n) >= len(messages):
        raise acp.AcpError(404, "not_found", f"message {n} of session '{session_id}' not found")
    return _json(200, messages[int(n)])


# -- errors: ACP's {code, message, data} --------------------------------------------------------------
@app.exception_handler(acp.AcpError)
def _acp_error(exc: acp.AcpError) -> Response:
    return _json(exc.status, exc.body())


@app.exception_handler(InvalidRequest)
def _invalid(exc: InvalidRequest) -> Response:
    return _json(400, acp.invalid(exc.field or "body", str(exc)).body())


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return _json(404, {"code": "not_found", "message": str(exc), "data": None})


@app.exception_handler(Conflict)
def _conflict(exc: Conflict) -> Response:
    return _json(409, {"code": "invalid_input", "message": str(exc), "data": None})


@app.exception_handler(access.Unauthorized)
def _unauthorized(exc: access.Unauthorized) -> Response:
    return _json(401, {"code": "invalid_input", "message": str(exc), "data": None})


@app.exception_handler(access.Forbidden)
def _forbidden(exc: access.Forbidden) -> Response:
    return _json(403, {"code": "invalid_input", "message": str(exc), "data": None})


@app.not_found
def _no_route(exc: Exception) -> Response:
    event = _event()
    return _json(404, {"code": "not_found", "message": f"no route for {event.http_method} {event.path}", "data": None})


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    logger.exception("unhandled error")
    return _json(
        500, {"code": "server_error", "message": "internal error; the request id is in the logs", "data": None}
    )


# -- waiting and streaming, after the route -----------------------------------------------------------
def _deadline(context: Any, cap: float) -> float:
    remaining = (context.get_remaining_time_in_millis() / 1000.0 - 2.0) if context is not None else cap
    return time.monotonic() + max(1.0, min(cap, remaining))


def _wait(follow: _Follow, deadline: float) -> Iterator[bytes]:
    """mode: sync — the run when it ends or awaits, or as it stands when the time is up."""
    store = wiring.store()
    while True:
        run = store.get_run(follow.cluster_id, follow.run_id)
        assert run is not None
        if run.status in (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.PAUSED):
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    yield json.dumps(_view(run)).encode()


def sse_events(
    cluster_id: str, run_id: str, after: tuple[int, int], deadline: float, sleep: Callable[[float], None] = time.sleep
) -> Iterator[bytes]:
    """Server-Sent Events of the run after event ``after``, as they happen, until it ends or awaits
    (or the time is up: the client reconnects with Last-Event-ID and loses nothing)."""
    store = wiring.store()
    sent = after
    seen_seq = -1
    calls: list[Any] = []
    quiet_since = time.monotonic()
    while True:
        run = store.get_run(cluster_id, run_id)
        assert run is not None
        if run.seq != seen_seq:
            seen_seq = run.seq
            if any(h["status"] == "paused" for h in run.history):
                calls = store.calls(cluster_id, run_id)
            for event_id, event in acp.run_events(run, calls):
                if acp.parse_event_id(event_id) > sent:
                    yield f"id: {event_id}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()
                    sent = acp.parse_event_id(event_id)
                    quiet_since = time.monotonic()
            if run.status in (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.PAUSED):
                return
        if time.monotonic() >= deadline:
            return
        if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        sleep(POLL_SECONDS)


def stream_handler(event: dict[str, Any], context: Any, *, stream_seconds: float = 900.0) -> Streamed:
    """The streaming entry point: the route's answer, then (for waits and streams) its body as it comes."""
    _local.follow = None
    principal = access.principal_of(event)
    if principal is not None:  # every authenticated request counts against its key's rate limit
        try:
            wiring.rate_limiter().check(principal.key_id)
        except RateLimited as exc:
            headers, body = access.too_many_requests(exc)
            acp_body = {"code": "invalid_input", "message": body["message"], "data": None, "errors": body["errors"]}
            return Streamed(429, headers, iter([json.dumps(acp_body).encode()]))
    _local.event = APIGatewayProxyEvent(event)
    logger.set_correlation_id(_run_of_path(str(event.get("path") or "")))
    result = app.resolve(event, context)
    follow: _Follow | None = _local.follow
    _local.follow = None
    if follow is None:
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for k, values in (result.get("multiValueHeaders") or {}).items():
            headers.setdefault(k, str(values[-1]))
        return Streamed(int(result["statusCode"]), headers, iter([data]))
    if follow.kind == "wait":
        headers = {"Content-Type": "application/json", **follow.headers}
        return Streamed(200, headers, _wait(follow, _deadline(context, SYNC_WAIT_SECONDS)))
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **follow.headers}
    deadline = _deadline(context, stream_seconds)
    return Streamed(200, headers, sse_events(follow.cluster_id, follow.run_id, follow.after, deadline))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Buffered answers (a non-streaming integration): a stream is sent whole when the run ends or
    awaits, or when the sync limit is reached (the client then reconnects with Last-Event-ID)."""
    streamed = stream_handler(event, context, stream_seconds=SYNC_WAIT_SECONDS)
    return {"statusCode": streamed.status, "headers": streamed.headers, "body": b"".join(streamed.chunks).decode()}


initialized()  # the last statement: the cold start's imports are done (handlers/__init__.py)
