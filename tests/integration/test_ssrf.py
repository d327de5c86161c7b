"""Local mode's loopback allowance: only the listed tool servers, never the emulator or the API itself,
even when someone lists them (a function pointed at the emulator's /moto-api/reset wiped everything)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from runplane.local.emulator import Emulator, free_port
from runplane.local.http import LocalApiServer
from tests.conftest import emulator_settings
from tests.support.harness import Harness
from tests.support.tool_server import ToolServer

EMULATOR_PORT = free_port()
API_PORT = free_port()


@pytest.fixture(scope="module")
def harness(tools: ToolServer) -> Iterator[Harness]:
    # A careless configuration: the emulator's and the API's ports listed as tool origins.
    listed = [tools.url, f"http://127.0.0.1:{EMULATOR_PORT}", f"http://127.0.0.1:{API_PORT}"]
    env = emulator_settings(
        RUNPLANE_LOOPBACK_HTTP_ORIGINS=",".join(listed), RUNPLANE_OWN_ORIGINS=f"http://127.0.0.1:{API_PORT}"
    )
    emulator = Emulator(port=EMULATOR_PORT, sleep_scale=0.005, settings_env=env).start()
    api = LocalApiServer(emulator.names.function("api"), port=API_PORT).start()
    h = Harness(emulator)
    try:
        yield h
    finally:
        api.stop()
        h.close()
        emulator.stop()


OWN = {
    "emulator": f"http://127.0.0.1:{EMULATOR_PORT}/moto-api/reset",
    "api": f"http://127.0.0.1:{API_PORT}/clusters",
}


@pytest.mark.parametrize("which", sorted(OWN))
def test_own_endpoints_are_refused_at_registration(harness: Harness, which: str) -> None:
    cluster = harness.cluster()
    status, body = harness.api(
        "PUT", f"/clusters/{cluster}/functions/wipe", {"target": {"type": "http", "url": OWN[which]}}
    )
    assert status == 400, body
    assert body["errors"][0]["field"] == "target.url"
    assert "own endpoint" in body["errors"][0]["problem"]


def test_own_endpoints_are_refused_at_call_time_and_nothing_is_wiped(harness: Harness, tools: ToolServer) -> None:
    cluster = harness.cluster()
    harness.put_function(cluster, "echo", {"target": {"type": "http", "url": tools.url + "/echo"}})
    tools.requests.clear()
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "Fetch these",
            "test": {
                "modelScript": [
                    {
                        "toolCalls": [
                            {"name": "http_get", "input": {"url": OWN["emulator"]}},
                            {"name": "http_get", "input": {"url": OWN["api"]}},
                            {"name": "http_get", "input": {"url": "http://127.0.0.1:1/"}},  # not listed
                            {"name": "http_get", "input": {"url": "http://localhost:" + OWN["api"].split(":")[2]}},
                            {"name": "echo", "input": {"q": "listed tool server"}},
                        ]
                    },
                    {"text": "Done."},
                ]
            },
        },
    )
    assert run["status"] == "done", run
    calls = {json.dumps(c.input, sort_keys=True): c for c in harness.calls(cluster, run["id"])}
    outcomes = {key: (c.status, c.error or "") for key, c in calls.items()}
    refused = [o for o in outcomes.values() if o[0] == "failed" and "refused" in o[1]]
    assert len(refused) == 4, outcomes
    assert sum(1 for o in outcomes.values() if o[0] == "succeeded") == 1, outcomes
    assert [p for p, _ in tools.requests] == ["/echo"]
    # Had the reset gone through, the emulator would have forgotten the cluster and the run.
    assert harness.get_run(cluster, run["id"])["status"] == "done"
    assert harness.api("GET", f"/clusters/{cluster}")[0] == 200


def test_the_listed_tool_server_is_reachable(harness: Harness, tools: ToolServer) -> Any:
    cluster = harness.cluster()
    tools.requests.clear()
    run = harness.run_to_end(
        cluster,
        {
            "initialPrompt": "GET the tool server",
            "test": {
                "modelScript": [
                    {"toolCalls": [{"name": "http_get", "input": {"url": tools.url + "/anything"}}]},
                    {"text": "Done."},
                ]
            },
        },
    )
    [call] = harness.calls(cluster, run["id"])
    assert call.status == "succeeded", call.error
    assert call.result["status"] == 501  # the tool server answers POST only: reached, and it said so
