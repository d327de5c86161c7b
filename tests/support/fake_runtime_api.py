"""A real HTTP server that plays Lambda's Runtime API (one invocation), for runplane.streaming.

It hands out one event on ``/invocation/next`` and reads the streamed ``/response`` as it arrives:
chunked transfer encoding, decoded chunk by chunk, each recorded the moment it is received (tests
count chunks and use ``on_chunk`` to prove a chunk arrived before the handler produced the next).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeRuntimeApi:
    def __init__(self, event: dict[str, Any], on_chunk: Callable[[bytes], None] | None = None) -> None:
        self.event = event
        self.on_chunk = on_chunk or (lambda _: None)
        self.response_headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.trailers: dict[str, str] = {}
        self.error: dict[str, Any] | None = None
        self.done = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = json.dumps(api.event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", "99999999999999")
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:1:function:acp")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if self.path.endswith("/error"):
                    api.error = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                else:
                    api.response_headers = dict(self.headers.items())
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            break
                        data = self.rfile.read(size)
                        self.rfile.readline()
                        api.chunks.append(data)
                        api.on_chunk(data)
                    while (line := self.rfile.readline().strip()) != b"":
                        key, _, value = line.decode().partition(":")
                        api.trailers[key.strip()] = value.strip()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                api.done.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> FakeRuntimeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def prelude(self) -> dict[str, Any]:
        first = self.chunks[0]
        meta, sep, _ = first.partition(b"\x00" * 8)
        assert sep, "the metadata is followed by 8 NUL bytes"
        return dict(json.loads(meta))

    def body(self) -> bytes:
        return b"".join(self.chunks)[len(json.dumps(self.prelude()).encode()) + 8 :]
