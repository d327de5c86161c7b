"""The unmodified Inferable TypeScript SDK (npm ``inferable`` 0.30.61) against ``runplane local``
over real HTTP: a key, ``run()`` with a JSON schema → ``poll()`` → ``messages()``; services whose
functions a run calls (its ``context`` arrives as ``runContext``); ``approvalRequest()`` → paused →
approved through the contract route → called again with ``approved: true``; a function that throws
→ the model sees the rejection.

The SDK is installed by this test (``npm ci`` from the committed lock file, when ``node_modules`` is
missing or stale); the script is ``tests/e2e/inferable/sdk_flow.js``."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import local_process

SDK_DIR = Path(__file__).parent / "inferable"
STAMP = SDK_DIR / "node_modules" / ".runplane-lock-sha256"
ADMIN_KEY = f"sk_admin_e2e_{secrets.token_hex(16)}"


def _install_sdk() -> None:
    """``npm ci`` unless node_modules was installed from this very lock file."""
    digest = hashlib.sha256((SDK_DIR / "package-lock.json").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    npm = shutil.which("npm")
    assert npm, "npm (Node 20) is needed for the Inferable SDK test"
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SDK_DIR, check=True, timeout=300)
    STAMP.write_text(digest)


@pytest.fixture(scope="module")
def local_api() -> Iterator[str]:
    _install_sdk()
    env = {
        "RUNPLANE_CALL_POLL_WAIT_SECONDS": "2",  # services' long polls (the SDK then polls again at once)
        "RUNPLANE_ADMIN_KEY": ADMIN_KEY,  # the script creates its cluster key with it (createApiKey)
    }
    with local_process.local_mode(env) as server:
        yield server["api"]


@pytest.fixture(scope="module")
def facts(local_api: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node (20) is needed for the Inferable SDK test"
    env = {**os.environ, "RUNPLANE_URL": local_api, "RUNPLANE_ADMIN_KEY": ADMIN_KEY}
    done = subprocess.run(
        [node, "sdk_flow.js"], cwd=SDK_DIR, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return dict(json.loads(lines[-1]))


def test_run_with_a_schema_polls_to_a_conforming_result(facts: dict[str, Any]) -> None:
    assert facts["keyFrom"] == "createApiKey" and facts["clusterId"] == "default"
    first = facts["firstRun"]
    assert first["status"] == "done" and first["result"]["category"] in ("billing", "bug", "other")
    assert isinstance(first["result"]["urgent"], bool)
    assert first["userId"] is None and first["feedbackScore"] is None
    assert facts["firstMessages"][0] == "human" and facts["firstMessages"][-1] == "agent"


def test_service_functions_get_the_run_context(facts: dict[str, Any]) -> None:
    assert facts["activeServices"] == ["orders", "ops"]
    (call,) = facts["lookup"]["seen"]
    assert call == {"input": {"orderId": "o-1"}, "runContext": {"tenant": "acme"}, "approved": False}
    assert facts["lookup"]["result"] == {"orderId": "o-1", "status": "shipped", "tenant": "acme"}


def test_approval_request_pauses_then_runs_again_approved(facts: dict[str, Any]) -> None:
    refund = facts["refund"]
    assert refund["paused"] == "paused" and refund["pendingApprovals"] == 1
    assert [c["approved"] for c in refund["seen"]] == [False, True]
    assert refund["jobId"].startswith(facts["runIds"][2] + ".")


def test_a_thrown_error_reaches_the_model(facts: dict[str, Any]) -> None:
    rejection = facts["rejection"]
    assert rejection["explodeCalls"] == 1
    assert "the warehouse is on fire" in rejection["seenByModel"]
    assert rejection["toolResult"]["is_error"] is True
    assert "the warehouse is on fire" in rejection["toolResult"]["content"]


def test_machines_and_services_are_listed_with_when_they_were_seen(facts: dict[str, Any]) -> None:
    assert [m["id"] for m in facts["machines"]] == ["sdk-e2e-machine"]
    assert facts["machines"][0]["lastPingAt"] and facts["machines"][0]["ip"] == "127.0.0.1"
    services = {s["name"]: s for s in facts["services"]}
    assert sorted(services) == ["ops", "orders"]
    assert services["orders"]["functions"] == ["lookup", "refund"] and services["ops"]["functions"] == ["explode"]
    assert all(s["lastPingAt"] for s in services.values())
