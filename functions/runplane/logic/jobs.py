"""Worker jobs: workers claim the jobs of their functions, heartbeat them and report results.

A job is a tool call whose function has a ``worker`` target. The state machine puts a message with a
task token on the function's queue (``sqs:sendMessage.waitForTaskToken``); a worker polling the API
claims it: the API takes the message, keeps the token with the call (server-side) and hands the
worker the call's input. Heartbeats and the result go through the API, which resumes the task.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from ..errors import ConcurrentUpdate, Conflict, InvalidRequest, NotClaimant, NotFound
from ..ports import Executions, RunStore
from ..schemas import CALL_FINAL, Call
from ..status import RunStatus
from ..tools.targets import call_payload
from .calls import CallSteps, heartbeat_seconds

MAX_WAIT_SECONDS = 20  # API Gateway's integration timeout is 29 s


class JobQueue(Protocol):
    def queue_url(self, cluster_id: str, function: str) -> str: ...

    def receive(self, url: str, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]: ...

    def delete(self, url: str, receipt: str) -> None: ...


def job_view(call: Call, run: Any) -> dict[str, Any]:
    return {
        **call_payload(call, run),
        "runId": call.run_id,
        "callId": call.id,
        "function": call.function,
        "timeoutSeconds": call.timeout_seconds,
        "heartbeatSeconds": heartbeat_seconds(call.timeout_seconds),
    }


class JobService:
    def __init__(self, store: RunStore, executions: Executions, queues: JobQueue, calls: CallSteps) -> None:
        self.store = store
        self.executions = executions
        self.queues = queues
        self.calls = calls

    def poll(
        self, cluster_id: str, functions: list[str], worker: str, wait_seconds: int, max_jobs: int
    ) -> list[dict[str, Any]]:
        if not functions:
            raise InvalidRequest("name at least one function", field="functions")
        for name in functions:
            record = self.store.get_function(cluster_id, name)
            if record is None or record.kind != "worker":
                raise InvalidRequest(f"'{name}' is not a worker function of cluster '{cluster_id}'", field="functions")
        urls = [self.queues.queue_url(cluster_id, name) for name in functions]
        deadline = time.monotonic() + max(0, min(wait_seconds, MAX_WAIT_SECONDS))
        jobs: list[dict[str, Any]] = []
        while True:
            for url in urls:
                # One queue: long-poll it; several: short polls in turn until the deadline.
                remaining = max(0, int(deadline - time.monotonic()))
                wait = min(remaining, MAX_WAIT_SECONDS) if len(urls) == 1 else 0
                for message in self.queues.receive(url, max_jobs - len(jobs), wait):
                    job = self._claim(cluster_id, message, worker)
                    self.queues.delete(url, message["ReceiptHandle"])
                    if job is not None:
                        jobs.append(job)
                if len(jobs) >= max_jobs:
                    return jobs
            if jobs or time.monotonic() >= deadline:
                return jobs
            if len(urls) > 1:
                time.sleep(0.25)

    def _claim(self, cluster_id: str, message: dict[str, Any], worker: str) -> dict[str, Any] | None:
        body = json.loads(message["Body"])
        token = body["taskToken"]
        run = self.store.get_run(cluster_id, body["runId"])
        call = self.store.get_call(cluster_id, body["runId"], body["callId"]) if run else None
        if run is None or call is None or body.get("clusterId") != cluster_id:
            return None
        if call.status == "running":
            return None  # a duplicate delivery of a job a worker already has
        if run.status == RunStatus.CANCELLED or call.status not in ("pending", "approved"):
            # A void job (cancelled, timed out): release the waiting task so the loop moves on.
            self.executions.send_task_success(token, self.calls.descriptor(call))
            return None
        try:
            claimed = self.store.update_call(
                call, {"pending", "approved"}, status="running", task_token=token, worker=worker
            )
        except ConcurrentUpdate:  # cancelled while we claimed it: release the task, hand out nothing
            fresh = self.store.get_call(cluster_id, call.run_id, call.id)
            if fresh is not None and fresh.status in CALL_FINAL:
                self.executions.send_task_success(token, self.calls.descriptor(fresh))
            return None
        return job_view(claimed, run)

    def _running(self, cluster_id: str, run_id: str, call_id: str, worker: str) -> Call:
        """The running call, if ``worker`` is the one that claimed it (NotClaimant otherwise)."""
        call = self.store.get_call(cluster_id, run_id, call_id)
        if call is None:
            raise NotFound(f"call '{call_id}' not found in run '{run_id}'")
        if call.worker is not None and worker != call.worker:
            raise NotClaimant(f"call '{call_id}' was claimed by another worker: only it may report on it")
        if call.status != "running" or not call.task_token:
            raise Conflict(f"call '{call_id}' is {call.status}: it no longer takes heartbeats or results")
        if call.worker is None:
            raise NotClaimant(f"call '{call_id}' was not claimed by a worker")
        return call

    def heartbeat(self, cluster_id: str, run_id: str, call_id: str, worker: str) -> None:
        call = self._running(cluster_id, run_id, call_id, worker)
        assert call.task_token is not None
        if not self.executions.send_task_heartbeat(call.task_token):
            raise Conflict(f"call '{call_id}' timed out")

    def complete(
        self, cluster_id: str, run_id: str, call_id: str, worker: str, *, result: Any, error: str | None
    ) -> Call:
        call = self._running(cluster_id, run_id, call_id, worker)
        token = call.task_token
        if error is not None:
            done = self.store.update_call(call, {"running"}, status="failed", error=error[:4000], task_token=None)
        else:
            done = self.calls.finish(call.model_copy(update={"task_token": None}), result)
        assert token is not None
        self.executions.send_task_success(token, {"id": call.id})
        return done
