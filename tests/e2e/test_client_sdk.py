"""The Python client SDK against `runplane local` over HTTP: create → poll into a pydantic model,
approve (edited input), deny, message, cancel, typed errors, list pagination, and the async twin."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from runplane import AsyncRunplane, Runplane
from runplane.client import BadRequest, Conflict, Forbidden, NotFound, RunTimeout, Unauthorized
from tests.support.local_process import local_mode

APPROVAL_FUNCTION = "current_time"  # a builtin, registered here with requiresApproval
ASK_TIME = {"modelScript": [{"toolCalls": [{"name": APPROVAL_FUNCTION, "input": {"timezone": "UTC"}}]}]}


class Ticket(BaseModel):
    category: str
    priority: int


@pytest.fixture(scope="module")
def local() -> Iterator[dict[str, Any]]:
    with local_mode() as info:
        with Runplane(info["api"], info["key"]) as client:
            client.functions.put(
                APPROVAL_FUNCTION,
                {
                    "description": "The time, once a person agrees",
                    "requiresApproval": True,
                    "target": {"type": "builtin"},
                },
            )
        yield info


@pytest.fixture()
def client(local: dict[str, Any]) -> Iterator[Runplane]:
    with Runplane(local["api"], local["key"]) as c:
        yield c


def _approval_run(client: Runplane) -> Any:
    run = client.runs.create("What time is it?", attached_functions=[APPROVAL_FUNCTION], test=ASK_TIME)
    return run.poll(timeout=60, interval=0.2, until={"paused", "done", "failed", "cancelled"})


def test_create_then_poll_parses_the_result_into_the_model(client: Runplane) -> None:
    run = client.runs.create(
        "Classify: my card was charged twice", result_schema=Ticket, attached_functions=[], metadata={"team": "sdk"}
    )
    assert run.status in ("pending", "running", "done")
    done = run.poll(timeout=60, interval=0.2)
    assert done.status == "done", done.raw
    assert isinstance(done.result, Ticket)
    assert done.raw["resultSchema"]["properties"]["category"]["type"] == "string"
    assert done.metadata == {"team": "sdk"}
    assert done.usage["inputTokens"] > 0
    again = client.runs.get(done.id, result_model=Ticket)
    assert again.result == done.result


def test_approve_with_edited_input(client: Runplane) -> None:
    run = _approval_run(client)
    assert run.status == "paused", run.raw
    [pending] = run.pending_approvals
    assert pending["function"] == APPROVAL_FUNCTION and pending["input"] == {"timezone": "UTC"}
    decided = run.approve(input={"timezone": "Europe/Paris"})  # the one pending call
    assert decided["status"] == "approved" and decided["input"] == {"timezone": "Europe/Paris"}
    assert run.poll(timeout=60, interval=0.2).status == "done"
    entries = run.timeline()
    [decision] = [e for e in entries if e["type"] == "approval-decided"]
    assert decision["approved"] is True and decision["editedInput"] == {"timezone": "Europe/Paris"}
    assert decision["decidedBy"]  # the key that decided
    [call] = [e for e in entries if e["type"] == "call"]
    assert call["status"] == "succeeded" and call["input"] == {"timezone": "Europe/Paris"}
    with pytest.raises(Conflict):  # decided already
        run.approve(pending["callId"])


def test_deny_with_a_reason_then_a_follow_up_message(client: Runplane) -> None:
    run = _approval_run(client)
    assert run.status == "paused"
    run.deny(reason="not during the freeze")
    assert run.poll(timeout=60, interval=0.2).status == "done"
    [decision] = [e for e in run.timeline() if e["type"] == "approval-decided"]
    assert decision["approved"] is False and decision["reason"] == "not during the freeze"
    run.message("Thanks. Anything else?")
    assert run.poll(timeout=60, interval=0.2).status == "done"
    humans = [e for e in run.timeline() if e["type"] == "message" and e["kind"] == "human"]
    assert len(humans) == 2 and humans[1]["content"][0]["text"] == "Thanks. Anything else?"


def test_cancel_while_waiting_for_approval(client: Runplane) -> None:
    run = _approval_run(client)
    assert run.status == "paused"
    run.cancel("changed my mind")
    assert run.status == "cancelled" and run.raw["cancelReason"] == "changed my mind"
    with pytest.raises(Conflict):
        run.cancel()


def test_poll_timeout_names_the_run(client: Runplane) -> None:
    run = _approval_run(client)
    with pytest.raises(RunTimeout) as caught:
        run.poll(timeout=0.3, interval=0.1)
    assert caught.value.run.id == run.id and run.id in str(caught.value)
    run.cancel()


def test_typed_errors(local: dict[str, Any], client: Runplane) -> None:
    with pytest.raises(NotFound):
        client.runs.get("no_such_run_here")
    with pytest.raises(BadRequest) as bad:
        client.runs.create("hello", model="no-such-model")
    assert bad.value.status == 400 and bad.value.errors and bad.value.errors[0]["field"] == "model"
    with Runplane(local["api"], "sk_not_a_key_at_all_0000000000000000000") as stranger, pytest.raises(Unauthorized):
        stranger.runs.get("whatever")
    with Runplane(local["api"], local["admin"]) as admin, pytest.raises(Forbidden):  # admin keys run no agents
        admin.runs.create("hello")


class CountingTransport(httpx.HTTPTransport):
    """A real HTTP transport that counts the requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(f"{request.method} {request.url.path}?{request.url.query.decode()}")
        return super().handle_request(request)


def test_list_follows_every_page(local: dict[str, Any]) -> None:
    batch = uuid.uuid4().hex[:12]
    transport = CountingTransport()
    with Runplane(local["api"], local["key"], transport=transport) as client:
        made = [client.runs.create(f"run {i}", attached_functions=[], metadata={"batch": batch}).id for i in range(12)]
        transport.paths.clear()
        listed = list(client.runs.list(metadata={"batch": batch}, page_size=10))
        assert [r.id for r in listed] == list(reversed(made))  # every run once, newest first
        assert all(r.metadata == {"batch": batch} for r in listed)
        pages = [p for p in transport.paths if p.startswith("GET /clusters/default/runs?")]
        assert len(pages) == 2 and "cursor=" in pages[1]
        assert len(list(client.runs.list(metadata={"batch": "nothing-" + batch}))) == 0


def test_async_twin_does_the_same(local: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with AsyncRunplane(local["api"], local["key"]) as client:
            run = await client.runs.create("Classify this", result_schema=Ticket, attached_functions=[])
            done = await run.poll(timeout=60, interval=0.2)
            assert done.status == "done" and isinstance(done.result, Ticket)

            paused = await client.runs.create("Time?", attached_functions=[APPROVAL_FUNCTION], test=ASK_TIME)
            await paused.poll(timeout=60, interval=0.2, until={"paused"})
            await paused.approve(input={"timezone": "Asia/Tokyo"})
            assert (await paused.poll(timeout=60, interval=0.2)).status == "done"
            entries = await paused.timeline()
            assert [e["editedInput"] for e in entries if e["type"] == "approval-decided"] == [
                {"timezone": "Asia/Tokyo"}
            ]

            denied = await client.runs.create("Time?", attached_functions=[APPROVAL_FUNCTION], test=ASK_TIME)
            await denied.poll(timeout=60, interval=0.2, until={"paused"})
            await denied.deny(reason="no")
            await denied.poll(timeout=60, interval=0.2)
            await denied.message("again")
            assert (await denied.poll(timeout=60, interval=0.2)).status == "done"

            cancelled = await client.runs.create("Time?", attached_functions=[APPROVAL_FUNCTION], test=ASK_TIME)
            await cancelled.poll(timeout=60, interval=0.2, until={"paused"})
            assert (await cancelled.cancel("stop")).status == "cancelled"

            batch = uuid.uuid4().hex[:12]
            made = [
                (await client.runs.create(f"r{i}", attached_functions=[], metadata={"b": batch})).id for i in range(11)
            ]
            listed = [r.id async for r in client.runs.list(metadata={"b": batch}, page_size=10)]
            assert listed == list(reversed(made))
            with pytest.raises(NotFound):
                await client.runs.get("no_such_run_here")
            names = {f["name"] for f in await client.functions.list()}
            assert APPROVAL_FUNCTION in names

    asyncio.run(scenario())
