"""The onStatusChange delivery queue (SQS FIFO): one message group per run, deduplicated on the
notification id, and the back-off of a failed delivery (its message's visibility timeout)."""

from __future__ import annotations

import json
from typing import Any

from ..config import Settings
from .clients import client

BATCH = 10


class SqsNotificationQueue:
    def __init__(self, settings: Settings) -> None:
        self.url = settings.notify_queue_url

    def send(self, notifications: list[dict[str, Any]]) -> None:
        """Queue in order; raises if any message was not accepted (the stream then retries)."""
        for start in range(0, len(notifications), BATCH):
            chunk = notifications[start : start + BATCH]
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": json.dumps(n, separators=(",", ":"), default=str),
                    "MessageGroupId": f"{n['clusterId']}/{n['runId']}"[:128],
                    "MessageDeduplicationId": str(n["id"])[:128],
                }
                for i, n in enumerate(chunk)
            ]
            resp = client("sqs").send_message_batch(QueueUrl=self.url, Entries=entries)
            if resp.get("Failed"):
                raise RuntimeError(f"the notification queue refused {len(resp['Failed'])} message(s): {resp['Failed']}")

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        client("sqs").change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, 43_200))
        )
