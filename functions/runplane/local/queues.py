"""The onStatusChange delivery queues in the emulator, and the poller that plays Lambda's SQS event
source mapping: receive a batch, invoke the notify function, delete what it did not report failed
(``batchItemFailures``). Failed messages come back when their visibility timeout (the function's
back-off) ends; moto's redrive policy moves them to the dead-letter queue after the budget."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3

from .. import resources
from .priority import PRIORITY

# (function name, event) -> (payload, errored): how the poller invokes the function.
Invoke = Callable[[str, dict[str, Any]], tuple[Any, bool]]


def notify_queue_names(prefix: str) -> tuple[str, str]:
    return f"{prefix}-{resources.NOTIFY_QUEUE_NAME}", f"{prefix}-{resources.NOTIFY_DLQ_NAME}"


def provision_notify_queues(sqs: Any, prefix: str) -> tuple[str, str]:
    """(queue URL, dead-letter queue URL), configured as infra/notifications.py configures them."""
    name, dlq_name = notify_queue_names(prefix)
    fifo = {"FifoQueue": "true"}
    dlq_url = sqs.create_queue(QueueName=dlq_name, Attributes=fifo)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(resources.NOTIFY_MAX_RECEIVES)}
    url = sqs.create_queue(
        QueueName=name, Attributes={**fifo, "VisibilityTimeout": "60", "RedrivePolicy": json.dumps(redrive)}
    )["QueueUrl"]
    return url, dlq_url


class QueuePoller(threading.Thread):
    IDLE_MAX = 0.25  # an idle queue is polled less and less often, down to 4 times a second

    def __init__(self, queue_url: str, function_name: str, region: str, interval: float, invoke: Invoke) -> None:
        super().__init__(name="runplane-notify-poller", daemon=True)
        self.queue_url = queue_url
        self.function_name = function_name
        self.invoke = invoke
        self.region = region
        self.interval = interval
        self._halt = threading.Event()
        self._idle = threading.Event()
        self.errors = 0

    def run(self) -> None:
        sqs = boto3.client("sqs", region_name=self.region)
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        wait = self.interval
        while not self._halt.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=resources.NOTIFY_BATCH_SIZE,
                    MessageSystemAttributeNames=["All"],
                    WaitTimeSeconds=0,
                ).get("Messages", [])
            except Exception:
                self.errors += 1
                self._halt.wait(0.2)
                continue
            if not messages:
                self._idle.set()
                self._halt.wait(wait)
                wait = min(self.IDLE_MAX, wait * 1.5)
                continue
            wait = self.interval
            self._idle.clear()
            try:
                self._deliver(sqs, arn, messages)
            except Exception:
                self.errors += 1
                self._halt.wait(0.2)

    def _deliver(self, sqs: Any, arn: str, messages: list[dict[str, Any]]) -> None:
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": self.region,
            }
            for m in messages
        ]
        PRIORITY.step()
        body, errored = self.invoke(self.function_name, {"Records": records})
        if errored:
            self.errors += 1
            return  # every message comes back after its visibility timeout, as on AWS
        failed = {f["itemIdentifier"] for f in ((body or {}).get("batchItemFailures") or [])}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])

    def wait_idle(self, timeout: float) -> bool:
        return self._idle.wait(timeout)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
