"""Tool calls: running them, approvals, expiry and failures.

The agent-loop state machine's Map state runs one iteration per call; each iteration is routed by
the call's *mode*: ``approval`` (wait for a human on a task token), ``worker`` (a job on the
cluster's queue, picked up by a worker), ``direct`` (run here) or ``done``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ..config import Settings
from ..errors import ConcurrentUpdate, Conflict, InvalidRequest, NotFound, TooLarge
from ..ports import Executions, RunStore
from ..schemas import CALL_FINAL, Approval, Call, Run
from ..status import TERMINAL, RunStatus
from ..timeutil import now_iso
from ..tools.builtins import ToolError
from ..tools.netguard import policy_for
from ..tools.targets import call_payload, invoke_builtin, invoke_http, invoke_lambda

INLINE_RESULT_BYTES = 64_000
MAX_EDITED_INPUT_BYTES = 64_000


class LambdaInvoker(Protocol):
    def invoke(self, **kwargs: Any) -> dict[str, Any]: ...


def call_mode(call: Call) -> str:
    if call.status in CALL_FINAL:
        return "done"
    if call.status == "pending" and call.requires_approval:
        return "approval"
    if call.kind == "service" and not call.mocked:
        return "service"
    return "worker" if call.kind == "worker" and not call.mocked else "direct"


def service_queue(service: str) -> str:
    """The job queue key of an Inferable service: one queue per (cluster, service), which its machines
    poll (function names cannot contain ':', so this never names a function's own queue)."""
    return f"service:{service}"


def heartbeat_seconds(timeout: int) -> int:
    """A worker must heartbeat at least this often (Step Functions wants it below the timeout)."""
    return max(1, min(60, timeout - 1))


def descriptor(call: Call, queue_url: str = "") -> dict[str, Any]:
    """What the Map state iterates over: small, ids and routing only."""
    return {
        "id": call.id,
        "mode": call_mode(call),
        "timeout": call.timeout_seconds,
        "approvalTimeout": call.approval_timeout_seconds,
        "heartbeat": heartbeat_seconds(call.timeout_seconds),
        "queueUrl": queue_url,
        "delivery": call.delivery,
    }


class JobQueues(Protocol):
    def queue_url(self, cluster_id: str, function: str) -> str:
        """The (created on demand) queue that carries the function's worker jobs."""


def _iso_in(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class CallSteps:
    """Steps of the Map iteration (the tool-step Lambda) and the API's decisions on calls."""

    def __init__(
        self,
        store: RunStore,
        executions: Executions,
        settings: Settings,
        queues: JobQueues,
        lambda_client: LambdaInvoker | None = None,
    ) -> None:
        self.store = store
        self.executions = executions
        self.settings = settings
        self.queues = queues
        self.lambda_client = lambda_client

    def descriptor(self, call: Call) -> dict[str, Any]:
        mode = call_mode(call)
        if mode == "service":
            return descriptor(call, self.queues.queue_url(call.cluster_id, service_queue(str(call.service))))
        return descriptor(call, self.queues.queue_url(call.cluster_id, call.function) if mode == "worker" else "")

    def _load(self, cluster_id: str, run_id: str, call_id: str) -> tuple[Run, Call]:
        run = self.store.get_run(cluster_id, run_id)
        call = self.store.get_call(cluster_id, run_id, call_id)
        if run is None or call is None:
            raise NotFound(f"call '{call_id}' not found in run '{run_id}'")
        return run, call

    # -- direct calls -----------------------------------------------------------------------
    def run_call(self, cluster_id: str, run_id: str, call_id: str) -> dict[str, Any]:
        run, call = self._load(cluster_id, run_id, call_id)
        if call.status in CALL_FINAL:
            return descriptor(call)
        if run.status == RunStatus.CANCELLED:
            return descriptor(self._set(call, {"pending", "approved", "running"}, status="cancelled"))
        test = run.test or {}
        mocks = (test.get("mocks") or {}) if test.get("enabled") else {}
        call = self._set(call, {"pending", "approved", "running"}, status="running")
        if call.status != "running":  # cancelled (or decided elsewhere) meanwhile: do not run it
            return descriptor(call)
        try:
            if call.function in mocks:
                result = mocks[call.function]["output"]
            elif call.kind == "builtin":
                result = invoke_builtin(call.function, call.input, policy=policy_for(self.settings))
            elif call.kind == "http":
                result = invoke_http(
                    self._target(run, call),
                    call_payload(call, run),
                    float(call.timeout_seconds),
                    policy=policy_for(self.settings),
                )
            elif call.kind == "lambda":
                assert self.lambda_client is not None
                result = invoke_lambda(self.lambda_client, self._target(run, call), call_payload(call, run))
            else:
                raise ToolError(f"'{call.kind}' functions cannot be run directly")
        except ToolError as exc:
            return descriptor(self._set(call, {"running"}, status="failed", error=str(exc)))
        return descriptor(self.finish(call, result))

    def _target(self, run: Run, call: Call) -> dict[str, Any]:
        record = self.store.get_function(run.cluster_id, call.function)
        if record is None:
            raise ToolError(f"function '{call.function}' no longer exists")
        return record.target

    def finish(self, call: Call, result: Any) -> Call:
        """Store a successful result (large ones in S3); the call must be running."""
        return self._set(call, {"running"}, **self.result_fields(call, result))

    def result_fields(self, call: Call, result: Any) -> dict[str, Any]:
        """The fields of a succeeded call (a result over the inline limit goes to S3 first)."""
        text = json.dumps(result, separators=(",", ":"), default=str)
        fields: dict[str, Any] = {"status": "succeeded", "result_chars": len(text)}
        if len(text) > INLINE_RESULT_BYTES:
            key = f"runs/{call.cluster_id}/{call.run_id}/calls/{call.id}.json"
            fields["result_blob"] = self.store.put_blob(key, text.encode())
        else:
            fields["result"] = result
        return fields

    def _set(self, call: Call, expected: set[str], **fields: Any) -> Call:
        try:
            return self.store.update_call(call, expected, **fields)
        except ConcurrentUpdate:
            fresh = self.store.get_call(call.cluster_id, call.run_id, call.id)
            if fresh is None:
                raise
            return fresh  # someone else decided (cancel, expiry, a worker): theirs stands

    def full_result(self, call: Call) -> Any:
        if call.result_blob:
            return json.loads(self.store.get_blob(call.result_blob))
        return call.result

    # -- failures and timeouts (the Map iteration's Catch) ------------------------------------
    def call_failed(self, cluster_id: str, run_id: str, call_id: str, error: dict[str, Any] | None) -> dict[str, Any]:
        run, call = self._load(cluster_id, run_id, call_id)
        name = str((error or {}).get("Error", "Error"))
        if call.kind == "service" and name == "States.Timeout" and call.status in ("pending", "approved", "running"):
            return self._service_timeout(run, call)
        if name in ("States.Timeout", "States.HeartbeatTimeout"):
            fields = {"status": "timed_out", "error": f"the call did not finish within {call.timeout_seconds} s"}
        else:
            fields = {"status": "failed", "error": f"the call failed ({name})"}
        return descriptor(self._set(call, set(_open_statuses()), **fields))

    def _service_timeout(self, run: Run, call: Call) -> dict[str, Any]:
        """A service call's wait ran out. Acknowledged (running) and not answered: a stall, queued again
        while ``retryCountOnStall`` allows, then a failure the model sees. Never acknowledged: queued
        again (no machine has taken it yet) until ``service_pending_seconds`` have passed."""
        again = "approved" if call.approval is not None and call.approval.approved else "pending"
        if run.status == RunStatus.CANCELLED:
            return descriptor(self._set(call, set(_open_statuses()), status="cancelled", task_token=None))
        if call.status == "running":
            if call.stalls < call.retry_count_on_stall:
                retried = self._set(
                    call,
                    {"running"},
                    status=again,
                    stalls=call.stalls + 1,
                    delivery=call.delivery + 1,
                    task_token=None,
                    worker=None,
                    acknowledged_at=None,
                )
                return self.descriptor(retried)
            tries = call.stalls + 1
            error = (
                f"the call stalled: service '{call.service}' acknowledged it but sent no result within "
                f"{call.timeout_seconds} s ({tries} attempt{'s' if tries != 1 else ''})"
            )
            return descriptor(self._set(call, {"running"}, status="timed_out", error=error, task_token=None))
        waited = (datetime.now(UTC) - datetime.fromisoformat(call.created_at.replace("Z", "+00:00"))).total_seconds()
        if waited + call.timeout_seconds <= self.settings.service_pending_seconds:
            return self.descriptor(self._set(call, {call.status}, delivery=call.delivery + 1))
        error = f"no machine of service '{call.service}' took the call within {int(waited)} s"
        return descriptor(self._set(call, {call.status}, status="timed_out", error=error, task_token=None))

    # -- approvals ----------------------------------------------------------------------------
    def await_approval(self, cluster_id: str, run_id: str, call_id: str, token: str) -> dict[str, Any]:
        run, call = self._load(cluster_id, run_id, call_id)
        if call.status != "pending":  # decided (or expired/cancelled) already: resume the wait at once
            self.executions.send_task_success(token, self.descriptor(call))
            return descriptor(call)
        approval = Approval(requested_at=now_iso(), expires_at=_iso_in(call.approval_timeout_seconds))
        call = self._set(call, {"pending"}, status="awaiting_approval", task_token=token, approval=approval)
        if call.status != "awaiting_approval":
            self.executions.send_task_success(token, self.descriptor(call))
            return descriptor(call)
        self._pause(run)
        return descriptor(call)

    def approval_expired(self, cluster_id: str, run_id: str, call_id: str) -> dict[str, Any]:
        run, call = self._load(cluster_id, run_id, call_id)
        if call.status == "awaiting_approval":
            approval = (call.approval or Approval(requested_at=now_iso(), expires_at=now_iso())).model_copy(
                update={"decided_at": now_iso(), "approved": False, "reason": "expired"}
            )
            call = self._set(call, {"awaiting_approval"}, status="expired", approval=approval, task_token=None)
            self.resume_if_clear(run)
        return self.descriptor(call)

    def decide(
        self,
        cluster_id: str,
        run_id: str,
        call_id: str,
        *,
        approved: bool,
        reason: str | None,
        edited_input: dict[str, Any] | None,
    ) -> Call:
        """A human's decision (API). Exactly one of two concurrent decisions wins; the other → Conflict."""
        run = self.store.get_run(cluster_id, run_id)
        call = self.store.get_call(cluster_id, run_id, call_id) if run else None
        if run is None or call is None:
            raise NotFound(f"call '{call_id}' not found in run '{run_id}' of cluster '{cluster_id}'")
        if run.status in TERMINAL:
            raise Conflict(f"run '{run_id}' is {run.status}: its calls can no longer be decided")
        if call.status != "awaiting_approval":
            raise Conflict(f"call '{call_id}' is not awaiting approval (it is {call.status})")
        if edited_input is not None:
            if not approved:
                raise InvalidRequest("'input' can only be given with an approval", field="input")
            size = len(json.dumps(edited_input, separators=(",", ":")).encode())
            if size > MAX_EDITED_INPUT_BYTES:  # stored twice in the call's item (400 KB at most)
                raise TooLarge(f"{size} bytes, over the {MAX_EDITED_INPUT_BYTES}-byte limit", field="input")
            from .result import validation_errors  # jsonschema: imported only when needed

            record = self.store.get_function(cluster_id, call.function)
            schema = record.input_schema if record else {"type": "object"}
            problems = validation_errors(schema, edited_input)
            if problems:
                raise InvalidRequest(f"does not match the function's inputSchema: {'; '.join(problems)}", field="input")
        assert call.approval is not None
        approval = call.approval.model_copy(
            update={"decided_at": now_iso(), "approved": approved, "reason": reason, "edited_input": edited_input}
        )
        fields: dict[str, Any] = {
            "status": "approved" if approved else "denied",
            "approval": approval,
            "task_token": None,
        }
        if edited_input is not None:
            fields["input"] = edited_input
        token = call.task_token
        try:
            decided = self.store.update_call(call, {"awaiting_approval"}, **fields)
        except ConcurrentUpdate:
            raise Conflict(f"call '{call_id}' was decided by someone else") from None
        # Resume the run before the loop does: its next model turn must find it running.
        self.resume_if_clear(run)
        if token:
            self.executions.send_task_success(token, self.descriptor(decided))
        return decided

    def _pause(self, run: Run) -> None:
        for _ in range(5):
            if run.status != RunStatus.RUNNING:
                return
            try:
                self.store.transition(run, RunStatus.PAUSED)
                return
            except ConcurrentUpdate:
                fresh = self.store.get_run(run.cluster_id, run.id)
                if fresh is None:
                    return
                run = fresh

    def resume_if_clear(self, run: Run) -> None:
        for _ in range(5):
            fresh = self.store.get_run(run.cluster_id, run.id)
            if fresh is None or fresh.status != RunStatus.PAUSED:
                return
            if any(c.status == "awaiting_approval" for c in self.store.calls(run.cluster_id, run.id)):
                return
            try:
                self.store.transition(fresh, RunStatus.RUNNING)
                return
            except ConcurrentUpdate:
                continue

    # -- cancel -------------------------------------------------------------------------------
    def cancel(self, cluster_id: str, run_id: str, reason: str | None) -> Run:
        for _ in range(5):
            run = self.store.get_run(cluster_id, run_id)
            if run is None:
                raise NotFound(f"run '{run_id}' not found in cluster '{cluster_id}'")
            if run.status in TERMINAL:
                raise Conflict(f"run '{run_id}' is already {run.status}")
            try:
                run = self.store.transition(
                    run, RunStatus.CANCELLED, failure_reason=None, cancel_reason=reason or "cancelled by request"
                )
                break
            except ConcurrentUpdate:
                continue
        else:
            raise Conflict(f"run '{run_id}' kept changing; try again")
        for call in self.store.calls(cluster_id, run_id):
            if call.status in CALL_FINAL:
                continue
            token = call.task_token
            cancelled = self._set(call, set(_open_statuses()), status="cancelled", task_token=None)
            if token and cancelled.status == "cancelled":
                self.executions.send_task_success(token, descriptor(cancelled))
        self.executions.stop(run, "run cancelled")
        return run

    def pending_approvals(self, run: Run) -> list[Call]:
        return [c for c in self.store.calls(run.cluster_id, run.id) if c.status == "awaiting_approval"]


def _open_statuses() -> list[str]:
    return ["pending", "awaiting_approval", "approved", "running"]
