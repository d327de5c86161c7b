"""API requests first: how local mode shares one process between the API and the executions.

On AWS the API's Lambda functions and the executions' states and tasks run on separate capacity: a
burst of runs does not slow the next ``POST /runs``. In local mode everything shares one Python
process (one GIL, and the emulator's DynamoDB lock): with 200 executions in flight, a create waited
seconds for its turn at the emulator. So local mode gives API requests priority:

- a thread serving an API request is *foreground*; the API is *busy* while a foreground thread is
  active: it started a request or an AWS call in the last ``window`` seconds (a long poll, which
  mostly waits, stops counting as busy while it waits);
- every other AWS call (a handler invoked by a state machine task, the stream and queue pollers,
  the interpreter's own calls) and every state an execution evaluates is a *background step*: while
  the API is busy, background steps pass a turnstile one at a time, at most one every ``spacing``
  seconds; while it is idle they pass at once.

Nothing is dropped or reordered: an execution's next step only starts later while the API is busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Priority:
    def __init__(self, spacing: float = 0.1, window: float = 0.05) -> None:
        self.spacing = spacing
        self.window = window
        self._local = threading.local()
        self._turnstile = threading.Lock()
        self._busy_until = 0.0
        self._next = 0.0

    @contextmanager
    def request(self) -> Iterator[None]:
        """Serve an API request in the foreground (the local HTTP server wraps each request)."""
        outer = getattr(self._local, "foreground", False)
        self._local.foreground = True
        self.touch()
        try:
            yield
        finally:
            self._local.foreground = outer

    def foreground(self) -> bool:
        return bool(getattr(self._local, "foreground", False))

    def touch(self) -> None:
        self._busy_until = time.monotonic() + self.window

    def idle_for(self) -> float:
        """Seconds since the API was last busy (0 while it is)."""
        return max(0.0, time.monotonic() - self._busy_until)

    def step(self) -> None:
        """A background step is about to run: while the API is busy, wait for a turn."""
        if time.monotonic() >= self._busy_until:
            return
        with self._turnstile:
            wait = self._next - time.monotonic()
            if wait > 0 and time.monotonic() < self._busy_until:
                time.sleep(wait)
            self._next = time.monotonic() + self.spacing

    def call(self) -> None:
        """An AWS SDK call is about to be made on this thread."""
        if self.foreground():
            self.touch()
        else:
            self.step()


PRIORITY = Priority()
_installed = False


def install() -> None:
    """Every state an execution evaluates, and every AWS call made off an API request's thread, is a
    background step."""
    global _installed
    if _installed:
        return
    from botocore.client import BaseClient
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

    evaluate = CommonStateField._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        PRIORITY.step()
        evaluate(self, env)

    make_api_call = BaseClient._make_api_call

    def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        PRIORITY.call()
        try:
            return make_api_call(self, operation_name, api_params)
        finally:
            if PRIORITY.foreground():
                PRIORITY.touch()

    CommonStateField._eval_body = _eval_body  # type: ignore[method-assign]
    BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]
    _installed = True
