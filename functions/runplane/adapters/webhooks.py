"""Webhook delivery: SSRF-checked, address-pinned, Standard-Webhooks-signed HTTP POSTs, and the
per-cluster signing secrets they are signed with.

Pinning: the host name is resolved once, every address it resolves to is checked, and the
connection goes to that checked address (the ``Host`` header and TLS SNI/certificate check keep the
name), so a rebinding resolver cannot slip a private address between the check and the connect.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets as _secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..config import Settings
from ..logic.notify import DeliveryFailed, webhook_body
from ..tools import netguard
from ..tools.netguard import UnsafeUrl
from .clients import client

Resolver = Callable[[str, int], list[str]]
# After a rotation the previous secret still signs (a second signature) for this long.
ROTATION_GRACE = timedelta(hours=24)
SECRET_SK = "WEBHOOK_SECRET"


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeUrl(f"cannot resolve '{host}': {exc}") from None
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class PinnedUrl:
    url: str  # the URL with the checked address in place of the host name
    host: str  # the name, for the Host header and TLS
    address: str


def pin(url: str, *, allow_loopback_http: bool, resolve: Resolver = system_resolver) -> PinnedUrl:
    """Check ``url`` (scheme, host) with the http-tool guard, resolve its host once, refuse it if any
    address is private, loopback (unless allowed), link-local or metadata, and pin the first one."""
    netguard.check_url(url, allow_loopback_http=allow_loopback_http, resolve=False)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = resolve(host, port)
    if not addresses:
        raise UnsafeUrl(f"'{host}' resolves to no address")
    for address in addresses:
        if not netguard._address_allowed(ipaddress.ip_address(address.split("%")[0]), allow_loopback_http):
            raise UnsafeUrl(f"'{host}' resolves to a private, loopback or link-local address ({address})")
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return PinnedUrl(
        url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host=host, address=address
    )


class WebhookSender:
    def __init__(
        self,
        settings: Settings,
        secrets: DynamoWebhookSecrets,
        *,
        resolve: Resolver = system_resolver,
        transport: Any = None,
    ) -> None:
        self.timeout = settings.webhook_timeout_seconds
        self.allow_loopback_http = settings.allow_loopback_http
        self.secrets = secrets
        self.resolve = resolve
        self.transport = transport

    def post(self, url: str, notification: dict[str, Any]) -> int:
        """One signed POST; the HTTP status, or DeliveryFailed (refused URL, timeout, no connection)."""
        import httpx
        from standardwebhooks.webhooks import Webhook

        try:
            target = pin(url, allow_loopback_http=self.allow_loopback_http, resolve=self.resolve)
        except UnsafeUrl as exc:
            raise DeliveryFailed(f"refused to call {url}: {exc}") from None
        keys = self.secrets.signing_secrets(str(notification["clusterId"]))
        if not keys:
            raise DeliveryFailed(f"cluster '{notification['clusterId']}' has no webhook signing secret")
        at = datetime.now(UTC)
        body = webhook_body(notification, at)
        msg_id = str(notification["id"])
        signature = " ".join(Webhook(k).sign(msg_id, at, body) for k in keys)
        headers = {
            "content-type": "application/json",
            "user-agent": "runplane/1",
            "host": target.host if urlsplit(url).port is None else f"{target.host}:{urlsplit(url).port}",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature,
        }
        extensions = {"sni_hostname": target.host} if url.lower().startswith("https:") else {}
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False, transport=self.transport) as http:
                resp = http.post(target.url, content=body.encode(), headers=headers, extensions=extensions)
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
        allow = self.settings.allow_loopback_http
        if record.kind == "lambda":
            return invoke_lambda(client("lambda"), record.target, request)
        if record.kind == "http":
            return invoke_http(record.target, request, float(record.timeout_seconds), allow_loopback_http=allow)
        if record.kind == "builtin":
            return invoke_builtin(record.name, data, allow_loopback_http=allow)
        raise DeliveryFailed(f"function '{record.name}' is a {record.kind} function: it cannot be notified")
