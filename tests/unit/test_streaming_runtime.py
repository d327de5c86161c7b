"""runplane.streaming against a real HTTP stand-in for Lambda's Runtime API: the documented
response-streaming protocol, and chunks that leave before the handler has produced the next one."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from runplane.streaming import CONTENT_TYPE, serve_one
from tests.support.fake_runtime_api import FakeRuntimeApi


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    chunks: Iterator[bytes]


def test_chunks_are_streamed_as_the_handler_yields_them() -> None:
    received_first = threading.Event()

    def on_chunk(data: bytes) -> None:
        if b"event-1" in data:
            received_first.set()

    def handler(event: dict[str, Any], context: Any) -> Answer:
        assert event == {"path": "/runs"} and context.aws_request_id == "req-1"

        def body() -> Iterator[bytes]:
            yield b"data: event-1\n\n"
            # The next event is produced only once the first one has reached the other end: a
            # runtime that buffered the response would never get here (and the test would fail).
            assert received_first.wait(10), "the first chunk was not sent before the handler went on"
            yield b"data: event-2\n\n"

        return Answer(200, {"Content-Type": "text/event-stream"}, body())

    with FakeRuntimeApi({"path": "/runs"}, on_chunk=on_chunk) as api:
        serve_one(api.address, handler)
        assert api.done.wait(10)
    assert api.response_headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert api.response_headers["Transfer-Encoding"] == "chunked"
    assert api.response_headers["Content-Type"] == CONTENT_TYPE
    assert api.prelude() == {"statusCode": 200, "headers": {"Content-Type": "text/event-stream"}}
    assert api.body() == b"data: event-1\n\ndata: event-2\n\n"
    assert len(api.chunks) == 3  # metadata, then one chunk per event
    assert api.trailers == {}


def test_a_plain_proxy_response_is_sent_as_one_chunk() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 404, "headers": {"Content-Type": "application/json"}, "body": '{"code":"not_found"}'}

    with FakeRuntimeApi({}) as api:
        serve_one(api.address, handler)
    assert api.prelude()["statusCode"] == 404 and json.loads(api.body()) == {"code": "not_found"}


def test_errors_before_and_after_the_first_byte() -> None:
    def fails(event: dict[str, Any], context: Any) -> Any:
        raise ValueError("bad event")

    with FakeRuntimeApi({}) as api:
        serve_one(api.address, fails)
    assert api.error is not None and api.error["errorType"] == "ValueError" and api.chunks == []

    def breaks(event: dict[str, Any], context: Any) -> Answer:
        def body() -> Iterator[bytes]:
            yield b"data: one\n\n"
            raise RuntimeError("lost the store")

        return Answer(200, {}, body())

    with FakeRuntimeApi({}) as api:
        serve_one(api.address, breaks)
    assert api.body() == b"data: one\n\n"
    assert api.trailers["Lambda-Runtime-Function-Error-Type"] == "RuntimeError"
    detail = json.loads(base64.b64decode(api.trailers["Lambda-Runtime-Function-Error-Body"]))
    assert detail["errorMessage"] == "lost the store"
