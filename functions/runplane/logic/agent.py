"""The agent loop's steps, called by the state machine through the agent-step Lambda.

The conversation lives in the store, never in the state payload: each step reads it, does one thing
and returns what the state machine should do next (``model``, ``done``, ``failed`` or ``end``). Steps
are idempotent: a retried step finds what an earlier attempt stored and carries on from there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from ..config import Settings
from ..errors import ConcurrentUpdate
from ..llm.base import ModelClient, ModelRequest
from ..ports import RunStore
from ..schemas import Message, Run, ScriptedTurn
from ..status import TERMINAL, RunStatus
from ..timeutil import now_iso
from .result import validation_errors

Next = Literal["model", "done", "failed", "end"]

FINAL_TOOL = "final_result"
SUMMARY_CHARS = 280

BASE_SYSTEM = (
    "You are an agent working on a task for a user of runplane. Work step by step, use the tools you "
    "are given when they help, and finish with a clear answer."
)
RESULT_SYSTEM = (
    "When you have the answer, call the `final_result` tool exactly once: `result` must conform to the "
    "tool's schema and `summary` is one or two sentences on what you did and found."
)


def final_tool(schema: dict[str, Any]) -> dict[str, Any]:
    """The forced tool that carries a schema-conformant result (definitions hoisted to the root)."""
    result = {k: v for k, v in schema.items() if k not in ("$defs", "definitions", "$schema", "$id")}
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


class AgentSteps:
    def __init__(self, store: RunStore, model_for: Callable[[str], ModelClient], settings: Settings) -> None:
        self.store = store
        self.model_for = model_for
        self.settings = settings

    # -- the model turn ---------------------------------------------------------------------
    def model_turn(self, cluster_id: str, run_id: str) -> Next:
        run = self.store.get_run(cluster_id, run_id)
        if run is None or run.status in TERMINAL or run.status == RunStatus.PAUSED:
            return "end"
        if run.status == RunStatus.PENDING:
            run = self._move(run, RunStatus.RUNNING)
            if run is None:
                return "end"
        messages = self.store.messages(run)
        if not messages or messages[-1].role == "user":
            turns = sum(1 for m in messages if m.role == "assistant")
            if turns >= self.settings.max_turns:
                return self._fail(
                    run, f"the run reached the maximum of {self.settings.max_turns} model turns without finishing"
                )
            messages = self._call_model(run, messages, turns)
        return self._after_assistant(run, messages)

    def _call_model(self, run: Run, messages: list[Message], turn: int) -> list[Message]:
        request = self._request(run, messages, turn)
        response = self.model_for(run.provider).complete(request)
        content = response.content or [{"type": "text", "text": "(no content)"}]
        reply = Message(index=len(messages), role="assistant", kind="agent", content=content, created_at=now_iso())
        if self.store.append_message(run, reply, usage=(response.input_tokens, response.output_tokens)):
            return [*messages, reply]
        return self.store.messages(run)  # an earlier attempt of this step stored the reply already

    def _request(self, run: Run, messages: list[Message], turn: int) -> ModelRequest:
        tools: list[dict[str, Any]] = []
        tool_choice: dict[str, Any] | None = None
        system = [BASE_SYSTEM]
        if run.result_schema is not None:
            tools.append(final_tool(run.result_schema))
            system.append(RESULT_SYSTEM)
            only_final = len(tools) == 1
            if only_final or (messages and messages[-1].kind == "repair"):
                tool_choice = {"type": "tool", "name": FINAL_TOOL}
        if run.system_prompt:
            system.append(run.system_prompt)
        script = None
        if run.test and run.test.get("modelScript"):
            script = [ScriptedTurn.model_validate(t) for t in run.test["modelScript"]]
        return ModelRequest(
            model_id=run.model_id,
            system="\n\n".join(system),
            messages=wire_messages(messages),
            tools=tools,
            tool_choice=tool_choice,
            max_tokens=self.settings.max_output_tokens,
            script=script,
            turn=turn,
            run_id=run.id,
        )

    def _after_assistant(self, run: Run, messages: list[Message]) -> Next:
        last = messages[-1]
        uses = [b for b in last.content if b.get("type") == "tool_use"]
        finals = [b for b in uses if b.get("name") == FINAL_TOOL]
        others = [b for b in uses if b.get("name") != FINAL_TOOL]
        if others:
            # No function registry yet: every tool the model names is unknown to this run.
            results = [
                _tool_result(b["id"], f"Unknown tool '{b.get('name')}'. Use only the tools you were given.", True)
                for b in others
            ] + [_tool_result(b["id"], "Call final_result on its own, after your other tools.", True) for b in finals]
            self._append(run, messages, "tool-result", results)
            return "model"
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
                run, messages, problems,
                [_tool_result(call["id"], _repair_text(problems), True)]
                + [_tool_result(b["id"], "Ignored: call final_result once.", True) for b in finals[1:]],
            )
        text = _text_of(last.content)
        if run.result_schema is None:
            return self._finish(run, {"message": text}, summarize_text(text) or "Finished the task.", None)
        return self._repair_or_give_up(
            run, messages, ["the answer was plain text; call the final_result tool"],
            [{"type": "text", "text": "Call the final_result tool now with a result that conforms to its schema."}],
        )

    def _result_problems(self, run: Run, result: Any) -> list[str]:
        if run.result_schema is None:
            return [] if isinstance(result, dict) else ["the result must be a JSON object"]
        return validation_errors(run.result_schema, result)

    def _repair_or_give_up(
        self, run: Run, messages: list[Message], problems: list[str], content: list[dict[str, Any]]
    ) -> Next:
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
        return "model"

    def _append(self, run: Run, messages: list[Message], kind: str, content: list[dict[str, Any]]) -> None:
        message = Message(index=len(messages), role="user", kind=kind, content=content, created_at=now_iso())  # type: ignore[arg-type]
        self.store.append_message(run, message)  # False: a retried step stored it already

    # -- endings ----------------------------------------------------------------------------
    def _finish(self, run: Run, result: Any, summary: str | None, result_error: str | None) -> Next:
        moved = self._move(run, RunStatus.DONE, result=result, summary=summary, result_error=result_error)
        return "done" if moved is not None else "end"

    def _fail(self, run: Run, reason: str) -> Next:
        moved = self._move(run, RunStatus.FAILED, failure_reason=reason)
        return "failed" if moved is not None else "end"

    def _move(self, run: Run, target: RunStatus, **fields: Any) -> Run | None:
        """Commit a transition; None when the run moved elsewhere meanwhile (e.g. it was cancelled)."""
        try:
            return self.store.transition(run, target, **fields)
        except ConcurrentUpdate:
            fresh = self.store.get_run(run.cluster_id, run.id)
            if fresh is None or fresh.status in TERMINAL or fresh.status != run.status:
                return None
            return self.store.transition(fresh, target, **fields)

    def record_failure(self, cluster_id: str, run_id: str, error: dict[str, Any] | None) -> Next:
        """Called by the state machine's Catch: turn the error into the run's ``failureReason``."""
        run = self.store.get_run(cluster_id, run_id)
        if run is None or run.status in TERMINAL:
            return "end"
        return self._fail(run, failure_reason(error or {}))


def _repair_text(problems: list[str]) -> str:
    return (
        "The result does not conform to the schema: "
        + "; ".join(problems)
        + ". Call final_result again with a corrected result."
    )


RETRIED = {"ModelThrottled", "ModelOverloaded", "ModelUnavailable"}


def failure_reason(error: dict[str, Any]) -> str:
    name = str(error.get("Error") or "Error")
    cause = error.get("Cause") or ""
    message = cause
    if isinstance(cause, str) and cause.startswith("{"):
        try:
            message = json.loads(cause).get("errorMessage") or cause
        except ValueError:
            message = cause
    message = str(message)[:1000]
    if name in RETRIED:
        return f"{message} (still failing after the state machine's retries)"
    if name == "ModelRequestRejected":
        return message
    if name in ("States.Timeout", "Sandbox.Timedout"):
        return "an agent step timed out"
    return f"internal error ({name}){': ' + message if message else ''}"
