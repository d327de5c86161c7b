"""The run a log line belongs to: every handler that serves a run sets it as the Powertools Logger's
correlation id (``correlation_id`` in each JSON log line), so that one run's lines can be found
across the API, the agent and tool steps, the outbox, notifications and reconcile."""

from __future__ import annotations

import re
from typing import Any

from ..ids import CLUSTER_ID_PATTERN, RUN_ID_PATTERN

_CLUSTER, _RUN = CLUSTER_ID_PATTERN.strip("^$"), RUN_ID_PATTERN.strip("^$")
# /clusters/<c>/runs/<runId>[/...]; Inferable's call and blob ids are <runId>.<id>
_RUN_PATH = re.compile(rf"^/clusters/{_CLUSTER}/runs/({_RUN})(?:/|$)")
_CALL_PATH = re.compile(rf"^/clusters/{_CLUSTER}/(?:calls|blobs)/({_RUN})\.[A-Za-z0-9_.-]+(?:/|$)")


def run_of_path(path: str | None) -> str | None:
    """The run id an API path names, if it names one."""
    if not path:
        return None
    found = _RUN_PATH.match(path) or _CALL_PATH.match(path)
    return found.group(1) if found else None


def run_of_item(item: dict[str, Any] | None) -> str | None:
    """The run a runs-table item belongs to (a run, or an item it owns: ``PK = RUN#<cluster>#<run>``)."""
    pk = str((item or {}).get("PK") or "")
    parts = pk.split("#", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "RUN" else None
