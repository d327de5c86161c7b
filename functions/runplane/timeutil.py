from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    """UTC timestamp with millisecond precision, e.g. 2026-11-22T10:42:52.123Z (sorts as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
