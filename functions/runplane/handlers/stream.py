"""The outbox publisher: the runs table's stream → EventBridge, the onStatusChange delivery queue
(``logic.notify``), and a safety-net execution start.

Records are handled strictly in order. On the first record that cannot be published, the handler
reports that record (``batchItemFailures``) and stops: Lambda retries the batch from there, so a
run's events never overtake each other. Events already sent may be sent again (at least once;
subscribers dedupe on runId + sequence).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .. import metrics
from ..adapters.dynamo import deserialize, run_from_item
from ..logic.events import status_change, to_entry
from ..logic.notify import notification_for
from . import correlation, wiring

logger = Logger(service="runplane-events")
PUT_ATTEMPTS = 3


def _images(record: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    data = record.get("dynamodb", {})
    old = deserialize(data["OldImage"]) if data.get("OldImage") else None
    new = deserialize(data["NewImage"]) if data.get("NewImage") else None
    return old, new


def _needs_start(event_name: str | None, old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """A new run, or a run continued by a follow-up message (its ``executions`` count grew)."""
    if not new or new.get("type") != "run":
        return False
    if event_name == "INSERT":
        return bool(new["status"] == "pending")
    return bool(old and new["status"] == "running" and new.get("executions", 1) != old.get("executions", 1))


@metrics.flushed
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    pending: list[tuple[str, dict[str, Any]]] = []  # (sequence number, entry)
    for record in records:
        seqno = record["dynamodb"]["SequenceNumber"]
        try:
            old, new = _images(record)
            logger.set_correlation_id(correlation.run_of_item(new or old))  # this record's run
            if _needs_start(record.get("eventName"), old, new):
                # The API starts the execution right after the write; if it died in between, this does.
                wiring.executions().start(run_from_item(new))
            detail = status_change(old, new)
            notification = notification_for(old, new)
            if notification is not None:  # FIFO, deduplicated on its id: a re-sent record queues it once
                wiring.notification_queue().send([notification])
        except Exception:
            logger.exception("could not process stream record", sequence_number=seqno)
            return _fail_from(pending, seqno)
        if detail is not None:
            pending.append((seqno, to_entry(detail)))
            counter = metrics.run_status_metric(detail)
            if counter is not None:  # at least once, like the events (a retried batch may count again)
                metrics.count(counter)
        for name, value, unit in metrics.call_metrics(old, new):  # tool calls, errors, approval waits
            metrics.record(name, value, unit)
    logger.set_correlation_id(None)
    return _fail_from(pending, None)


def _fail_from(pending: list[tuple[str, dict[str, Any]]], failed_seqno: str | None) -> dict[str, Any]:
    """Publish ``pending`` in order; report the first record that could not be published."""
    remaining = pending
    for _ in range(PUT_ATTEMPTS):
        if not remaining:
            break
        failed = wiring.event_sink().put([entry for _, entry in remaining])
        if not failed:
            remaining = []
            break
        # Keep order: everything from the first failed entry on is sent again.
        remaining = remaining[min(failed) :]
    if remaining:
        logger.warning("events not published; the stream will retry", count=len(remaining))
        return {"batchItemFailures": [{"itemIdentifier": remaining[0][0]}]}
    if failed_seqno is not None:
        return {"batchItemFailures": [{"itemIdentifier": failed_seqno}]}
    return {"batchItemFailures": []}
