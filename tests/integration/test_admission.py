"""Bounded concurrency: caps on runs holding a slot, per deployment and per cluster (logic/admission.py).

The emulator runs with a deployment cap of 5 and a per-cluster cap of 3. Runs hold their slot while
paused on an approval, so the tests decide when a slot frees (no sleeps). "At most N at once" is
proved from the table's change log: the emulator's DynamoDB stream is one shard in commit order, so
replaying it gives every run's status at every moment.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from runplane.handlers import wiring
from tests.conftest import emulator_settings
from tests.support.harness import Harness
from tests.support.tool_server import ToolServer

DEPLOYMENT_CAP = 5
CLUSTER_CAP = 3
HOLDING = {"running", "paused"}


@pytest.fixture(scope="module")
def emulator_env(tools: ToolServer) -> dict[str, str]:
    return emulator_settings(
        RUNPLANE_LOOPBACK_HTTP_ORIGINS=tools.url,
        RUNPLANE_MAX_RUNNING=str(DEPLOYMENT_CAP),
        RUNPLANE_MAX_RUNNING_PER_CLUSTER=str(CLUSTER_CAP),
    )


def held_cluster(harness: Harness, tools: ToolServer) -> str:
    """A cluster whose runs call ``hold`` (which needs an approval) once, then finish."""
    cluster = harness.cluster()
    harness.put_function(
        cluster, "hold", {"requiresApproval": True, "target": {"type": "http", "url": tools.url + "/echo"}}
    )
    return cluster


def held_run(harness: Harness, cluster: str, name: str) -> str:
    return harness.create_run(
        cluster,
        {
            "name": name,
            "initialPrompt": f"run {name}",
            "test": {"modelScript": [{"toolCalls": [{"name": "hold", "input": {"n": name}}]}, {"text": "done"}]},
        },
    )


def statuses(harness: Harness, cluster: str, run_ids: list[str]) -> dict[str, str]:
    return {r: harness.get_run(cluster, r)["status"] for r in run_ids}


def explain(harness: Harness, cluster: str, run_ids: list[str]) -> dict[str, Any]:
    """What a failed assertion should show: each run's status history, execution and calls."""
    out: dict[str, Any] = {}
    for r in run_ids:
        run = harness.store().get_run(cluster, r)
        try:
            execution = harness.sfn.describe_execution(executionArn=harness.execution_arn(r))["status"]
        except ClientError as exc:
            execution = exc.response["Error"]["Code"]
        out[r] = {
            "history": [(h["status"], h.get("at")) for h in run.history],
            "execution": (run.execution_name, execution),
            "calls": [(c.id, c.status, bool(c.task_token)) for c in harness.calls(cluster, r)],
        }
    return out


def settle(harness: Harness, cluster: str, run_ids: list[str], held: int, timeout: float = 30) -> dict[str, Any]:
    """Wait until exactly ``held`` of the runs are paused on their approval and every other one is
    pending (waiting) or finished; returns {run id: run}."""
    deadline = time.monotonic() + timeout
    while True:
        runs = {r: harness.get_run(cluster, r) for r in run_ids}
        paused = [r for r, run in runs.items() if run["status"] == "paused" and run["pendingApprovals"]]
        moving = [
            r
            for r, run in runs.items()
            if run["status"] == "running" or (run["status"] == "paused" and r not in paused)
        ]
        if len(paused) == held and not moving:
            return runs
        assert time.monotonic() < deadline, {r: run["status"] for r, run in runs.items()}
        time.sleep(0.05)


def approve(harness: Harness, cluster: str, run: dict[str, Any]) -> None:
    call_id = run["pendingApprovals"][0]["callId"]
    status, body = harness.api(
        "POST", f"/clusters/{cluster}/runs/{run['id']}/calls/{call_id}/approval", {"approved": True}
    )
    assert status == 200, body


def execution_exists(harness: Harness, run_id: str) -> bool:
    try:
        harness.sfn.describe_execution(executionArn=harness.execution_arn(run_id))
        return True
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ExecutionDoesNotExist"
        return False


def changes(harness: Harness) -> list[dict[str, Any]]:
    """Every committed write to a run item, in commit order: (run id, cluster, old status, new status)."""
    from runplane.adapters.dynamo import deserialize

    streams = harness.emulator.client("dynamodbstreams")
    arn = harness.emulator.table_stream_arn
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    out: list[dict[str, Any]] = []
    while iterator:
        resp = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in resp["Records"]:
            data = record["dynamodb"]
            new = deserialize(data["NewImage"]) if data.get("NewImage") else None
            old = deserialize(data["OldImage"]) if data.get("OldImage") else None
            item = new or old or {}
            if item.get("type") != "run":
                continue
            out.append(
                {
                    "run": item["id"],
                    "cluster": item["clusterId"],
                    "old": old.get("status") if old else None,
                    "new": new.get("status") if new else None,
                }
            )
        if not resp["Records"]:
            break
        iterator = resp.get("NextShardIterator")
    return out


def most_at_once(log: list[dict[str, Any]], clusters: set[str]) -> int:
    """The largest number of the clusters' runs that were running or paused at one moment."""
    current: dict[str, str | None] = {}
    most = 0
    for change in log:
        if change["cluster"] in clusters:
            current[change["run"]] = change["new"]
            most = max(most, sum(1 for s in current.values() if s in HOLDING))
    return most


def admissions(log: list[dict[str, Any]], cluster: str) -> list[str]:
    """The cluster's runs in the order they were first admitted (pending → running)."""
    order: list[str] = []
    for change in log:
        admitted = change["old"] == "pending" and change["new"] == "running"
        if change["cluster"] == cluster and admitted and change["run"] not in order:
            order.append(change["run"])
    return order


def slots(counter: str) -> int:
    return int(wiring.store().slots_in_use(counter))


def test_n_plus_5_runs_against_a_cap_of_n_all_finish_at_most_n_at_once_in_order(
    harness: Harness, tools: ToolServer
) -> None:
    cluster = held_cluster(harness, tools)
    runs = [held_run(harness, cluster, f"r{i}") for i in range(CLUSTER_CAP + 5)]
    first = settle(harness, cluster, runs, held=CLUSTER_CAP)
    # The cap is reached: the first N hold their slots, the other 5 wait with no execution at all.
    assert [first[r]["status"] for r in runs] == ["paused"] * CLUSTER_CAP + ["pending"] * 5
    assert not any(execution_exists(harness, r) for r in runs[CLUSTER_CAP:])
    assert slots(f"cluster/{cluster}") == CLUSTER_CAP
    deadline = time.monotonic() + 60
    while True:  # approve whatever is paused, until every run is done
        now = {r: harness.get_run(cluster, r) for r in runs}
        if all(run["status"] == "done" for run in now.values()):
            break
        for run in now.values():
            if run["status"] == "paused" and run["pendingApprovals"]:
                approve(harness, cluster, run)
        assert time.monotonic() < deadline, {r: run["status"] for r, run in now.items()}
        time.sleep(0.05)
    log = changes(harness)
    assert most_at_once(log, {cluster}) == CLUSTER_CAP  # reached, never exceeded
    assert admissions(log, cluster) == runs  # FIFO by creation
    assert slots(f"cluster/{cluster}") == 0 and slots("deployment") == 0  # every slot came back
    for r in runs:  # and each run gave it back in the write that finished it
        assert harness.store().get_run(cluster, r).slots == []


def test_a_full_cluster_does_not_block_others_and_the_deployment_cap_holds(harness: Harness, tools: ToolServer) -> None:
    a, b = held_cluster(harness, tools), held_cluster(harness, tools)
    a_runs = [held_run(harness, a, f"a{i}") for i in range(CLUSTER_CAP + 2)]  # 3 admitted, 2 wait
    settle(harness, a, a_runs, held=CLUSTER_CAP)
    b_runs = [held_run(harness, b, f"b{i}") for i in range(3)]  # the deployment has 2 slots left
    settle(harness, b, b_runs, held=2)
    assert statuses(harness, b, b_runs) == {b_runs[0]: "paused", b_runs[1]: "paused", b_runs[2]: "pending"}
    assert slots("deployment") == DEPLOYMENT_CAP
    # A slot of b frees: a's waiting runs are older, but a is at its own cap; b2 gets the slot.
    approve(harness, b, harness.get_run(b, b_runs[0]))
    harness.wait_run(b, b_runs[0])
    settle(harness, b, b_runs, held=2)
    assert statuses(harness, a, a_runs[CLUSTER_CAP:]) == {r: "pending" for r in a_runs[CLUSTER_CAP:]}
    # A slot of a frees: its oldest waiting run (a3) takes it.
    approve(harness, a, harness.get_run(a, a_runs[0]))
    harness.wait_run(a, a_runs[0])
    settle(harness, a, a_runs, held=CLUSTER_CAP)
    assert harness.get_run(a, a_runs[3])["status"] == "paused"
    assert harness.get_run(a, a_runs[4])["status"] == "pending"
    # Let everything finish.
    pending = {(a, r) for r in a_runs} | {(b, r) for r in b_runs}
    deadline = time.monotonic() + 60
    while pending:
        for cluster, r in sorted(pending):
            run = harness.get_run(cluster, r)
            if run["status"] == "done":
                pending.discard((cluster, r))
            elif run["status"] == "paused" and run["pendingApprovals"]:
                approve(harness, cluster, run)
        assert time.monotonic() < deadline, pending
        time.sleep(0.05)
    log = changes(harness)
    assert most_at_once(log, {a}) == CLUSTER_CAP and most_at_once(log, {b}) == 2
    assert most_at_once(log, {a, b}) == DEPLOYMENT_CAP
    assert admissions(log, a) == a_runs and admissions(log, b) == b_runs
    assert slots("deployment") == 0 and slots(f"cluster/{a}") == 0 and slots(f"cluster/{b}") == 0


def test_cancelled_waiting_run_never_starts_and_cancelled_running_run_frees_its_slot(
    harness: Harness, tools: ToolServer
) -> None:
    cluster = held_cluster(harness, tools)
    runs = [held_run(harness, cluster, f"c{i}") for i in range(CLUSTER_CAP + 2)]
    settle(harness, cluster, runs, held=CLUSTER_CAP)
    waiting, next_up = runs[CLUSTER_CAP], runs[CLUSTER_CAP + 1]
    status, body = harness.api("POST", f"/clusters/{cluster}/runs/{waiting}/cancel", {"reason": "not needed"})
    assert status == 200 and body["status"] == "cancelled", body
    assert slots(f"cluster/{cluster}") == CLUSTER_CAP  # a waiting run held no slot
    # Cancel a paused (admitted) run: its slot goes to the next waiting run, not the cancelled one.
    status, body = harness.api("POST", f"/clusters/{cluster}/runs/{runs[0]}/cancel")
    assert status == 200 and body["status"] == "cancelled", body
    settle(harness, cluster, runs, held=CLUSTER_CAP)
    assert harness.get_run(cluster, next_up)["status"] == "paused"
    assert harness.get_run(cluster, waiting)["status"] == "cancelled"
    assert not execution_exists(harness, waiting)
    assert [h["status"] for h in harness.store().get_run(cluster, waiting).history] == ["cancelled"]
    assert slots(f"cluster/{cluster}") == CLUSTER_CAP
    for r in [*runs[1:CLUSTER_CAP], next_up]:
        harness.api("POST", f"/clusters/{cluster}/runs/{r}/cancel")
    assert slots(f"cluster/{cluster}") == 0 and slots("deployment") == 0
    assert not execution_exists(harness, waiting)


def test_a_follow_up_waits_for_a_slot_when_the_cluster_is_full(harness: Harness, tools: ToolServer) -> None:
    cluster = held_cluster(harness, tools)
    finished = harness.run_to_end(
        cluster, {"initialPrompt": "hello", "test": {"modelScript": [{"text": "hi"}, {"text": "again"}]}}
    )
    assert finished["status"] == "done"
    holders = [held_run(harness, cluster, f"f{i}") for i in range(CLUSTER_CAP)]
    settle(harness, cluster, holders, held=CLUSTER_CAP)
    status, body = harness.api("POST", f"/clusters/{cluster}/runs/{finished['id']}/messages", {"message": "more"})
    assert status in (200, 201), body
    assert harness.get_run(cluster, finished["id"])["status"] == "pending"  # waits: no slot free
    approve(harness, cluster, harness.get_run(cluster, holders[0]))
    again = harness.wait_run(cluster, finished["id"], timeout=30)
    assert again["status"] == "done"
    history = [h["status"] for h in harness.store().get_run(cluster, finished["id"]).history]
    assert history == ["running", "done", "pending", "running", "done"]
    for r in holders[1:]:
        harness.api("POST", f"/clusters/{cluster}/runs/{r}/cancel")
    harness.wait_run(cluster, holders[0])
    assert slots(f"cluster/{cluster}") == 0 and slots("deployment") == 0


def test_the_sweep_admits_a_run_whose_trigger_was_lost(harness: Harness, tools: ToolServer) -> None:
    """A run queued by a writer that died before it dispatched: the periodic sweep admits it."""
    cluster = harness.cluster()
    run = harness.write_run_only(cluster, "sweep", "pending", queued=True)
    lam = harness.emulator.client("lambda")
    out = lam.invoke(FunctionName=harness.emulator.names.function("admission"), Payload=b"{}")
    assert "FunctionError" not in out
    assert harness.wait_run(cluster, run.id)["status"] == "done"
    assert slots(f"cluster/{cluster}") == 0


def test_an_execution_that_timed_out_frees_its_slot_through_reconcile(harness: Harness, tools: ToolServer) -> None:
    import json

    cluster = held_cluster(harness, tools)
    runs = [held_run(harness, cluster, f"t{i}") for i in range(CLUSTER_CAP + 1)]
    settle(harness, cluster, runs, held=CLUSTER_CAP)
    timed_out = harness.store().get_run(cluster, runs[0])
    event = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": harness.execution_arn(timed_out.id),
            "stateMachineArn": harness.emulator.state_machine_arn,
            "name": timed_out.execution_name,
            "status": "TIMED_OUT",
            "input": json.dumps({"runId": timed_out.id, "clusterId": cluster}),
            "error": "States.Timeout",
        },
    }
    resp = harness.emulator.client("lambda").invoke(
        FunctionName=harness.emulator.names.function("reconcile"), Payload=json.dumps(event)
    )
    answer = json.loads(resp["Payload"].read())
    assert answer == {"changed": True}, (answer, timed_out, explain(harness, cluster, runs))
    assert harness.get_run(cluster, runs[0])["status"] == "failed"
    # its slot went to the waiting run (the outbox saw the run give it back)
    try:
        settle(harness, cluster, runs, held=CLUSTER_CAP)
    except AssertionError as exc:
        raise AssertionError((exc, explain(harness, cluster, runs))) from None
    assert harness.get_run(cluster, runs[CLUSTER_CAP])["status"] == "paused"
    assert slots(f"cluster/{cluster}") == CLUSTER_CAP
    for r in runs[1:]:
        harness.api("POST", f"/clusters/{cluster}/runs/{r}/cancel")
    assert slots(f"cluster/{cluster}") == 0 and slots("deployment") == 0
