"""AWS clients (botocore), created lazily (at first use, not at import) and reused across invocations.

Endpoints and credentials come from the standard AWS environment (``AWS_ENDPOINT_URL`` in local
mode), so the same code talks to AWS or to the embedded emulator. botocore, not boto3: runplane uses
low-level clients only, and ``import boto3`` adds boto3's resource layer and s3transfer (with
multiprocessing) to every cold start, ~15 % of a bare ``import boto3``.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.session
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_session: list[Any] = []  # one botocore session, made with the first client
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
                if not _session:
                    _session.append(botocore.session.get_session())
                config = _LAMBDA_CONFIG if service == "lambda" else _CONFIG
                found = _session[0].create_client(service, config=config)
                _clients[service] = found
    return found


def reset() -> None:
    """Forget cached clients and the session (the emulator calls this when it starts or stops)."""
    with _lock:
        _clients.clear()
        _session.clear()
