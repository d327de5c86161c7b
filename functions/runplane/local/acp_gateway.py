"""Local mode's stand-in for API Gateway's *response streaming* integration of the ACP function.

On AWS, API Gateway invokes the ACP function with ``InvokeWithResponseStream`` and forwards each
chunk as the function writes it (docs/acp.md). moto cannot stream a Lambda response, so here the
gateway runs the function's handler in-process, with a Lambda-like context, and writes its chunks
to the HTTP client as they come (chunked transfer encoding). Nothing is buffered.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from werkzeug.wrappers import Response

from .. import resources
from .emulator import _Context

is_acp_path = resources.is_acp_path


class StreamingAcpFunction:
    """Calls the ACP function's streaming handler in-process and streams its answer over HTTP."""

    def __init__(self) -> None:
        spec = resources.FUNCTIONS["acp"]
        module, name = spec.handler.rsplit(".", 1)
        self.spec = spec
        self.handler = getattr(importlib.import_module(module), name)

    def respond(self, event: dict[str, Any]) -> Response:
        context = _Context(self.spec.key, self.spec.memory_mb, self.spec.timeout_seconds)
        streamed = self.handler(event, context)
        headers = [(k, v) for k, v in streamed.headers.items() if k.lower() != "content-length"]
        return Response(_guarded(streamed.chunks), status=streamed.status, headers=headers, direct_passthrough=True)


def _guarded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Pass the chunks on; when the client goes away, close the generator (the run goes on)."""
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
