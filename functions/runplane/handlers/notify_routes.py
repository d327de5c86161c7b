"""The cluster's webhook signing secret (Standard Webhooks, ``whsec_…``), included by ``api.app``.

``POST`` creates or rotates it and is the only answer that shows it; after a rotation the previous
secret still signs deliveries (a second signature) for a day, so receivers can switch over.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from .. import access
from ..ids import CLUSTER_ID_PATTERN
from . import wiring
from .binding import Path

router = Router()

ClusterId = Annotated[str, Path(pattern=CLUSTER_ID_PATTERN)]


def _require(cluster_id: str) -> None:
    access.check(router.current_event.raw_event, cluster_id, "keys")
    wiring.run_service().require_cluster(cluster_id)


def _json(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@router.post("/clusters/<clusterId>/webhook-secret")
def rotate_webhook_secret(clusterId: ClusterId) -> Response[dict[str, Any]]:
    _require(clusterId)
    secret = wiring.webhook_secrets().rotate(clusterId)
    return _json(200, {"secret": secret, "previousValidForSeconds": 86_400})


@router.get("/clusters/<clusterId>/webhook-secret")
def webhook_secret_status(clusterId: ClusterId) -> Response[dict[str, Any]]:
    _require(clusterId)
    return _json(200, {"exists": wiring.webhook_secrets().exists(clusterId)})
