"""The client's retries and typed errors against a small stub HTTP server on 127.0.0.1 (a real socket,
a real httpx client): 429 with retry-after, 5xx, give-up, and the status → error mapping."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from runplane.client import (
    ApiError,
    AsyncRunplane,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Runplane,
    ServerError,
    Unauthorized,
)


class Stub:
    """Answers each request with the next scripted (status, headers, body); records arrivals."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], Any]] = []
        self.seen: list[tuple[float, str, str, dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                stub.seen.append((time.monotonic(), f"{self.command} {self.path}", body, dict(self.headers)))
                status, headers, payload = stub.script.pop(0) if stub.script else (200, {}, {"id": "r1"})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.close()


RUN = {"id": "run_123456", "status": "done", "result": {"ok": True}}


def test_429_is_retried_after_the_retry_after_delay(stub: Stub) -> None:
    stub.script = [
        (429, {"retry-after": "1"}, {"message": "slow down"}),
        (429, {"retry-after": "1"}, {"message": "slow down"}),
        (200, {}, RUN),
    ]
    with Runplane(stub.url, "sk_test", backoff=0.01) as client:
        run = client.runs.get("run_123456")
    assert run.status == "done" and run.result == {"ok": True}
    assert len(stub.seen) == 3 and {s[1] for s in stub.seen} == {"GET /clusters/default/runs/run_123456"}
    gaps = [b[0] - a[0] for a, b in zip(stub.seen, stub.seen[1:], strict=False)]
    assert all(gap >= 0.95 for gap in gaps), gaps  # waited as told, not the 0.01 s backoff
    assert all(s[3].get("authorization") == "sk_test" for s in stub.seen)


def test_5xx_is_retried_with_backoff_and_a_retried_create_is_the_same_run(stub: Stub) -> None:
    stub.script = [(503, {}, {"message": "busy"}), (502, {}, {"message": "bad gateway"}), (201, {}, {"id": "r1"})]
    with Runplane(stub.url, "sk_test", backoff=0.01) as client:
        client.runs.create("hello", metadata={"a": "b"})  # then GET r1 (the stub's default answer)
    posts = [json.loads(s[2]) for s in stub.seen if s[1].startswith("POST")]
    assert len(posts) == 3
    assert len({p["id"] for p in posts}) == 1  # one client-made id: the API makes one run of the three
    assert posts[0] == {"id": posts[0]["id"], "initialPrompt": "hello", "metadata": {"a": "b"}}


def test_gives_up_after_max_retries_with_a_typed_error(stub: Stub) -> None:
    stub.script = [(429, {"retry-after": "0"}, {"message": "slow down"})] * 3
    with Runplane(stub.url, "sk_test", max_retries=2, backoff=0.01) as client, pytest.raises(RateLimited) as caught:
        client.runs.get("run_123456")
    assert caught.value.status == 429 and caught.value.retry_after == 0 and len(stub.seen) == 3
    stub.seen.clear()
    stub.script = [(500, {}, {"message": "internal error"})] * 2
    with Runplane(stub.url, "sk_test", max_retries=1, backoff=0.01) as client, pytest.raises(ServerError):
        client.runs.get("run_123456")
    assert len(stub.seen) == 2


@pytest.mark.parametrize(
    "status,cls",
    [(400, BadRequest), (401, Unauthorized), (403, Forbidden), (404, NotFound), (409, Conflict), (410, ApiError)],
)
def test_error_statuses_are_typed_and_not_retried(stub: Stub, status: int, cls: type[ApiError]) -> None:
    body = {"message": "model: unknown", "errors": [{"field": "model", "problem": "unknown"}]}
    stub.script = [(status, {}, body)]
    with Runplane(stub.url, "sk_test", backoff=0.01) as client, pytest.raises(cls) as caught:
        client.runs.get("run_123456")
    assert type(caught.value) is cls and caught.value.status == status
    assert caught.value.message == "model: unknown" and caught.value.errors[0]["field"] == "model"
    assert len(stub.seen) == 1


def test_async_twin_retries_the_same_way(stub: Stub) -> None:
    stub.script = [(429, {"retry-after": "1"}, {"message": "slow down"}), (503, {}, {}), (200, {}, RUN)]

    async def go() -> Any:
        async with AsyncRunplane(stub.url, "sk_test", backoff=0.01) as client:
            return await client.runs.get("run_123456")

    run = asyncio.run(go())
    assert run.status == "done" and len(stub.seen) == 3
    assert stub.seen[1][0] - stub.seen[0][0] >= 0.95


def test_settings_from_the_environment_and_a_profile_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from runplane.client import RunplaneClientError, resolve_settings

    for var in ("RUNPLANE_API_URL", "RUNPLANE_API_KEY", "RUNPLANE_CLUSTER", "RUNPLANE_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    config = tmp_path / "config.toml"
    config.write_text(
        '[default]\napi_url = "http://a:1/"\napi_key = "sk_a"\n\n[prod]\napi_url = "https://b"\ncluster = "c"\n'
    )
    monkeypatch.setenv("RUNPLANE_CONFIG", str(config))
    assert resolve_settings() == resolve_settings(profile="default")
    assert resolve_settings().api_url == "http://a:1" and resolve_settings().api_key == "sk_a"
    assert resolve_settings(profile="prod").cluster == "c"
    monkeypatch.setenv("RUNPLANE_API_URL", "http://env:2")
    monkeypatch.setenv("RUNPLANE_API_KEY", "sk_env")
    s = resolve_settings()
    assert (s.api_url, s.api_key, s.cluster) == ("http://env:2", "sk_env", "default")
    assert resolve_settings(api_url="http://arg:3").api_url == "http://arg:3"
    with pytest.raises(RunplaneClientError, match="nope"):
        resolve_settings(profile="nope")
