"""Run configurations (Inferable's run-configs): CRUD, versions, inheritance, override, pinning, input."""

from __future__ import annotations

import json
from typing import Any


def call(
    harness: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    cluster: str,
    kind: str = "cluster",
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Through the authorizer and the API function, with a key of ``kind`` for ``cluster``."""
    if cluster not in harness.keys:
        harness.cluster(cluster)
    key = harness.keys[cluster] if kind == "cluster" else harness.key(cluster, kind)
    return harness.api(method, path, body, query, key=key)  # type: ignore[no-any-return]


SUMMARY = {
    "name": "summarize-ticket",
    "description": "Summarizes a support ticket",
    "initialPrompt": "Summarize the ticket for the support team.",
    "systemPrompt": "You are terse.",
    "resultSchema": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]},
    "inputSchema": {
        "type": "object",
        "properties": {"ticketId": {"type": "string"}, "priority": {"type": "integer", "minimum": 1}},
        "required": ["ticketId"],
    },
    "public": False,
}


def first_prompt(harness: Any, cluster: str, run_id: str) -> str:
    return str(harness.messages(cluster, run_id)[0].content[0]["text"])


def test_crud_versions_and_search(harness: Any) -> None:
    cluster = harness.cluster()
    status, created = call(harness, "POST", f"/clusters/{cluster}/run-configs", SUMMARY, cluster=cluster)
    assert status == 201, created
    cid = created["id"]
    status, got = call(harness, "GET", f"/clusters/{cluster}/run-configs/{cid}", cluster=cluster)
    assert status == 200 and got["name"] == "summarize-ticket" and got["version"] == 1 and got["versions"] == []
    assert got["clusterId"] == cluster and got["attachedFunctions"] == [] and got["public"] is False

    status, updated = call(
        harness,
        "PUT",
        f"/clusters/{cluster}/run-configs/{cid}",
        {**SUMMARY, "initialPrompt": "Summarize in one line."},
        cluster=cluster,
    )
    assert status == 200 and updated["version"] == 2 and updated["initialPrompt"] == "Summarize in one line."
    status, got = call(
        harness,
        "GET",
        f"/clusters/{cluster}/run-configs/{cid}",
        cluster=cluster,
        query={"withPreviousVersions": "true"},
    )
    assert status == 200 and got["version"] == 2
    assert [(v["version"], v["initialPrompt"]) for v in got["versions"]] == [(1, SUMMARY["initialPrompt"])]

    status, listed = call(harness, "GET", f"/clusters/{cluster}/run-configs", cluster=cluster, kind="consumer")
    assert status == 200 and [c["id"] for c in listed] == [cid]
    status, found = call(
        harness, "GET", f"/clusters/{cluster}/run-configs/search", cluster=cluster, query={"search": "support ticket"}
    )
    assert status == 200 and found[0]["id"] == cid and 0 < found[0]["similarity"] <= 1

    # A consumer key reads agents but cannot change them; another cluster's key sees nothing.
    status, _ = call(
        harness, "PUT", f"/clusters/{cluster}/run-configs/{cid}", SUMMARY, cluster=cluster, kind="consumer"
    )
    assert status == 403
    status, _ = call(harness, "GET", f"/clusters/{cluster}/run-configs/{cid}", cluster="someone-else-entirely")
    assert status == 404

    status, _ = call(harness, "DELETE", f"/clusters/{cluster}/run-configs/{cid}", cluster=cluster)
    assert status == 204
    status, missing = call(harness, "GET", f"/clusters/{cluster}/run-configs/{cid}", cluster=cluster)
    assert status == 404 and "not found" in missing["message"]


def test_upsert_creates_with_a_chosen_id_and_needs_a_name(harness: Any) -> None:
    cluster = harness.cluster()
    status, body = call(harness, "PUT", f"/clusters/{cluster}/run-configs/triage-v1", {"public": True}, cluster=cluster)
    assert status == 400 and body["errors"][0]["field"] == "name"
    status, body = call(
        harness,
        "PUT",
        f"/clusters/{cluster}/run-configs/triage-v1",
        {"name": "triage", "initialPrompt": "Triage it", "public": True},
        cluster=cluster,
    )
    assert status == 200 and body["id"] == "triage-v1" and body["version"] == 1


def test_a_run_inherits_the_config_its_fields_override_and_input_joins_the_prompt(harness: Any) -> None:
    cluster = harness.cluster()
    _, created = call(harness, "POST", f"/clusters/{cluster}/run-configs", SUMMARY, cluster=cluster)
    cid = created["id"]
    status, run = call(
        harness,
        "POST",
        f"/clusters/{cluster}/runs",
        {"configId": cid, "input": {"ticketId": "T-9", "priority": 2}},
        cluster=cluster,
    )
    assert status == 201, run
    done = harness.wait_run(cluster, run["id"])
    assert done["status"] == "done" and isinstance(done["result"]["summary"], str)  # the config's resultSchema
    assert done["configId"] == cid and done["configVersion"] == 1
    prompt = first_prompt(harness, cluster, run["id"])
    assert prompt.startswith(SUMMARY["initialPrompt"] + "\n\n<DATA>\n")
    assert json.loads(prompt.split("<DATA>\n", 1)[1].split("\n</DATA>")[0]) == {"ticketId": "T-9", "priority": 2}
    stored = harness.store().get_run(cluster, run["id"])
    assert stored.system_prompt == "You are terse." and stored.result_schema == SUMMARY["resultSchema"]

    # Fields on the run win; the older `config: {id, input}` form works the same.
    override = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    status, run2 = call(
        harness,
        "POST",
        f"/clusters/{cluster}/runs",
        {
            "config": {"id": cid, "input": {"ticketId": "T-10"}},
            "initialPrompt": "Label the ticket.",
            "systemPrompt": "Be kind.",
            "resultSchema": override,
        },
        cluster=cluster,
    )
    assert status == 201, run2
    done2 = harness.wait_run(cluster, run2["id"])
    assert isinstance(done2["result"]["label"], str)
    assert first_prompt(harness, cluster, run2["id"]).startswith("Label the ticket.\n\n<DATA>")
    assert harness.store().get_run(cluster, run2["id"]).system_prompt == "Be kind."

    # The runs list filters by configuration.
    call(harness, "POST", f"/clusters/{cluster}/runs", {"initialPrompt": "unrelated"}, cluster=cluster)
    status, listed = call(harness, "GET", f"/clusters/{cluster}/runs", cluster=cluster, query={"configId": cid})
    assert status == 200 and {r["id"] for r in listed} == {run["id"], run2["id"]}
    assert all((r["configId"], r["configVersion"]) == (cid, 1) for r in listed)


def test_a_run_is_pinned_to_the_version_it_used(harness: Any) -> None:
    cluster = harness.cluster()
    call(
        harness,
        "PUT",
        f"/clusters/{cluster}/run-configs/greeter",
        {"name": "greeter", "initialPrompt": "Say hi", "public": False},
        cluster=cluster,
    )
    _, first = call(harness, "POST", f"/clusters/{cluster}/runs", {"configId": "greeter"}, cluster=cluster)
    call(
        harness,
        "PUT",
        f"/clusters/{cluster}/run-configs/greeter",
        {"name": "greeter", "initialPrompt": "Say bye", "public": False},
        cluster=cluster,
    )
    _, second = call(harness, "POST", f"/clusters/{cluster}/runs", {"configId": "greeter"}, cluster=cluster)
    a, b = harness.wait_run(cluster, first["id"]), harness.wait_run(cluster, second["id"])
    assert (a["configVersion"], b["configVersion"]) == (1, 2)
    assert first_prompt(harness, cluster, first["id"]) == "Say hi"
    assert first_prompt(harness, cluster, second["id"]) == "Say bye"
    version_one = harness.store()  # the version the first run used is kept, unchanged
    from runplane.handlers import wiring

    assert wiring.config_store().config_version(cluster, "greeter", 1).initial_prompt == "Say hi"
    assert version_one.get_run(cluster, first["id"]).config_version == 1


def test_bad_input_is_a_400_naming_the_field_and_unknown_configs_404(harness: Any) -> None:
    cluster = harness.cluster()
    _, created = call(harness, "POST", f"/clusters/{cluster}/run-configs", SUMMARY, cluster=cluster)
    cid = created["id"]
    status, body = call(
        harness,
        "POST",
        f"/clusters/{cluster}/runs",
        {"configId": cid, "input": {"ticketId": "T-1", "priority": 0}},
        cluster=cluster,
    )
    assert status == 400 and body["errors"][0]["field"] == "input.priority", body
    assert "minimum" in body["errors"][0]["problem"] or "less than" in body["errors"][0]["problem"]
    status, body = call(harness, "POST", f"/clusters/{cluster}/runs", {"configId": cid, "input": {}}, cluster=cluster)
    assert status == 400 and body["errors"][0]["field"] == "input" and "ticketId" in body["errors"][0]["problem"]
    status, body = call(harness, "POST", f"/clusters/{cluster}/runs", {"configId": cid}, cluster=cluster)
    assert status == 400 and body["errors"][0]["field"] == "input"
    status, body = call(harness, "POST", f"/clusters/{cluster}/runs", {"configId": "nope-nope"}, cluster=cluster)
    assert status == 404 and "nope-nope" in body["message"]
    status, body = call(harness, "POST", f"/clusters/{cluster}/runs", {"name": "x"}, cluster=cluster)
    assert status == 400 and "initialPrompt" in body["message"]
