"""CloudWatch metrics (Powertools Metrics, embedded metric format): the names the handlers emit and
the alarms and dashboard in ``infra/monitoring.py`` read. One ``service`` dimension for all.

Every handler that records a metric is wrapped in Powertools' ``log_metrics`` (:func:`flushed`), which
prints the invocation's metrics as one EMF line and clears them. With ``POWERTOOLS_METRICS_DISABLED``
set (local mode sets it) nothing is recorded at all, so nothing piles up in the process's metric set
(Powertools keeps it at class level, and a disabled flush does not clear it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

NAMESPACE = "runplane"
DIMENSIONS = {"service": "runplane"}

RUNS_CREATED = "RunsCreated"
RUNS_DONE = "RunsDone"
RUNS_FAILED = "RunsFailed"
RUNS_CANCELLED = "RunsCancelled"
MODEL_LATENCY = "ModelLatency"  # ms per model call (the SDK's own retries included)
MODEL_INPUT_TOKENS = "ModelInputTokens"
MODEL_OUTPUT_TOKENS = "ModelOutputTokens"
MODEL_THROTTLES = "ModelThrottles"  # 429 (rate limited) and 529 (overloaded) answers that reached runplane
TOOL_CALLS = "ToolCalls"  # calls that ended: succeeded, failed, timed out, denied, expired, cancelled
TOOL_ERRORS = "ToolErrors"  # calls that ended failed or timed out
APPROVAL_WAIT = "ApprovalWaitTime"  # ms from approval requested to decided (approved or denied)
NOTIFICATIONS_DELIVERED = "NotificationsDelivered"  # onStatusChange, webhooks and functions
NOTIFICATIONS_FAILED = "NotificationsFailed"  # failed attempts (each is retried, then dead-lettered)
WEBHOOKS_DELIVERED = "WebhooksDelivered"
WEBHOOKS_FAILED = "WebhooksFailed"

COUNT, MILLISECONDS = "Count", "Milliseconds"
RUN_STATUS_METRICS = {"done": RUNS_DONE, "failed": RUNS_FAILED, "cancelled": RUNS_CANCELLED}
CALL_ENDED = frozenset({"denied", "expired", "succeeded", "failed", "timed_out", "cancelled"})
CALL_ERRORS = frozenset({"failed", "timed_out"})

F = TypeVar("F", bound=Callable[..., Any])


@lru_cache(maxsize=1)
def metrics() -> Any:
    import warnings

    from aws_lambda_powertools import Metrics

    # Most invocations count nothing (e.g. a stream batch without status changes): that is normal.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    return Metrics(namespace=NAMESPACE, service=DIMENSIONS["service"])


def flushed(handler: F) -> F:
    """Powertools' ``log_metrics``: the invocation's metrics are printed (EMF) and cleared when it ends,
    also when it raises."""
    wrapped: F = metrics().log_metrics(handler)
    return wrapped


def disabled() -> bool:
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    return bool(is_metrics_disabled())


def record(name: str, value: float, unit: str = COUNT) -> None:
    if disabled():  # a disabled flush would keep them: do not gather what is never printed
        return
    metrics().add_metric(name=name, unit=unit, value=value)


def count(name: str, value: int = 1) -> None:
    record(name, value, COUNT)


def run_status_metric(detail: dict[str, Any]) -> str | None:
    """The run counter one status change adds to (created: the first ``pending``)."""
    if detail.get("status") == "pending" and detail.get("previousStatus") is None:
        return RUNS_CREATED
    return RUN_STATUS_METRICS.get(str(detail.get("status")))


def call_metrics(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[tuple[str, float, str]]:
    """(name, value, unit) for one change of a call item (from the runs table's stream, which sees
    every path a call takes: direct, worker, service, approval, expiry, cancel)."""
    if not new or new.get("type") != "call":
        return []
    before, after = (old or {}).get("status"), new.get("status")
    if before == after:
        return []
    out: list[tuple[str, float, str]] = []
    if after in CALL_ENDED and before not in CALL_ENDED:
        out.append((TOOL_CALLS, 1, COUNT))
        if after in CALL_ERRORS:
            out.append((TOOL_ERRORS, 1, COUNT))
    if before == "awaiting_approval" and after in ("approved", "denied"):
        waited = _approval_wait_ms(new)
        if waited is not None:
            out.append((APPROVAL_WAIT, waited, MILLISECONDS))
    return out


def _approval_wait_ms(item: dict[str, Any]) -> float | None:
    try:
        approval = json.loads(str(item.get("data") or "{}")).get("approval") or {}
        requested = _instant(approval.get("requested_at") or approval["requestedAt"])
        decided = _instant(approval.get("decided_at") or approval["decidedAt"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, round((decided - requested).total_seconds() * 1000, 1))


def _instant(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
