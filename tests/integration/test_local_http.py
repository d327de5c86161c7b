"""The local API Gateway stand-in at the HTTP level: bodies are capped while they are read (chunked
too), a body shorter than its Content-Length times out with a 400, bad framing never gets a 5xx."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from runplane.local.http import MAX_BODY, LocalApiServer
from tests.support.harness import Harness


@pytest.fixture(scope="module")
def server(harness: Harness) -> Iterator[LocalApiServer]:
    # A short read timeout, so that the cut-short body answers quickly.
    srv = LocalApiServer(harness.emulator.names.function("api"), port=0, read_timeout=1.0).start()
    try:
        yield srv
    finally:
        srv.stop()


def _exchange(
    server: LocalApiServer, head: str, body: bytes = b"", *, chunks: list[bytes] | None = None
) -> tuple[int, dict]:
    """Send a raw HTTP/1.1 request; (status, JSON body) of the answer."""
    host, port = server.server.server_address[:2]
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        for chunk in chunks or []:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):  # the server answered and closed early
                break
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected(data):
            part = sock.recv(65536)
            if not part:
                break
            data += part
    head_text, _, payload = data.partition(b"\r\n\r\n")
    status = int(head_text.split(b" ", 2)[1])
    return status, json.loads(payload or b"null")


def _expected(data: bytes) -> int:
    head, sep, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + len(sep) + int(line.split(b":")[1])
    return len(data) + 1


def _head(harness: Harness, cluster: str, extra: str) -> str:
    return (
        f"POST /clusters/{cluster}/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"authorization: {harness.keys[cluster]}\r\ncontent-type: application/json\r\n{extra}"
    )


def test_a_chunked_body_is_read_and_served(harness: Harness, server: LocalApiServer) -> None:
    cluster = harness.cluster()
    body = json.dumps({"initialPrompt": "Hello in chunks"}).encode()
    chunks = [f"{len(body[:10]):x}\r\n".encode() + body[:10] + b"\r\n"]
    chunks.append(f"{len(body[10:]):x}\r\n".encode() + body[10:] + b"\r\n0\r\n\r\n")
    status, payload = _exchange(server, _head(harness, cluster, "Transfer-Encoding: chunked\r\n"), chunks=chunks)
    assert status == 201, payload
    assert harness.get_run(cluster, payload["id"])["status"] in {"pending", "running", "done"}


def test_a_chunked_body_over_the_limit_is_413_while_reading(harness: Harness, server: LocalApiServer) -> None:
    cluster = harness.cluster()
    piece = b"x" * (1024 * 1024)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    chunks = [chunk] * (MAX_BODY // len(piece) + 2) + [b"0\r\n\r\n"]
    status, payload = _exchange(server, _head(harness, cluster, "Transfer-Encoding: chunked\r\n"), chunks=chunks)
    assert status == 413
    assert payload["errors"][0]["field"] == "body" and "limit" in payload["message"]


def test_a_content_length_over_the_limit_is_413(harness: Harness, server: LocalApiServer) -> None:
    cluster = harness.cluster()
    status, payload = _exchange(server, _head(harness, cluster, f"Content-Length: {MAX_BODY + 1}\r\n"))
    assert status == 413, payload


@pytest.mark.parametrize(
    "chunks",
    [
        [b"zz\r\n{}\r\n0\r\n\r\n"],  # not a hex length
        [b"2\r\n{}XX0\r\n\r\n"],  # no CRLF after the chunk
        [b"-5\r\n{}\r\n0\r\n\r\n"],  # negative length
    ],
    ids=["bad-length", "missing-crlf", "negative-length"],
)
def test_a_malformed_chunked_body_is_400(harness: Harness, server: LocalApiServer, chunks: list[bytes]) -> None:
    cluster = harness.cluster()
    status, payload = _exchange(server, _head(harness, cluster, "Transfer-Encoding: chunked\r\n"), chunks=chunks)
    assert status == 400, payload
    assert payload["errors"][0]["field"] == "body"


def test_a_body_shorter_than_its_content_length_times_out_with_400(harness: Harness, server: LocalApiServer) -> None:
    cluster = harness.cluster()
    body = b'{"initialPrompt": "cut'
    status, payload = _exchange(server, _head(harness, cluster, "Content-Length: 500\r\n"), body)
    assert status == 400, payload
    assert "not received in time" in payload["message"]
    status, listed = harness.api("GET", f"/clusters/{cluster}/runs")
    assert status == 200 and listed == []
