"""SQS queues for worker jobs: one per (cluster, function), created on demand, named by a hash."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from ..config import Settings
from .clients import client


class SqsJobQueues:
    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.job_queue_prefix
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def queue_name(self, cluster_id: str, function: str) -> str:
        digest = hashlib.sha256(f"{cluster_id}/{function}".encode()).hexdigest()[:24]
        return f"{self.prefix}{digest}"

    def queue_url(self, cluster_id: str, function: str) -> str:
        name = self.queue_name(cluster_id, function)
        url = self._urls.get(name)
        if url is None:
            # CreateQueue is idempotent for the same name and attributes.
            url = client("sqs").create_queue(
                QueueName=name,
                Attributes={
                    "MessageRetentionPeriod": "86400",
                    "VisibilityTimeout": "30",
                    "SqsManagedSseEnabled": "true",
                },
                tags={"runplane:cluster": cluster_id[:256], "runplane:function": function},
            )["QueueUrl"]
            with self._lock:
                self._urls[name] = url
        return url

    def remove(self, cluster_id: str, function: str) -> bool:
        """Delete the function's queue (its function was deleted); False if it had none."""
        name = self.queue_name(cluster_id, function)
        sqs = client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            return False
        sqs.delete_queue(QueueUrl=url)
        with self._lock:
            self._urls.pop(name, None)
        return True

    def receive(self, url: str, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        resp = client("sqs").receive_message(
            QueueUrl=url, MaxNumberOfMessages=max(1, min(10, max_messages)), WaitTimeSeconds=wait_seconds
        )
        return list(resp.get("Messages", []))

    def delete(self, url: str, receipt: str) -> None:
        client("sqs").delete_message(QueueUrl=url, ReceiptHandle=receipt)

    def send(self, url: str, body: dict[str, Any]) -> None:
        client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(body, separators=(",", ":")))
