"""The run API through the real Powertools handler (API Gateway proxy events) and over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runplane.catalog import ACCEPTED


def test_create_with_every_inferable_option_is_stored(harness: Any) -> None:
    cluster = harness.cluster()
    for name in ("getOrder", "searchOrders"):
        harness.put_function(cluster, name, {"target": {"type": "worker"}})
    from runplane.handlers import wiring
    from runplane.logic.run_configs import RunConfigBody

    wiring.run_configs().upsert(cluster, "orders-cfg", RunConfigBody(name="orders"))  # every field of the run wins
    assert harness.api("POST", f"/clusters/{cluster}/webhook-secret")[0] in (200, 201)  # webhooks are signed
    body = {
        "initialPrompt": "Check the order status",
        "systemPrompt": "Be brief.",
        "name": "order check",
        "model": "claude-3-5-sonnet",
        "resultSchema": {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]},
        "attachedFunctions": [{"service": "runplane", "function": "getOrder"}, "searchOrders"],
        "onStatusChange": {"webhook": "https://hooks.example.com/runplane"},
        "metadata": {"customer": "42", "env": "test"},
        "context": {"tenant": "acme", "limits": {"max": 3}},
        "reasoningTraces": False,
        "callSummarization": False,
        "interactive": False,
        "test": {
            "enabled": True,
            "mocks": {"getOrder": {"output": {"status": "shipped"}}, "searchOrders": {"output": {"orders": []}}},
        },
        "config": {"id": "orders-cfg", "input": {"x": 1}},
    }
    run_id = harness.create_run(cluster, body)
    run = harness.wait_run(cluster, run_id)
    assert run["name"] == "order check"
    assert run["model"] == "scripted:claude-sonnet-5-5"  # Inferable's name is an alias of a current model
    assert run["metadata"] == {"customer": "42", "env": "test"}
    assert run["attachedFunctions"] == ["getOrder", "searchOrders"]
    assert run["test"] is True and run["interactive"] is False
    from runplane.adapters.dynamo import DynamoRunStore
    from runplane.config import settings

    stored = DynamoRunStore(settings()).get_run(cluster, run_id)
    assert stored is not None
    assert stored.context == {"tenant": "acme", "limits": {"max": 3}}
    assert stored.on_status_change == {"webhook": "https://hooks.example.com/runplane"}
    assert (stored.reasoning_traces, stored.call_summarization) == (False, False)
    assert stored.config == {"id": "orders-cfg", "input": {"x": 1}}
    assert (stored.config_id, stored.config_version) == ("orders-cfg", 1)
    assert stored.initial_prompt == 'Check the order status\n\n<DATA>\n{\n  "x": 1\n}\n</DATA>'
    assert stored.system_prompt == "Be brief."


def test_defaults(harness: Any) -> None:
    cluster = harness.cluster()
    run_id = harness.create_run(cluster, {"initialPrompt": "Please could you draft a status update for the board"})
    run = harness.wait_run(cluster, run_id)
    assert run["name"] == "Draft a status update"
    assert run["interactive"] is True and run["test"] is False
    from runplane.adapters.dynamo import DynamoRunStore
    from runplane.config import settings

    stored = DynamoRunStore(settings()).get_run(cluster, run_id)
    assert stored is not None and stored.reasoning_traces and stored.call_summarization


def test_idempotent_create_by_client_id(harness: Any) -> None:
    cluster = harness.cluster()
    body = {"id": "order-run-0001", "initialPrompt": "Hello", "metadata": {"k": "v"}}
    first = harness.api("POST", f"/clusters/{cluster}/runs", body)
    second = harness.api("POST", f"/clusters/{cluster}/runs", body)
    assert first == (201, {"id": "order-run-0001"})
    assert second == (201, {"id": "order-run-0001"})
    harness.wait_run(cluster, "order-run-0001")
    status, payload = harness.api("POST", f"/clusters/{cluster}/runs", {**body, "initialPrompt": "Other"})
    assert status == 409 and "different body" in payload["message"]
    executions = harness.sfn.list_executions(stateMachineArn=harness.emulator.state_machine_arn)["executions"]
    assert [e["name"] for e in executions].count("order-run-0001") == 1
    # the same id in another cluster is another run
    other = harness.cluster()
    assert harness.api("POST", f"/clusters/{other}/runs", {**body, "id": "order-run-0002"})[0] == 201


def _next_cursor(headers: dict[str, str]) -> str | None:
    """The cursor of the ``Link: <…?cursor=…>; rel="next"`` header, if there is a next page."""
    from urllib.parse import parse_qs, urlparse

    link = headers.get("link")
    if not link:
        return None
    assert link.endswith('>; rel="next"'), link
    return parse_qs(urlparse(link[1 : link.index(">")]).query)["cursor"][0]


def test_list_newest_first_with_metadata_filters_and_cursor(harness: Any) -> None:
    cluster = harness.cluster()
    ids = []
    for i in range(23):
        md = {"team": "a" if i % 2 == 0 else "b", "tier": "gold" if i < 4 else "silver"}
        ids.append(harness.create_run(cluster, {"initialPrompt": f"run {i}", "metadata": md}))
    for run_id in ids:
        harness.wait_run(cluster, run_id)
    status, page, headers = harness.api_with_headers("GET", f"/clusters/{cluster}/runs", query={"limit": "10"})
    assert status == 200 and isinstance(page, list)
    assert [r["id"] for r in page] == ids[::-1][:10]
    assert set(page[0]) >= {"id", "name", "userId", "createdAt", "status", "test", "configId", "feedbackScore"}
    seen = [r["id"] for r in page]
    while cursor := _next_cursor(headers):
        status, page, headers = harness.api_with_headers(
            "GET", f"/clusters/{cluster}/runs", query={"limit": "10", "cursor": cursor}
        )
        assert status == 200
        seen += [r["id"] for r in page]
    assert seen == ids[::-1]
    status, page = harness.api(
        "GET", f"/clusters/{cluster}/runs", query={"metadata.team": "a", "metadata.tier": "gold", "status": "done"}
    )
    assert status == 200
    assert [r["id"] for r in page] == [ids[2], ids[0]]
    assert page[0]["metadata"] == {"team": "a", "tier": "gold"}
    # Inferable's form: metadata=key:value
    status, page = harness.api("GET", f"/clusters/{cluster}/runs", query={"metadata": "tier:gold"})
    assert [r["id"] for r in page] == ids[3::-1]
    assert harness.api("GET", f"/clusters/{cluster}/runs", query={"metadata": "tier"})[0] == 400
    # filters with pagination: 12 team=a runs, 10 per page
    got: list[str] = []
    cursor = None
    while True:
        query = {"metadata.team": "a", "limit": "10", **({"cursor": cursor} if cursor else {})}
        status, page, headers = harness.api_with_headers("GET", f"/clusters/{cluster}/runs", query=query)
        got += [r["id"] for r in page]
        if not (cursor := _next_cursor(headers)):
            break
    assert got == ids[::-2]
    assert harness.api("GET", f"/clusters/{cluster}/runs", query={"status": "failed"})[1] == []


def test_list_test_filter(harness: Any) -> None:
    cluster = harness.cluster()
    plain = harness.create_run(cluster, {"initialPrompt": "x"})
    tested = harness.create_run(cluster, {"initialPrompt": "y", "test": {"enabled": True}})
    assert [r["id"] for r in harness.api("GET", f"/clusters/{cluster}/runs")[1]] == [plain]
    only_tests = harness.api("GET", f"/clusters/{cluster}/runs", query={"test": "true"})[1]
    assert [(r["id"], r["test"]) for r in only_tests] == [(tested, True)]
    assert harness.api("GET", f"/clusters/{cluster}/runs", query={"configId": "cfg"})[1] == []


def test_a_cursor_from_another_cluster_is_refused(harness: Any) -> None:
    a, b = harness.cluster(), harness.cluster()
    for _ in range(11):
        harness.create_run(a, {"initialPrompt": "x"})
    cursor = _next_cursor(harness.api_with_headers("GET", f"/clusters/{a}/runs", query={"limit": "10"})[2])
    status, payload = harness.api("GET", f"/clusters/{b}/runs", query={"cursor": cursor})
    assert status == 400 and "cursor" in payload["message"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "initialPrompt", "required"),
        ({"initialPrompt": 5}, "initialPrompt", "string"),
        ({"initialPrompt": "x", "metadata": {"a": 1}}, "metadata.a", "string"),
        ({"initialPrompt": "x", "metadata": "nope"}, "metadata", "dictionary"),
        ({"initialPrompt": "x", "interactive": "maybe"}, "interactive", "boolean"),
        ({"initialPrompt": "x", "resultSchema": {"type": "strng"}}, "resultSchema", "not a valid JSON Schema"),
        ({"initialPrompt": "x", "resultSchema": {"properties": {"a": {"minLength": -1}}}}, "resultSchema", "minLength"),
        ({"initialPrompt": "x", "model": "gpt-4o"}, "model", "claude-3-5-sonnet"),
        ({"initialPrompt": "x", "id": "no spaces allowed"}, "id", "pattern"),
        ({"initialPrompt": "x", "unknownOption": 1}, "unknownOption", "not permitted"),
        ({"initialPrompt": "x", "onStatusChange": {}}, "onStatusChange", "exactly one"),
        ({"initialPrompt": "x", "attachedFunctions": ["bad name!"]}, "attachedFunctions", "pattern"),
        ({"initialPrompt": "x", "test": {"mocks": {"f": {"output": 3}}}}, "test.mocks.f.output", "dictionary"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(harness: Any, body: dict[str, Any], field: str, words: str) -> None:
    cluster = harness.cluster("bad-bodies")
    status, payload = harness.api("POST", f"/clusters/{cluster}/runs", body)
    assert status == 400, payload
    fields = [e["field"] for e in payload["errors"]]
    assert any(f.startswith(field) for f in fields), payload
    assert words in str(payload), payload


def test_oversized_run_definition_is_413_naming_the_field(harness: Any) -> None:
    cluster = harness.cluster("bad-bodies")
    body = {"initialPrompt": "x", "context": {"blob": "y" * 300_000}}
    status, payload = harness.api("POST", f"/clusters/{cluster}/runs", body)
    assert status == 413, payload
    assert payload["errors"][0]["field"] == "context" and "limit" in payload["message"]


def test_unknown_model_lists_accepted_ones(harness: Any) -> None:
    cluster = harness.cluster("bad-bodies")
    status, payload = harness.api("POST", f"/clusters/{cluster}/runs", {"initialPrompt": "x", "model": "gpt-4o"})
    assert status == 400
    assert all(name in payload["message"] for name in ACCEPTED)


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "null", '"text"'])
def test_malformed_json_is_400(harness: Any, raw: str) -> None:
    cluster = harness.cluster("bad-bodies")
    status, payload = harness.api("POST", f"/clusters/{cluster}/runs", raw_body=raw)
    assert status == 400, payload
    assert payload["message"]


def test_not_found(harness: Any) -> None:
    cluster = harness.cluster()
    assert harness.api("GET", f"/clusters/{cluster}/runs/nosuchrun")[0] == 404
    status, payload = harness.api("GET", "/clusters/nosuchcluster/runs/nosuchrun", key=harness.keys[cluster])
    assert status == 404 and "cluster 'nosuchcluster'" in payload["message"]
    key = harness.keys[cluster]
    assert harness.api("POST", "/clusters/nosuchcluster/runs", {"initialPrompt": "x"}, key=key)[0] == 404
    assert harness.api("GET", "/clusters/nosuchcluster/runs", key=key)[0] == 404
    assert harness.api("GET", "/nowhere")[0] == 404


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "9"}, {"limit": "51"}, {"limit": "abc"}, {"status": "sleeping"}]
)
def test_bad_list_queries_are_400(harness: Any, query: dict[str, str]) -> None:
    cluster = harness.cluster("bad-bodies")
    status, payload = harness.api("GET", f"/clusters/{cluster}/runs", query=query)
    assert status == 400, payload
    assert payload["errors"][0]["field"] in query


def test_bad_path_ids_are_400(harness: Any) -> None:
    status, payload = harness.api("GET", "/clusters/bad id!/runs")
    assert status == 400 and payload["errors"][0]["field"] == "clusterId"


def test_http_adapter_serves_the_api(harness: Any) -> None:
    server = harness.http_server()
    cluster = harness.cluster()
    with httpx.Client(base_url=server.url, timeout=10, headers={"authorization": harness.keys[cluster]}) as http:
        created = http.post(
            f"/clusters/{cluster}/runs", json={"initialPrompt": "Over HTTP", "metadata": {"via": "http"}}
        )
        assert created.status_code == 201
        assert created.headers["content-type"].startswith("application/json")
        run_id = created.json()["id"]
        run = harness.wait_run(cluster, run_id)
        got = http.get(f"/clusters/{cluster}/runs/{run_id}")
        assert got.status_code == 200 and got.json() == run
        listed = http.get(f"/clusters/{cluster}/runs", params={"metadata.via": "http"})
        assert [r["id"] for r in listed.json()] == [run_id]
        bad = http.post(f"/clusters/{cluster}/runs", content=b"{oops", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["message"]
        assert http.get("/clusters/nope/runs/nosuchrun").status_code == 404
        docs = http.get("/docs", params={"format": "json"})
        assert docs.status_code == 200 and "/clusters/{clusterId}/runs" in docs.json()["paths"]
