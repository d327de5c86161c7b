"""Which run a request or a table item belongs to (the log lines' correlation id)."""

from __future__ import annotations

from runplane.handlers.correlation import run_of_item, run_of_path

RUN = "01KB3Z5X8Q2V7M4N6P9R0S1T2U"


def test_paths_that_name_a_run() -> None:
    assert run_of_path(f"/clusters/c1/runs/{RUN}") == RUN
    assert run_of_path(f"/clusters/c1/runs/{RUN}/calls/toolu_1/approval") == RUN
    assert run_of_path(f"/clusters/c1/runs/{RUN}/timeline") == RUN
    assert run_of_path(f"/clusters/c1/calls/{RUN}.toolu_01abc/result") == RUN  # Inferable's call ids
    assert run_of_path(f"/clusters/c1/blobs/{RUN}.01kb3z/data") == RUN


def test_paths_that_name_none() -> None:
    for path in ("/clusters/c1/runs", "/clusters", "/live", "/clusters/c1/calls", "", None, "/clusters/c1/runs/x"):
        assert run_of_path(path) is None, path


def test_items_of_a_run() -> None:
    assert run_of_item({"PK": f"RUN#c1#{RUN}", "SK": "RUN"}) == RUN
    assert run_of_item({"PK": f"RUN#c1#{RUN}", "SK": "CALL#toolu_1"}) == RUN
    assert run_of_item({"PK": "CLUSTER#c1", "SK": "FN#x"}) is None
    assert run_of_item(None) is None
