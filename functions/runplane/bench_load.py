"""``runplane bench --scenario concurrency``: N clients create M runs over real HTTP against a
``runplane local`` process, as users would, and the run store is then read back.

Figures: create latency p50/p95 (POST, client side), time until every acknowledged run is terminal,
duplicates (runs stored for one request more than once: each request carries a unique tag in its
metadata), lost (acknowledged with a 201 but not stored), stuck (not terminal when the wait ended),
non-201 answers by status, and the local-mode process's peak RSS (``VmHWM`` from /proc). A
watchdog stops the server if its RSS passes ``rss_limit_mb`` (the report then says so).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CLUSTER = "default"
TERMINAL = {"done", "failed", "cancelled"}
TARGETS = {"duplicates": 0, "lost": 0, "stuck": 0, "create_p95_ms": 1000, "peak_rss_mb": 1536}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def local_server(extra_args: list[str] | None = None, timeout: float = 300) -> Iterator[dict[str, Any]]:
    """A ``runplane local`` subprocess on free ports; yields its API URL and pid."""
    api_port, emu_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNPLANE_", "ANTHROPIC_", "MOTO_"))}
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    key = env["RUNPLANE_API_KEY"] = f"sk_bench_{secrets.token_urlsafe(24)}"  # the banner's cluster key
    args = extra_args if extra_args is not None else ["--ephemeral"]
    cmd = [sys.executable, "-m", "runplane.cli", "local", "--port", str(api_port), "--emulator-port", str(emu_port)]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([*cmd, *args], stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            url = f"http://127.0.0.1:{api_port}"
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"runplane local exited ({proc.returncode}):\n{log.read()[-3000:]}")
                try:
                    if _request("GET", f"{url}/clusters/{CLUSTER}", key=key, timeout=5)[0] == 200:
                        break
                    raise OSError("not ready")
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("runplane local did not come up") from None
                    time.sleep(0.2)
            yield {"url": url, "pid": proc.pid, "proc": proc, "key": key}
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _request(
    method: str, url: str, body: Any = None, *, key: str, timeout: float = 120
) -> tuple[int, Any, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json", "authorization": key}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null"), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"null"), dict(exc.headers)
        except ValueError:
            return exc.code, raw.decode(errors="replace"), dict(exc.headers)


def list_all(url: str, key: str) -> list[dict[str, Any]]:
    """Every run of the cluster: pages of 50, following the ``Link: <…>; rel="next"`` header."""
    runs: list[dict[str, Any]] = []
    address = f"{url}/clusters/{CLUSTER}/runs?limit=50"
    while True:
        status, page, headers = _request("GET", address, key=key)
        if status != 200:
            raise RuntimeError(f"list runs answered {status}: {page}")
        runs += page
        link = next((v for k, v in headers.items() if k.lower() == "link"), "")
        if 'rel="next"' not in link:
            return runs
        address = url + link[link.index("<") + 1 : link.index(">")]


def load(url: str, key: str, pid: int | None, clients: int, runs: int, wait_seconds: float = 300) -> dict[str, Any]:
    """``clients`` threads create ``runs`` runs in all (over HTTP), then wait for them to end."""
    per_client = [runs // clients + (1 if i < runs % clients else 0) for i in range(clients)]
    latencies: list[float] = []
    acked: dict[str, str] = {}  # tag -> run id
    answers: dict[str, int] = {}
    lock = threading.Lock()

    def client(index: int) -> None:
        for i in range(per_client[index]):
            tag = f"c{index}-r{i}"
            t0 = time.perf_counter()
            try:
                status, payload, _ = _request(
                    "POST",
                    f"{url}/clusters/{CLUSTER}/runs",
                    {"initialPrompt": f"Say hello to visitor {tag}", "metadata": {"bench": tag}},
                    key=key,
                )
            except OSError as exc:  # timeouts, resets: the client does not know whether it was stored
                status, payload = 0, str(exc)
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                answers[str(status)] = answers.get(str(status), 0) + 1
                if status == 201:
                    acked[tag] = payload["id"]

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = time.perf_counter()

    deadline = time.monotonic() + wait_seconds
    stored: list[dict[str, Any]] = []
    all_terminal_at = None
    while True:
        stored = list_all(url, key)
        open_runs = [r for r in stored if r["status"] not in TERMINAL]
        if not open_runs and len({r["id"] for r in stored} & set(acked.values())) == len(acked):
            all_terminal_at = time.perf_counter()
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)

    by_tag: dict[str, list[dict[str, Any]]] = {}
    for run in stored:
        by_tag.setdefault((run.get("metadata") or {}).get("bench", ""), []).append(run)
    stored_ids = {r["id"] for r in stored}
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))], 1) if ordered else 0.0

    statuses: dict[str, int] = {}
    for run in stored:
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
    return {
        "clients": clients,
        "runs": runs,
        "acknowledged": len(acked),
        "answers": answers,
        "stored": len(stored),
        "duplicates": sum(len(v) - 1 for v in by_tag.values() if len(v) > 1),
        "lost": sum(1 for run_id in acked.values() if run_id not in stored_ids),
        "unacknowledged_stored": sum(1 for tag in by_tag if tag not in acked),
        "stuck": sum(1 for r in stored if r["status"] not in TERMINAL),
        "run_statuses": statuses,
        "create_ms": {"p50": pct(0.5), "p95": pct(0.95), "max": round(max(ordered, default=0.0), 1)},
        "create_seconds": round(created - started, 2),
        "seconds_to_all_terminal": round(all_terminal_at - started, 2) if all_terminal_at else None,
        "peak_rss_mb": round(_rss_kb(pid, "VmHWM") / 1024, 1) if pid else None,
    }


def scenario_concurrency(
    clients: int, runs: int, rss_limit_mb: int = 6144, server_args: list[str] | None = None
) -> dict[str, Any]:
    with local_server(server_args) as server:
        aborted: list[str] = []
        halt = threading.Event()

        def watchdog() -> None:
            while not halt.wait(0.5):
                rss = _rss_kb(server["pid"], "VmRSS") / 1024
                if rss > rss_limit_mb:
                    aborted.append(f"server RSS {rss:.0f} MB passed the {rss_limit_mb} MB limit: stopped")
                    server["proc"].kill()
                    return

        guard = threading.Thread(target=watchdog, daemon=True)
        guard.start()
        try:
            report = load(server["url"], server["key"], server["pid"], clients, runs)
        except Exception as exc:
            if not aborted:
                raise
            report = {"clients": clients, "runs": runs, "error": str(exc)[:300]}
        finally:
            halt.set()
        report["aborted"] = aborted[0] if aborted else None
        report["targets"] = TARGETS
        return report


def render(report: dict[str, Any]) -> str:
    if report.get("aborted"):
        return f"concurrency: {report['clients']} clients x {report['runs']} runs: ABORTED ({report['aborted']})"
    c = report["create_ms"]

    def ok(good: bool) -> str:
        return "ok" if good else "MISSED"

    return "\n".join(
        [
            f"concurrency: {report['clients']} clients x {report['runs']} runs over HTTP (runplane local)",
            f"  create latency       p50 {c['p50']} ms, p95 {c['p95']} ms (max {c['max']} ms)   "
            f"p95 <= {TARGETS['create_p95_ms']} ms: {ok(c['p95'] <= TARGETS['create_p95_ms'])}",
            f"  answers              {report['answers']}   acknowledged {report['acknowledged']}, "
            f"stored {report['stored']}",
            f"  all terminal after   {report['seconds_to_all_terminal']} s "
            f"(creating took {report['create_seconds']} s)   statuses {report['run_statuses']}",
            f"  duplicates {report['duplicates']}, lost {report['lost']}, stuck {report['stuck']}, "
            f"stored without a 201 {report['unacknowledged_stored']}   all 0: "
            f"{ok(report['duplicates'] == report['lost'] == report['stuck'] == 0)}",
            f"  peak RSS (server)    {report['peak_rss_mb']} MB   <= {TARGETS['peak_rss_mb']} MB: "
            f"{ok((report['peak_rss_mb'] or 0) <= TARGETS['peak_rss_mb'])}",
        ]
    )
