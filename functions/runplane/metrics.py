"""CloudWatch metrics (Powertools Metrics, embedded metric format): the names the handlers emit and
the alarms and dashboard in ``infra/monitoring.py`` read. One ``service`` dimension for all."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

NAMESPACE = "runplane"
DIMENSIONS = {"service": "runplane"}

RUNS_CREATED = "RunsCreated"
RUNS_DONE = "RunsDone"
RUNS_FAILED = "RunsFailed"
RUNS_CANCELLED = "RunsCancelled"
MODEL_THROTTLES = "ModelThrottles"
NOTIFICATIONS_DELIVERED = "NotificationsDelivered"
NOTIFICATIONS_FAILED = "NotificationsFailed"

RUN_STATUS_METRICS = {"done": RUNS_DONE, "failed": RUNS_FAILED, "cancelled": RUNS_CANCELLED}


@lru_cache(maxsize=1)
def metrics() -> Any:
    import warnings

    from aws_lambda_powertools import Metrics

    # Most invocations count nothing (e.g. a stream batch without status changes): that is normal.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    return Metrics(namespace=NAMESPACE, service=DIMENSIONS["service"])


def count(name: str, value: int = 1) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def run_status_metric(detail: dict[str, Any]) -> str | None:
    """The run counter one status change adds to (created: the first ``pending``)."""
    if detail.get("status") == "pending" and detail.get("previousStatus") is None:
        return RUNS_CREATED
    return RUN_STATUS_METRICS.get(str(detail.get("status")))
