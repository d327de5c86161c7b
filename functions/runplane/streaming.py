"""Response streaming for a Python Lambda function: a Lambda Runtime API client (docs/acp.md).

Lambda's managed Python runtime cannot stream a response (as of 2026 only the Node.js runtimes
stream natively; other languages use a custom Runtime API client or the Lambda Web Adapter). This
module *is* that client, on the managed ``python3.13`` runtime: ``AWS_LAMBDA_EXEC_WRAPPER`` points
at ``runplane/bin/streaming-bootstrap``, which replaces the runtime's own loop with this one. Each
invocation:

1. ``GET /2018-06-01/runtime/invocation/next`` → the API Gateway proxy event;
2. calls the function's handler (``_HANDLER``, e.g. ``runplane.handlers.acp.stream_handler``),
   which returns a status, headers and an iterator of body chunks (or a plain proxy response);
3. ``POST /2018-06-01/runtime/invocation/{id}/response`` with
   ``Lambda-Runtime-Function-Response-Mode: streaming`` and chunked transfer encoding: first API
   Gateway's metadata (``{"statusCode", "headers"}``) and 8 NUL bytes, then each chunk *as the
   handler produces it*. An error after the first byte is reported in the trailers
   (``Lambda-Runtime-Function-Error-Type`` / ``-Body``), as the Runtime API specifies.

API Gateway (REST, ``responseTransferMode: STREAM``, integration URI
``…/2021-11-15/functions/{arn}/response-streaming-invocations``) forwards the chunks to the client.
"""

from __future__ import annotations

import base64
import http.client
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

RUNTIME = "/2018-06-01/runtime"
DELIMITER = b"\x00" * 8  # between API Gateway's metadata and the body
CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"


class Context:
    """The parts of Lambda's context object that handlers (and Powertools) read."""

    def __init__(self, headers: http.client.HTTPMessage) -> None:
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0") or 0)
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def load_handler(path: str) -> Callable[[dict[str, Any], Any], Any]:
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _error_body(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
    }


def _parts(result: Any) -> tuple[dict[str, Any], Iterable[bytes]]:
    """(API Gateway metadata, body chunks) of a streamed answer or of a plain proxy response."""
    if isinstance(result, dict):
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        meta = {k: v for k, v in result.items() if k in ("statusCode", "headers", "multiValueHeaders", "cookies")}
        return meta, [data]
    return {"statusCode": result.status, "headers": dict(result.headers)}, result.chunks


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def serve_one(api: str, handler: Callable[[dict[str, Any], Any], Any]) -> None:
    """Take one invocation from the Runtime API at ``api`` (host:port) and stream its answer."""
    conn = http.client.HTTPConnection(api, timeout=None)
    conn.request("GET", f"{RUNTIME}/invocation/next")
    nxt = conn.getresponse()
    event = json.loads(nxt.read() or b"{}")
    context = Context(nxt.headers)
    if nxt.headers.get("Lambda-Runtime-Trace-Id"):
        os.environ["_X_AMZN_TRACE_ID"] = nxt.headers["Lambda-Runtime-Trace-Id"]
    rid = context.aws_request_id
    try:
        meta, chunks = _parts(handler(event, context))
    except Exception as exc:  # before the first byte: an ordinary invocation error
        body = json.dumps(_error_body(exc)).encode()
        conn.request(
            "POST",
            f"{RUNTIME}/invocation/{rid}/error",
            body=body,
            headers={"Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": type(exc).__name__},
        )
        conn.getresponse().read()
        return
    conn.putrequest("POST", f"{RUNTIME}/invocation/{rid}/response", skip_accept_encoding=True)
    conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", CONTENT_TYPE)
    conn.putheader("Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
    conn.endheaders()
    conn.send(_chunk(json.dumps(meta).encode() + DELIMITER))
    trailers = b""
    try:
        for data in chunks:
            if data:
                conn.send(_chunk(data))
    except Exception as exc:  # mid-stream: the trailers carry the error
        body = base64.b64encode(json.dumps(_error_body(exc)).encode()).decode()
        trailers = (
            f"Lambda-Runtime-Function-Error-Type: {type(exc).__name__}\r\n"
            f"Lambda-Runtime-Function-Error-Body: {body}\r\n"
        ).encode()
    conn.send(b"0\r\n" + trailers + b"\r\n")
    conn.getresponse().read()
    conn.close()


def main() -> None:  # pragma: no cover - runs inside Lambda
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except Exception as exc:
        conn = http.client.HTTPConnection(api)
        conn.request(
            "POST",
            f"{RUNTIME}/init/error",
            body=json.dumps(_error_body(exc)),
            headers={"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
        )
        conn.getresponse().read()
        sys.exit(1)
    while True:
        serve_one(api, handler)


if __name__ == "__main__":  # pragma: no cover
    main()
