"""Local mode under concurrent clients: exact idempotency, no side effects from a refused request,
DynamoDB's per-item transaction semantics in the emulator, and one event per execution environment.

Requests go over real HTTP (the local API Gateway stand-in, werkzeug threaded) → Lambda Invoke →
the real API handler, so the concurrency is the one users get.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from runplane.local.emulator import ENVIRONMENTS
from tests.support.harness import Harness

TRIALS = 4
RACERS = 20


@pytest.fixture(scope="module")
def base_url(harness: Harness) -> str:
    return harness.http_server().url


def _http(base_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=60, headers={"authorization": key})


def _post_all(base_url: str, key: str, path: str, bodies: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    """POST every body at once (threads released together by a barrier)."""
    barrier = threading.Barrier(len(bodies))

    def one(body: dict[str, Any]) -> tuple[int, Any]:
        with _http(base_url, key) as http:
            barrier.wait()
            resp = http.post(path, json=body)
            return resp.status_code, resp.json()

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def _partition(harness: Harness, cluster_id: str, run_id: str) -> list[str]:
    ddb = harness.emulator.client("dynamodb")
    resp = ddb.query(
        TableName=harness.emulator.names.table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"RUN#{cluster_id}#{run_id}"}},
        ConsistentRead=True,
    )
    return sorted(item["SK"]["S"] for item in resp["Items"])


def test_one_id_different_bodies_exactly_one_201(harness: Harness, base_url: str) -> None:
    cluster = harness.cluster()
    for trial in range(TRIALS):
        run_id = f"race-{trial}-{uuid.uuid4().hex[:8]}"
        bodies = [{"id": run_id, "initialPrompt": f"Variant {i} of trial {trial}"} for i in range(RACERS)]
        answers = _post_all(base_url, harness.keys[cluster], f"/clusters/{cluster}/runs", bodies)
        statuses = sorted(status for status, _ in answers)
        assert statuses == [201] + [409] * (RACERS - 1), (trial, answers)
        winner = next(i for i, (status, _) in enumerate(answers) if status == 201)
        assert harness.get_run(cluster, run_id)["name"].startswith(f"Variant {winner} ")
        # The stored run is the winner's, and its conversation starts with the winner's prompt, once.
        first = harness.messages(cluster, run_id)[0]
        assert first.index == 0 and first.content[0]["text"] == f"Variant {winner} of trial {trial}"
        assert _partition(harness, cluster, run_id).count("MSG#000000") == 1


def test_one_id_same_body_is_one_run_and_one_execution(harness: Harness, base_url: str) -> None:
    cluster = harness.cluster()
    run_id = f"same-{uuid.uuid4().hex[:8]}"
    answers = _post_all(
        base_url,
        harness.keys[cluster],
        f"/clusters/{cluster}/runs",
        [{"id": run_id, "initialPrompt": "Hello"}] * RACERS,
    )
    assert [status for status, _ in answers] == [201] * RACERS
    assert {payload["id"] for _, payload in answers} == {run_id}
    assert harness.wait_run(cluster, run_id)["status"] == "done"
    executions = harness.sfn.list_executions(stateMachineArn=harness.emulator.state_machine_arn)["executions"]
    assert [e["name"] for e in executions].count(run_id) == 1
    history = [e for e in harness.history(run_id) if e["type"] == "ExecutionStarted"]
    assert len(history) == 1


def test_refused_creates_have_no_side_effects_on_other_clusters(harness: Harness, base_url: str) -> None:
    """One client keeps re-sending a create whose id is taken (with another body) while another
    client creates 32 runs in another cluster: every refusal is a 409, all 32 runs exist and finish."""
    taken_cluster, busy_cluster = harness.cluster(), harness.cluster()
    taken = harness.create_run(taken_cluster, {"id": f"taken-{uuid.uuid4().hex[:8]}", "initialPrompt": "First"})
    harness.wait_run(taken_cluster, taken)
    before = _partition(harness, taken_cluster, taken)
    done = threading.Event()
    refusals: list[int] = []

    def resend() -> None:
        with _http(base_url, harness.keys[taken_cluster]) as http:
            while not done.is_set():
                body = {"id": taken, "initialPrompt": f"Another body {len(refusals)}"}
                refusals.append(http.post(f"/clusters/{taken_cluster}/runs", json=body).status_code)

    def create(i: int) -> str:
        with _http(base_url, harness.keys[busy_cluster]) as http:
            resp = http.post(f"/clusters/{busy_cluster}/runs", json={"initialPrompt": f"Run {i}"})
            assert resp.status_code == 201, resp.text
            return str(resp.json()["id"])

    threads = [threading.Thread(target=resend) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            created = list(pool.map(create, range(32)))
    finally:
        done.set()
        for t in threads:
            t.join()
    finished = [harness.wait_run(busy_cluster, run_id) for run_id in created]
    assert refusals and set(refusals) == {409}, refusals
    assert [r["status"] for r in finished] == ["done"] * 32
    status, listed = harness.api("GET", f"/clusters/{busy_cluster}/runs", query={"limit": "50"})
    assert status == 200 and sorted(r["id"] for r in listed) == sorted(created)
    assert _partition(harness, taken_cluster, taken) == before


@pytest.fixture(scope="module")
def scratch_table(harness: Harness) -> str:
    return harness.scratch_table("scratch", stream=True)


def _ddb(harness: Harness) -> Any:
    # One session per thread: boto3's default session is not thread-safe to create clients from.
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=harness.emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_a_failed_transaction_writes_nothing_and_undoes_nobody(harness: Harness, scratch_table: str) -> None:
    ddb = _ddb(harness)
    ddb.put_item(TableName=scratch_table, Item={"PK": {"S": "exists"}})
    streams = harness.emulator.client("dynamodbstreams")
    stream_arn = ddb.describe_table(TableName=scratch_table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def records() -> int:
        it = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        return len(streams.get_records(ShardIterator=it["ShardIterator"], Limit=1000)["Records"])

    seen = records()
    failing = [
        {"Put": {"TableName": scratch_table, "Item": {"PK": {"S": "fresh"}}}},
        {
            "Put": {
                "TableName": scratch_table,
                "Item": {"PK": {"S": "exists"}},
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        },
    ]
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(TransactItems=failing)
    reasons = [r["Code"] for r in err.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert "Item" not in ddb.get_item(TableName=scratch_table, Key={"PK": {"S": "fresh"}}, ConsistentRead=True)
    assert records() == seen  # nothing committed, nothing in the stream

    # Failing transactions in a loop while other clients write 40 items: all 40 stay.
    stop = threading.Event()
    cancelled: list[int] = []

    def fail_repeatedly() -> None:
        client = _ddb(harness)
        while not stop.is_set():
            try:
                client.transact_write_items(TransactItems=failing)
            except ClientError:
                cancelled.append(1)

    per_thread = threading.local()

    def write(i: int) -> None:
        if not hasattr(per_thread, "client"):
            per_thread.client = _ddb(harness)
        # Interleave: the i-th write waits until about i/4 transactions have failed.
        deadline = time.monotonic() + 10
        while len(cancelled) < i // 4 and time.monotonic() < deadline:
            time.sleep(0.001)
        per_thread.client.put_item(TableName=scratch_table, Item={"PK": {"S": f"item-{i}"}})

    failer = threading.Thread(target=fail_repeatedly)
    failer.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(write, range(40)))
    finally:
        stop.set()
        failer.join()
    assert len(cancelled) >= 39 // 4  # the last write waited for that many
    keys = {i["PK"]["S"] for i in ddb.scan(TableName=scratch_table, ConsistentRead=True)["Items"]}
    assert keys == {"exists"} | {f"item-{i}" for i in range(40)}


def test_a_successful_transaction_writes_all_its_items(harness: Harness, scratch_table: str) -> None:
    ddb = _ddb(harness)
    ddb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": scratch_table,
                    "Item": {"PK": {"S": "t-a"}},
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {"Put": {"TableName": scratch_table, "Item": {"PK": {"S": "t-b"}, "n": {"N": "1"}}}},
        ]
    )
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": scratch_table,
                    "Key": {"PK": {"S": "t-b"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": scratch_table, "Key": {"PK": {"S": "t-a"}}}},
        ]
    )
    assert "Item" not in ddb.get_item(TableName=scratch_table, Key={"PK": {"S": "t-a"}})
    assert ddb.get_item(TableName=scratch_table, Key={"PK": {"S": "t-b"}})["Item"]["n"] == {"N": "2"}


def test_concurrent_requests_never_share_a_resolver(harness: Harness, base_url: str) -> None:
    """Each concurrent invocation gets its own execution environment (its own resolver): no 500s,
    and every answer is the answer to its own request."""
    cluster = harness.cluster()
    runs = [harness.create_run(cluster, {"initialPrompt": f"Hello {i}"}) for i in range(4)]
    requests: list[tuple[str, str, Any]] = []
    for i in range(64):
        kind = i % 4
        if kind == 0:
            requests.append(("GET", f"/clusters/{cluster}/runs/{runs[i % len(runs)]}", runs[i % len(runs)]))
        elif kind == 1:
            requests.append(("GET", f"/clusters/{cluster}", cluster))
        elif kind == 2:
            requests.append(("GET", f"/clusters/{cluster}/runs/no-such-{i}", None))
        else:
            requests.append(("POST", f"/clusters/{cluster}/runs", f"Concurrent {i}"))
    barrier = threading.Barrier(16)

    def send(chunk: list[tuple[str, str, Any]]) -> list[tuple[int, Any, Any, str]]:
        out = []
        with _http(base_url, harness.keys[cluster]) as http:
            barrier.wait()
            for method, path, expect in chunk:
                body = {"initialPrompt": expect} if method == "POST" else None
                resp = http.request(method, path, json=body)
                out.append((resp.status_code, resp.json(), expect, method))
        return out

    with ThreadPoolExecutor(16) as pool:
        results = [r for chunk in pool.map(send, [requests[i::16] for i in range(16)]) for r in chunk]
    assert not [r for r in results if r[0] >= 500], [r for r in results if r[0] >= 500][:3]
    for status, payload, expect, method in results:
        if method == "POST":
            assert status == 201, payload
        elif expect is None:
            assert status == 404, payload
        else:
            assert status == 200 and payload["id"] == expect, (expect, payload)
    assert ENVIRONMENTS.count("runplane.handlers.api.handler") > 1
