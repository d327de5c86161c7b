"""Webhook delivery: SSRF-checked, address-pinned (``tools.netguard``), Standard-Webhooks-signed
HTTP POSTs, and the per-cluster signing secrets they are signed with."""

from __future__ import annotations

import base64
import secrets as _secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config import Settings
from ..logic.notify import DeliveryFailed, webhook_body
from ..tools import netguard
from ..tools.netguard import UnsafeUrl
from .clients import client

# After a rotation the previous secret still signs (a second signature) for this long.
ROTATION_GRACE = timedelta(hours=24)
SECRET_SK = "WEBHOOK_SECRET"


class WebhookSender:
    """Signed POSTs through ``netguard.pinned_client``: the name is resolved once, every address is
    checked, and the connection can go only to those checked addresses (TLS keeps the name)."""

    def __init__(self, settings: Settings, secrets: Any, *, policy: netguard.Policy | None = None) -> None:
        self.timeout = settings.webhook_timeout_seconds
        self.policy = policy or netguard.policy_for(settings)
        self.secrets = secrets

    def post(self, url: str, notification: dict[str, Any]) -> int:
        """One signed POST; the HTTP status, or DeliveryFailed (refused URL, timeout, no connection)."""
        import httpx
        from standardwebhooks.webhooks import Webhook

        try:
            http = netguard.pinned_client(url, self.policy, timeout=self.timeout)
        except UnsafeUrl as exc:
            raise DeliveryFailed(f"refused to call {url}: {exc}") from None
        keys = self.secrets.signing_secrets(str(notification["clusterId"]))
        if not keys:
            raise DeliveryFailed(f"cluster '{notification['clusterId']}' has no webhook signing secret")
        at = datetime.now(UTC)
        body = webhook_body(notification, at)
        msg_id = str(notification["id"])
        headers = {
            "content-type": "application/json",
            "user-agent": "runplane/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": " ".join(Webhook(k).sign(msg_id, at, body) for k in keys),
        }
        try:
            with http:
                resp = http.post(url, content=body.encode(), headers=headers)
        except httpx.TimeoutException:
            raise DeliveryFailed(f"the webhook did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"POST {url} failed: {exc}") from None
        return resp.status_code


class DynamoWebhookSecrets:
    """One item per cluster (``CLUSTER#<cid>`` / ``WEBHOOK_SECRET``): the current secret and, for a
    day after a rotation, the previous one (deliveries then carry both signatures)."""

    def __init__(self, settings: Settings) -> None:
        self.table = settings.table_name

    def rotate(self, cluster_id: str) -> str:
        secret = "whsec_" + base64.b64encode(_secrets.token_bytes(32)).decode()
        key = {"PK": {"S": f"CLUSTER#{cluster_id}"}, "SK": {"S": SECRET_SK}}
        now = datetime.now(UTC)
        old = client("dynamodb").get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        item: dict[str, Any] = {
            **key,
            "type": {"S": "webhook-secret"},
            "secret": {"S": secret},
            "rotatedAt": {"S": now.isoformat()},
        }
        if old:
            item["previous"] = old["secret"]
            item["previousUntil"] = {"N": str(int((now + ROTATION_GRACE).timestamp()))}
        client("dynamodb").put_item(TableName=self.table, Item=item)
        return secret

    def exists(self, cluster_id: str) -> bool:
        return bool(self.signing_secrets(cluster_id))

    def signing_secrets(self, cluster_id: str) -> list[str]:
        key = {"PK": {"S": f"CLUSTER#{cluster_id}"}, "SK": {"S": SECRET_SK}}
        item = client("dynamodb").get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        if not item:
            return []
        out = [item["secret"]["S"]]
        if "previous" in item and int(item["previousUntil"]["N"]) > datetime.now(UTC).timestamp():
            out.append(item["previous"]["S"])
        return out


class NotificationTargets:
    """What a notification calls: a webhook (signed), or a registered lambda/http/builtin function
    with ``{input: <status payload>, run, notification}``, as a tool call would be."""

    def __init__(self, settings: Settings, sender: WebhookSender) -> None:
        self.settings = settings
        self.sender = sender

    def post_webhook(self, url: str, notification: dict[str, Any]) -> int:
        return self.sender.post(url, notification)

    def call_function(self, cluster_id: str, record: Any, notification: dict[str, Any]) -> Any:
        from ..tools.targets import invoke_builtin, invoke_http, invoke_lambda

        data = notification["payload"]
        request = {
            "input": data,
            "context": {},
            "run": {"id": data["id"], "clusterId": cluster_id, "name": data.get("name"), "metadata": data["metadata"]},
            "notification": {"id": notification["id"], "function": record.name},
        }
        policy = netguard.policy_for(self.settings)
        if record.kind == "lambda":
            return invoke_lambda(client("lambda"), record.target, request)
        if record.kind == "http":
            return invoke_http(record.target, request, float(record.timeout_seconds), policy=policy)
        if record.kind == "builtin":
            return invoke_builtin(record.name, data, policy=policy)
        raise DeliveryFailed(f"function '{record.name}' is a {record.kind} function: it cannot be notified")
