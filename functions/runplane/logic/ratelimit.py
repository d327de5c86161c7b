"""Per-key request rate limits (``Settings.rate_limit_per_second``, ``Settings.rate_limit_burst``).

Every authenticated request counts against its API key before anything else happens, with one
conditional write (``Counters.count``): fixed windows of ``burst / rate`` seconds, each holding at
most ``burst`` requests — a key averages at most ``rate`` requests per second and may send
``burst`` at once. A request over it is refused (:class:`~runplane.errors.RateLimited` → HTTP 429
with ``retry-after``: the seconds until its window ends) and has no other effect. The authorizer
cannot do this: API Gateway caches its answer per key (30 s), so it does not see every request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from ..config import Settings
from ..errors import RateLimited

# Counter items outlive their window by this much (DynamoDB TTL deletes them some time later).
COUNTER_TTL_MARGIN_SECONDS = 60


class Counters(Protocol):
    def count(self, counter: str, limit: int, expires_at: int) -> bool:
        """Count one request on ``counter`` unless it holds ``limit`` already (False then)."""


class RateLimiter:
    def __init__(self, counters: Counters, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.counters = counters
        self.rate = settings.rate_limit_per_second
        self.burst = settings.rate_limit_burst
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @property
    def window_seconds(self) -> float:
        return self.burst / self.rate

    def check(self, key_id: str) -> None:
        """Count a request of ``key_id``; RateLimited if the key is over its limit."""
        if not self.enabled:
            return
        now, window = self.clock(), self.window_seconds
        index = math.floor(now / window)
        ends = (index + 1) * window
        counter = f"{key_id}#{window:g}#{index}"
        if self.counters.count(counter, self.burst, math.ceil(ends) + COUNTER_TTL_MARGIN_SECONDS):
            return
        retry_after = max(1, math.ceil(ends - now))
        raise RateLimited(
            f"this API key sent more than {self.burst} requests in {window:g} s (its limit: {self.rate:g} "
            f"requests per second, bursts of {self.burst}); retry after {retry_after} s",
            retry_after,
        )
