"""The outbox publisher: the runs table's stream → EventBridge, the onStatusChange delivery queue
(``logic.notify``), a safety-net execution start, and the admission trigger (a concurrency slot
freed → ``logic.admission`` admits waiting runs; a failure there only delays them:
the periodic sweep admits them too, and it never holds the events back).

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
from ..adapters.dynamo import WAIT_PK, deserialize, run_from_item
from ..logic.events import status_change, to_entry
from ..logic.notify import notification_for
from . import correlation, initialized, wiring

logger = Logger(service="runplane-events")
PUT_ATTEMPTS = 3


def _images(record: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    data = record.get("dynamodb", {})
    old = deserialize(data["OldImage"]) if data.get("OldImage") else None
    new = deserialize(data["NewImage"]) if data.get("NewImage") else None
    return old, new


def _needs_start(event_name: str | None, old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """A new run that does not wait for a slot, a run just admitted (its ``admittedAt`` changed), or
    a run continued by a follow-up message (its ``executions`` count grew)."""
    if not new or new.get("type") != "run":
        return False
    if event_name == "INSERT":
        return bool(new["status"] == "pending" and not new.get(WAIT_PK))
    if not old or new["status"] != "running":
        return False
    return new.get("executions", 1) != old.get("executions", 1) or new.get("admittedAt") != old.get("admittedAt")


def _needs_dispatch(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """A run gave its concurrency slots back (it ended). A run that joins the queue is dispatched by
    the request that queued it (and by the periodic sweep, if that request died first)."""
    if not old or old.get("type") != "run" or not old.get("slots"):
        return False
    return not (new and new.get("slots"))


@metrics.flushed
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    pending: list[tuple[str, dict[str, Any]]] = []  # (sequence number, entry)
    dispatch = False
    for record in records:
        seqno = record["dynamodb"]["SequenceNumber"]
        try:
            old, new = _images(record)
            logger.set_correlation_id(correlation.run_of_item(new or old))  # this record's run
            if _needs_start(record.get("eventName"), old, new):
                # The API starts the execution right after the write; if it died in between, this does.
                wiring.executions().start(run_from_item(new))
            dispatch = dispatch or _needs_dispatch(old, new)
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
    if dispatch:
        _dispatch()
    return _fail_from(pending, None)


def _dispatch() -> None:
    """Admit waiting runs now that a slot may be free (after the whole batch: one dispatch for it)."""
    try:
        admitted = len(wiring.admission().dispatch())
    except Exception:
        logger.exception("could not admit waiting runs; the periodic sweep will")
        return
    if admitted:
        logger.info("admitted waiting runs", admitted=admitted)


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


initialized()  # the last statement: the cold start's imports are done (handlers/__init__.py)
