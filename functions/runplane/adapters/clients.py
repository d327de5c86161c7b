"""boto3 clients, created lazily (at first use, not at import) and reused across invocations.

Endpoints and credentials come from the standard AWS environment (``AWS_ENDPOINT_URL`` in local
mode), so the same code talks to AWS or to the embedded emulator.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)
# Lambda Invoke is not idempotent: botocore retries a request whose response did not arrive within
# the read timeout, which would run the function twice. The read timeout is beyond Lambda's maximum
# duration (15 min), so an invoke is retried only when it never started (throttling, connection).
_LAMBDA_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=960)


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is None:
        with _lock:
            found = _clients.get(service)
            if found is None:
                config = _LAMBDA_CONFIG if service == "lambda" else _CONFIG
                found = boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]
                _clients[service] = found
    return found


def reset() -> None:
    """Forget cached clients (the emulator calls this when it starts or stops)."""
    with _lock:
        _clients.clear()
