"""Inferable services: machines register functions, poll their service's calls and answer them.

An Inferable service is a set of functions a machine (the Inferable SDK) runs. Its function ``F`` of
service ``S`` is a function of the cluster named ``S_F`` with a ``service`` target. A call of it is a
job on the service's queue, exactly like a worker job (``logic.jobs``): the state machine's
``AwaitService`` task puts a message with its task token on the queue; a machine polling
``GET /clusters/{c}/calls?service=S`` acknowledges it (the API takes the message and keeps the token
with the call) and posts the result, which resumes the task with the call's next descriptor:

- ``resolution``: the call succeeded; ``rejection``: it failed, and the model sees the error;
- ``interrupt`` (``{"type": "approval"}``): the call waits for a human's approval; once approved it
  is queued again and handed to the service with ``approved: true``.

A call that is acknowledged but not answered within its function's ``timeoutSeconds`` (counted from
when it was queued) is queued again ``retryCountOnStall`` times, then fails (``CallSteps.call_failed``).

Contract call ids are ``<runId>.<toolUseId>``: the address carries its run, so no lookup is needed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any, Protocol

from ..errors import ConcurrentUpdate, Conflict, InvalidRequest, NotClaimant, NotFound, RunplaneError
from ..ids import ulid
from ..ports import Executions, RunStore
from ..schemas import CALL_FINAL, RUNPLANE_SERVICE, Call, Run, service_function_name
from ..status import RunStatus
from ..timeutil import now_iso
from ..tools.models import FunctionRecord
from .calls import CallSteps, service_queue
from .functions import FunctionService

SERVICE_NAME = re.compile(r"^[A-Za-z0-9]{1,30}$")
SERVICE_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9]{1,63}$")
MAX_POLL_LIMIT = 20
MAX_BLOB_BYTES = 4 * 1024 * 1024
BLOB_TYPES = ("application/json", "image/png", "image/jpeg")


class Gone(RunplaneError):
    """The machine must register again (HTTP 410)."""


class JobQueue(Protocol):
    def queue_url(self, cluster_id: str, function: str) -> str: ...

    def receive(self, url: str, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]: ...

    def delete(self, url: str, receipt: str) -> None: ...

    def send(self, url: str, body: dict[str, Any]) -> None: ...


# createCall: a call of one function outside any run. It is stored like a run's call, under a
# partition of its own (run id ``direct-<ulid>``, call id ``call``), and queued without a task token.
DIRECT_PREFIX = "direct-"
MAX_CREATE_CALL_WAIT = 20


def is_direct(run_id: str) -> bool:
    return run_id.startswith(DIRECT_PREFIX)


def contract_call_id(call: Call) -> str:
    return f"{call.run_id}.{call.id}"


def split_call_id(call_id: str) -> tuple[str, str]:
    run_id, sep, tool_use_id = call_id.partition(".")
    if not sep or not run_id or not tool_use_id:
        raise NotFound(f"call '{call_id}' not found")
    return run_id, tool_use_id


def plain_function(call: Call) -> str:
    """The function's own name within its service (what the SDK registered)."""
    if call.service and call.function.startswith(f"{call.service}_"):
        return call.function[len(call.service) + 1 :]
    return call.function


def call_error_text(result: Any) -> str:
    """An SDK rejection (a serialized Error: ``{name, message, stack}``) → what the model reads."""
    if isinstance(result, dict):
        message = result.get("message")
        name = result.get("name") or "Error"
        if isinstance(message, str):
            return f"{name}: {message}"[:4000]
    if isinstance(result, str):
        return result[:4000]
    return json.dumps(result, default=str)[:4000]


class ServiceCalls:
    def __init__(
        self,
        store: RunStore,
        executions: Executions,
        queues: JobQueue,
        calls: CallSteps,
        functions: FunctionService,
        *,
        poll_wait_seconds: int,
    ) -> None:
        self.store = store
        self.executions = executions
        self.queues = queues
        self.calls = calls
        self.functions = functions
        self.poll_wait_seconds = poll_wait_seconds

    # -- machines ---------------------------------------------------------------------------
    def register(
        self,
        cluster_id: str,
        machine: dict[str, Any],
        service: str | None,
        functions: list[dict[str, Any]] | None,
    ) -> None:
        """``POST /machines``: remember the machine; with a service, (re)define its functions."""
        now = now_iso()
        if machine.get("id"):
            self.store.put_machine(cluster_id, {**machine, "lastPingAt": now})
        if service is None:
            if functions:
                raise InvalidRequest("'functions' need a 'service'", field="service")
            return
        if not SERVICE_NAME.match(service):
            raise InvalidRequest("must be 1-30 letters and digits", field="service")
        if service == RUNPLANE_SERVICE:
            raise InvalidRequest(
                f"'{RUNPLANE_SERVICE}' is the service name of runplane's own functions", field="service"
            )
        records = [self._record(service, i, f, now) for i, f in enumerate(functions or [])]
        names = [r.name for r in records]
        if len(set(names)) != len(names):
            raise InvalidRequest("function names must be unique within a service", field="functions")
        existing = {f.name: f for f in self.store.list_functions(cluster_id)}
        for record in records:
            other = existing.get(record.name)
            if other is not None and other.kind != "service":
                raise Conflict(f"the cluster already has a function named '{record.name}' that is not a service's")
        for record in records:
            old = existing.get(record.name)
            if old is not None and old.created_at:
                record.created_at = old.created_at
            self.store.put_function(cluster_id, record)
        for old in existing.values():
            if old.kind == "service" and old.service == service and old.name not in names:
                self.store.delete_function(cluster_id, old.name)
        self.queues.queue_url(cluster_id, service_queue(service))  # create the queue now
        self.store.put_service(
            cluster_id,
            {
                "name": service,
                "functions": names,
                "registeredAt": now,
                "lastPingAt": now,
                "machineId": machine.get("id"),
            },
        )

    def _record(self, service: str, index: int, spec: dict[str, Any], now: str) -> FunctionRecord:
        from ..tools.models import _check_input_schema

        field = f"functions.{index}"
        name = str(spec.get("name") or "")
        if not SERVICE_FUNCTION_NAME.match(name):
            raise InvalidRequest("must be letters and digits only", field=f"{field}.name")
        full = service_function_name(service, name)
        if len(full) > 64:
            raise InvalidRequest(f"'{full}' is longer than 64 characters (service + '_' + function)", field=field)
        schema: dict[str, Any] = {"type": "object", "properties": {}}
        if spec.get("schema"):
            try:
                schema = json.loads(spec["schema"])
            except (TypeError, ValueError):
                raise InvalidRequest("must be a JSON Schema as a JSON string", field=f"{field}.schema") from None
            if not isinstance(schema, dict):
                raise InvalidRequest("must be a JSON object", field=f"{field}.schema")
            schema.pop("$schema", None)
            try:
                _check_input_schema(schema)
            except InvalidRequest as exc:
                raise InvalidRequest(str(exc), field=f"{field}.schema") from None
            except ValueError as exc:
                raise InvalidRequest(str(exc), field=f"{field}.schema") from None
        config = dict(spec.get("config") or {})
        timeout = config.get("timeoutSeconds")
        if timeout is not None and not (isinstance(timeout, int | float) and 1 <= timeout <= 86_400):
            raise InvalidRequest("must be between 1 and 86400", field=f"{field}.config.timeoutSeconds")
        retries = config.get("retryCountOnStall")
        if retries is not None and not (isinstance(retries, int | float) and 0 <= retries <= 10):
            raise InvalidRequest("must be between 0 and 10", field=f"{field}.config.retryCountOnStall")
        return FunctionRecord(
            name=full,
            description=str(spec.get("description") or ""),
            input_schema=schema,
            timeout_seconds=int(timeout or 60),
            target={"type": "service", "service": service, "function": name},
            service=service,
            service_function=name,
            config=config or None,
            created_at=now,
            updated_at=now,
        )

    def list_machines(self, cluster_id: str) -> list[dict[str, Any]]:
        machines = self.store.list_machines(cluster_id)
        return sorted(
            (
                {
                    "id": m["id"],
                    "lastPingAt": m.get("lastPingAt"),
                    "ip": m.get("ip") or "",
                    "sdkVersion": m.get("sdkVersion"),
                    "sdkLanguage": m.get("sdkLanguage"),
                }
                for m in machines
            ),
            key=lambda m: str(m["lastPingAt"]),
            reverse=True,
        )

    def list_services(self, cluster_id: str) -> list[dict[str, Any]]:
        by_service: dict[str, list[FunctionRecord]] = {}
        for record in self.functions.service_functions(cluster_id):
            by_service.setdefault(str(record.service), []).append(record)
        out = []
        for svc in sorted(self.store.list_services(cluster_id), key=lambda s: str(s["name"])):
            records = sorted(by_service.get(svc["name"], []), key=lambda r: r.name)
            out.append(
                {
                    "name": svc["name"],
                    "functions": [
                        {
                            "name": r.service_function,
                            "description": r.description or None,
                            "schema": json.dumps(r.input_schema),
                            "config": r.config,
                        }
                        for r in records
                    ],
                    "lastPingAt": svc.get("lastPingAt"),
                    "registeredAt": svc.get("registeredAt"),
                    "lastMachineId": svc.get("machineId"),
                }
            )
        return out

    # -- polling ----------------------------------------------------------------------------
    def poll(
        self,
        cluster_id: str,
        service: str,
        machine: dict[str, Any],
        limit: int,
    ) -> list[dict[str, Any]]:
        """Acknowledge up to ``limit`` calls of ``service``, waiting a while for the first one."""
        if not 1 <= limit <= MAX_POLL_LIMIT:
            raise InvalidRequest(f"must be between 1 and {MAX_POLL_LIMIT}", field="limit")
        known = self.store.get_service(cluster_id, service)
        if known is None or not self.functions.service_functions(cluster_id, service):
            raise Gone(f"service '{service}' is not registered in cluster '{cluster_id}': register it (POST /machines)")
        machine_id = machine.get("id")
        now = now_iso()
        if machine_id:
            if self.store.get_machine(cluster_id, machine_id) is None:
                raise Gone(f"machine '{machine_id}' is not registered: register it (POST /machines)")
            self.store.touch(cluster_id, f"MACHINE#{machine_id}", now, ip=machine.get("ip"))
        self.store.touch(cluster_id, f"SERVICE#{service}", now, machineId=machine_id)
        url = self.queues.queue_url(cluster_id, service_queue(service))
        deadline = time.monotonic() + self.poll_wait_seconds
        out: list[dict[str, Any]] = []
        while True:
            wait = max(0, min(20, int(deadline - time.monotonic())))
            messages = self.queues.receive(url, limit - len(out), wait)
            for message in messages:
                job = self._claim(cluster_id, message, machine_id)
                self.queues.delete(url, message["ReceiptHandle"])
                if job is not None:
                    out.append(job)
            if out or time.monotonic() >= deadline - 0.5 or len(out) >= limit:
                return out

    def _claim(self, cluster_id: str, message: dict[str, Any], machine_id: str | None) -> dict[str, Any] | None:
        body = json.loads(message["Body"])
        if body.get("clusterId") != cluster_id:
            return None
        direct = is_direct(body["runId"])
        run = None if direct else self.store.get_run(cluster_id, body["runId"])
        call = self.store.get_call(cluster_id, body["runId"], body["callId"]) if run or direct else None
        if call is None:
            return None
        if body.get("delivery", 0) != call.delivery or call.status == "running":
            return None  # a stale message (the call was queued again since) or a duplicate delivery
        token = body.get("taskToken")
        cancelled = run is not None and run.status == RunStatus.CANCELLED
        if cancelled or call.status not in ("pending", "approved"):
            if token:
                self.executions.send_task_success(token, self.calls.descriptor(call))  # a void job: release it
            return None
        try:
            claimed = self.store.update_call(
                call,
                {"pending", "approved"},
                status="running",
                task_token=token,
                worker=machine_id,
                acknowledged_at=now_iso(),
            )
        except ConcurrentUpdate:
            fresh = self.store.get_call(cluster_id, call.run_id, call.id)
            if fresh is not None and fresh.status in CALL_FINAL:
                self.executions.send_task_success(token, self.calls.descriptor(fresh))
            return None
        return self.job(claimed, run)

    @staticmethod
    def job(call: Call, run: Run | None) -> dict[str, Any]:
        return {
            "id": contract_call_id(call),
            "function": plain_function(call),
            "input": call.input,
            "authContext": None,
            "runContext": run.context if run else None,
            "approved": bool(call.approval is not None and call.approval.approved),
            "service": call.service,
            "runId": run.id if run else None,
        }

    # -- results ----------------------------------------------------------------------------
    def _load(self, cluster_id: str, call_id: str) -> tuple[Run | None, Call]:
        run_id, tool_use_id = split_call_id(call_id)
        run = None if is_direct(run_id) else self.store.get_run(cluster_id, run_id)
        call = self.store.get_call(cluster_id, run_id, tool_use_id) if run or is_direct(run_id) else None
        if call is None:
            raise NotFound(f"call '{call_id}' not found in cluster '{cluster_id}'")
        return run, call

    def result(
        self, cluster_id: str, call_id: str, result: Any, result_type: str, machine_id: str | None = None
    ) -> Call:
        """A machine's answer. Only a running (acknowledged) call takes one: else Conflict, nothing changed.
        Only the machine that acknowledged the call may answer it (its ``x-machine-id``): else NotClaimant."""
        run, call = self._load(cluster_id, call_id)
        if call.status == "running" and machine_id != call.worker:
            raise NotClaimant(f"call '{call_id}' was acknowledged by another machine: only it may answer it")
        if call.status != "running" or (run is not None and not call.task_token):
            raise Conflict(f"call '{call_id}' is {call.status}: it no longer takes a result")
        token = call.task_token
        fields: dict[str, Any]
        if result_type == "resolution":
            fields = {**self.calls.result_fields(call, result), "result_type": "resolution"}
        elif result_type == "rejection":
            fields = {"status": "failed", "error": call_error_text(result), "result_type": "rejection"}
            if isinstance(result, dict):
                fields["result"] = result
        else:  # interrupt
            if not isinstance(result, dict) or result.get("type") != "approval":
                raise InvalidRequest('an interrupt must be {"type": "approval"}', field="result")
            if run is None:
                raise InvalidRequest("approval interrupts need a run; this call was made directly", field="resultType")
            fields = {
                "status": "pending",
                "requires_approval": True,
                "approval": None,
                "result_type": "interrupt",
                "delivery": call.delivery + 1,
                "worker": None,
                "acknowledged_at": None,
            }
        try:
            done = self.store.update_call(call, {"running"}, task_token=None, **fields)
        except ConcurrentUpdate:
            raise Conflict(f"call '{call_id}' changed meanwhile: it no longer takes a result") from None
        if token:
            self.executions.send_task_success(token, self.calls.descriptor(done))
        return done

    def create_call(
        self,
        cluster_id: str,
        service: str,
        function: str,
        args: dict[str, Any],
        wait_seconds: int,
    ) -> dict[str, Any]:
        """``createCall``: call one service function directly (no run, no model); wait up to
        ``wait_seconds`` for its result. No stall timer watches such a call."""
        from .result import validation_errors

        if not 0 <= wait_seconds <= MAX_CREATE_CALL_WAIT:
            raise InvalidRequest(f"must be between 0 and {MAX_CREATE_CALL_WAIT}", field="waitTime")
        record = self.store.get_function(cluster_id, service_function_name(service, function))
        if record is None or record.kind != "service":
            raise NotFound(f"function '{function}' of service '{service}' not found in cluster '{cluster_id}'")
        problems = validation_errors(record.input_schema, args)
        if problems:
            raise InvalidRequest(f"does not match the function's schema: {'; '.join(problems)}", field="input")
        now = now_iso()
        call = Call(
            id="call",
            run_id=f"{DIRECT_PREFIX}{ulid()}",
            cluster_id=cluster_id,
            message_index=0,
            function=record.name,
            input=args,
            kind="service",
            service=service,
            timeout_seconds=record.timeout_seconds,
            created_at=now,
            updated_at=now,
        )
        self.store.put_call(call)
        url = self.queues.queue_url(cluster_id, service_queue(service))
        self.queues.send(url, {"runId": call.run_id, "clusterId": cluster_id, "callId": call.id, "delivery": 0})
        deadline = time.monotonic() + wait_seconds
        while call.status not in CALL_FINAL and time.monotonic() < deadline:
            time.sleep(0.2)
            call = self.store.get_call(cluster_id, call.run_id, call.id) or call
        view = call_view(call, self.calls.full_result(call), [])
        result = self.calls.full_result(call) if call.status in CALL_FINAL else None
        status = {"pending": "pending", "running": "running", "succeeded": "success", "failed": "failure"}
        return {
            "id": view["id"],
            "result": result,
            "resultType": view["resultType"],
            "status": status.get(call.status, "failure"),
        }

    def approve(self, cluster_id: str, call_id: str, approved: bool) -> Call:
        run_id, tool_use_id = split_call_id(call_id)
        return self.calls.decide(cluster_id, run_id, tool_use_id, approved=approved, reason=None, edited_input=None)

    def get(self, cluster_id: str, call_id: str) -> dict[str, Any]:
        _, call = self._load(cluster_id, call_id)
        blobs = [b for b in self.store.call_blobs(cluster_id, call.run_id) if b.get("jobId") == call_id]
        return call_view(call, self.calls.full_result(call), blobs)

    # -- blobs ------------------------------------------------------------------------------
    def add_blob(self, cluster_id: str, call_id: str, blob: dict[str, Any]) -> str:
        _, call = self._load(cluster_id, call_id)
        if blob.get("type") not in BLOB_TYPES:
            raise InvalidRequest(f"must be one of {', '.join(BLOB_TYPES)}", field="type")
        if blob.get("encoding") != "base64":
            raise InvalidRequest("must be 'base64'", field="encoding")
        try:
            data = base64.b64decode(str(blob.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("is not valid base64", field="data") from None
        if len(data) > MAX_BLOB_BYTES:
            raise InvalidRequest(f"a blob may hold at most {MAX_BLOB_BYTES} bytes", field="data")
        blob_id = f"{call.run_id}.{ulid().lower()}"
        record = {
            "id": blob_id,
            "name": str(blob.get("name") or "blob")[:256],
            "type": blob["type"],
            "encoding": "base64",
            "size": len(data),
            "createdAt": now_iso(),
            "jobId": contract_call_id(call),
            "workflowId": None if is_direct(call.run_id) else call.run_id,
        }
        self.store.put_call_blob(cluster_id, call.run_id, record, data)
        return blob_id

    def blob_data(self, cluster_id: str, blob_id: str) -> tuple[dict[str, Any], bytes]:
        run_id, _, rest = blob_id.partition(".")
        found = self.store.get_call_blob(cluster_id, run_id, blob_id) if run_id and rest else None
        if found is None:
            raise NotFound(f"blob '{blob_id}' not found in cluster '{cluster_id}'")
        return found


JOB_STATUS = {
    "pending": "pending",
    "approved": "pending",
    "awaiting_approval": "interrupted",
    "running": "running",
    "succeeded": "success",
    "failed": "failure",
    "denied": "failure",
    "expired": "failure",
    "timed_out": "stalled",
    "cancelled": "failure",
}


def call_view(call: Call, result: Any, blobs: list[dict[str, Any]]) -> dict[str, Any]:
    """``getCall``: the contract's job shape (result as a JSON string), plus runplane's fields."""
    if call.status == "failed" and result is None:
        result = {"message": call.error}
    result_type = call.result_type
    if result_type is None and call.status in CALL_FINAL:
        result_type = "resolution" if call.status == "succeeded" else "rejection"
    return {
        "id": contract_call_id(call),
        "status": JOB_STATUS.get(call.status, call.status),
        "targetFn": plain_function(call),
        "service": call.service or RUNPLANE_SERVICE,
        "executingMachineId": call.worker,
        "targetArgs": json.dumps(call.input),
        "result": json.dumps(result) if result is not None else None,
        "resultType": result_type,
        "createdAt": call.created_at,
        "blobs": [{k: v for k, v in b.items() if k != "s3Key"} for b in blobs],
        "runId": call.run_id,
        "callStatus": call.status,
        "error": call.error,
        "approvalRequested": call.approval is not None,
        "approved": call.approval.approved if call.approval else None,
    }
