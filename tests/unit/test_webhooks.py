"""The webhook sender: netguard's SSRF guard after DNS (the name resolved once, the connection only
to a checked address) and the Standard Webhooks signature."""

from __future__ import annotations

from typing import Any

import httpcore
import pytest

from runplane.adapters.webhooks import WebhookSender
from runplane.config import Settings
from runplane.logic.notify import DeliveryFailed, backoff_seconds, notification_for
from runplane.tools.netguard import Policy

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOTE = {"id": "r1.3", "clusterId": "c1", "runId": "r1", "sequence": 3, "payload": {"id": "r1", "status": "done"}}


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


class Backend(httpcore.NetworkBackend):
    """Records where connections would go, and refuses them (no network in unit tests)."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        self.connects.append((host, port))
        raise httpcore.ConnectError("no network here")


def sender(resolver: Resolver, backend: Backend) -> WebhookSender:
    return WebhookSender(Settings(), Secrets(), policy=Policy(resolver=resolver, backend=backend))


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.7", "169.254.169.254", "127.0.0.1", "::1", "fd00::1"])
def test_a_name_that_resolves_to_a_private_address_is_refused(address: str) -> None:
    backend = Backend()
    with pytest.raises(DeliveryFailed, match="refused"):
        sender(Resolver([address]), backend).post("https://hooks.example.com/x", NOTE)
    with pytest.raises(DeliveryFailed, match="refused"):  # one bad address among good ones is enough
        sender(Resolver(["93.184.216.34", address]), backend).post("https://hooks.example.com/x", NOTE)
    assert backend.connects == []  # no connection was attempted


def test_the_checked_address_is_the_one_connected_to() -> None:
    backend = Backend()
    rebinding = Resolver(["93.184.216.34"], ["10.0.0.1"])  # a second lookup would answer private
    with pytest.raises(DeliveryFailed, match="failed"):
        sender(rebinding, backend).post("https://hooks.example.com/in", NOTE)
    assert rebinding.calls == 1
    assert backend.connects == [("93.184.216.34", 443)]


def test_plain_http_and_metadata_names_are_refused_before_dns() -> None:
    resolver, backend = Resolver(["93.184.216.34"]), Backend()
    for url in ("http://hooks.example.com/x", "https://169.254.169.254/", "https://metadata.google.internal/"):
        with pytest.raises(DeliveryFailed, match="refused"):
            sender(resolver, backend).post(url, NOTE)
    assert resolver.calls == 0 and backend.connects == []


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_seconds(n, 5, 60) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert backoff_seconds(3, 0, 60) == 0


def test_notifications_come_from_status_changes_only() -> None:
    old = {"type": "run", "id": "r", "clusterId": "c", "status": "running", "seq": 2}
    old["onStatusChange"] = '{"function":"f"}'
    new = {**old, "status": "done", "seq": 3, "result": '{"ok":true}', "summary": "s"}
    note = notification_for(old, new)
    assert note is not None and note["id"] == "r.3" and note["function"] == "f"
    assert note["payload"]["result"] == {"ok": True} and note["payload"]["summary"] == "s"
    assert notification_for(new, {**new, "turns": 4}) is None  # no status change
    assert notification_for({**old, "status": "pending", "seq": 1}, old) is None  # running: not a default status
    service = {**new, "onStatusChange": '{"function":{"service":"billing","function":"notify"}}'}
    assert notification_for(old, service)["function"] == "billing_notify"  # type: ignore[index]
