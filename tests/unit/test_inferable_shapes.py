"""Inferable's references, mock keys, call ids and message shapes (pure functions)."""

from __future__ import annotations

import pytest

from runplane.errors import NotFound
from runplane.logic.contract import messages_view
from runplane.logic.services import call_error_text, split_call_id
from runplane.schemas import FunctionReference, Message, Run, function_name, mock_key
from runplane.status import RunStatus


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("lookup", "lookup"),
        (FunctionReference(service="orders", function="lookup"), "orders_lookup"),
        (FunctionReference(service="runplane", function="current_time"), "current_time"),
        (FunctionReference(function="current_time"), "current_time"),
    ],
)
def test_function_references(ref: str | FunctionReference, name: str) -> None:
    assert function_name(ref) == name


def test_mock_keys() -> None:
    assert mock_key("orders_lookup") == "orders_lookup"
    assert mock_key("runplane_current_time") == "current_time"
    assert mock_key("current_time") == "current_time"


def test_call_ids_carry_their_run() -> None:
    assert split_call_id("01RUN.toolu_1") == ("01RUN", "toolu_1")
    for bad in ("nodot", ".x", "x."):
        with pytest.raises(NotFound):
            split_call_id(bad)


def test_rejections_read_as_name_and_message() -> None:
    assert call_error_text({"name": "TypeError", "message": "bad", "stack": "..."}) == "TypeError: bad"
    assert call_error_text("plain") == "plain"
    assert call_error_text([1]) == "[1]"


def _run(**fields: object) -> Run:
    base: dict[str, object] = {
        "id": "r1",
        "cluster_id": "c",
        "name": "n",
        "status": RunStatus.DONE,
        "created_at": "t",
        "updated_at": "t",
        "request_hash": "h",
        "model": "m",
        "provider": "scripted",
        "model_id": "m",
        "result": {"category": "billing"},
    }
    base.update(fields)
    return Run.model_validate(base)


def test_messages_in_the_contracts_types() -> None:
    msgs = [
        Message(index=0, role="user", kind="human", content=[{"type": "text", "text": "hi"}], created_at="t0"),
        Message(
            index=1,
            role="assistant",
            kind="agent",
            content=[
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "tu1", "name": "orders_lookup", "input": {"id": 1}},
            ],
            created_at="t1",
        ),
        Message(
            index=2,
            role="user",
            kind="tool-result",
            content=[{"type": "tool_result", "tool_use_id": "tu1", "content": "[1, 2]", "is_error": False}],
            created_at="t2",
        ),
        Message(
            index=3,
            role="assistant",
            kind="agent",
            content=[
                {
                    "type": "tool_use",
                    "id": "tu2",
                    "name": "final_result",
                    "input": {"result": {"category": "billing"}, "summary": "Billing."},
                }
            ],
            created_at="t3",
        ),
    ]
    out = messages_view(_run(), msgs)
    assert [m["type"] for m in out] == ["human", "agent", "invocation-result", "agent"]
    assert out[1]["data"]["invocations"] == [
        {"id": "r1.tu1", "toolName": "orders_lookup", "input": {"id": 1}, "reasoning": "Looking."}
    ]
    assert out[2]["data"] == {"id": "r1.tu1", "result": {"value": [1, 2]}}
    assert out[3]["data"] == {"result": {"category": "billing"}, "message": "Billing.", "done": True}
    assert [m["id"] for m in out] == sorted(m["id"] for m in out)
