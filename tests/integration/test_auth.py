"""API keys, end to end through the real authorizer and the real API function in the emulator.

Every route x no key / bad key / revoked key / wrong kind / another cluster's key → 401 / 401 / 401 /
403 / 404. The routes come from the served OpenAPI document, so a new route without an entry in
``CAPABILITY`` fails here until someone decides who may call it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from runplane import resources
from runplane.access import ALLOWED, KEY_KINDS
from runplane.handlers import wiring
from tests.support.harness import NO_KEY

# (method, OpenAPI path) → the capability the route needs (runplane.access.ALLOWED).
CAPABILITY: dict[tuple[str, str], str] = {
    ("POST", "/clusters"): "admin",
    ("GET", "/clusters/{clusterId}"): "keys",
    ("GET", "/clusters/{clusterId}/api-keys"): "keys",
    ("POST", "/clusters/{clusterId}/api-keys"): "keys",
    ("DELETE", "/clusters/{clusterId}/api-keys/{keyId}"): "keys",
    ("GET", "/clusters/{clusterId}/webhook-secret"): "keys",
    ("POST", "/clusters/{clusterId}/webhook-secret"): "keys",
    ("GET", "/clusters/{clusterId}/runs"): "runs",
    ("POST", "/clusters/{clusterId}/runs"): "runs",
    ("GET", "/clusters/{clusterId}/runs/{runId}"): "runs",
    ("POST", "/clusters/{clusterId}/runs/{runId}/messages"): "runs",
    ("POST", "/clusters/{clusterId}/runs/{runId}/cancel"): "runs",
    ("GET", "/clusters/{clusterId}/runs/{runId}/timeline"): "runs",
    ("GET", "/clusters/{clusterId}/runs/{runId}/log"): "runs",
    ("GET", "/clusters/{clusterId}/runs/{runId}/messages"): "runs",
    ("POST", "/clusters/{clusterId}/runs/{runId}/feedback"): "runs",
    ("DELETE", "/clusters/{clusterId}/runs/{runId}"): "runs",
    ("POST", "/clusters/{clusterId}/calls/{callId}/approval"): "runs",
    ("GET", "/clusters/{clusterId}/blobs/{blobId}/data"): "runs",
    ("POST", "/machines"): "machine",
    ("GET", "/clusters/{clusterId}/machines"): "cluster",
    ("GET", "/clusters/{clusterId}/services"): "cluster",
    ("GET", "/clusters/{clusterId}/calls"): "machine",
    ("POST", "/clusters/{clusterId}/calls"): "machine",
    ("GET", "/clusters/{clusterId}/calls/{callId}"): "machine",
    ("POST", "/clusters/{clusterId}/calls/{callId}/result"): "machine",
    ("POST", "/clusters/{clusterId}/calls/{callId}/blobs"): "machine",
    ("POST", "/clusters/{clusterId}/runs/{runId}/calls/{callId}/approval"): "runs",
    ("GET", "/clusters/{clusterId}/functions/{name}"): "cluster",
    ("PUT", "/clusters/{clusterId}/functions/{name}"): "machine",
    ("DELETE", "/clusters/{clusterId}/functions/{name}"): "machine",
    ("GET", "/clusters/{clusterId}/functions"): "cluster",
    ("POST", "/clusters/{clusterId}/jobs/poll"): "machine",
    ("POST", "/clusters/{clusterId}/runs/{runId}/calls/{callId}/heartbeat"): "machine",
    ("POST", "/clusters/{clusterId}/runs/{runId}/calls/{callId}/result"): "machine",
    # run configurations (agents): a consumer key may read and use them, only a cluster key changes them
    ("POST", "/clusters/{clusterId}/run-configs"): "cluster",
    ("GET", "/clusters/{clusterId}/run-configs"): "runs",
    ("GET", "/clusters/{clusterId}/run-configs/search"): "runs",
    ("GET", "/clusters/{clusterId}/run-configs/{configId}"): "runs",
    ("PUT", "/clusters/{clusterId}/run-configs/{configId}"): "cluster",
    ("DELETE", "/clusters/{clusterId}/run-configs/{configId}"): "cluster",
}
# Bodies that pass validation, so that the capability check (after validation) is what answers.
BODY: dict[tuple[str, str], Any] = {
    ("POST", "/clusters"): {"name": "x"},
    ("POST", "/clusters/{clusterId}/api-keys"): {"name": "x"},
    ("POST", "/clusters/{clusterId}/runs"): {"initialPrompt": "hi"},
    ("POST", "/clusters/{clusterId}/runs/{runId}/messages"): {"message": "hi"},
    ("POST", "/clusters/{clusterId}/runs/{runId}/calls/{callId}/approval"): {"approved": True},
    ("PUT", "/clusters/{clusterId}/functions/{name}"): {"target": {"type": "builtin"}},
    ("POST", "/clusters/{clusterId}/jobs/poll"): {"functions": ["f"], "worker": "w", "waitSeconds": 0},
    ("POST", "/clusters/{clusterId}/runs/{runId}/calls/{callId}/heartbeat"): {"worker": "w"},
    ("POST", "/clusters/{clusterId}/runs/{runId}/calls/{callId}/result"): {"worker": "w", "result": {}},
    ("POST", "/clusters/{clusterId}/runs/{runId}/feedback"): {"comment": None, "score": 1},
    ("POST", "/clusters/{clusterId}/calls/{callId}/approval"): {"approved": True},
    ("POST", "/machines"): {},
    ("POST", "/clusters/{clusterId}/calls"): {"service": "s", "function": "f", "input": {}},
    ("POST", "/clusters/{clusterId}/calls/{callId}/result"): {"result": {}, "resultType": "resolution", "meta": {}},
    ("POST", "/clusters/{clusterId}/run-configs"): {"name": "x", "public": False},
    ("PUT", "/clusters/{clusterId}/run-configs/{configId}"): {"name": "x", "public": False},
    ("POST", "/clusters/{clusterId}/calls/{callId}/blobs"): {
        "name": "b",
        "type": "application/json",
        "encoding": "base64",
        "size": 2,
        "data": "e30=",
    },
}
SAMPLE = {
    "runId": "run-000001",
    "callId": "call-1",
    "name": "fn_1",
    "keyId": "key_" + "0" * 26,
    "blobId": "run-000001.b1",
    "configId": "cfg-000001",
}
QUERY: dict[tuple[str, str], dict[str, str]] = {("GET", "/clusters/{clusterId}/calls"): {"service": "s"}}


def _routes() -> list[tuple[str, str]]:
    from runplane.handlers.api import app

    routes = []
    for path, item in app.get_openapi_schema().paths.items():
        for method in ("get", "post", "put", "delete", "patch"):
            if getattr(item, method, None) is not None:
                routes.append((method.upper(), path))
    return routes


def _call(harness: Any, route: tuple[str, str], cluster: str, key: str) -> tuple[int, Any]:
    method, template = route
    path = re.sub(r"\{(\w+)\}", lambda m: cluster if m.group(1) == "clusterId" else SAMPLE[m.group(1)], template)
    return harness.api(method, path, BODY.get(route), query=QUERY.get(route), key=key)


@pytest.fixture(scope="module")
def world(harness: Any) -> dict[str, Any]:
    """Two clusters; a key of every kind for cluster A; a revoked key; B's cluster key."""
    a, b = harness.cluster(), harness.cluster()
    keys = {kind: harness.key(a, kind) for kind in KEY_KINDS}
    entry, revoked = wiring.keys().create(a, name="to revoke", created_by="test")
    status, _ = harness.api("DELETE", f"/clusters/{a}/api-keys/{entry.id}", key=harness.keys[a])
    assert status == 204
    return {"a": a, "b": b, "keys": keys, "revoked": revoked, "other": harness.keys[b]}


def test_every_route_is_in_the_capability_table() -> None:
    public = set(resources.PUBLIC_ROUTES)
    missing = [r for r in _routes() if r not in CAPABILITY and r not in public]
    assert not missing, f"routes without a capability: {missing}"


@pytest.mark.parametrize("credential", ["none", "garbage", "unknown", "revoked", "bearer-unknown"])
def test_every_route_refuses_requests_without_a_live_key(harness: Any, world: dict[str, Any], credential: str) -> None:
    key = {
        "none": NO_KEY,
        "garbage": "hello",
        "unknown": "sk_" + "x" * 43,
        "revoked": world["revoked"],
        "bearer-unknown": "Bearer sk_" + "y" * 43,
    }[credential]
    for route in _routes():
        if route in resources.PUBLIC_ROUTES:
            continue
        status, payload = _call(harness, route, world["a"], key)
        assert status == 401, (route, credential, payload)
        assert payload == {"message": "Unauthorized"}


def test_another_clusters_key_gets_404_on_every_cluster_route(harness: Any, world: dict[str, Any]) -> None:
    for route in _routes():
        if "{clusterId}" not in route[1]:
            continue
        status, payload = _call(harness, route, world["a"], world["other"])
        assert status == 404, (route, payload)
        assert world["a"] in payload["message"]


def test_the_wrong_kind_gets_403_on_every_route(harness: Any, world: dict[str, Any]) -> None:
    checked = 0
    for route in _routes():
        if route in resources.PUBLIC_ROUTES:
            continue
        allowed = ALLOWED[CAPABILITY[route]]  # type: ignore[index]
        for kind in KEY_KINDS:
            if kind in allowed:
                continue
            status, payload = _call(harness, route, world["a"], world["keys"][kind])
            assert status == 403, (route, kind, payload)
            assert kind in payload["message"]
            checked += 1
    assert checked >= len(CAPABILITY)


def test_the_right_kind_is_let_through(harness: Any, world: dict[str, Any]) -> None:
    a, keys = world["a"], world["keys"]
    status, created = harness.api("POST", f"/clusters/{a}/runs", {"initialPrompt": "hi"}, key=keys["consumer"])
    assert status == 201
    assert harness.api("GET", f"/clusters/{a}/runs/{created['id']}", key=keys["consumer"])[0] == 200
    body = {"target": {"type": "builtin"}}
    assert harness.api("PUT", f"/clusters/{a}/functions/current_time", body, key=keys["machine"])[0] in (200, 201)
    # An admin key reaches every cluster's keys, and clusters themselves.
    assert harness.api("GET", f"/clusters/{world['b']}/api-keys", key=keys["admin"])[0] == 200
    assert harness.api("POST", "/clusters", {"name": "made by admin"}, key=keys["admin"])[0] == 201


def test_both_header_forms_are_accepted(harness: Any, world: dict[str, Any]) -> None:
    a, key = world["a"], world["keys"]["cluster"]
    for header in (key, f"Bearer {key}", f"bearer {key}"):
        assert harness.api("GET", f"/clusters/{a}/runs", key=header)[0] == 200, header


def test_key_lifecycle_through_the_contract_routes(harness: Any) -> None:
    cluster = harness.cluster()
    status, made = harness.api("POST", f"/clusters/{cluster}/api-keys", {"name": "ci"})
    assert status == 200 and set(made) == {"id", "key"} and made["key"].startswith("sk_")
    assert harness.api("GET", f"/clusters/{cluster}/runs", key=made["key"])[0] == 200
    status, listed = harness.api("GET", f"/clusters/{cluster}/api-keys")
    assert status == 200
    [entry] = [k for k in listed if k["id"] == made["id"]]
    assert entry["name"] == "ci" and entry["kind"] == "cluster" and entry["revokedAt"] is None
    assert {"id", "name", "createdAt", "createdBy", "revokedAt"} <= set(entry)
    assert made["key"] not in json.dumps(listed)
    assert harness.api("DELETE", f"/clusters/{cluster}/api-keys/{made['id']}")[0] == 204
    assert harness.api("GET", f"/clusters/{cluster}/runs", key=made["key"])[0] == 401
    [entry] = [k for k in harness.api("GET", f"/clusters/{cluster}/api-keys")[1] if k["id"] == made["id"]]
    assert entry["revokedAt"] is not None
    assert harness.api("DELETE", f"/clusters/{cluster}/api-keys/key_{'1' * 26}")[0] == 404


def test_kinds_a_key_may_mint(harness: Any) -> None:
    cluster = harness.cluster()
    status, _ = harness.api("POST", f"/clusters/{cluster}/api-keys", {"name": "x", "kind": "admin"})
    assert status == 403  # a cluster key cannot mint admin keys
    for kind in ("consumer", "machine"):
        assert harness.api("POST", f"/clusters/{cluster}/api-keys", {"name": kind, "kind": kind})[0] == 200
    status, _made = harness.api(
        "POST", f"/clusters/{cluster}/api-keys", {"name": "a", "kind": "admin"}, key=harness.admin_key
    )
    assert status == 200
    assert harness.api("POST", f"/clusters/{cluster}/api-keys", {"name": "x", "kind": "root"})[0] == 400


def test_no_plaintext_secret_in_the_table_or_the_logs(harness: Any, capfd: pytest.CaptureFixture[str]) -> None:
    cluster = harness.cluster()
    secrets = [harness.keys[cluster]]
    _, made = harness.api("POST", f"/clusters/{cluster}/api-keys", {"name": "logged?"})
    secrets.append(made["key"])
    harness.api("GET", f"/clusters/{cluster}/runs", key=made["key"])
    harness.api("GET", f"/clusters/{cluster}/runs", key=made["key"] + "x")  # refused
    ddb = harness.emulator.client("dynamodb")
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=harness.emulator.names.table):
        items.extend(page["Items"])
    dump = json.dumps(items)
    assert any(i.get("type", {}).get("S") == "apikey" for i in items)
    for secret in secrets:
        assert secret not in dump
        assert secret[3:] not in dump  # not even without its prefix
    out, err = capfd.readouterr()
    for secret in secrets:
        assert secret not in out and secret not in err


def test_health_checks_answer_without_a_key(harness: Any) -> None:
    status, payload = harness.api("GET", "/live", key=NO_KEY)
    assert status == 200 and payload["status"] == "ok"
