"""ACP's pure logic: ids, input parts, events derived from the status history, resume decisions."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from runplane.ids import ulid
from runplane.logic import acp
from runplane.schemas import Approval, Call, Run


def a_run(**fields: Any) -> Run:
    base = {
        "id": ulid(),
        "cluster_id": "c",
        "name": "n",
        "status": "pending",
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "request_hash": "h",
        "model": "m",
        "provider": "scripted",
        "model_id": "m",
        "agent_name": "chat",
    }
    return Run(**{**base, **fields})


def test_run_ids_are_the_ulids_bits_as_a_uuid() -> None:
    for _ in range(50):
        run_id = ulid()
        assert acp.run_ulid(acp.run_uuid(run_id) or "") == run_id
    assert acp.run_uuid("my-own-run-id") is None
    with pytest.raises(acp.AcpError) as err:
        acp.run_ulid("not-a-uuid")
    assert err.value.status == 404 and err.value.code == "not_found"


def test_parts_text_images_json_and_refusals() -> None:
    stored: dict[str, bytes] = {}

    def put(key: str, data: bytes) -> str:
        stored[key] = data
        return key

    png = base64.b64encode(b"\x89PNG fake").decode()
    messages = [
        acp.AcpMessage(
            parts=[
                acp.MessagePart(content="Look"),
                acp.MessagePart(content=png, content_type="image/png", content_encoding="base64"),
                acp.MessagePart(content='{"order": "A-1"}', content_type="application/json"),
                acp.MessagePart(content_url="https://example.com/doc.pdf", content_type="application/pdf"),
            ]
        )
    ]
    parsed = acp.parse_input(messages, "runs/c/r/input", put)
    assert parsed.texts == ["Look"] and parsed.data == [{"order": "A-1"}]
    assert stored == {"runs/c/r/input/00-01.png": b"\x89PNG fake"}
    image, pdf = parsed.attachments
    assert image["source"] == {
        "type": "runplane_blob",
        "media_type": "image/png",
        "key": "runs/c/r/input/00-01.png",
        "bytes": 9,
    }
    assert pdf == {"type": "document", "source": {"type": "url", "url": "https://example.com/doc.pdf"}}
    wire = acp.resolve_blobs([{"role": "user", "content": [image]}], lambda key: stored[key])
    assert wire[0]["content"][0]["source"] == {"type": "base64", "media_type": "image/png", "data": png}

    for part, problem in [
        (acp.MessagePart(content="x", content_type="video/mp4"), "not supported"),
        (acp.MessagePart(content="plain", content_type="image/png"), "base64"),
        (acp.MessagePart(content="%%%", content_type="image/png", content_encoding="base64"), "not valid base64"),
        (acp.MessagePart(content_url="ftp://x", content_type="image/png"), "http(s)"),
    ]:
        with pytest.raises(acp.AcpError) as err:
            acp.parse_input([acp.AcpMessage(parts=[acp.MessagePart(content="hi"), part])], "k", put)
        assert err.value.code == "invalid_input" and err.value.message.startswith("input[0].parts[1]:")
        assert problem in err.value.message


def test_events_come_from_the_status_history_with_stable_ids() -> None:
    history = [
        {"sequence": 2, "status": "running", "previousStatus": "pending", "at": "2026-01-01T00:00:01.000Z"},
        {"sequence": 3, "status": "done", "previousStatus": "running", "at": "2026-01-01T00:00:02.000Z"},
    ]
    done = a_run(status="done", seq=3, history=history, result={"message": "Hi!"})
    events = acp.run_events(done, [])
    assert [(i, e["type"]) for i, e in events] == [
        ("000001.9", "run.created"),
        ("000002.9", "run.in-progress"),
        ("000003.0", "message.created"),
        ("000003.1", "message.part"),
        ("000003.8", "message.completed"),
        ("000003.9", "run.completed"),
    ]
    # The same run read earlier gave the same first events, with the same ids and contents.
    running = a_run(id=done.id, status="running", seq=2, history=history[:1])
    assert acp.run_events(running, []) == events[:2]
    assert events[-1][1]["run"]["finished_at"] == "2026-01-01T00:00:02.000Z"
    assert acp.parse_event_id("000003.1") > acp.parse_event_id("000002.9") > acp.parse_event_id(None)


def test_resume_decisions() -> None:
    call = Call(
        id="toolu_1",
        run_id="r",
        cluster_id="c",
        message_index=1,
        function="refund",
        input={"order": "7"},
        status="awaiting_approval",
        approval=Approval(requested_at="t", expires_at="u"),
        created_at="t",
        updated_at="t",
    )

    def resume(*parts: acp.MessagePart) -> list[tuple[str, bool, str | None]]:
        return acp.decisions(acp.AwaitResume(message=acp.AcpMessage(parts=list(parts))), [call])

    assert resume(acp.MessagePart(content="Approve, looks right")) == [("toolu_1", True, "looks right")]
    assert resume(acp.MessagePart(content="deny")) == [("toolu_1", False, None)]
    assert resume(acp.MessagePart(content='{"approved": false, "reason": "no"}', content_type="application/json")) == [
        ("toolu_1", False, "no")
    ]
    with pytest.raises(acp.AcpError) as err:
        resume(acp.MessagePart(content="maybe later"))
    assert err.value.code == "invalid_input" and "approve" in err.value.message
