"""Run status events, derived from the runs table's stream (the outbox).

A status change is committed as one conditional write that also increments the run's ``seq``; the
stream carries that write to the publisher, so no committed change goes without its event even when
the writer dies right after the write. Delivery is at least once: subscribers dedupe on
(``runId``, ``sequence``).
"""

from __future__ import annotations

import json
from typing import Any

SOURCE = "runplane"
DETAIL_TYPE = "Run Status Changed"
# PutEvents caps an entry at 256 KB; results larger than this are left out of the event.
MAX_RESULT_BYTES = 128 * 1024


def status_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """The event detail for one stream record of the runs table, or None if it is no status change."""
    if not new or new.get("type") != "run":
        return None
    if old is not None and old.get("seq") == new.get("seq"):
        return None
    detail: dict[str, Any] = {
        "runId": new["id"],
        "clusterId": new["clusterId"],
        "status": new["status"],
        "previousStatus": old.get("status") if old else None,
        "sequence": new["seq"],
        "name": new.get("name"),
        "metadata": new.get("metadata") or {},
        "occurredAt": new.get("updatedAt"),
        "test": bool(_json(new.get("test")) and _json(new.get("test")).get("enabled")),
    }
    if new["status"] == "done":
        raw = new.get("result")
        if raw is not None and len(raw) > MAX_RESULT_BYTES:
            detail["result"] = None
            detail["resultOmitted"] = True
        else:
            detail["result"] = _json(raw)
        detail["summary"] = new.get("summary")
        if new.get("resultError"):
            detail["resultError"] = new["resultError"]
    if new["status"] == "failed":
        detail["failureReason"] = new.get("failureReason")
    return detail


def to_entry(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "Resources": [],
    }


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
