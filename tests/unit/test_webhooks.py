"""The webhook sender's SSRF guard (after DNS, with the resolved address pinned) and its signature,
over httpx's MockTransport (no network)."""

from __future__ import annotations

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from runplane.adapters.webhooks import WebhookSender, pin
from runplane.config import Settings
from runplane.logic.notify import DeliveryFailed, backoff_seconds, notification_for
from runplane.tools.netguard import UnsafeUrl

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Secrets:
    """An in-memory secret store (the DynamoDB one is exercised by the integration tests)."""

    def signing_secrets(self, cluster_id: str) -> list[str]:
        return [SECRET]


class Resolver:
    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


NOTE = {"id": "r1.3", "clusterId": "c1", "runId": "r1", "sequence": 3, "payload": {"id": "r1", "status": "done"}}


def sender(resolver: Resolver, seen: list[httpx.Request], status: int = 200) -> WebhookSender:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return WebhookSender(Settings(), Secrets(), resolve=resolver, transport=httpx.MockTransport(answer))  # type: ignore[arg-type]


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.7", "169.254.169.254", "127.0.0.1", "::1", "fd00::1"])
def test_a_name_that_resolves_to_a_private_address_is_refused(address: str) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(DeliveryFailed, match="private, loopback or link-local"):
        sender(Resolver([address]), seen).post("https://hooks.example.com/x", NOTE)
    assert seen == []  # no connection was made
    with pytest.raises(UnsafeUrl):
        pin("https://hooks.example.com/x", allow_loopback_http=False, resolve=Resolver(["93.184.216.34", address]))


def test_the_checked_address_is_the_one_connected_to() -> None:
    seen: list[httpx.Request] = []
    rebinding = Resolver(["93.184.216.34"], ["10.0.0.1"])  # a second lookup would answer private
    status = sender(rebinding, seen).post("https://hooks.example.com/in?x=1", NOTE)
    assert status == 200 and rebinding.calls == 1
    (request,) = seen
    assert request.url.host == "93.184.216.34" and request.url.path == "/in" and request.url.query == b"x=1"
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"  # TLS checks the name's certificate
    assert request.headers["webhook-id"] == "r1.3"
    Webhook(SECRET).verify(request.content, dict(request.headers))


def test_plain_http_and_metadata_names_are_refused_before_dns() -> None:
    resolver = Resolver(["93.184.216.34"])
    for url in ("http://hooks.example.com/x", "https://169.254.169.254/", "https://metadata.google.internal/"):
        with pytest.raises(DeliveryFailed, match="refused"):
            sender(resolver, []).post(url, NOTE)
    assert resolver.calls == 0


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_seconds(n, 5, 60) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert backoff_seconds(3, 0, 60) == 0


def test_notifications_come_from_status_changes_only() -> None:
    old = {
        "type": "run",
        "id": "r",
        "clusterId": "c",
        "status": "running",
        "seq": 2,
        "onStatusChange": '{"function":"f"}',
    }
    new = {**old, "status": "done", "seq": 3, "result": '{"ok":true}', "summary": "s"}
    note = notification_for(old, new)
    assert note is not None and note["id"] == "r.3" and note["function"] == "f"
    assert note["payload"]["result"] == {"ok": True} and note["payload"]["summary"] == "s"
    assert notification_for(new, {**new, "turns": 4}) is None  # no status change
    assert notification_for({**old, "status": "pending", "seq": 1}, old) is None  # running: not a default status
    service = {**new, "onStatusChange": '{"function":{"service":"billing","function":"notify"}}'}
    assert notification_for(old, service)["function"] == "billing_notify"  # type: ignore[index]
