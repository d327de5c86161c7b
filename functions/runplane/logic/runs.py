"""Creating, reading and listing runs."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from .. import catalog
from ..config import Settings
from ..errors import ConcurrentUpdate, Conflict, InvalidRequest, NotFound, TooLarge
from ..ids import ulid
from ..ports import Executions, RunStore
from ..schemas import (
    Call,
    Cluster,
    CreateClusterRequest,
    CreateRunRequest,
    Message,
    Run,
    function_name,
    mock_key,
)
from ..status import TERMINAL, RunStatus
from ..timeutil import now_iso
from . import contract, notify
from .admission import Admission
from .calls import CallSteps
from .functions import FunctionService
from .naming import name_from_prompt
from .run_configs import RunConfigService

MAX_LIST_LIMIT = 100
# What a run stores with itself (prompt, schema, context, test, …): DynamoDB items are capped at 400 KB.
MAX_RUN_DEFINITION_BYTES = 256 * 1024


# failureReason when Step Functions reports that the run's execution ended outside the loop's own paths
# (the error code, e.g. States.Runtime, is logged by the reconcile handler, not shown).
_EXECUTION_ENDED = {
    "ABORTED": "the agent loop's execution was stopped before the run finished",
    "TIMED_OUT": "the agent loop's execution timed out before the run finished",
    "FAILED": "the agent loop's execution failed before the run finished",
}


def _check_size(body: CreateRunRequest) -> None:
    data = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    sizes = {k: len(json.dumps(v, separators=(",", ":"))) for k, v in data.items()}
    total = sum(sizes.values())
    if total > MAX_RUN_DEFINITION_BYTES:
        largest = max(sizes, key=lambda k: sizes[k])
        raise TooLarge(
            f"the run definition is {total} bytes, over the {MAX_RUN_DEFINITION_BYTES}-byte limit "
            f"(largest field: '{largest}', {sizes[largest]} bytes)",
            field=largest,
        )


def _test_options(body: CreateRunRequest) -> dict[str, Any] | None:
    if body.test is None:
        return None
    test = body.test.model_dump(mode="json", by_alias=True, exclude_none=True)
    if test.get("mocks"):  # keyed <service>_<function>; runplane's own functions by name too
        test["mocks"] = {mock_key(k): v for k, v in test["mocks"].items()}
    return test


def request_hash(body: CreateRunRequest) -> str:
    canonical = json.dumps(
        body.model_dump(mode="json", by_alias=True, exclude={"id"}), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def prompt_message(text: str, index: int = 0) -> Message:
    return Message(
        index=index, role="user", kind="human", content=[{"type": "text", "text": text}], created_at=now_iso()
    )


class RunService:
    def __init__(
        self,
        store: RunStore,
        executions: Executions,
        settings: Settings,
        functions: FunctionService,
        calls: CallSteps,
        configs: RunConfigService | None = None,
        webhook_secrets: notify.SecretStore | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.webhook_secrets = webhook_secrets
        self.admission = admission or Admission(store, executions, settings)
        self.store = store
        self.executions = executions
        self.settings = settings
        self.functions = functions
        self.calls = calls
        self.configs = configs

    # -- clusters ---------------------------------------------------------------------------
    def create_cluster(self, body: CreateClusterRequest) -> tuple[Cluster, bool]:
        cluster_id = body.id or ulid().lower()
        cluster = Cluster(
            id=cluster_id, name=body.name or cluster_id, description=body.description, created_at=now_iso()
        )
        created = self.store.put_cluster(cluster)
        return (cluster if created else self.require_cluster(cluster_id)), created

    def require_cluster(self, cluster_id: str) -> Cluster:
        cluster = self.store.get_cluster(cluster_id)
        if cluster is None:
            raise NotFound(f"cluster '{cluster_id}' not found")
        return cluster

    # -- runs -------------------------------------------------------------------------------
    def create_run(
        self,
        cluster_id: str,
        body: CreateRunRequest,
        *,
        attachments: list[dict[str, Any]] | None = None,
        history: list[Message] | None = None,
        agent_name: str | None = None,
        session_id: str | None = None,
    ) -> tuple[Run, bool]:
        """Store the run and start its agent loop. Same id + same body → the same run (created False).

        ACP passes the first message's ``attachments`` (image/document content blocks, after its
        text) and the session's earlier messages (``history``)."""
        self.require_cluster(cluster_id)
        config = None
        if self.configs is not None:
            body, config = self.configs.apply(cluster_id, body)
        assert body.initial_prompt is not None  # the request model and apply() guarantee one
        model = catalog.resolve(body.model, self.settings.default_model)
        provider = self.settings.model_provider
        if body.attached_functions is not None:
            self.functions.resolve_attached(cluster_id, [function_name(f) for f in body.attached_functions])
        if body.on_status_change is not None:
            notify.check_on_status_change(
                cluster_id, body.on_status_change, self.functions, self.webhook_secrets, self.settings
            )
        now = now_iso()
        run = Run(
            id=body.id or ulid(),
            cluster_id=cluster_id,
            name=body.name or name_from_prompt(body.initial_prompt),
            status=RunStatus.PENDING,
            seq=1,
            created_at=now,
            updated_at=now,
            request_hash=request_hash(body),
            initial_prompt=body.initial_prompt,
            system_prompt=body.system_prompt,
            model=model,
            provider=provider,
            model_id=catalog.provider_model_id(model, provider, self.settings.bedrock_model_ids),
            result_schema=body.result_schema,
            attached_functions=(
                [function_name(f) for f in body.attached_functions] if body.attached_functions is not None else None
            ),
            on_status_change=(
                body.on_status_change.model_dump(mode="json", exclude_none=True) if body.on_status_change else None
            ),
            metadata=body.metadata or {},
            context=body.context,
            reasoning_traces=body.reasoning_traces,
            call_summarization=body.call_summarization,
            interactive=body.interactive,
            test=_test_options(body),
            config=body.config.model_dump(mode="json", exclude_none=True) if body.config else None,
            config_id=config.id if config else None,
            config_version=config.version if config else None,
            agent_name=agent_name,
            session_id=session_id,
        )
        _check_size(body)
        earlier = list(history or [])
        first = prompt_message(body.initial_prompt, index=len(earlier))
        if attachments:
            first.content = [*first.content, *attachments]
        queued = self.admission.enabled  # with a concurrency cap, every new run is admitted in order
        existing = self.store.create_run(run, first, earlier, queued=queued)
        if existing is not None:
            if existing.request_hash != run.request_hash:
                raise Conflict(f"a run with id '{run.id}' already exists with a different body")
            run = existing
            if run.status == RunStatus.PENDING:  # a retried create: the first attempt may have died here
                self.store.append_message(run, prompt_message(run.initial_prompt))
        if run.status == RunStatus.PENDING:
            self.admission.start(run)  # starts it now, or it waits for a concurrency slot
        return run, existing is None

    def get_run(self, cluster_id: str, run_id: str) -> Run:
        run = self.store.get_run(cluster_id, run_id)
        if run is None:
            self.require_cluster(cluster_id)
            raise NotFound(f"run '{run_id}' not found in cluster '{cluster_id}'")
        return run

    def list_runs(
        self,
        cluster_id: str,
        *,
        status: RunStatus | None = None,
        metadata: dict[str, str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
        test: bool | None = None,
        config_id: str | None = None,
    ) -> tuple[list[Run], str | None]:
        self.require_cluster(cluster_id)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRequest(f"'limit' must be between 1 and {MAX_LIST_LIMIT}", field="limit")
        return self.store.list_runs(
            cluster_id,
            status=status,
            metadata=metadata or {},
            limit=limit,
            cursor=cursor,
            test=test,
            config_id=config_id,
        )

    def feedback(self, cluster_id: str, run_id: str, comment: str | None, score: float | None) -> Run:
        run = self.get_run(cluster_id, run_id)
        updated = self.store.set_run_fields(run, feedback_comment=comment, feedback_score=score)
        if updated is None:
            raise NotFound(f"run '{run_id}' not found in cluster '{cluster_id}'")
        return updated

    def delete_run(self, cluster_id: str, run_id: str) -> None:
        """Delete a finished run and everything it owns; a run still going → Conflict."""
        run = self.get_run(cluster_id, run_id)
        if run.status not in TERMINAL:
            raise Conflict(f"run '{run_id}' is {run.status}: cancel it or let it finish before deleting it")
        try:
            self.store.delete_run(run)
        except ConcurrentUpdate:
            raise Conflict(f"run '{run_id}' changed while it was being deleted; try again") from None

    def message_views(self, cluster_id: str, run_id: str) -> list[dict[str, Any]]:
        run = self.get_run(cluster_id, run_id)
        return contract.messages_view(run, self.store.messages(run))

    def contract_timeline(
        self, cluster_id: str, run_id: str, messages_after: str, activity_after: str
    ) -> dict[str, Any]:
        """``getRunTimeline``: messages, activity, jobs (calls), the run and its blobs."""
        run = self.get_run(cluster_id, run_id)
        calls = self.store.calls(cluster_id, run_id)
        messages = [m for m in contract.messages_view(run, self.store.messages(run)) if m["id"] > messages_after]
        activity = [a for a in contract.activity_view(run, status_history(run), calls) if a["id"] > activity_after]
        blobs = [{k: v for k, v in b.items() if k != "s3Key"} for b in self.store.call_blobs(cluster_id, run_id)]
        return {
            "messages": messages,
            "activity": activity,
            "jobs": [contract.job_view(c) for c in sorted(calls, key=lambda c: (c.created_at, c.id))],
            "run": contract.run_core(run),
            "blobs": blobs,
        }

    # -- conversation and control -------------------------------------------------------------
    def send_message(self, cluster_id: str, run_id: str, text: str, message_id: str | None = None) -> Run:
        """Continue an interactive run that is done, failed, or paused on nothing."""
        for _ in range(5):
            run = self.get_run(cluster_id, run_id)
            if not run.interactive:
                raise Conflict(f"run '{run_id}' is not interactive (it was created with interactive: false)")
            if run.status in (RunStatus.PENDING, RunStatus.RUNNING):
                raise Conflict(f"run '{run_id}' is {run.status}: send the message when it is done")
            if run.status == RunStatus.CANCELLED:
                raise Conflict(f"run '{run_id}' was cancelled")
            if run.status == RunStatus.PAUSED and self.calls.pending_approvals(run):
                raise Conflict(f"run '{run_id}' is waiting for approvals: decide them first")
            messages = self.store.messages(run)
            if message_id and any(m.id == message_id for m in messages):
                return run  # the same message again (a retried request)
            message = prompt_message(text, index=len(messages)).model_copy(update={"id": message_id})
            if not self.store.append_message(run, message):
                continue  # another message took this index: read again
            try:
                # Back to running with its next execution, or to pending while the caps are full.
                return self.admission.resume(
                    run,
                    executions=run.executions + 1,
                    result=None,
                    summary=None,
                    result_error=None,
                    failure_reason=None,
                )
            except ConcurrentUpdate:
                continue
        raise Conflict(f"run '{run_id}' kept changing; try again")

    def execution_ended(self, cluster_id: str, run_id: str, execution: str, status: str, error: str | None) -> bool:
        """Step Functions reported that an execution ended FAILED, TIMED_OUT or ABORTED. If it was the
        run's current execution and the run is still open, the run fails (with its event): nothing
        else would ever finish it. Returns whether the run changed."""
        reason = _EXECUTION_ENDED.get(status, "the agent loop's execution ended before the run finished")
        return self.fail_open_run(cluster_id, run_id, reason, execution=execution)

    def fail_open_run(self, cluster_id: str, run_id: str, reason: str, *, execution: str | None = None) -> bool:
        """Fail a run that is still open (pending, running or paused) and whose execution is gone;
        with ``execution``, only if that is still the run's current execution. Its pending approvals
        are cancelled. Returns whether the run changed."""
        for _ in range(5):
            run = self.store.get_run(cluster_id, run_id)
            if run is None or run.status in TERMINAL:
                return False
            if execution is not None and run.execution_name != execution:
                return False
            try:
                self.store.transition(run, RunStatus.FAILED, failure_reason=reason)
            except ConcurrentUpdate:
                continue
            for call in self.calls.pending_approvals(run):
                self.store.update_call(call, {"awaiting_approval"}, status="cancelled", task_token=None)
            return True
        return False

    def cancel(self, cluster_id: str, run_id: str, reason: str | None = None) -> Run:
        self.require_cluster(cluster_id)
        return self.calls.cancel(cluster_id, run_id, reason)

    def decide(
        self,
        cluster_id: str,
        run_id: str,
        call_id: str,
        *,
        approved: bool,
        reason: str | None,
        edited_input: dict[str, Any] | None,
        decided_by: str | None = None,
    ) -> Call:
        self.get_run(cluster_id, run_id)
        return self.calls.decide(
            cluster_id,
            run_id,
            call_id,
            approved=approved,
            reason=reason,
            edited_input=edited_input,
            decided_by=decided_by,
        )

    def pending_approvals(self, run: Run) -> list[Call]:
        return self.calls.pending_approvals(run) if run.status == RunStatus.PAUSED else []

    def timeline(
        self, cluster_id: str, run_id: str, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        run = self.get_run(cluster_id, run_id)
        entries = build_timeline(self.store.messages(run), self.store.calls(cluster_id, run_id), status_history(run))
        if cursor is not None and not re.fullmatch(r"[0-9]{1,9}", cursor):
            raise InvalidRequest("not a cursor this timeline returned (a non-negative offset)", field="cursor")
        start = int(cursor) if cursor else 0
        page = entries[start : start + limit]
        more = start + limit < len(entries)
        return page, str(start + limit) if more else None


def status_history(run: Run) -> list[dict[str, Any]]:
    """The run's status changes, oldest first (the first, ``pending``, is the run's creation)."""
    created = {"sequence": 1, "status": "pending", "previousStatus": None, "at": run.created_at}
    return [created, *run.history]


_ORDER = {"status": 0, "message": 1, "call": 2, "approval-requested": 3, "approval-decided": 4}


def build_timeline(messages: list[Message], calls: list[Call], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages, tool calls (with inputs, results and reasoning), approvals and status changes, in order."""
    entries: list[dict[str, Any]] = []
    for change in history:
        entries.append({"type": "status", **change})
    for m in messages:
        entries.append(
            {
                "type": "message",
                "at": m.created_at,
                "index": m.index,
                "role": m.role,
                "kind": m.kind,
                "content": m.content,
            }
        )
    for c in calls:
        entries.append(
            {
                "type": "call",
                "at": c.created_at,
                "callId": c.id,
                "function": c.function,
                "input": c.input,
                "status": c.status,
                "result": c.result,
                "resultChars": c.result_chars,
                "resultStored": c.result_blob is not None,
                "error": c.error,
                "reasoning": c.reasoning,
                "updatedAt": c.updated_at,
                "worker": c.worker,
            }
        )
        if c.approval is not None:
            entries.append(
                {
                    "type": "approval-requested",
                    "at": c.approval.requested_at,
                    "callId": c.id,
                    "function": c.function,
                    "input": c.input,
                    "expiresAt": c.approval.expires_at,
                }
            )
            if c.approval.decided_at:
                entries.append(
                    {
                        "type": "approval-decided",
                        "at": c.approval.decided_at,
                        "callId": c.id,
                        "approved": bool(c.approval.approved),
                        "reason": c.approval.reason,
                        "editedInput": c.approval.edited_input,
                        "decidedBy": c.approval.decided_by,
                    }
                )
    entries.sort(key=lambda e: (e["at"], _ORDER[e["type"]], e.get("index", 0), e.get("sequence", 0)))
    return entries
