"""A real HTTP server on 127.0.0.1 that plays the part of users' http tool endpoints."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ToolServer:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []  # each request's headers, in the order of ``requests``
        self.barrier: threading.Barrier | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                with server._lock:
                    server.requests.append((self.path, body))
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, payload = server.route(self.path, body)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def route(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        args = body.get("input", {})
        if path == "/echo":
            return 200, {"echo": args, "context": body.get("context"), "run": body.get("run"), "call": body.get("call")}
        if path == "/together":  # proves parallelism: every caller waits for the others
            assert self.barrier is not None
            self.barrier.wait(timeout=10)
            return 200, {"together": args}
        if path == "/slow":
            time.sleep(float(args.get("seconds", 5)))
            return 200, {"slept": args.get("seconds")}
        if path == "/fail":
            return 500, {"error": "the inventory service is down"}
        if path == "/big":
            return 200, {
                "rows": [{"id": i, "text": "lorem ipsum dolor sit amet " * 4} for i in range(int(args.get("n", 500)))]
            }
        return 404, {"error": "no such tool"}

    def start(self) -> ToolServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
