"""Garbage collection for one process that stands in for many Lambda execution environments.

On AWS every execution environment is its own small process: the cyclic garbage collector's full
passes walk a few megabytes and nobody notices them. Local mode keeps every environment, the whole
emulator (tables, executions and their histories, the parsed state machine) and every request in
one heap, and CPython's collector walks all of it whenever the long-lived objects grew by a quarter:
at 16 clients creating runs that was a stop-the-world pause of 0.4-0.6 s every second or two (3.6 s
of 10 s creating 200 runs), felt by every request in flight.

So local mode collects like a server with a latency budget:

- what exists once the emulator is up (modules, service models, the emulator's own structures) is
  moved out of the collector's sight (``gc.freeze``): it lives as long as the process;
- young garbage (a request's cycles) is still collected as usual (generations 0 and 1);
- full collections are not left to allocation counts: a background thread runs one when the API has
  been idle for ``idle_seconds`` (at most every ``min_interval`` seconds), and at the latest every
  ``max_interval`` seconds, so memory stays bounded under a load that never pauses.
"""

from __future__ import annotations

import gc
import threading
import time

from .priority import PRIORITY

NEVER = 1 << 30  # a generation-2 threshold that allocation counts never reach


class Collector(threading.Thread):
    def __init__(self, idle_seconds: float = 1.0, min_interval: float = 30.0, max_interval: float = 300.0) -> None:
        super().__init__(name="runplane-gc", daemon=True)
        self.idle_seconds = idle_seconds
        self.min_interval = min_interval
        self.max_interval = max_interval
        self._halt = threading.Event()
        self._saved = gc.get_threshold()
        self._last = time.monotonic()
        self.full_collections = 0

    def hold(self) -> None:
        """No full collections from now on (the emulator is starting: its heap only grows)."""
        young, middle, _ = self._saved
        gc.set_threshold(young, middle, NEVER)

    def start(self) -> None:
        """The emulator is up: freeze what it built, then collect fully when the API is idle."""
        self.hold()
        gc.collect()
        gc.freeze()
        self._last = time.monotonic()
        super().start()

    def run(self) -> None:
        while not self._halt.wait(0.25):
            since = time.monotonic() - self._last
            if since >= self.max_interval or (since >= self.min_interval and PRIORITY.idle_for() >= self.idle_seconds):
                self.collect()

    def collect(self) -> None:
        gc.collect()
        self.full_collections += 1
        self._last = time.monotonic()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=5)
        gc.set_threshold(*self._saved)
        gc.unfreeze()
