"""The rate limit's window arithmetic (logic/ratelimit.py), on an in-memory counter store with the
same contract as the DynamoDB one (count unless the window holds ``limit`` already)."""

from __future__ import annotations

import pytest

from runplane.config import Settings
from runplane.errors import RateLimited
from runplane.logic.ratelimit import COUNTER_TTL_MARGIN_SECONDS, RateLimiter


class MemoryCounters:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.expiry: dict[str, int] = {}

    def count(self, counter: str, limit: int, expires_at: int) -> bool:
        if self.counts.get(counter, 0) >= limit:
            return False
        self.counts[counter] = self.counts.get(counter, 0) + 1
        self.expiry[counter] = expires_at
        return True


def limiter(now: list[float], rate: float = 50, burst: int = 100) -> tuple[RateLimiter, MemoryCounters]:
    counters = MemoryCounters()
    settings = Settings(rate_limit_per_second=rate, rate_limit_burst=burst)
    return RateLimiter(counters, settings, clock=lambda: now[0]), counters


def test_a_burst_per_window_then_429_with_the_seconds_to_the_window_end() -> None:
    now = [1_000_000.5]  # 0.5 s into a 2-second window (burst 100 / 50 per second)
    rl, counters = limiter(now)
    for _ in range(100):
        rl.check("key_a")
    with pytest.raises(RateLimited) as refused:
        rl.check("key_a")
    assert refused.value.retry_after == 2  # 1.5 s left, rounded up
    rl.check("key_b")  # another key has its own counter
    now[0] = 1_000_002.0  # the next window
    rl.check("key_a")
    (expiry,) = {v for k, v in counters.expiry.items() if k.endswith("#500001")}
    assert expiry == 1_000_004 + COUNTER_TTL_MARGIN_SECONDS


def test_retry_after_is_at_least_one_second_and_zero_rate_is_off() -> None:
    now = [10.95]
    rl, _ = limiter(now, rate=10, burst=1)  # windows of 0.1 s
    rl.check("k")
    with pytest.raises(RateLimited) as refused:
        rl.check("k")
    assert refused.value.retry_after == 1
    off, counters = limiter(now, rate=0)
    for _ in range(1000):
        off.check("k")
    assert counters.counts == {}  # no write at all when the limit is off
