"""Inferable's run-configuration routes (``/clusters/{clusterId}/run-configs``), a Router of the API.

Reads need the ``runs`` capability (a consumer key may use agents), writes ``cluster``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from .. import access
from ..errors import InvalidRequest
from ..ids import CLUSTER_ID_PATTERN
from ..logic.run_configs import RunConfigBody
from . import wiring
from .binding import Path, Query

router = Router()

ClusterId = Annotated[str, Path(pattern=CLUSTER_ID_PATTERN)]
ConfigId = Annotated[str, Path(min_length=1, max_length=128)]


def _require(cluster_id: str, capability: access.Capability) -> access.Principal:
    return access.check(router.current_event.raw_event, cluster_id, capability)


def _json(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@router.post("/clusters/<clusterId>/run-configs")
def create_run_config(clusterId: ClusterId, body: RunConfigBody) -> Response[dict[str, Any]]:
    _require(clusterId, "cluster")
    wiring.run_service().require_cluster(clusterId)
    config = wiring.run_configs().create(clusterId, body)
    return _json(201, {"id": config.id})


@router.get("/clusters/<clusterId>/run-configs")
def list_run_configs(clusterId: ClusterId) -> Response[list[dict[str, Any]]]:
    _require(clusterId, "runs")
    wiring.run_service().require_cluster(clusterId)
    return _json(200, [c.view() for c in wiring.run_configs().list(clusterId)])


@router.get("/clusters/<clusterId>/run-configs/search")
def search_run_configs(
    clusterId: ClusterId, search: Annotated[str | None, Query(max_length=500)] = None
) -> Response[list[dict[str, Any]]]:
    _require(clusterId, "runs")
    wiring.run_service().require_cluster(clusterId)
    if not search or not search.strip():
        raise InvalidRequest("'search' is required (the words to look for)", field="search")
    found = wiring.run_configs().search(clusterId, search)
    return _json(200, [{**c.view(), "similarity": score} for c, score in found])


@router.get("/clusters/<clusterId>/run-configs/<configId>")
def get_run_config(
    clusterId: ClusterId,
    configId: ConfigId,
    withPreviousVersions: Annotated[Literal["true", "false"], Query()] = "false",
) -> Response[dict[str, Any]]:
    _require(clusterId, "runs")
    wiring.run_service().require_cluster(clusterId)
    with_versions = withPreviousVersions == "true"
    config = wiring.run_configs().get(clusterId, configId, with_versions=with_versions)
    view = config.view(with_versions=True)
    if not with_versions:
        view["versions"] = []
    return _json(200, view)


@router.put("/clusters/<clusterId>/run-configs/<configId>")
def upsert_run_config(clusterId: ClusterId, configId: ConfigId, body: RunConfigBody) -> Response[dict[str, Any]]:
    _require(clusterId, "cluster")
    wiring.run_service().require_cluster(clusterId)
    return _json(200, wiring.run_configs().upsert(clusterId, configId, body).view())


@router.delete("/clusters/<clusterId>/run-configs/<configId>")
def delete_run_config(clusterId: ClusterId, configId: ConfigId) -> Response[None]:
    _require(clusterId, "cluster")
    wiring.run_service().require_cluster(clusterId)
    wiring.run_configs().delete(clusterId, configId)
    return Response(status_code=204, body=None)
