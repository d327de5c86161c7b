"""onStatusChange: a run's own notifications (a signed webhook, or a call of a registered function).

Fed from the outbox, like the EventBridge events: the stream publisher turns each committed status
change of a run with ``onStatusChange`` into one *notification* and queues it on a FIFO queue (one
message group per run, so a run's notifications leave in order; deduplicated on the notification's
id). The notify function delivers it; a failed attempt is retried with doubling back-off, and after
the queue's receive budget the message lands in the dead-letter queue, from which an operator can
redrive it. The notification id (``webhook-id``) is ``<runId>.<sequence>``: stable across retries, so
receivers can dedupe.

Runs that fail outside the loop (reconcile) commit their change through the same table, so they
notify too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from ..errors import InvalidRequest, NotFound
from ..schemas import RUNPLANE_SERVICE
from ..status import TERMINAL, RunStatus
from ..tools.builtins import ToolError
from ..tools.models import FunctionRecord
from .events import status_change

EVENT_TYPE = "run.status_changed"
# Paused and every terminal status, unless the run names its own.
DEFAULT_STATUSES: frozenset[str] = frozenset({str(RunStatus.PAUSED), *(str(s) for s in TERMINAL)})
# Targets a notification can call synchronously (worker and service functions are polled by
# machines: they cannot be called outside a run's loop).
CALLABLE_KINDS = ("lambda", "http", "builtin")


class SecretStore(Protocol):
    def exists(self, cluster_id: str) -> bool: ...


class DeliveryFailed(Exception):
    """One attempt failed (timeout, refused, non-2xx, function error); the queue retries it."""


class NotificationQueue(Protocol):
    def send(self, notifications: list[dict[str, Any]]) -> None: ...


def webhook_spec(on_status_change: dict[str, Any]) -> tuple[str, list[str] | None] | None:
    """(url, statuses) of a webhook target: ``webhook`` is a URL or ``{url, statuses?}``."""
    hook = on_status_change.get("webhook")
    if hook is None:
        return None
    if isinstance(hook, dict):
        return str(hook["url"]), hook.get("statuses") or on_status_change.get("statuses")
    return str(hook), on_status_change.get("statuses")


def wanted_statuses(on_status_change: dict[str, Any]) -> frozenset[str]:
    spec = webhook_spec(on_status_change)
    statuses = spec[1] if spec else on_status_change.get("statuses")
    return frozenset(str(s) for s in statuses) if statuses else DEFAULT_STATUSES


def notification_id(run_id: str, sequence: int) -> str:
    return f"{run_id}.{sequence}"


def payload(detail: dict[str, Any]) -> dict[str, Any]:
    """The run's status payload (what a webhook's ``data`` holds and a function receives)."""
    return {
        "id": detail["runId"],
        "clusterId": detail["clusterId"],
        "name": detail.get("name"),
        "status": detail["status"],
        "previousStatus": detail.get("previousStatus"),
        "sequence": detail["sequence"],
        "result": detail.get("result"),
        "summary": detail.get("summary"),
        "failureReason": detail.get("failureReason"),
        "metadata": detail.get("metadata") or {},
        "occurredAt": detail.get("occurredAt"),
    }


def notification_for(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """The notification one stream record of the runs table asks for, or None."""
    detail = status_change(old, new)
    if detail is None or new is None:
        return None
    raw = new.get("onStatusChange")
    target = json.loads(raw) if isinstance(raw, str) else raw
    if not target or detail["status"] not in wanted_statuses(target):
        return None
    spec = webhook_spec(target)
    notification: dict[str, Any] = {
        "id": notification_id(detail["runId"], detail["sequence"]),
        "clusterId": detail["clusterId"],
        "runId": detail["runId"],
        "sequence": detail["sequence"],
        "payload": payload(detail),
    }
    if spec is not None:
        notification["webhook"] = spec[0]
    else:
        fn = target["function"]
        notification["function"] = fn if isinstance(fn, str) else _function_name(fn)
    return notification


def _function_name(ref: dict[str, Any]) -> str:
    service = ref.get("service")
    return str(ref["function"]) if service in (None, RUNPLANE_SERVICE) else f"{service}_{ref['function']}"


def check_function_target(record: FunctionRecord) -> None:
    """At run creation: the function must be one a notification can call."""
    if record.kind not in CALLABLE_KINDS:
        raise InvalidRequest(
            f"function '{record.name}' is a {record.kind} function; onStatusChange.function must be a "
            f"{', '.join(CALLABLE_KINDS)} function",
            field="onStatusChange.function",
        )


def check_on_status_change(
    cluster_id: str, target: Any, functions: Any, secrets: SecretStore | None, settings: Any
) -> None:
    """At run creation (a 400 naming the field): the function exists and can be called outside a
    loop; the webhook URL passes the http-tool guard (before DNS; delivery checks again after DNS)
    and the cluster has a signing secret to sign it with."""
    from ..schemas import function_name
    from ..tools.netguard import UnsafeUrl, check_url, policy_for

    if target.function is not None:
        name = function_name(target.function)
        try:
            record = functions.get(cluster_id, name)
        except NotFound:
            raise InvalidRequest(f"unknown function '{name}'", field="onStatusChange.function") from None
        check_function_target(record)
        return
    url = str(target.webhook.url if hasattr(target.webhook, "url") else target.webhook)
    try:
        check_url(url, policy_for(settings), resolve=False)
    except UnsafeUrl as exc:
        raise InvalidRequest(str(exc), field="onStatusChange.webhook") from None
    if secrets is not None and not secrets.exists(cluster_id):
        raise InvalidRequest(
            f"cluster '{cluster_id}' has no webhook signing secret yet: create it with "
            f"POST /clusters/{cluster_id}/webhook-secret (the answer shows it once)",
            field="onStatusChange.webhook",
        )


def webhook_body(notification: dict[str, Any], at: datetime) -> str:
    """The Standard Webhooks body: ``{type, timestamp, data}``."""
    body = {
        "type": EVENT_TYPE,
        "timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": notification["payload"],
    }
    return json.dumps(body, separators=(",", ":"), default=str)


def backoff_seconds(attempt: int, base: int, cap: int) -> int:
    """The wait after the ``attempt``-th failed attempt (1-based): base, 2·base, 4·base, … ≤ cap."""
    if base <= 0:
        return 0
    return int(min(cap, base * 2 ** max(0, attempt - 1)))


class Deliverer(Protocol):
    def post_webhook(self, url: str, notification: dict[str, Any]) -> int: ...

    def call_function(self, cluster_id: str, record: FunctionRecord, notification: dict[str, Any]) -> Any: ...


class FunctionLookup(Protocol):
    def get(self, cluster_id: str, name: str) -> FunctionRecord: ...


def deliver(notification: dict[str, Any], deliverer: Deliverer, functions: FunctionLookup) -> str:
    """One attempt; returns what was done ("webhook" / "function"); DeliveryFailed to retry."""
    if "webhook" in notification:
        status = deliverer.post_webhook(str(notification["webhook"]), notification)
        if not 200 <= status < 300:
            raise DeliveryFailed(f"the webhook answered HTTP {status}")
        return "webhook"
    try:
        record = functions.get(str(notification["clusterId"]), str(notification["function"]))
    except Exception as exc:  # deleted since the run was created: retried, then dead-lettered
        raise DeliveryFailed(str(exc)) from None
    try:
        deliverer.call_function(str(notification["clusterId"]), record, notification)
    except ToolError as exc:
        raise DeliveryFailed(str(exc)) from None
    return "function"
