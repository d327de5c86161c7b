"""onStatusChange: signed webhooks (retries, stable webhook-id, dead-letter queue, SSRF refusals)
and function calls, fed from the outbox, also for runs failed outside the loop."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from runplane import resources
from tests.conftest import emulator_settings
from tests.integration.test_control import execution_status_event, reconcile
from tests.support.hook_server import HookServer
from tests.support.tool_server import ToolServer


@pytest.fixture(scope="module")
def emulator_env(hooks: HookServer, tools: ToolServer) -> dict[str, str]:
    # No back-off between attempts: the retry budget is counted, not waited for. The webhook
    # receiver and the tool server are the plain-http loopback origins local mode may call.
    return emulator_settings(
        RUNPLANE_NOTIFY_BACKOFF_SECONDS="0", RUNPLANE_LOOPBACK_HTTP_ORIGINS=f"{hooks.url('')},{tools.url}"
    )


def _secret(harness: Any, cluster: str) -> str:
    status, body = harness.api("POST", f"/clusters/{cluster}/webhook-secret")
    assert status == 200, body
    assert body["secret"].startswith("whsec_")
    return str(body["secret"])


def _run(harness: Any, cluster: str, url: str, **extra: Any) -> str:
    return harness.create_run(cluster, {"initialPrompt": "Say hi", "onStatusChange": {"webhook": url, **extra}})


def test_webhook_is_signed_per_standard_webhooks_and_sent_for_default_statuses(harness: Any, hooks: HookServer) -> None:
    cluster = harness.cluster()
    secret = _secret(harness, cluster)
    status, shown = harness.api("GET", f"/clusters/{cluster}/webhook-secret")
    assert status == 200 and shown == {"exists": True}  # never shown again
    run_id = _run(harness, cluster, hooks.url("/ok"))
    run = harness.wait_run(cluster, run_id)
    assert run["status"] == "done"
    (delivery,) = hooks.wait("/ok", lambda d: len(d) >= 1)
    body = Webhook(secret).verify(delivery["body"], delivery["headers"])
    assert body["type"] == "run.status_changed"
    data = body["data"]
    assert data["id"] == run_id and data["status"] == "done" and data["clusterId"] == cluster
    assert delivery["headers"]["webhook-id"] == f"{run_id}.{data['sequence']}"
    assert set(data) >= {"result", "summary", "failureReason", "metadata", "sequence"}
    # pending and running are not default statuses: only "done" was delivered
    harness.emulator.wait_for_stream()
    time.sleep(0.3)
    assert [json.loads(d["body"])["data"]["status"] for d in hooks.at("/ok")] == ["done"]
    # a wrong secret does not verify
    with pytest.raises(Exception):  # noqa: B017 (standardwebhooks raises its own error class)
        Webhook("whsec_" + "A" * 44).verify(delivery["body"], delivery["headers"])


def test_statuses_choose_what_notifies(harness: Any, hooks: HookServer) -> None:
    cluster = harness.cluster()
    _secret(harness, cluster)
    run_id = harness.create_run(
        cluster,
        {
            "initialPrompt": "x",
            "onStatusChange": {"webhook": {"url": hooks.url("/all"), "statuses": ["running", "done"]}},
        },
    )
    harness.wait_run(cluster, run_id)
    got = hooks.wait("/all", lambda d: len(d) >= 2)
    assert [json.loads(d["body"])["data"]["status"] for d in got] == ["running", "done"]  # in order


def test_a_500_then_success_is_one_accepted_delivery_with_the_same_webhook_id(harness: Any, hooks: HookServer) -> None:
    cluster = harness.cluster()
    secret = _secret(harness, cluster)
    hooks.script("/flaky", [500, 200])
    run_id = _run(harness, cluster, hooks.url("/flaky"))
    harness.wait_run(cluster, run_id)
    got = hooks.wait("/flaky", lambda d: any(x["status"] == 200 for x in d))
    time.sleep(0.5)  # nothing more arrives once one delivery was accepted
    got = hooks.at("/flaky")
    assert [d["status"] for d in got] == [500, 200]
    assert len({d["headers"]["webhook-id"] for d in got}) == 1
    for d in got:  # every attempt is signed afresh (its own timestamp), with the same id
        Webhook(secret).verify(d["body"], d["headers"])


def test_the_dead_letter_queue_is_reached_after_the_retry_budget(harness: Any, hooks: HookServer) -> None:
    cluster = harness.cluster()
    _secret(harness, cluster)
    hooks.script("/down", [503])
    run_id = _run(harness, cluster, hooks.url("/down"))
    harness.wait_run(cluster, run_id)
    sqs = harness.emulator.client("sqs")
    deadline = time.monotonic() + 30
    dead: list[dict[str, Any]] = []
    while not dead and time.monotonic() < deadline:
        dead = sqs.receive_message(QueueUrl=harness.emulator.notify_dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        time.sleep(0.1)
    assert [json.loads(m["Body"])["runId"] for m in dead] == [run_id]
    attempts = hooks.at("/down")
    assert len(attempts) == resources.NOTIFY_MAX_RECEIVES
    assert {d["headers"]["webhook-id"] for d in attempts} == {json.loads(dead[0]["Body"])["id"]}


def test_webhook_urls_are_refused_when_unsafe_or_unsigned(harness: Any) -> None:
    cluster = harness.cluster()
    for url, problem in (
        ("https://169.254.169.254/latest", "metadata"),
        ("http://example.com/hook", "https"),
        ("https://10.0.0.8/hook", "private"),
    ):
        _secret(harness, cluster)
        status, body = harness.api(
            "POST", f"/clusters/{cluster}/runs", {"initialPrompt": "x", "onStatusChange": {"webhook": url}}
        )
        assert status == 400, (url, body)
        assert body["errors"][0]["field"] == "onStatusChange.webhook" and problem in body["message"], body
    fresh = harness.cluster()  # no signing secret yet
    status, body = harness.api(
        "POST",
        f"/clusters/{fresh}/runs",
        {"initialPrompt": "x", "onStatusChange": {"webhook": "https://example.com/h"}},
    )
    assert status == 400 and "webhook-secret" in body["message"], body


def test_function_target_is_called_for_a_run_failed_outside_the_loop(harness: Any, tools: ToolServer) -> None:
    cluster = harness.cluster()
    harness.put_function(cluster, "on_change", {"target": {"type": "http", "url": f"{tools.url}/echo"}})
    stuck = harness.write_run_only(cluster, "aborted", "running")
    harness.store().set_run_fields(stuck, on_status_change=json.dumps({"function": "on_change"}))
    assert reconcile(harness, execution_status_event(harness, stuck, stuck.id, "ABORTED")) == {"changed": True}
    deadline = time.monotonic() + 20
    while not [r for r in tools.requests if r[1].get("run", {}).get("id") == stuck.id]:
        assert time.monotonic() < deadline, tools.requests
        time.sleep(0.05)
    ((path, body),) = [r for r in tools.requests if r[1].get("run", {}).get("id") == stuck.id]
    assert path == "/echo"
    assert body["input"]["status"] == "failed"
    assert body["input"]["failureReason"] == harness.get_run(cluster, stuck.id)["failureReason"]
    assert body["notification"] == {"id": f"{stuck.id}.{body['input']['sequence']}", "function": "on_change"}


def test_function_targets_must_be_callable(harness: Any) -> None:
    cluster = harness.cluster()
    harness.put_function(cluster, "polled", {"target": {"type": "worker"}})
    for fn, problem in (("nope", "unknown function"), ("polled", "worker function")):
        status, body = harness.api(
            "POST", f"/clusters/{cluster}/runs", {"initialPrompt": "x", "onStatusChange": {"function": fn}}
        )
        assert status == 400 and problem in body["message"], body
        assert body["errors"][0]["field"] == "onStatusChange.function"
