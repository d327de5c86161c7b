"""The HTTPS API (API Gateway REST, Lambda proxy integration), on Powertools' event handler.

This module must not import ``anthropic`` (cold start): it only stores runs and starts executions.
"""

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from .. import access
from ..errors import ConcurrentUpdate, Conflict, InvalidRequest, NotClaimant, NotFound, RateLimited, TooLarge
from ..ids import CLUSTER_ID_PATTERN, RUN_ID_PATTERN
from ..logic import contract
from ..logic.services import Gone
from ..schemas import (
    CALL_ID_PATTERN,
    FUNCTION_NAME_PATTERN,
    ApprovalDecision,
    CallView,
    CancelRequest,
    Cluster,
    CreateClusterRequest,
    CreatedRun,
    CreateRunRequest,
    JobHeartbeat,
    JobPoll,
    JobResult,
    RunView,
)
from ..status import InvalidTransition, RunStatus
from ..tools.models import FunctionDefinition, FunctionRecord
from . import correlation, inbound, inferable, initialized, playground, wiring
from .binding import BadInput, Path, Query, Resolver
from .keys_routes import router as keys_router
from .notify_routes import router as notify_router
from .run_configs import router as run_configs_router

logger = Logger(service="runplane-api")
app = Resolver()  # each route's parameters and body validated with pydantic (handlers/binding.py)
# The OpenAPI document (and its Swagger UI) at /docs is built at the first /docs request, not at
# import: Powertools' enable_swagger imports its OpenAPI document models (~1/3 of this module's
# import time) when it is called, though only the document needs them. Same document, same answers.
DOCS_PATH, DOCS_TITLE, DOCS_VERSION = "/docs", "runplane API", "0.1.0"
app.include_router(keys_router)
app.include_router(notify_router)
app.include_router(inferable.router)
app.include_router(run_configs_router)  # /clusters/{clusterId}/run-configs (handlers/run_configs.py)
app.include_router(playground.router)

ClusterId = Annotated[str, Path(pattern=CLUSTER_ID_PATTERN)]
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN)]
CallId = Annotated[str, Path(pattern=CALL_ID_PATTERN)]
FunctionName = Annotated[str, Path(pattern=FUNCTION_NAME_PATTERN)]


def _require(cluster_id: str | None, capability: access.Capability) -> access.Principal:
    """Every route's first line: the caller's key must allow ``capability`` on ``cluster_id``."""
    return access.check(app.current_event.raw_event, cluster_id, capability)


def _json(status: int, payload: BaseModel | dict[str, Any]) -> Response:
    body = payload.model_dump(mode="json", by_alias=True) if isinstance(payload, BaseModel) else payload
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


# -- clusters ---------------------------------------------------------------------------------
@app.post("/clusters")
def create_cluster(body: CreateClusterRequest) -> Response[Cluster]:
    _require(None, "admin")
    cluster, created = wiring.run_service().create_cluster(body)
    return _json(201 if created else 200, cluster)


@app.get("/clusters/<clusterId>")
def get_cluster(clusterId: ClusterId) -> Response[Cluster]:
    _require(clusterId, "keys")  # its own cluster key, or an admin key
    return _json(200, wiring.run_service().require_cluster(clusterId))


# -- runs -------------------------------------------------------------------------------------
@app.post("/clusters/<clusterId>/runs")
def create_run(clusterId: ClusterId, body: CreateRunRequest) -> Response[CreatedRun]:
    _require(clusterId, "runs")
    run, created = wiring.run_service().create_run(clusterId, body)
    logger.set_correlation_id(run.id)
    logger.info("run stored", run_id=run.id, cluster_id=clusterId, new_run=created)
    return _json(201, CreatedRun(id=run.id))


@app.get("/clusters/<clusterId>/runs/<runId>")
def get_run(clusterId: ClusterId, runId: RunId) -> Response[RunView]:
    _require(clusterId, "runs")
    return _json(200, _view(wiring.run_service().get_run(clusterId, runId)))


def _view(run: Any) -> RunView:
    return RunView.of(run, wiring.run_service().pending_approvals(run))


@app.post("/clusters/<clusterId>/runs/<runId>/cancel")
def cancel_run(clusterId: ClusterId, runId: RunId) -> Response[RunView]:
    _require(clusterId, "runs")
    raw = app.current_event.body
    reason = CancelRequest.model_validate_json(raw).reason if raw and raw.strip() else None
    return _json(200, _view(wiring.run_service().cancel(clusterId, runId, reason)))


@app.get("/clusters/<clusterId>/runs/<runId>/log")
def get_log(
    clusterId: ClusterId,
    runId: RunId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> Response[dict[str, Any]]:
    """runplane's entry log of a run (messages, calls, approvals, status changes); Inferable's
    ``/timeline`` is in ``handlers.inferable``."""
    _require(clusterId, "runs")
    entries, next_cursor = wiring.run_service().timeline(clusterId, runId, cursor, limit)
    return _json(200, {"entries": entries, "nextCursor": next_cursor})


@app.post("/clusters/<clusterId>/runs/<runId>/calls/<callId>/approval")
def decide_call(clusterId: ClusterId, runId: RunId, callId: CallId, body: ApprovalDecision) -> Response[CallView]:
    principal = _require(clusterId, "runs")
    call = wiring.run_service().decide(
        clusterId,
        runId,
        callId,
        approved=body.approved,
        reason=body.reason,
        edited_input=body.input,
        decided_by=principal.key_id,
    )
    return _json(200, CallView.of(call))


# -- functions --------------------------------------------------------------------------------
@app.put("/clusters/<clusterId>/functions/<name>")
def put_function(clusterId: ClusterId, name: FunctionName, body: FunctionDefinition) -> Response[FunctionRecord]:
    _require(clusterId, "machine")
    wiring.run_service().require_cluster(clusterId)
    record, created = wiring.functions().put(clusterId, name, body)
    if record.kind == "worker":
        wiring.job_queues().queue_url(clusterId, name)  # create the job queue now, not at the first call
    return _json(201 if created else 200, record)


@app.get("/clusters/<clusterId>/functions/<name>")
def get_function(clusterId: ClusterId, name: FunctionName) -> Response[FunctionRecord]:
    _require(clusterId, "cluster")
    wiring.run_service().require_cluster(clusterId)
    return _json(200, wiring.functions().get(clusterId, name))


@app.get("/clusters/<clusterId>/functions")
def list_functions(clusterId: ClusterId) -> Response[dict[str, Any]]:
    _require(clusterId, "cluster")
    wiring.run_service().require_cluster(clusterId)
    records = wiring.functions().list(clusterId)
    return _json(200, {"functions": [r.model_dump(mode="json", by_alias=True) for r in records]})


@app.delete("/clusters/<clusterId>/functions/<name>")
def delete_function(clusterId: ClusterId, name: FunctionName) -> Response[None]:
    _require(clusterId, "machine")
    wiring.run_service().require_cluster(clusterId)
    wiring.functions().delete(clusterId, name)
    return Response(status_code=204, body=None)


# -- worker jobs --------------------------------------------------------------------------------
@app.post("/clusters/<clusterId>/jobs/poll")
def poll_jobs(clusterId: ClusterId, body: JobPoll) -> Response[dict[str, Any]]:
    _require(clusterId, "machine")
    wiring.run_service().require_cluster(clusterId)
    jobs = wiring.jobs().poll(clusterId, body.functions, body.worker, body.wait_seconds, body.max_jobs)
    return _json(200, {"jobs": jobs})


@app.post("/clusters/<clusterId>/runs/<runId>/calls/<callId>/heartbeat")
def heartbeat_job(clusterId: ClusterId, runId: RunId, callId: CallId, body: JobHeartbeat) -> Response[None]:
    _require(clusterId, "machine")
    wiring.jobs().heartbeat(clusterId, runId, callId, body.worker)
    return Response(status_code=204, body=None)


@app.post("/clusters/<clusterId>/runs/<runId>/calls/<callId>/result")
def complete_job(clusterId: ClusterId, runId: RunId, callId: CallId, body: JobResult) -> Response[CallView]:
    _require(clusterId, "machine")
    call = wiring.jobs().complete(clusterId, runId, callId, body.worker, result=body.result, error=body.error)
    return _json(200, CallView.of(call))


@app.get("/clusters/<clusterId>/runs")
def list_runs(
    clusterId: ClusterId,
    status: Annotated[RunStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=10, le=50)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    test: Annotated[str | None, Query(max_length=8)] = None,
    metadata: Annotated[str | None, Query(max_length=2200)] = None,
    configId: Annotated[str | None, Query(max_length=128)] = None,
    userId: Annotated[str | None, Query(max_length=128)] = None,
) -> Response[list[dict[str, Any]]]:
    """Inferable's listRuns: an array, newest first; the next page's address is in ``Link``.

    Filters: ``status``, ``test`` (``true``: test runs only; otherwise runs that are not tests),
    ``metadata=key:value`` (Inferable's form) and ``metadata.<key>=<value>`` (any number of keys).
    ``configId``: runs of that run configuration. ``userId`` is accepted; runplane has no users yet,
    so it matches no runs."""
    _require(clusterId, "runs")
    params = app.current_event.query_string_parameters or {}
    filters = {k.removeprefix("metadata."): v for k, v in params.items() if k.startswith("metadata.")}
    if metadata is not None:
        key, sep, value = metadata.partition(":")
        if not sep or not key or not value:
            raise InvalidRequest("use metadata=<key>:<value>", field="metadata")
        filters[key] = value
    runs, next_cursor = wiring.run_service().list_runs(
        clusterId,
        status=status,
        metadata=filters,
        limit=limit,
        cursor=cursor,
        test=test == "true",
        config_id=configId,
    )
    if userId is not None:
        runs = []
    views = [contract.run_list_item(r, RunView.of(r).model) for r in runs]
    headers = {}
    if next_cursor:
        query = {k: v for k, v in params.items() if k != "cursor"}
        query["cursor"] = next_cursor
        path = app.current_event.request_context.path or app.current_event.path
        headers["Link"] = f'<{path}?{urlencode(query)}>; rel="next"'
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=views, headers=headers)


# -- errors: a 4xx naming the field and the problem, never a stack trace -----------------------
@app.exception_handler(BadInput)
def _bad_input(exc: BadInput) -> Response:
    errors = exc.errors or [{"field": "body", "problem": "invalid request"}]
    return _json(400, {"message": f"{errors[0]['field']}: {errors[0]['problem']}", "errors": errors})


@app.exception_handler(ValidationError)
def _model_error(exc: ValidationError) -> Response:
    errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "problem": e["msg"]} for e in exc.errors()]
    return _json(400, {"message": f"{errors[0]['field']}: {errors[0]['problem']}", "errors": errors})


@app.exception_handler(json.JSONDecodeError)
def _bad_json(exc: json.JSONDecodeError) -> Response:
    return _json(
        400,
        {
            "message": "body: the request body is not valid JSON",
            "errors": [{"field": "body", "problem": f"not valid JSON ({exc.msg} at position {exc.pos})"}],
        },
    )


@app.exception_handler(InvalidRequest)
def _invalid(exc: InvalidRequest) -> Response:
    field = exc.field or "body"
    status = 413 if isinstance(exc, TooLarge) else 400
    return _json(status, {"message": f"{field}: {exc}", "errors": [{"field": field, "problem": str(exc)}]})


@app.exception_handler(access.Unauthorized)
def _unauthorized(exc: access.Unauthorized) -> Response:
    return _json(401, {"message": str(exc)})


@app.exception_handler(access.Forbidden)
def _forbidden(exc: access.Forbidden) -> Response:
    return _json(403, {"message": str(exc)})


@app.exception_handler(NotClaimant)
def _not_claimant(exc: NotClaimant) -> Response:
    return _json(403, {"message": str(exc), "errors": [{"field": "worker", "problem": str(exc)}]})


@app.exception_handler(Gone)
def _gone(exc: Gone) -> Response:
    return _json(410, {"message": str(exc)})


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return _json(404, {"message": str(exc)})


@app.exception_handler(Conflict)
@app.exception_handler(ConcurrentUpdate)
@app.exception_handler(InvalidTransition)
def _conflict(exc: Exception) -> Response:
    return _json(409, {"message": str(exc)})


def _route_methods(path: str) -> set[str]:
    """The methods of the routes whose path pattern matches ``path``."""
    routes = [*app._static_routes, *app._dynamic_routes]  # Powertools' route table (pinned version)
    return {route.method for route in routes if route.rule.match(path)}


@app.not_found
def _no_route(exc: Exception) -> Response:
    method, path = app.current_event.http_method, app.current_event.path
    allowed = _route_methods(path)
    if allowed:
        allow = ", ".join(sorted(allowed))
        return Response(
            status_code=405,
            content_type=content_types.APPLICATION_JSON,
            body={"message": f"{method} is not allowed on {path} (allowed: {allow})"},
            headers={"Allow": allow},
        )
    return _json(404, {"message": f"no route for {method} {path}"})


@app.exception_handler(RecursionError)
def _too_deep(exc: RecursionError) -> Response:
    problem = f"nested more than {inbound.MAX_DEPTH} levels deep"
    return _json(400, {"message": f"body: {problem}", "errors": [{"field": "body", "problem": problem}]})


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    logger.exception("unhandled error")
    return _json(500, {"message": "internal error; the request id is in the service logs"})


def _refusal(exc: inbound.Refused) -> dict[str, Any]:
    body = {"message": f"{exc.field}: {exc.problem}", "errors": [{"field": exc.field, "problem": exc.problem}]}
    return {
        "statusCode": exc.status,
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
        "multiValueHeaders": {"Content-Type": [content_types.APPLICATION_JSON]},
    }


# -- the OpenAPI document --------------------------------------------------------------------------
_docs_spec: dict[str, str] = {}  # base path -> the document as JSON (built once per base path)


def _openapi_json(base_path: str) -> str:
    """The document Powertools' enable_swagger serves (servers = the stage's base path), built once."""
    found = _docs_spec.get(base_path)
    if found is None:
        from aws_lambda_powertools.event_handler.openapi.models import Server

        found = app.get_openapi_json_schema(
            title=DOCS_TITLE, version=DOCS_VERSION, servers=[Server(url=base_path or "/")]
        ).replace("</", "<\\/")  # as enable_swagger: the JSON may sit in a <script>
        _docs_spec[base_path] = found
    return found


@app.get(DOCS_PATH, include_in_schema=False)
def docs() -> Response[str]:
    """enable_swagger's /docs: ``?format=json`` the OpenAPI document, else the Swagger UI page."""
    from pathlib import Path as FsPath

    from aws_lambda_powertools.event_handler.openapi import swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import (
        generate_oauth2_redirect_html,
        generate_swagger_html,
    )

    query = app.current_event.query_string_parameters or {}
    if query.get("format") == "oauth2-redirect":
        return Response(status_code=200, content_type="text/html", body=generate_oauth2_redirect_html())
    spec = _openapi_json(app._get_base_path())
    if query.get("format") == "json":
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=spec)
    assets = FsPath(swagger_ui.__file__).parent
    js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    return Response(
        status_code=200, content_type="text/html", body=generate_swagger_html(spec, js, css, None, None, False)
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(correlation.run_of_path(str(event.get("path") or "")))
    try:
        principal = access.gate(event)  # 401 without a principal, 404 for another cluster: before any parsing
        if principal is not None:  # every authenticated request counts against its key's rate limit
            wiring.rate_limiter().check(principal.key_id)
    except RateLimited as exc:
        headers, body = access.too_many_requests(exc)
        return {"statusCode": 429, "headers": headers, "body": json.dumps(body), "isBase64Encoded": False}
    except (access.Unauthorized, NotFound) as exc:
        status = 401 if isinstance(exc, access.Unauthorized) else 404
        return {
            "statusCode": status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps({"message": str(exc)}),
            "isBase64Encoded": False,
        }
    # Bodies are checked (UTF-8, content type, strict JSON) before routing, for routes that exist:
    # an unknown path or method still answers 404/405 from the resolver.
    method, path = str(event.get("httpMethod", "")).upper(), str(event.get("path", ""))
    if method in _route_methods(path):
        try:
            event = inbound.normalize(event)
        except inbound.Refused as exc:
            logger.info("request refused", status=exc.status, field=exc.field, problem=exc.problem)
            return _refusal(exc)
    return app.resolve(event, context)


initialized()  # the last statement: the cold start's imports are done (handlers/__init__.py)
