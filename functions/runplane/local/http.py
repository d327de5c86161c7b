"""The local stand-in for API Gateway: HTTP requests → API Gateway (REST, proxy) events → the API
Lambda, invoked through the emulator's Lambda service, exactly as API Gateway invokes it on AWS."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from typing import Any

import boto3
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from .acp_gateway import StreamingAcpFunction, is_acp_path
from .emulator import ACCOUNT, REGION, LocalNames
from .gateway import authorize, lambda_invoker

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


def proxy_event(
    method: str,
    path: str,
    *,
    body: str | None = None,
    is_base64: bool = False,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, list[str]] | None = None,
    source_ip: str = "127.0.0.1",
    stage: str = "local",
) -> dict[str, Any]:
    """An API Gateway REST (Lambda proxy integration) event, as API Gateway sends it."""
    headers = headers or {"content-type": ["application/json"]}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "httpMethod": method,
            "path": path,
            "resourcePath": "/{proxy+}",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": (headers.get("User-Agent") or [None])[-1]},
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def to_proxy_event(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=False)
    try:
        body: str | None = raw.decode("utf-8") if raw else None
        is_b64 = False
    except UnicodeDecodeError:
        body, is_b64 = base64.b64encode(raw).decode(), True
    return proxy_event(
        request.method,
        request.path,
        body=body,
        is_base64=is_b64,
        query={k: request.args.getlist(k) for k in request.args},
        headers={k: request.headers.getlist(k) for k in request.headers.keys()},  # noqa: SIM118
        source_ip=request.remote_addr or "127.0.0.1",
    )


class ApiGatewayAdapter:
    def __init__(self, function_name: str, authorizer_function: str = LocalNames().function("authorizer")) -> None:
        self.function_name = function_name
        self.authorizer_function = authorizer_function
        self._lambda = boto3.client("lambda", region_name=REGION)
        self._acp: StreamingAcpFunction | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if (request.content_length or 0) > MAX_BODY:
            response = Response(json.dumps({"message": "body: request too large"}), 413, mimetype="application/json")
            return response(environ, start_response)
        event = to_proxy_event(request)
        denied = authorize(event, lambda_invoker(self._lambda), self.authorizer_function)
        if denied is not None:
            return self._respond(denied, environ, start_response)
        if is_acp_path(request.path):  # ACP: API Gateway's response-streaming integration (acp_gateway.py)
            self._acp = self._acp or StreamingAcpFunction()
            return self._acp.respond(event)(environ, start_response)
        result = self._lambda.invoke(FunctionName=self.function_name, Payload=json.dumps(event))
        payload = json.loads(result["Payload"].read() or b"{}")
        if result.get("FunctionError") or "statusCode" not in payload:
            response = Response(json.dumps({"message": "Internal server error"}), 502, mimetype="application/json")
            return response(environ, start_response)
        return self._respond(payload, environ, start_response)

    @staticmethod
    def _respond(payload: dict[str, Any], environ: dict[str, Any], start_response: Any) -> Any:
        """An API Gateway proxy response (Lambda's or the gateway's own) as an HTTP response."""
        body = payload.get("body") or ""
        data = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
        headers: list[tuple[str, str]] = []
        for key, values in (payload.get("multiValueHeaders") or {}).items():
            headers += [(key, str(v)) for v in values]
        for key, value in (payload.get("headers") or {}).items():
            if not any(k.lower() == key.lower() for k, _ in headers):
                headers.append((key, str(value)))
        response = Response(data, status=int(payload["statusCode"]), headers=headers)
        return response(environ, start_response)


class LocalApiServer:
    def __init__(self, function_name: str, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.server: BaseWSGIServer = make_server(host, port, ApiGatewayAdapter(function_name), threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="runplane-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalApiServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
