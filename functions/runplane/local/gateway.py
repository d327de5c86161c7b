"""What API Gateway does before it invokes the API function: call the Lambda authorizer.

Local mode's HTTP server and the test harness call :func:`authorize` with every API Gateway proxy
event, exactly where API Gateway would: health checks (``resources.PUBLIC_ROUTES``) skip it; any
other request goes to the *authorizer function* (the same handler that runs on AWS) as a REQUEST
authorizer event. Its ``Unauthorized`` becomes API Gateway's 401; its context becomes the proxy
event's ``requestContext.authorizer``. Local mode does not cache answers (API Gateway does, for
``resources.AUTHORIZER_CACHE_SECONDS``), so a revoked key stops working at once.
"""

from __future__ import annotations

import json
from typing import Any

from .. import resources
from .emulator import ACCOUNT, REGION, invoke_function

UNAUTHORIZED = {
    "statusCode": 401,
    "headers": {"content-type": "application/json", "x-amzn-ErrorType": "UnauthorizedException"},
    "body": json.dumps({"message": "Unauthorized"}),
}
AUTHORIZER_FAILED = {
    "statusCode": 500,
    "headers": {"content-type": "application/json", "x-amzn-ErrorType": "AuthorizerConfigurationException"},
    "body": json.dumps({"message": None}),
}


def authorizer_event(event: dict[str, Any]) -> dict[str, Any]:
    """The REQUEST authorizer event API Gateway sends for a proxy event."""
    ctx = event.get("requestContext") or {}
    arn = (
        f"arn:aws:execute-api:{REGION}:{ctx.get('accountId', ACCOUNT)}:"
        f"{ctx.get('apiId', 'local')}/{ctx.get('stage', 'local')}/{event['httpMethod']}{event['path']}"
    )
    return {
        "type": "REQUEST",
        "methodArn": arn,
        "resource": event.get("resource"),
        "path": event["path"],
        "httpMethod": event["httpMethod"],
        "headers": event.get("headers") or {},
        "multiValueHeaders": event.get("multiValueHeaders") or {},
        "queryStringParameters": event.get("queryStringParameters"),
        "multiValueQueryStringParameters": event.get("multiValueQueryStringParameters"),
        "pathParameters": event.get("pathParameters"),
        "stageVariables": event.get("stageVariables"),
        "requestContext": ctx,
    }


def authorize(event: dict[str, Any], authorizer_function: str) -> dict[str, Any] | None:
    """Run the authorizer for ``event``: None when the request may go on (the principal is then in
    ``event['requestContext']['authorizer']``), else the response API Gateway would send."""
    ctx = event.setdefault("requestContext", {})
    ctx.pop("authorizer", None)  # a client cannot bring its own principal
    if resources.is_public_route(event["httpMethod"], event["path"]):
        return None
    payload, errored = invoke_function(authorizer_function, authorizer_event(event))
    if errored:
        message = payload.get("errorMessage") if isinstance(payload, dict) else None
        return UNAUTHORIZED if message == "Unauthorized" else AUTHORIZER_FAILED
    statements = ((payload or {}).get("policyDocument") or {}).get("Statement") or []
    if not any(s.get("Effect") == "Allow" for s in statements):
        return {**UNAUTHORIZED, "statusCode": 403, "body": json.dumps({"message": "Forbidden"})}
    ctx["authorizer"] = {**(payload.get("context") or {}), "principalId": payload.get("principalId")}
    return None


def call_api(event: dict[str, Any], api_function: str, authorizer_function: str) -> dict[str, Any]:
    """One request as API Gateway serves it: the authorizer, then (if it allows the request) the API
    function, both invoked in-process. Returns the proxy response; a failed API function raises."""
    denied = authorize(event, authorizer_function)
    if denied is not None:
        return denied
    payload, errored = invoke_function(api_function, event)
    if errored:
        raise RuntimeError(f"the api function failed: {str(payload)[:500]}")
    return dict(payload)
