"""The Lambda authorizer itself, as API Gateway (and local mode's gateway) calls it: what it lets
through, with which principal, and the keyless-loopback setting for ACP."""

from __future__ import annotations

from typing import Any

import pytest

from runplane.local.gateway import authorize
from runplane.local.http import proxy_event
from tests.conftest import emulator_settings


@pytest.fixture(scope="module")
def emulator_env() -> dict[str, str]:
    return emulator_settings(RUNPLANE_KEYLESS_LOOPBACK_CLUSTER="default")


def _authorize(harness: Any, path: str, *, key: str | None = None, source_ip: str = "127.0.0.1") -> Any:
    headers = {"content-type": ["application/json"]}
    if key:
        headers["authorization"] = [key]
    event = proxy_event("POST", path, headers=headers, source_ip=source_ip)
    denied = authorize(
        event, harness.emulator.names.function("authorizer")
    )
    return denied if denied is not None else event["requestContext"]["authorizer"]


def test_a_live_key_becomes_the_principal(harness: Any) -> None:
    cluster = harness.cluster()
    machine = harness.key(cluster, "machine")
    principal = _authorize(harness, f"/clusters/{cluster}/calls", key=machine)
    assert (
        principal["clusterId"] == cluster and principal["kind"] == "machine" and principal["keyId"].startswith("key_")
    )
    assert machine not in str(principal)


def test_a_client_cannot_bring_its_own_principal(harness: Any) -> None:
    event = proxy_event("GET", "/clusters/x/runs", headers={"content-type": ["application/json"]})
    event["requestContext"]["authorizer"] = {"keyId": "forged", "clusterId": "x", "kind": "admin"}
    denied = authorize(
        event, harness.emulator.names.function("authorizer")
    )
    assert denied is not None and denied["statusCode"] == 401
    assert "authorizer" not in event["requestContext"]


@pytest.mark.parametrize("path", ["/runs", "/runs/abc", "/agents", "/agents/chat", "/session/s1"])
def test_keyless_acp_from_loopback_acts_as_a_consumer_of_the_configured_cluster(harness: Any, path: str) -> None:
    principal = _authorize(harness, path)
    assert principal == {
        "keyId": "keyless-loopback",
        "clusterId": "default",
        "kind": "consumer",
        "principalId": "keyless-loopback",
    }


@pytest.mark.parametrize(
    ("path", "source_ip"),
    [
        ("/runs", "203.0.113.7"),  # not loopback
        ("/runs", "10.0.0.5"),
        ("/clusters/default/runs", "127.0.0.1"),  # an Inferable route: always a key
        ("/machines", "127.0.0.1"),
        ("/runsx", "127.0.0.1"),
    ],
)
def test_keyless_requests_are_refused_elsewhere(harness: Any, path: str, source_ip: str) -> None:
    denied = _authorize(harness, path, source_ip=source_ip)
    assert denied["statusCode"] == 401


def test_a_bad_key_is_refused_even_on_acp_routes(harness: Any) -> None:
    assert _authorize(harness, "/runs", key="sk_" + "z" * 43)["statusCode"] == 401
