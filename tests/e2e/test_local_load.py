"""N clients against ``runplane local`` over real HTTP (the bench's concurrency scenario, small):
every acknowledged run is stored once and ends; nothing is duplicated, lost or left running."""

from __future__ import annotations

from runplane.bench_load import load, local_server

CLIENTS = 6
RUNS = 24


def test_n_clients_no_duplicate_lost_or_stuck_runs() -> None:
    with local_server(["--ephemeral"]) as server:
        report = load(server["url"], server["key"], server["pid"], CLIENTS, RUNS, wait_seconds=120)
    print(
        f"\n{CLIENTS} clients x {RUNS} runs: create p50 {report['create_ms']['p50']} ms, "
        f"p95 {report['create_ms']['p95']} ms; all terminal after {report['seconds_to_all_terminal']} s; "
        f"peak RSS {report['peak_rss_mb']} MB"
    )
    assert report["answers"] == {"201": RUNS}, report
    assert (report["duplicates"], report["lost"], report["stuck"], report["unacknowledged_stored"]) == (0, 0, 0, 0)
    assert report["stored"] == RUNS
    assert report["run_statuses"] == {"done": RUNS}
