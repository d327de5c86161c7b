"""A real HTTP server on 127.0.0.1 that plays a webhook receiver: it records every delivery and
answers each path with a scripted list of statuses (the last one repeats)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HookServer:
    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.scripts: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                with server._lock:
                    script = server.scripts.get(self.path, [200])
                    status = script.pop(0) if len(script) > 1 else script[0]
                    server.deliveries.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body, "status": status}
                    )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def script(self, path: str, statuses: list[int]) -> None:
        self.scripts[path] = list(statuses)

    def at(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [d for d in self.deliveries if d["path"] == path]

    def wait(self, path: str, predicate: Any, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.at(path)
            if predicate(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"deliveries to {path}: {got}")
            time.sleep(0.05)

    def start(self) -> HookServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
