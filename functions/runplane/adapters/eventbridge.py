"""EventBridge implementation of ``EventSink`` (PutEvents: ≤10 entries a call, per-entry failures)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..config import Settings
from .clients import client

BATCH = 10


class EventBridgeSink:
    def __init__(self, settings: Settings) -> None:
        self.bus = settings.event_bus_name

    def put(self, entries: Sequence[dict[str, Any]]) -> list[int]:
        failed: list[int] = []
        for start in range(0, len(entries), BATCH):
            chunk = [dict(e, EventBusName=self.bus) for e in entries[start : start + BATCH]]
            resp = client("events").put_events(Entries=chunk)
            if resp.get("FailedEntryCount", 0):
                for offset, result in enumerate(resp.get("Entries", [])):
                    if result.get("ErrorCode"):
                        failed.append(start + offset)
        return failed
