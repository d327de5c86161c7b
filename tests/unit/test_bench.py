"""``runplane bench`` end to end (small N): the figures that the ASL fixes exactly."""

from __future__ import annotations

import argparse
import json
from typing import Any

from runplane import bench, resources

TERMINAL = "RunFinished"


def loop(turns: int) -> list[str]:
    # agent_loop.asl.json, no tools: each model turn is the ModelTurn Task + the Route Choice.
    return ["ModelTurn", "Route"] * turns + [TERMINAL]


def test_bench_json_figures(capsys: Any) -> None:
    assert bench.main(argparse.Namespace(runs=3, json=True, import_repeats=1)) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    report = json.loads(lines[-1])
    scenarios = report["scenarios"]

    one, repair, long_run = scenarios["one_turn"], scenarios["repair"], scenarios["long_conversation"]
    assert (one["status"], repair["status"], long_run["status"]) == ("done", "done", "done")
    assert (one["model_turns"], repair["model_turns"], long_run["model_turns"]) == (1, 3, 6)
    assert one["states_entered"] == loop(1)
    assert repair["states_entered"] == loop(3)
    assert long_run["states_entered"] == loop(6)

    tools = report["scenarios"]["tools"]
    assert report["loop_transitions_per_turn"] == {"one_turn": 2, "repair": 2, "long_conversation": 2, "tools": 5.5}
    assert report["transitions_per_run"] == {"one_turn": 3, "repair": 7, "long_conversation": 13, "tools": 12}
    # a turn with k tool calls: ModelTurn, Route, ToolCalls + (CallRoute, RunCall) per call = 3 + 2k
    assert tools["transitions_tool_turn"] == tools["target_tool_turn"] == 3 + 2 * tools["tool_calls"]
    assert report["transitions_per_turn"]["one_turn"] == 3
    assert report["transitions_per_turn"]["repair"] == round(7 / 3, 3)
    assert report["lambda_invocations_per_turn"] == {"one_turn": 1, "repair": 1, "long_conversation": 1, "tools": 2.5}

    assert long_run["conversation_bytes"] > 1_000_000
    assert long_run["messages_offloaded_to_s3"] == 6
    assert report["max_state_payload_bytes"] <= 8192
    assert report["api_imports_anthropic"] is False
    assert {"api", "agent_step", "stream"} <= set(report["cold_import_ms"])
    # Cold imports: every handler, the agent step's first turn and the boto3 baseline, as ratios to it.
    ratios = report["cold_import_ratio_to_boto3"]
    assert set(ratios) == {"boto3", "agent_step_first_turn", *resources.FUNCTIONS}
    assert ratios["boto3"] == 1.0 and all(r > 0 for r in ratios.values())
    assert "CPU time" in report["import_method"] and ".pyc present" in report["import_method"]
    # anthropic: only the first model turn loads it; no Lambda's import does.
    assert {k for k, v in report["imports_anthropic"].items() if v} == {"agent_step_first_turn"}

    throughput = scenarios["throughput"]
    assert throughput["run_statuses"] == {"done": 3}
    assert throughput["state_transitions"] == [3]
    assert report["runs_per_second"] > 0
