"""Test harness: one emulator per test module, the real API handler, and helpers to wait for runs."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, Literal

from runplane.handlers import wiring
from runplane.local.emulator import Emulator
from runplane.local.gateway import call_api
from runplane.local.http import LocalApiServer, proxy_event
from runplane.schemas import CreateClusterRequest

TERMINAL = {"done", "failed", "cancelled"}
_CLUSTER_IN_PATH = re.compile(r"^/clusters/([^/]+)")
# Passed as ``key=`` to send no authorization header at all.
NO_KEY = ""


class Harness:
    """Wraps a started emulator: create clusters and runs through the real API handler, poll them,
    and read status events through an EventBridge rule → SQS queue, as a subscriber would."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.sqs = emulator.client("sqs")
        self.events = emulator.client("events")
        self.sfn = emulator.client("stepfunctions")
        self._server: LocalApiServer | None = None
        # Every cluster the harness creates gets a `cluster` key; api() sends the key of the cluster
        # in the path (or the admin key for paths without one), unless told otherwise.
        self.keys: dict[str, str] = {}
        self._kind_keys: dict[str, str] = {}
        self.admin_key = self.key("harness", kind="admin", create_cluster=True)

    # -- API through the real Lambda handler (API Gateway proxy events) ------------------------
    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        raw_body: str | None = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Call the API as API Gateway does: the authorizer first, then the API function."""
        status, payload, _ = self.api_with_headers(method, path, body, query, raw_body, key=key, headers=headers)
        return status, payload

    def api_with_headers(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
        authorizer: dict[str, str] | Literal["path"] | None = "path",
        *,
        key: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, parsed body, response headers with lower-case names) of a call through the real
        authorizer and the API function. The key sent: ``key`` if given (``NO_KEY``: none); else, with
        ``authorizer`` a principal ``{clusterId, kind}``, a key of that kind for that cluster; with
        ``None``, no key; by default the key of the cluster in the path (the admin key otherwise)."""
        if key is None:
            if isinstance(authorizer, dict):
                key = self.key_of(authorizer["clusterId"], authorizer.get("kind", "cluster"))
            elif authorizer is None:
                key = NO_KEY
            else:
                match = _CLUSTER_IN_PATH.match(path)
                key = self.keys.get(match.group(1), self.admin_key) if match else self.admin_key
        sent = {"content-type": "application/json", **(headers or {})}
        if key:
            sent["authorization"] = key
        event = proxy_event(
            method,
            path,
            body=raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
            query={k: [v] for k, v in (query or {}).items()},
            headers={k: [v] for k, v in sent.items()},
            stage="test",
        )
        names = self.emulator.names
        payload = call_api(event, names.function("api"), names.function("authorizer"))
        body_text = payload.get("body") or "null"
        out_headers = {k.lower(): str(v) for k, v in (payload.get("headers") or {}).items()}
        for k, values in (payload.get("multiValueHeaders") or {}).items():
            out_headers[k.lower()] = str(values[-1])
        try:
            parsed = json.loads(body_text)
        except ValueError:
            parsed = body_text
        return payload["statusCode"], parsed, out_headers

    def key_of(self, cluster_id: str, kind: str = "cluster") -> str:
        """A key of ``kind`` for the cluster, minted once and reused."""
        if kind == "cluster" and cluster_id in self.keys:
            return self.keys[cluster_id]
        cache_key = f"{cluster_id}/{kind}"
        if cache_key not in self._kind_keys:
            self._kind_keys[cache_key] = self.key(cluster_id, kind, create_cluster=True)
        return self._kind_keys[cache_key]

    def request(
        self,
        method: str,
        path: str,
        *,
        body: str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        is_base64: bool = False,
    ) -> tuple[int, dict[str, str], str]:
        """A raw request as API Gateway sends it (authorizer, then the API function), with the key of the
        cluster in the path: (status, headers, body text). Hostile-input tests use it for what ``api``
        does not send: no or other content types, base64 bodies (``isBase64Encoded``), raw text."""
        match = _CLUSTER_IN_PATH.match(path)
        sent = {"authorization": self.keys.get(match.group(1), self.admin_key) if match else self.admin_key}
        sent.update(headers or {})
        event = proxy_event(
            method,
            path,
            body=body,
            is_base64=is_base64,
            query={k: [v] for k, v in (query or {}).items()},
            headers={k: [v] for k, v in sent.items()},
            stage="test",
        )
        names = self.emulator.names
        payload = call_api(event, names.function("api"), names.function("authorizer"))
        out_headers = {k: str(v) for k, v in (payload.get("headers") or {}).items()}
        for key, values in (payload.get("multiValueHeaders") or {}).items():
            out_headers[key] = ", ".join(str(v) for v in values)
        return payload["statusCode"], out_headers, payload.get("body") or ""

    def cluster(self, cluster_id: str | None = None) -> str:
        cluster_id = cluster_id or f"c-{uuid.uuid4().hex[:10]}"
        wiring.run_service().create_cluster(CreateClusterRequest(id=cluster_id))
        self.keys.setdefault(cluster_id, self.key(cluster_id))
        return cluster_id

    def key(self, cluster_id: str, kind: str = "cluster", *, create_cluster: bool = False) -> str:
        """Mint a key of ``kind`` for the cluster (as an operator would) and return its secret."""
        if create_cluster:
            wiring.run_service().create_cluster(CreateClusterRequest(id=cluster_id))
        _, secret = wiring.keys().create(cluster_id, name=f"harness {kind} key", kind=kind, created_by="harness")  # type: ignore[arg-type]
        return secret

    def create_run(self, cluster_id: str, body: dict[str, Any]) -> str:
        status, payload = self.api("POST", f"/clusters/{cluster_id}/runs", body)
        assert status == 201, payload
        return str(payload["id"])

    def get_run(self, cluster_id: str, run_id: str) -> dict[str, Any]:
        status, payload = self.api("GET", f"/clusters/{cluster_id}/runs/{run_id}")
        assert status == 200, payload
        return dict(payload)

    def wait_run(
        self, cluster_id: str, run_id: str, statuses: set[str] = TERMINAL, timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(cluster_id, run_id)
            if run["status"] in statuses:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} still {run['status']} after {timeout}s")
            time.sleep(0.05)

    def run_to_end(self, cluster_id: str, body: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        return self.wait_run(cluster_id, self.create_run(cluster_id, body), timeout=timeout)

    def put_function(self, cluster_id: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        status, payload = self.api("PUT", f"/clusters/{cluster_id}/functions/{name}", body)
        assert status in (200, 201), payload
        return dict(payload)

    def lambda_tool(self, name: str, handler: str) -> str:
        """A user's Lambda function (run in-process by the emulator glue); returns its ARN."""
        lam, iam = self.emulator.client("lambda"), self.emulator.client("iam")
        role = iam.get_role(RoleName=self.emulator.names.role)["Role"]["Arn"]
        import io
        import zipfile

        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as zf:
            zf.writestr("x.txt", "x")
        return str(
            lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role,
                Handler=handler,
                Code={"ZipFile": code.getvalue()},
                Timeout=30,
            )["FunctionArn"]
        )

    def write_run_only(self, cluster_id: str, prefix: str, status: str, *, queued: bool = False) -> Any:
        """A run stored as a writer that died right after its write leaves it: no execution started
        (``queued``: also waiting for an admission slot)."""
        from runplane.logic.runs import prompt_message
        from runplane.schemas import Run
        from runplane.timeutil import now_iso

        now = now_iso()
        run = Run(
            id=f"{prefix}{uuid.uuid4().hex[:12]}",
            cluster_id=cluster_id,
            name=prefix,
            status=status,
            created_at=now,
            updated_at=now,
            request_hash="x",
            initial_prompt="Hi",
            model="claude-sonnet-5-5",
            provider="scripted",
            model_id="scripted:claude-sonnet-5-5",
        )
        assert self.store().create_run(run, prompt_message("Hi"), queued=queued) is None
        return run

    def store(self) -> Any:
        from runplane.handlers import wiring

        return wiring.store()

    def calls(self, cluster_id: str, run_id: str) -> list[Any]:
        return sorted(self.store().calls(cluster_id, run_id), key=lambda c: c.id)

    def messages(self, cluster_id: str, run_id: str) -> list[Any]:
        run = self.store().get_run(cluster_id, run_id)
        return list(self.store().messages(run))

    def max_payload_bytes(self, run_id: str) -> int:
        sizes = [0]
        for event in self.history(run_id):
            for key, details in event.items():
                if key.endswith("EventDetails") and isinstance(details, dict):
                    for field in ("input", "output"):
                        if isinstance(details.get(field), str):
                            sizes.append(len(details[field].encode()))
        return max(sizes)

    def scratch_table(self, prefix: str, *, sort_key: bool = False, stream: bool = False) -> str:
        """A table of the tests' own (not runplane's): a PK (and SK) of strings, on-demand."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        keys = ["PK", "SK"] if sort_key else ["PK"]
        extra: dict[str, Any] = {}
        if stream:
            extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        self.emulator.client("dynamodb").create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
            KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ["HASH", "RANGE"], strict=False)],
            **extra,
        )
        return name

    # -- the state machine ---------------------------------------------------------------------
    def execution_arn(self, run_id: str) -> str:
        return f"{self.emulator.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"

    def wait_execution(self, run_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            desc = self.sfn.describe_execution(executionArn=self.execution_arn(run_id))
            if desc["status"] != "RUNNING":
                return dict(desc)
            if time.monotonic() > deadline:
                raise AssertionError(f"execution {run_id} still running")
            time.sleep(0.05)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """The execution's whole history (after it ended: a done run's execution may still be finishing)."""
        self.wait_execution(run_id)
        return list(self.sfn.get_execution_history(executionArn=self.execution_arn(run_id))["events"])

    # -- events, as a subscriber sees them -----------------------------------------------------
    def subscribe(self, pattern: dict[str, Any] | None = None) -> str:
        """An EventBridge rule on the runplane bus with an SQS target; returns the queue URL."""
        name = f"sink-{uuid.uuid4().hex[:8]}"
        queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.events.put_rule(
            Name=name,
            EventBusName=self.emulator.names.bus,
            EventPattern=json.dumps(pattern or {"source": ["runplane"], "detail-type": ["Run Status Changed"]}),
        )
        self.events.put_targets(
            Rule=name, EventBusName=self.emulator.names.bus, Targets=[{"Id": "sqs", "Arn": queue_arn}]
        )
        return str(queue_url)

    def received(
        self, queue_url: str, run_id: str | None = None, until_status: str | None = None, timeout: float = 15
    ) -> list[dict[str, Any]]:
        """Events received on the queue (for one run, if given), waiting for ``until_status``."""
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            for m in msgs.get("Messages", []):
                events.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            mine = [e for e in events if run_id is None or e["detail"]["runId"] == run_id]
            if until_status is None and not msgs.get("Messages"):
                return mine
            if until_status and any(e["detail"]["status"] == until_status for e in mine):
                return mine
            if time.monotonic() > deadline:
                raise AssertionError(f"no '{until_status}' event; got {[e['detail']['status'] for e in mine]}")
            time.sleep(0.05)

    # -- HTTP ----------------------------------------------------------------------------------
    def http_server(self) -> LocalApiServer:
        if self._server is None:
            self._server = LocalApiServer(self.emulator.names.function("api"), port=0).start()
        return self._server

    def close(self) -> None:
        if self._server:
            self._server.stop()
