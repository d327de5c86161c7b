"""A tiny Anthropic Messages API emulator: a real HTTP server the real ``anthropic`` SDK can talk to.

``POST /v1/messages`` pops the next scripted response (status code + JSON body) from a queue and
records every request body it receives; with an empty queue it answers a successful text message.
The response builders below produce the JSON the API returns, and are shared with the unit tests.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "claude-sonnet-5-5"


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def message(
    content: list[dict[str, Any]],
    stop_reason: str,
    *,
    model: str = DEFAULT_MODEL,
    input_tokens: int = 25,
    output_tokens: int = 12,
) -> dict[str, Any]:
    """A Messages API response body."""
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage(input_tokens, output_tokens),
    }


def text_message(text: str, **kwargs: Any) -> dict[str, Any]:
    return message([{"type": "text", "text": text}], "end_turn", **kwargs)


def tool_use_block(name: str, tool_input: dict[str, Any], tool_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": tool_id or f"toolu_{uuid.uuid4().hex[:24]}",
        "name": name,
        "input": tool_input,
        # Recent API versions add this; runplane must not send it back.
        "caller": {"type": "direct"},
    }


def tool_use_message(
    name: str,
    tool_input: dict[str, Any],
    *,
    text: str | None = None,
    tool_id: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "text", "text": text})
    content.append(tool_use_block(name, tool_input, tool_id))
    return message(content, "tool_use", **kwargs)


def error_body(error_type: str, text: str) -> dict[str, Any]:
    """The API's error envelope, e.g. ``error_body("rate_limit_error", "...")``."""
    return {"type": "error", "error": {"type": error_type, "message": text}}


DEFAULT_TEXT = "The fake Anthropic API has nothing scripted, so here is a plain answer."


class FakeAnthropic:
    """``start()``, then ``.url`` (the SDK's ``base_url``), ``enqueue()``, ``.requests``, ``stop()``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._queue: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -----------------------------------------------------------------------------
    def enqueue(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._queue.append((status, body, dict(headers or {})))

    def reset(self) -> None:
        """Forget queued responses and recorded requests (call at the start of each test)."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.headers.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self._queue:
                return self._queue.popleft()
        return 200, text_message(DEFAULT_TEXT, model=str(body.get("model") or DEFAULT_MODEL)), {}

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAnthropic:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path.split("?", 1)[0] != "/v1/messages":
                    self._reply(404, error_body("not_found_error", f"Not found: {self.path}"), {})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._reply(400, error_body("invalid_request_error", "request body is not JSON"), {})
                    return
                status, answer, extra = fake._next(body, {k.lower(): v for k, v in self.headers.items()})
                self._reply(status, answer, extra)

            def _reply(self, status: int, answer: dict[str, Any], extra: dict[str, str]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serving_with_key() -> Iterator[FakeAnthropic]:
    """A started fake Anthropic API, with ``ANTHROPIC_API_KEY`` set while it runs (put back after)."""
    server = FakeAnthropic().start()
    previous = os.environ.get("ANTHROPIC_API_KEY")
    os.environ["ANTHROPIC_API_KEY"] = "test-key"
    try:
        yield server
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("ANTHROPIC_API_KEY", None)
        else:
            os.environ["ANTHROPIC_API_KEY"] = previous
