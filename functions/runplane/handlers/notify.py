"""Delivers onStatusChange notifications from the FIFO delivery queue (see ``logic.notify``).

A failed delivery stays on the queue: its message becomes visible again after a doubling back-off
(``RUNPLANE_NOTIFY_BACKOFF_SECONDS``, capped), later notifications of the same run wait behind it
(FIFO order), and after the queue's receive budget it moves to the dead-letter queue.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .. import metrics
from ..config import settings
from ..logic.notify import DeliveryFailed, backoff_seconds, deliver
from . import initialized, wiring

logger = Logger(service="runplane-notify")


@metrics.flushed
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    cfg = settings()
    failed: list[str] = []
    blocked_groups: set[str] = set()
    for record in event.get("Records", []):
        group = str((record.get("attributes") or {}).get("MessageGroupId", ""))
        if group and group in blocked_groups:  # keep a run's notifications in order
            failed.append(record["messageId"])
            continue
        notification = json.loads(record["body"])
        logger.set_correlation_id(notification.get("runId"))
        attempt = int((record.get("attributes") or {}).get("ApproximateReceiveCount", "1"))
        try:
            kind = deliver(notification, wiring.notification_targets(), wiring.functions())
        except DeliveryFailed as exc:
            wait = backoff_seconds(attempt, cfg.notify_backoff_seconds, cfg.notify_max_backoff_seconds)
            logger.warning(
                "notification not delivered; retrying",
                notification=notification["id"],
                attempt=attempt,
                retry_in_seconds=wait,
                reason=str(exc),
            )
            metrics.count(metrics.NOTIFICATIONS_FAILED)
            if notification.get("webhook"):
                metrics.count(metrics.WEBHOOKS_FAILED)
            wiring.notification_queue().retry_after(record["receiptHandle"], wait)
            failed.append(record["messageId"])
            blocked_groups.add(group)
            continue
        metrics.count(metrics.NOTIFICATIONS_DELIVERED)
        if kind == "webhook":
            metrics.count(metrics.WEBHOOKS_DELIVERED)
        logger.info("notification delivered", notification=notification["id"], target=kind, attempt=attempt)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


initialized()  # the last statement: the cold start's imports are done (handlers/__init__.py)
