"""Local mode's emulator glue keeps AWS's answers: the in-process DynamoDB path (``before-call``
straight to moto's handler, ``local/dynamodb.py``) answers exactly what the emulator's HTTP endpoint
answers, errors and their modeled fields included; full garbage collections wait for an idle API
(``local/heap.py``)."""

from __future__ import annotations

import gc
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from runplane.adapters.clients import client as handler_client
from runplane.local.heap import NEVER, Collector
from runplane.local.priority import PRIORITY
from tests.support.harness import Harness


@pytest.fixture(scope="module")
def table(harness: Harness) -> str:
    return harness.scratch_table("glue", sort_key=True)


def _answer(call: Any) -> dict[str, Any]:
    """What a caller sees: the result without transport metadata, or the error's parsed body."""
    try:
        result = dict(call())
    except ClientError as exc:
        result = {k: v for k, v in exc.response.items() if k != "ResponseMetadata"}
        result["Error"] = {k: v for k, v in result["Error"].items() if k in ("Code", "Message")}
        return {"error": result}
    result.pop("ResponseMetadata", None)
    return {"ok": result}


def test_in_process_dynamodb_answers_as_the_http_endpoint(harness: Harness, table: str) -> None:
    local, http = handler_client("dynamodb"), harness.emulator.client("dynamodb")  # the other: over HTTP
    assert local.meta.endpoint_url.endswith("amazonaws.com")  # the handlers' client: in-process

    def pair(pk: str) -> list[tuple[str, Any]]:
        item = {
            "PK": {"S": pk},
            "SK": {"S": "A"},
            "n": {"N": "1"},
            "tags": {"SS": ["x", "y"]},
            "blob": {"B": b"\x00\xff"},
        }
        key = {"PK": {"S": pk}, "SK": {"S": "A"}}
        return [
            ("put", lambda c: c.put_item(TableName=table, Item=item)),
            ("get", lambda c: c.get_item(TableName=table, Key=key, ConsistentRead=True)),
            (
                "update",
                lambda c: c.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="ADD n :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                    ReturnValues="ALL_NEW",
                ),
            ),
            (
                "conditional put refused, with the item",
                lambda c: c.put_item(
                    TableName=table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(PK)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
            ),
            (
                "query",
                lambda c: c.query(
                    TableName=table,
                    KeyConditionExpression="PK = :pk",
                    ExpressionAttributeValues={":pk": {"S": pk}},
                    ConsistentRead=True,
                ),
            ),
            (
                "transaction cancelled",
                lambda c: c.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}
                    ]
                ),
            ),
            ("unknown table", lambda c: c.get_item(TableName="no-such-table", Key=key)),
            ("bad expression", lambda c: c.query(TableName=table, KeyConditionExpression="PK = ")),
            ("delete", lambda c: c.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")),
        ]

    # The same sequence on two partitions, one through each path: the answers must be the same.
    for (name, via_local), (_, via_http) in zip(pair("local"), pair("http"), strict=True):
        mine, theirs = _answer(lambda f=via_local: f(local)), _answer(lambda f=via_http: f(http))
        text = str(mine).replace("local", "P")
        assert text == str(theirs).replace("http", "P"), name
    # And the answers are what DynamoDB gives: a refused conditional put names its error and carries
    # the item it found (a modeled field of the error).
    steps = dict(pair("again"))
    assert "ok" in _answer(lambda: steps["put"](local))
    refused = _answer(lambda: steps["conditional put refused, with the item"](local))["error"]
    assert refused["Error"]["Code"] == "ConditionalCheckFailedException"
    assert refused["Item"]["n"] == {"N": "1"} and refused["Item"]["blob"] == {"B": b"\x00\xff"}


def test_full_collections_wait_for_an_idle_api() -> None:
    saved = gc.get_threshold()
    collector = Collector(idle_seconds=0.1, min_interval=0.0, max_interval=60.0)
    collector.start()
    try:
        assert gc.get_threshold()[2] == NEVER and gc.get_freeze_count() > 0
        # Busy API: no full collection, however long it lasts.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            PRIORITY.touch()
            time.sleep(0.01)
        assert collector.full_collections == 0
        # Idle API: one comes within a few of the collector's 0.25 s checks.
        deadline = time.monotonic() + 3.0
        while collector.full_collections == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert collector.full_collections >= 1
    finally:
        collector.stop()
    assert gc.get_threshold() == saved and gc.get_freeze_count() == 0


def test_concurrent_starts_of_one_name_make_one_execution(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS runs one execution per name: a second start with the same input returns the running one,
    with another input it is ExecutionAlreadyExists. Sixteen threads start each of 8 names at once.
    moto copies the state machine between its name check and the new execution's start; the copy is
    made 5 ms slower here, so that the starts overlap there every time (as they did under load)."""
    import copy
    import json
    import threading

    import moto.stepfunctions.parser.models as sfn_models

    def slow_deepcopy(*args: Any) -> Any:
        time.sleep(0.005)
        return copy.deepcopy(*args)

    monkeypatch.setattr(sfn_models, "copy", type("slow_copy", (), {"deepcopy": staticmethod(slow_deepcopy)}))

    sfn = handler_client("stepfunctions")  # the handlers' client: in-process, as Admission.start calls it
    machine = sfn.create_state_machine(
        name=f"glue-{uuid.uuid4().hex[:6]}",
        definition=json.dumps({"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 60, "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/glue",
    )["stateMachineArn"]
    names = [f"n{k}" for k in range(8)]
    answers: list[tuple[str, str, Any]] = []
    barrier = threading.Barrier(16)

    def start(i: int) -> None:
        given = '{"a": 1}' if i % 4 else '{"a": 2}'
        for name in names:
            barrier.wait()
            try:
                answer = _answer(lambda n=name: sfn.start_execution(stateMachineArn=machine, name=n, input=given))
            except Exception as exc:  # a 500 from the emulator: kept for the assertion
                answer = {"unexpected": repr(exc)}
            answers.append((name, given, answer))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(answers) == 16 * len(names)
        assert not [a for a in answers if "unexpected" in a[2]], [a for a in answers if "unexpected" in a[2]]
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        assert sorted(e["name"] for e in executions) == names, executions
        for execution in executions:
            winner = sfn.describe_execution(executionArn=execution["executionArn"])["input"]
            for name, given, answer in answers:
                if name != execution["name"]:
                    continue
                if given == winner:  # the same input: the running execution
                    assert answer["ok"]["executionArn"] == execution["executionArn"], answer
                else:
                    assert answer["error"]["Error"]["Code"] == "ExecutionAlreadyExists", answer
    finally:
        for e in sfn.list_executions(stateMachineArn=machine)["executions"]:
            sfn.stop_execution(executionArn=e["executionArn"])
