"""The agent loop's steps, called by the state machine through the agent-step Lambda.

The conversation lives in the store, never in the state payload: each step reads it, does one thing
and returns what the state machine should do next (``model``, ``done``, ``failed`` or ``end``). Steps
are idempotent: a retried step finds what an earlier attempt stored and carries on from there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..errors import ConcurrentUpdate
from ..llm.base import ModelClient, ModelRequest
from ..ports import RunStore
from ..schemas import CALL_FINAL, Call, Message, Run, ScriptedTurn
from ..status import TERMINAL, RunStatus
from ..timeutil import now_iso
from ..tools.models import FunctionRecord
from .acp import resolve_blobs
from .calls import CallSteps
from .functions import FunctionService
from .result import validation_errors
from .runs import prompt_message

# {"next": "model" | "tools" | "done" | "failed" | "end", "calls"?: [call descriptors]}
Step = dict[str, Any]

FINAL_TOOL = "final_result"
SUMMARY_CHARS = 280

BASE_SYSTEM = (
    "You are an agent working on a task for a user of runplane. Work step by step, use the tools you "
    "are given when they help, and finish with a clear answer."
)
SUMMARY_SYSTEM = (
    "You summarize a function's result for an agent working on a task. Keep every fact the task may "
    "need (names, numbers, ids, errors); drop the rest. Answer with the summary only, at most 1,500 characters."
)
SUMMARY_INPUT_CHARS = 200_000
RESULT_SYSTEM = (
    "When you have the answer, call the `final_result` tool exactly once: `result` must conform to the "
    "tool's schema and `summary` is one or two sentences on what you did and found."
)


def final_tool(schema: dict[str, Any]) -> dict[str, Any]:
    """The forced tool that carries a schema-conformant result (definitions hoisted to the root)."""
    result = _rebase_refs({k: v for k, v in schema.items() if k not in ("$defs", "definitions", "$schema", "$id")})
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "result": result,
            "summary": {"type": "string", "description": "One or two sentences: what you did and found."},
        },
        "required": ["result", "summary"],
    }
    for key in ("$defs", "definitions"):
        if key in schema:
            input_schema[key] = schema[key]
    return {
        "name": FINAL_TOOL,
        "description": "Report the final result of the task. Call it once, when you are done.",
        "input_schema": input_schema,
    }


def _rebase_refs(node: Any) -> Any:
    """Local ``$ref`` s of a result schema, rewritten for its new place under ``properties/result``
    (references into the hoisted ``$defs``/``definitions`` stay as they are)."""
    if isinstance(node, list):
        return [_rebase_refs(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _rebase_refs(v) for k, v in node.items()}
    ref = node.get("$ref")
    hoisted = ("#/$defs/", "#/definitions/")
    if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")) and not ref.startswith(hoisted):
        out["$ref"] = "#/properties/result" + ref[1:]
    return out


def summarize_text(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= SUMMARY_CHARS:
        return flat
    cut = flat[:SUMMARY_CHARS]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 40 else cut.rstrip() + "…"


def _text_of(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(b["text"] for b in blocks if b.get("type") == "text" and b.get("text")).strip()


def _tool_result(tool_use_id: str, content: str, is_error: bool) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": content, "is_error": is_error}


def wire_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages API format; adjacent messages of one role are merged (the API wants alternation)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if out and out[-1]["role"] == m.role:
            out[-1]["content"] = [*out[-1]["content"], *m.content]
        else:
            out.append({"role": m.role, "content": list(m.content)})
    return out


def _mocks(run: Run) -> dict[str, Any]:
    test = run.test or {}
    return dict(test.get("mocks") or {}) if test.get("enabled") else {}


def _uses(message: Message) -> list[dict[str, Any]]:
    return [b for b in message.content if b.get("type") == "tool_use"]


class AgentSteps:
    def __init__(
        self,
        store: RunStore,
        model_for: Callable[[str], ModelClient],
        settings: Settings,
        functions: FunctionService,
        calls: CallSteps,
    ) -> None:
        self.store = store
        self.model_for = model_for
        self.settings = settings
        self.functions = functions
        self.calls = calls

    # -- the model turn ---------------------------------------------------------------------
    def model_turn(self, cluster_id: str, run_id: str) -> Step:
        run = self.store.get_run(cluster_id, run_id)
        if run is not None and run.status == RunStatus.PAUSED:
            # The Map state only ends when every call is decided: a paused run here has nothing pending.
            self.calls.resume_if_clear(run)
            run = self.store.get_run(cluster_id, run_id)
        if run is None or run.status in TERMINAL or run.status == RunStatus.PAUSED:
            return {"next": "end"}
        if run.status == RunStatus.PENDING:
            moved = self._move(run, RunStatus.RUNNING)
            if moved is None:
                return {"next": "end"}
            run = moved
        messages = self.store.messages(run)
        if not messages:
            # The run is stored before its first message (two writes, no transaction): if the
            # create died in between, the prompt is still in the run item.
            self.store.append_message(run, prompt_message(run.initial_prompt))
            messages = self.store.messages(run)
        if messages and messages[-1].role == "assistant":
            uses = [u for u in _uses(messages[-1]) if u.get("name") != FINAL_TOOL]
            if not uses:
                return self._after_assistant(run, messages)
            calls = {c.id: c for c in self.store.calls(run.cluster_id, run.id)}
            if not all(u["id"] in calls for u in uses):
                return self._start_tools(run, messages, calls)
            messages = self._append_tool_results(run, messages, calls)
        turns = 0
        for m in reversed(messages):
            if m.kind == "human":
                break
            turns += m.role == "assistant"
        if turns >= self.settings.max_turns:
            return self._fail(
                run, f"the run reached the maximum of {self.settings.max_turns} model turns without finishing"
            )
        messages = self._call_model(run, messages, sum(1 for m in messages if m.role == "assistant"))
        return self._after_assistant(run, messages)

    def _run_functions(self, run: Run) -> list[FunctionRecord]:
        return self.functions.resolve_attached(run.cluster_id, run.attached_functions, strict=False)

    def _call_model(self, run: Run, messages: list[Message], turn: int) -> list[Message]:
        request = self._request(run, messages, turn)
        response = self.model_for(run.provider).complete(request)
        content = response.content or [{"type": "text", "text": "(no content)"}]
        reply = Message(index=len(messages), role="assistant", kind="agent", content=content, created_at=now_iso())
        if self.store.append_message(run, reply, usage=(response.input_tokens, response.output_tokens)):
            return [*messages, reply]
        return self.store.messages(run)  # an earlier attempt of this step stored the reply already

    def _request(self, run: Run, messages: list[Message], turn: int) -> ModelRequest:
        functions = self._run_functions(run)
        tools: list[dict[str, Any]] = [f.tool() for f in functions]
        tool_choice: dict[str, Any] | None = None
        system = [BASE_SYSTEM]
        if run.result_schema is not None:
            tools.append(final_tool(run.result_schema))
            system.append(RESULT_SYSTEM)
            only_final = len(tools) == 1
            if only_final or (messages and messages[-1].kind == "repair"):
                tool_choice = {"type": "tool", "name": FINAL_TOOL}
        # What the offline scripted model calls when a run gives no script: the functions the run
        # was given explicitly, or the cluster's own functions (not the standard library).
        default_calls = [f.name for f in functions if run.attached_functions is not None or not f.builtin]
        if run.system_prompt:
            system.append(run.system_prompt)
        script = None
        if run.test and run.test.get("modelScript"):
            script = [ScriptedTurn.model_validate(t) for t in run.test["modelScript"]]
        return ModelRequest(
            model_id=run.model_id,
            system="\n\n".join(system),
            messages=resolve_blobs(wire_messages(messages), self.store.get_blob),  # ACP images/PDFs kept in S3
            tools=tools,
            tool_choice=tool_choice,
            max_tokens=self.settings.max_output_tokens,
            script=script,
            turn=turn,
            run_id=run.id,
            default_calls=default_calls,
        )

    # -- tool calls ---------------------------------------------------------------------------
    def _start_tools(self, run: Run, messages: list[Message], known: dict[str, Call]) -> Step:
        """Store a call for each tool_use of the last agent message; the Map state runs them."""
        last = messages[-1]
        functions = {f.name: f for f in self._run_functions(run)}
        reasoning = _text_of(last.content) or None if run.reasoning_traces else None
        now = now_iso()
        calls: list[Call] = []
        for use in _uses(last):
            if use.get("name") == FINAL_TOOL:
                continue
            if use["id"] in known:
                calls.append(known[use["id"]])
                continue
            args = use.get("input") if isinstance(use.get("input"), dict) else {}
            fn = functions.get(str(use.get("name")))
            call = Call(
                id=use["id"],
                run_id=run.id,
                cluster_id=run.cluster_id,
                message_index=last.index,
                function=str(use.get("name")),
                input=args,
                reasoning=reasoning,
                created_at=now,
                updated_at=now,
            )
            if fn is None:
                call.status, call.kind = "failed", "unknown"
                call.error = f"Unknown tool '{call.function}'. Use only the tools you were given."
            else:
                call.kind = fn.kind
                call.mocked = call.function in _mocks(run)
                call.requires_approval = fn.requires_approval
                call.timeout_seconds = fn.timeout_seconds
                call.approval_timeout_seconds = fn.approval_timeout_seconds
                call.service = fn.service
                call.retry_count_on_stall = fn.retry_count_on_stall
                problems = validation_errors(fn.input_schema, args)
                if problems:
                    call.status = "failed"
                    call.error = f"The input does not match the tool's input schema: {'; '.join(problems)}"
            if not self.store.put_call(call):  # a retried step stored it already
                stored = self.store.get_call(run.cluster_id, run.id, call.id)
                call = stored or call
            calls.append(call)
        pending = [self.calls.descriptor(c) for c in calls if c.status not in CALL_FINAL]
        if not pending:
            return {"next": "model"}
        return {"next": "tools", "calls": pending}

    def _append_tool_results(self, run: Run, messages: list[Message], calls: dict[str, Call]) -> list[Message]:
        blocks = []
        usage = [0, 0]  # summarization calls
        for use in _uses(messages[-1]):
            if use.get("name") == FINAL_TOOL:
                blocks.append(
                    _tool_result(use["id"], "Ignored: call final_result on its own, after your other tools.", True)
                )
                continue
            content, is_error = self._outcome(run, calls[use["id"]], usage)
            blocks.append(_tool_result(use["id"], content, is_error))
        message = Message(index=len(messages), role="user", kind="tool-result", content=blocks, created_at=now_iso())
        if self.store.append_message(run, message, usage=(usage[0], usage[1]) if any(usage) else None):
            return [*messages, message]
        return self.store.messages(run)

    def _outcome(self, run: Run, call: Call, usage: list[int]) -> tuple[str, bool]:
        if call.status == "succeeded":
            result = self.calls.full_result(call)
            text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
            limit = self.settings.max_tool_result_chars
            if len(text) <= limit:
                return text, False
            if run.call_summarization:
                summary = self._summarize(run, call, text, usage)
                return (
                    f"[Summarized: the full result has {len(text)} characters and is stored with call "
                    f"{call.id}.]\n{summary}"
                ), False
            return f"{text[:limit]}\n[Truncated: the result has {len(text)} characters in total.]", False
        if call.status == "denied":
            reason = call.approval.reason if call.approval and call.approval.reason else "no reason given"
            return f"A human denied this call: {reason}", True
        if call.status == "expired":
            return "The approval request expired (reason: expired); the call was not run.", True
        if call.status == "timed_out":
            return f"The call timed out: {call.error}", True
        if call.status == "cancelled":
            return "The call was cancelled.", True
        return f"The call failed: {call.error or 'unknown error'}", True

    def _summarize(self, run: Run, call: Call, text: str, usage: list[int]) -> str:
        request = ModelRequest(
            model_id=run.model_id,
            system=SUMMARY_SYSTEM,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "text",
                            "text": (
                                f"Task: {run.initial_prompt}\n\nThe function `{call.function}` returned "
                                f"{len(text)} characters:\n\n{text[:SUMMARY_INPUT_CHARS]}"
                            ),
                        }
                    ],
                }
            ],
            max_tokens=1024,
            run_id=run.id,
            purpose="summarize",
        )
        response = self.model_for(run.provider).complete(request)
        usage[0] += response.input_tokens
        usage[1] += response.output_tokens
        return _text_of(response.content) or text[: self.settings.max_tool_result_chars]

    # -- after the model's answer -------------------------------------------------------------
    def _after_assistant(self, run: Run, messages: list[Message]) -> Step:
        last = messages[-1]
        uses = _uses(last)
        finals = [b for b in uses if b.get("name") == FINAL_TOOL]
        if len(finals) < len(uses):
            return self._start_tools(run, messages, {})
        if finals:
            call = finals[0]
            args = call.get("input") if isinstance(call.get("input"), dict) else {}
            result, summary = args.get("result"), args.get("summary")
            problems = self._result_problems(run, result)
            if not problems:
                if not isinstance(summary, str) or not summary.strip():
                    summary = summarize_text(_text_of(last.content)) or "Finished the task."
                return self._finish(run, result, summary.strip(), None)
            return self._repair_or_give_up(
                run,
                messages,
                problems,
                [_tool_result(call["id"], _repair_text(problems), True)]
                + [_tool_result(b["id"], "Ignored: call final_result once.", True) for b in finals[1:]],
            )
        text = _text_of(last.content)
        if run.result_schema is None:
            return self._finish(run, {"message": text}, summarize_text(text) or "Finished the task.", None)
        return self._repair_or_give_up(
            run,
            messages,
            ["the answer was plain text; call the final_result tool"],
            [{"type": "text", "text": "Call the final_result tool now with a result that conforms to its schema."}],
        )

    def _result_problems(self, run: Run, result: Any) -> list[str]:
        if run.result_schema is None:
            return [] if isinstance(result, dict) else ["the result must be a JSON object"]
        return validation_errors(run.result_schema, result)

    def _repair_or_give_up(
        self, run: Run, messages: list[Message], problems: list[str], content: list[dict[str, Any]]
    ) -> Step:
        since_human = 0
        for m in reversed(messages):
            if m.kind == "human":
                break
            since_human += m.kind == "repair"
        if since_human >= self.settings.max_result_repairs:
            reason = (
                f"the model did not produce a result conforming to resultSchema after "
                f"{since_human + 1} attempts; last problems: {'; '.join(problems)}"
            )
            return self._finish(run, None, summarize_text(_text_of(messages[-1].content)) or None, reason)
        self._append(run, messages, "repair", content)
        return {"next": "model"}

    def _append(self, run: Run, messages: list[Message], kind: str, content: list[dict[str, Any]]) -> None:
        message = Message(index=len(messages), role="user", kind=kind, content=content, created_at=now_iso())  # type: ignore[arg-type]
        self.store.append_message(run, message)  # False: a retried step stored it already

    # -- endings ----------------------------------------------------------------------------
    def _finish(self, run: Run, result: Any, summary: str | None, result_error: str | None) -> Step:
        moved = self._move(run, RunStatus.DONE, result=result, summary=summary, result_error=result_error)
        return {"next": "done" if moved is not None else "end"}

    def _fail(self, run: Run, reason: str) -> Step:
        moved = self._move(run, RunStatus.FAILED, failure_reason=reason)
        return {"next": "failed" if moved is not None else "end"}

    def _move(self, run: Run, target: RunStatus, **fields: Any) -> Run | None:
        """Commit a transition; None when the run moved elsewhere meanwhile (e.g. it was cancelled)."""
        try:
            return self.store.transition(run, target, **fields)
        except ConcurrentUpdate:
            fresh = self.store.get_run(run.cluster_id, run.id)
            if fresh is None or fresh.status in TERMINAL or fresh.status != run.status:
                return None
            return self.store.transition(fresh, target, **fields)

    def record_failure(self, cluster_id: str, run_id: str, error: dict[str, Any] | None) -> Step:
        """Called by the state machine's Catch: turn the error into the run's ``failureReason``."""
        run = self.store.get_run(cluster_id, run_id)
        if run is None or run.status in TERMINAL:
            return {"next": "end"}
        return self._fail(run, failure_reason(error or {}))


def _repair_text(problems: list[str]) -> str:
    return (
        "The result does not conform to the schema: "
        + "; ".join(problems)
        + ". Call final_result again with a corrected result."
    )


RETRIED = {"ModelThrottled", "ModelOverloaded", "ModelUnavailable"}


# What failed, in words, for errors that are not runplane's own (whose messages are written for users).
_FAILURE_WORDS = {
    "States.Timeout": "an agent step timed out",
    "Sandbox.Timedout": "an agent step timed out",
    "States.HeartbeatTimeout": "an agent step timed out",
    "States.DataLimitExceeded": "a step's data exceeded Step Functions' 256 KB payload limit",
    "ConcurrentUpdate": "the run kept changing under concurrent updates, even after retries",
    "Lambda.TooManyRequestsException": "AWS Lambda kept throttling the agent step, even after retries",
    "Lambda.ServiceException": "AWS Lambda kept failing to run the agent step, even after retries",
    "Lambda.AWSLambdaException": "AWS Lambda kept failing to run the agent step, even after retries",
    "Lambda.SdkClientException": "AWS Lambda kept failing to run the agent step, even after retries",
}
INTERNAL_FAILURE = (
    "runplane hit an internal error while running the agent loop; the details are in the service logs "
    "(search for this run's id)"
)


def failure_reason(error: dict[str, Any]) -> str:
    """A run's ``failureReason`` from the error the state machine caught: what failed, in words.
    Messages of runplane's model errors are meant for users; anything else (an unexpected exception
    in a step) is described without its internal text, which stays in the logs."""
    name = str(error.get("Error") or "Error")
    if name in RETRIED or name == "ModelRequestRejected":
        cause = error.get("Cause") or ""
        message = cause
        if isinstance(cause, str) and cause.startswith("{"):
            try:
                message = json.loads(cause).get("errorMessage") or cause
            except (ValueError, AttributeError):
                message = cause
        message = str(message)[:1000] or "the model request failed"
        return (
            message
            if name == "ModelRequestRejected"
            else f"{message} (still failing after the state machine's retries)"
        )
    return _FAILURE_WORDS.get(name, INTERNAL_FAILURE)
