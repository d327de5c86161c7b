"""Inferable's API-key routes (createApiKey, listApiKeys, revokeApiKey), included by ``api.app``.

A cluster's ``cluster`` key, or an admin key, may use them. The secret is in the create answer and
nowhere else: it is stored only as its hash and never logged.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ConfigDict, Field

from .. import access
from ..ids import CLUSTER_ID_PATTERN
from ..logic.keys import key_view
from ..model import Model
from . import wiring
from .binding import Path

router = Router()

ClusterId = Annotated[str, Path(pattern=CLUSTER_ID_PATTERN)]
KeyId = Annotated[str, Path(pattern=r"^key_[a-z0-9]{26}$")]


class CreateApiKeyRequest(Model):
    """createApiKey's body, plus runplane's ``kind`` (default ``cluster``)."""

    name: str = Field(min_length=1, max_length=200)
    kind: access.KeyKind = "cluster"
    model_config = ConfigDict(extra="forbid")


class CreatedApiKey(Model):
    id: str
    key: str = Field(description="The secret: shown this once, stored only as a hash.")


def _principal(cluster_id: str) -> access.Principal:
    principal = access.check(router.current_event.raw_event, cluster_id, "keys")
    wiring.run_service().require_cluster(cluster_id)
    return principal


def _json(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@router.post("/clusters/<clusterId>/api-keys")
def create_api_key(clusterId: ClusterId, body: CreateApiKeyRequest) -> Response[CreatedApiKey]:
    principal = _principal(clusterId)
    key, secret = wiring.keys().create(
        clusterId, name=body.name, kind=body.kind, created_by=principal.key_id, creator=principal
    )
    return _json(200, CreatedApiKey(id=key.id, key=secret).model_dump())


@router.get("/clusters/<clusterId>/api-keys")
def list_api_keys(clusterId: ClusterId) -> Response[list[dict[str, Any]]]:
    _principal(clusterId)
    return _json(200, [key_view(k) for k in wiring.keys().list(clusterId)])


@router.delete("/clusters/<clusterId>/api-keys/<keyId>")
def revoke_api_key(clusterId: ClusterId, keyId: KeyId) -> Response[None]:
    _principal(clusterId)
    wiring.keys().revoke(clusterId, keyId)
    return Response(status_code=204, body=None)
