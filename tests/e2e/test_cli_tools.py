"""The `runplane` commands over the API, run as subprocesses against `runplane local`: `run --wait
--json`, `runs tail`, `runs approve` of the pending call, keys and functions, and the exit codes
(0 done, 1 failed, 2 usage, 3 cancelled, 4 timeout)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runplane import Runplane
from tests.support.local_process import clean_env, local_mode

FUNCTION = "current_time"
ASK_TIME = json.dumps({"modelScript": [{"toolCalls": [{"name": FUNCTION, "input": {"timezone": "UTC"}}]}]})


@pytest.fixture(scope="module")
def local() -> Iterator[dict[str, Any]]:
    with local_mode() as info:
        with Runplane(info["api"], info["key"]) as client:
            client.functions.put(FUNCTION, {"requiresApproval": True, "target": {"type": "builtin"}})
        yield info


def runplane(
    local: dict[str, Any], *args: str, key: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    env = clean_env()
    env["RUNPLANE_API_URL"] = local["api"]
    env["RUNPLANE_API_KEY"] = key or local["key"]
    env["RUNPLANE_CONFIG"] = "/nonexistent/runplane.toml"
    return subprocess.run(
        [sys.executable, "-m", "runplane.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def spawn(local: dict[str, Any], *args: str) -> subprocess.Popen:
    env = clean_env()
    env["RUNPLANE_API_URL"], env["RUNPLANE_API_KEY"] = local["api"], local["key"]
    return subprocess.Popen(
        [sys.executable, "-m", "runplane.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _paused(local: dict[str, Any]) -> str:
    made = runplane(local, "run", "What time is it?", "--function", FUNCTION, "--test", ASK_TIME, "--json")
    assert made.returncode == 0, made.stderr
    run_id = json.loads(made.stdout)["id"]
    with Runplane(local["api"], local["key"]) as client:
        client.runs.get(run_id).poll(timeout=60, interval=0.2, until={"paused"})
    return run_id


def test_run_wait_json_prints_the_finished_run_and_exits_0(local: dict[str, Any], tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps({"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]})
    )
    done = runplane(
        local, "run", "Label this", "--no-functions", "--schema", str(schema),
        "--metadata", "team=cli", "--metadata", "env=test", "--wait", "--json", "--interval", "0.2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)  # stdout is exactly one JSON document: the run as GET returns it
    assert run["status"] == "done" and isinstance(run["result"]["label"], str)
    assert run["metadata"] == {"team": "cli", "env": "test"}
    listed = runplane(local, "runs", "list", "--metadata", "team=cli", "--json")
    assert listed.returncode == 0 and [r["id"] for r in json.loads(listed.stdout)] == [run["id"]]
    got = runplane(local, "runs", "get", run["id"], "--json")
    assert json.loads(got.stdout)["id"] == run["id"]
    pretty = runplane(local, "runs", "get", run["id"])
    assert pretty.returncode == 0 and "done" in pretty.stdout and run["id"] in pretty.stdout


def test_a_failed_run_exits_1(local: dict[str, Any]) -> None:
    script = json.dumps({"modelScript": [{"error": "bad_request"}]})
    failed = runplane(local, "run", "Fail please", "--function", FUNCTION, "--test", script, "--wait", "--json")
    assert failed.returncode == 1, (failed.stdout, failed.stderr)
    assert json.loads(failed.stdout)["status"] == "failed"


def test_approve_the_pending_call_and_tail_to_done(local: dict[str, Any]) -> None:
    run_id = _paused(local)
    tail = spawn(local, "runs", "tail", run_id, "--json", "--interval", "0.2")
    try:
        approved = runplane(local, "runs", "approve", run_id, "--input", '{"timezone": "Europe/Paris"}', "--json")
        assert approved.returncode == 0, approved.stderr
        call = json.loads(approved.stdout)
        assert call["status"] == "approved" and call["input"] == {"timezone": "Europe/Paris"}
        out, err = tail.communicate(timeout=90)
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 0, err
    entries = [json.loads(line) for line in out.splitlines()]  # JSON Lines: one log entry a line
    kinds = [e["type"] for e in entries]
    assert kinds[0] == "status" and "approval-requested" in kinds and "approval-decided" in kinds
    assert [e["status"] for e in entries if e["type"] == "status"][-1] == "done"
    calls = [e for e in entries if e["type"] == "call"]
    assert calls[-1]["status"] == "succeeded" and calls[-1]["input"] == {"timezone": "Europe/Paris"}


def test_deny_with_a_reason_and_message(local: dict[str, Any]) -> None:
    run_id = _paused(local)
    denied = runplane(local, "runs", "deny", run_id, "--reason", "not now")
    assert denied.returncode == 0 and "denied" in denied.stdout
    with Runplane(local["api"], local["key"]) as client:
        run = client.runs.get(run_id).poll(timeout=60, interval=0.2)
        assert [e["reason"] for e in run.timeline() if e["type"] == "approval-decided"] == ["not now"]
    sent = runplane(local, "runs", "message", run_id, "And now?", "--json")
    assert sent.returncode == 0 and json.loads(sent.stdout)["id"] == run_id
    # nothing left to approve: a usage error (2) that says so
    nothing = runplane(local, "runs", "approve", run_id, "--timeout", "0")
    assert nothing.returncode == 2 and "no call waiting" in nothing.stderr


def test_cancel_makes_the_waiter_exit_3_and_a_timeout_exits_4(local: dict[str, Any]) -> None:
    timed_out = runplane(
        local, "run", "Time?", "--function", FUNCTION, "--test", ASK_TIME, "--wait", "--timeout", "2", "--json"
    )
    assert timed_out.returncode == 4, timed_out.stderr
    run_id = json.loads(timed_out.stdout)["id"]  # the run as last seen
    assert "after 2s" in timed_out.stderr
    tail = spawn(local, "runs", "tail", run_id, "--interval", "0.2")
    try:
        time.sleep(0.5)
        cancelled = runplane(local, "runs", "cancel", run_id, "--reason", "enough", "--json")
        assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["status"] == "cancelled"
        out, err = tail.communicate(timeout=60)
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 3, err
    assert "status → cancelled" in out
    again = runplane(local, "runs", "cancel", run_id)
    assert again.returncode == 1 and "409" in again.stderr


def test_usage_errors_exit_2(local: dict[str, Any]) -> None:
    assert runplane(local, "run").returncode == 2  # no prompt (argparse)
    bad = runplane(local, "run", "hi", "--metadata", "novalue")
    assert bad.returncode == 2 and "key=value" in bad.stderr
    missing = runplane(local, "run", "hi", "--schema", "/nonexistent/schema.json")
    assert missing.returncode == 2 and "--schema" in missing.stderr
    refused = runplane(local, "run", "hi", "--model", "no-such-model")
    assert refused.returncode == 2 and "model" in refused.stderr  # the API's 400, in words
    unauthorized = runplane(local, "runs", "list", key="sk_wrong_key_000000000000000000000000000")
    assert unauthorized.returncode == 1 and "401" in unauthorized.stderr


def test_keys_over_the_api_and_functions_list(local: dict[str, Any]) -> None:
    made = runplane(local, "keys", "create", "--name", "ci", "--kind", "consumer", "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert set(key) == {"id", "key"}
    listed = json.loads(runplane(local, "keys", "list", "--json").stdout)
    assert any(k["id"] == key["id"] and k["kind"] == "consumer" for k in listed)
    assert runplane(local, "runs", "list", "--json", key=key["key"]).returncode == 0  # the new key works
    assert runplane(local, "keys", "revoke", key["id"]).returncode == 0
    assert runplane(local, "runs", "list", key=key["key"]).returncode == 1  # revoked: 401
    functions = json.loads(runplane(local, "functions", "list", "--json").stdout)
    [fn] = [f for f in functions if f["name"] == FUNCTION]
    assert fn["requiresApproval"] is True
