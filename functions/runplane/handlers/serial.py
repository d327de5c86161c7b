"""One request at a time per API resolver, except while a request only waits (long polls).

Powertools' resolver keeps the current request on shared state (``BaseRouter.current_event``, the
resolver's ``context``). Lambda hands a container one request at a time, so on AWS this lock is never
contended; a process that serves concurrent requests with the same handler (local mode's gateway)
must not let two requests interleave. A long poll releases the lock while it waits and restores its
own request's state before it goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

_lock = threading.RLock()


@contextmanager
def one_request() -> Iterator[None]:
    with _lock:
        yield


@contextmanager
def released(app: Any) -> Iterator[None]:
    """Let other requests run while this one waits; then take its state back."""
    saved = (BaseRouter.current_event, BaseRouter.lambda_context, dict(app.context))
    _lock.release()
    try:
        yield
    finally:
        _lock.acquire()
        BaseRouter.current_event, BaseRouter.lambda_context = saved[0], saved[1]
        app.context.clear()
        app.context.update(saved[2])
