"""``runplane local`` keeps its data across restarts (``--data-dir``): a finished run and its
timeline, the cluster, its keys and functions are there after a stop and a start; a run that was in
flight ends ``failed`` ("local mode restarted"); SIGTERM stops it promptly; ``--fresh`` starts empty."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx

from runplane.bench_load import local_server

C = "/clusters/default"


def _wait(http: httpx.Client, run_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = http.get(f"{C}/runs/{run_id}").json()
        if run["status"] in statuses:
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def _stop(server: dict[str, Any]) -> float:
    started = time.monotonic()
    server["proc"].send_signal(signal.SIGTERM)
    assert server["proc"].wait(timeout=30) == 0
    return time.monotonic() - started


def test_restart_keeps_runs_timelines_keys_and_functions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with local_server(["--data-dir", str(data)]) as server:
        key = server["key"]
        with httpx.Client(base_url=server["url"], headers={"authorization": key}, timeout=30) as http:
            body = {"initialPrompt": "Say hello", "metadata": {"keep": "me"}, "attachedFunctions": []}
            done = http.post(f"{C}/runs", json=body).json()["id"]
            finished = _wait(http, done, {"done"})
            timeline = http.get(f"{C}/runs/{done}/timeline").json()
            log = http.get(f"{C}/runs/{done}/log").json()
            assert log["entries"], log
            put = http.put(f"{C}/functions/lookup", json={"description": "looks up", "target": {"type": "worker"}})
            assert put.status_code == 201, put.text
            # A run waiting for a worker that never comes: in flight when local mode stops.
            script = [{"toolCalls": [{"name": "lookup", "input": {}}]}, {"text": "never reached"}]
            body = {"initialPrompt": "Look it up", "attachedFunctions": ["lookup"], "test": {"modelScript": script}}
            open_run = http.post(f"{C}/runs", json=body).json()["id"]
            _wait(http, open_run, {"running"})
            deadline = time.monotonic() + 30
            while not any(e.get("type") == "call" for e in http.get(f"{C}/runs/{open_run}/log").json()["entries"]):
                assert time.monotonic() < deadline
                time.sleep(0.1)
        seconds = _stop(server)
    print(f"\nSIGTERM -> exit: {seconds:.2f} s")
    assert seconds < 10
    assert (data / "dynamodb").is_dir()

    with local_server(["--data-dir", str(data)]) as server:
        # The old key still works: keys are data too.
        with httpx.Client(base_url=server["url"], headers={"authorization": key}, timeout=30) as http:
            again = http.get(f"{C}/runs/{done}").json()
            assert {k: again[k] for k in ("status", "result", "metadata", "createdAt")} == {
                k: finished[k] for k in ("status", "result", "metadata", "createdAt")
            }
            assert http.get(f"{C}/runs/{done}/timeline").json() == timeline
            assert http.get(f"{C}/runs/{done}/log").json() == log
            failed = _wait(http, open_run, {"done", "failed", "cancelled"}, timeout=30)
            assert failed["status"] == "failed" and failed["failureReason"] == "local mode restarted"
            assert http.get(f"{C}/functions/lookup").status_code == 200
            listed = http.get(f"{C}/runs", params={"metadata.keep": "me"}).json()
            assert [r["id"] for r in listed] == [done]
        _stop(server)

    with local_server(["--data-dir", str(data), "--fresh"]) as server:
        with httpx.Client(base_url=server["url"], headers={"authorization": server["key"]}, timeout=30) as http:
            assert http.get(f"{C}/runs/{done}").status_code == 404
            assert http.get(f"{C}/runs").json() == []
        with httpx.Client(base_url=server["url"], headers={"authorization": key}, timeout=30) as http:
            assert http.get(f"{C}/runs").status_code == 401
