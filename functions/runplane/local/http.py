"""The local stand-in for API Gateway: HTTP requests → API Gateway (REST, proxy) events → the API
Lambda, invoked through the emulator's Lambda service, exactly as API Gateway invokes it on AWS."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from typing import Any

from werkzeug.exceptions import BadRequest, ClientDisconnected
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .acp_gateway import StreamingAcpFunction, is_acp_path
from .emulator import ACCOUNT, LocalNames, invoke_function
from .gateway import authorize
from .priority import PRIORITY

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
READ_TIMEOUT = 10.0  # seconds a client may pause while sending a request (then 400, not a hang)


class BodyError(Exception):
    """The request body could not be read whole: too large (413) or badly framed / cut short (400)."""

    def __init__(self, status: int, problem: str) -> None:
        super().__init__(problem)
        self.status = status
        self.problem = problem

    def response(self) -> Response:
        payload = {"message": f"body: {self.problem}", "errors": [{"field": "body", "problem": self.problem}]}
        return Response(json.dumps(payload), self.status, mimetype="application/json", headers={"Connection": "close"})


def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, counted while it is read (a chunked body has no Content-Length to check first)."""
    too_large = BodyError(413, f"request too large (over API Gateway's {limit}-byte limit)")
    if (request.content_length or 0) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := request.stream.read(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except (TimeoutError, ClientDisconnected) as exc:  # werkzeug reports a read timeout as a disconnect
        raise BodyError(400, "the body was not received in time (shorter than its Content-Length?)") from exc
    except (OSError, ValueError, BadRequest) as exc:
        raise BodyError(400, f"malformed body ({exc.__class__.__name__}: {exc})"[:200]) from exc
    return b"".join(chunks)


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


def to_proxy_event(request: Request, raw: bytes | None = None) -> dict[str, Any]:
    raw = request.get_data(cache=False) if raw is None else raw
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
        # API Gateway invokes the authorizer and the integration from inside AWS: here, straight
        # into an execution environment (no Lambda API call over HTTP, so no SDK retry either).
        self.function_name = function_name
        self.authorizer_function = authorizer_function
        self._acp: StreamingAcpFunction | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with PRIORITY.request():  # served before background work (priority.py)
            return self._serve(environ, start_response)

    def _serve(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            event = to_proxy_event(request, read_body(request))
        except BodyError as exc:
            return exc.response()(environ, start_response)
        denied = authorize(event, self.authorizer_function)
        if denied is not None:
            return self._respond(denied, environ, start_response)
        if is_acp_path(request.path):  # ACP: API Gateway's response-streaming integration (acp_gateway.py)
            self._acp = self._acp or StreamingAcpFunction()
            return self._acp.respond(event)(environ, start_response)
        payload, errored = invoke_function(self.function_name, event)
        if errored or not isinstance(payload, dict) or "statusCode" not in payload:
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


class _Reader:
    """The connection's reader. After a read timed out, the socket refuses every further read;
    werkzeug still drains the connection after the answer (and would log an error): from then on
    this reads as the end of the stream."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._timed_out = False

    def _guard(self, method: str, *args: Any) -> Any:
        if self._timed_out:
            return b""
        try:
            return getattr(self._raw, method)(*args)
        except TimeoutError:
            self._timed_out = True
            raise
        except OSError as exc:
            if "timed out" not in str(exc):
                raise
            self._timed_out = True  # it timed out in a read that did not go through here
            return b""

    def read(self, *args: Any) -> bytes:
        return bytes(self._guard("read", *args))

    def read1(self, *args: Any) -> bytes:
        return bytes(self._guard("read1", *args))

    def readline(self, *args: Any) -> bytes:
        return bytes(self._guard("readline", *args))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class _RequestHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.rfile = _Reader(self.rfile)  # type: ignore[assignment]


class LocalApiServer:
    def __init__(
        self, function_name: str, host: str = "127.0.0.1", port: int = 8000, read_timeout: float = READ_TIMEOUT
    ) -> None:
        handler = type("RequestHandler", (_RequestHandler,), {"timeout": read_timeout})
        self.server: BaseWSGIServer = make_server(
            host, port, ApiGatewayAdapter(function_name), threaded=True, request_handler=handler
        )
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
