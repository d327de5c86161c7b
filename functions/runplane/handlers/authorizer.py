"""The API's Lambda authorizer (REQUEST type): is the ``authorization`` header a live runplane key?

On AWS, API Gateway calls it before every route but the health checks and caches its answer per
``authorization`` value (``resources.AUTHORIZER_CACHE_SECONDS``). Local mode's gateway calls this very
function the same way. A live key → an Allow policy for the whole API, and the key's principal
({keyId, clusterId, kind}) in the context the API function reads (``runplane.access``). Anything
else → ``Unauthorized``, which API Gateway answers with 401. *What* a key may do is decided by the
API function (403/404), so one cached answer serves every route.

The secret is never logged; only the key id of a live key is.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from .. import resources
from ..access import Principal
from ..config import settings
from . import correlation, initialized, wiring

logger = Logger(service="runplane-authorizer")


def _keyless_loopback(event: APIGatewayAuthorizerRequestEvent) -> Principal | None:
    """ACP has no authentication of its own. With ``RUNPLANE_KEYLESS_LOOPBACK_CLUSTER`` set (local
    mode sets it to ``default``; unset on AWS), a keyless request for an ACP route from a loopback
    address acts as a consumer of that cluster."""
    cluster = settings().keyless_loopback_cluster
    if not cluster or not resources.is_acp_path(event.path):
        return None
    source = ((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp") or ""
    try:
        loopback = ipaddress.ip_address(source).is_loopback
    except ValueError:
        return None
    return Principal(key_id="keyless-loopback", cluster_id=cluster, kind="consumer") if loopback else None


@logger.inject_lambda_context(clear_state=True)
def handler(raw: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event = APIGatewayAuthorizerRequestEvent(raw)
    logger.set_correlation_id(correlation.run_of_path(event.path))
    header = event.headers.get("authorization")
    principal = wiring.keys().authenticate(header) if header else _keyless_loopback(event)
    if principal is None:
        logger.info("request refused: no live key", path=event.path, has_header=bool(header))
        raise Exception("Unauthorized")  # the exact message API Gateway answers with 401
    arn = event.parsed_arn
    response = APIGatewayAuthorizerResponse(
        principal_id=principal.key_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context=principal.context(),
        partition=arn.partition,
    )
    response.allow_all_routes()
    logger.debug("key accepted", key_id=principal.key_id, kind=principal.kind)
    return response.asdict()


initialized()  # the last statement: the cold start's imports are done (handlers/__init__.py)
