"""``scripted``: an offline, deterministic model provider.

Used in local mode when no Anthropic key is set, in the tests and in the benchmark. For any prompt it
finishes the run; for any result schema it answers with a conforming result. A run can script exact
turns (text, tool calls, results, provider errors) with ``test.modelScript``.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from ..logic.result import sample_instance
from ..schemas import ScriptedTurn
from .base import (
    ModelError,
    ModelOverloaded,
    ModelRequest,
    ModelRequestRejected,
    ModelResponse,
    ModelThrottled,
    ModelUnavailable,
)

FINAL_TOOL = "final_result"

_ERRORS: dict[str, tuple[type[ModelError], str]] = {
    "throttled": (ModelThrottled, "the model provider is rate limiting requests (429): scripted"),
    "overloaded": (ModelOverloaded, "the model provider is overloaded (529): scripted"),
    "server_error": (ModelUnavailable, "the model provider failed (500): scripted"),
    "timeout": (ModelUnavailable, "the model request timed out: scripted"),
    "bad_request": (ModelRequestRejected, "the model provider rejected the request (400): scripted"),
    "auth": (ModelRequestRejected, "the model provider rejected the request (401): scripted"),
}


class ScriptedModel:
    provider = "scripted"

    def __init__(self) -> None:
        # Attempts per (run, turn), so that an error scripted ``times`` times gives way on a retry.
        self._attempts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self.received: deque[ModelRequest] = deque(maxlen=50)

    def complete(self, request: ModelRequest) -> ModelResponse:
        with self._lock:
            self.received.append(request)  # what the model was sent, newest last (tests read it)
        script = request.script or []
        if request.purpose == "summarize":
            text = _first_user_text(request.messages)
            blocks = [{"type": "text", "text": f"Scripted summary: {_excerpt(text.split(chr(10), 2)[-1], 300)}"}]
        elif request.turn < len(script):
            blocks = self._scripted(request, script[request.turn])
        else:
            blocks = self._default(request)
        tokens_in = sum(len(str(m.get("content", ""))) for m in request.messages) // 4 + 1
        tokens_out = sum(len(str(b)) for b in blocks) // 4 + 1
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        return ModelResponse(content=blocks, stop_reason=stop, input_tokens=tokens_in, output_tokens=tokens_out)

    def _scripted(self, request: ModelRequest, turn: ScriptedTurn) -> list[dict[str, Any]]:
        if turn.error:
            with self._lock:
                key = (request.run_id, request.turn)
                attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
            if turn.times is None or attempt <= turn.times:
                cls, message = _ERRORS[turn.error]
                raise cls(message)
        blocks: list[dict[str, Any]] = []
        text = turn.text or ("" if turn.text_bytes is None else "Scripted text.")
        if turn.text_bytes is not None and len(text) < turn.text_bytes:
            filler = " lorem ipsum dolor sit amet"
            text += (filler * (turn.text_bytes // len(filler) + 1))[: turn.text_bytes - len(text)]
        if text:
            blocks.append({"type": "text", "text": text})
        for i, call in enumerate(turn.tool_calls or []):
            if call.reasoning:
                blocks.append({"type": "text", "text": call.reasoning})
            blocks.append(_tool_use(request.turn, i, call.name, call.input))
        if turn.result is not None or turn.summary is not None:
            blocks.append(
                _tool_use(
                    request.turn,
                    len(blocks),
                    FINAL_TOOL,
                    {"result": turn.result, "summary": turn.summary or "Scripted result."},
                )
            )
        return blocks or self._default(request)

    def _default(self, request: ModelRequest) -> list[dict[str, Any]]:
        called = {
            b.get("name")
            for m in request.messages
            if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_use"
        }
        tools = {t["name"]: t for t in request.tools}
        uncalled = [n for n in request.default_calls if n in tools and n not in called]
        if uncalled:  # call each attached function once, all in one turn, with a minimal valid input
            blocks: list[dict[str, Any]] = [{"type": "text", "text": f"I will call {', '.join(uncalled)}."}]
            for i, name in enumerate(uncalled):
                blocks.append(_tool_use(request.turn, i, name, sample_instance(tools[name]["input_schema"])))
            return blocks
        final = tools.get(FINAL_TOOL)
        prompt = _first_user_text(request.messages)
        attachments = _attachments(request.messages)
        if final is not None:
            # Sample the whole tool input: it carries the schema's hoisted $defs.
            sample = sample_instance(final["input_schema"])
            summary = f"Produced a result conforming to the schema for: {_excerpt(prompt, 80)}"
            return [_tool_use(request.turn, 0, FINAL_TOOL, {"result": sample["result"], "summary": summary})]
        # What it received, in the answer: the images/documents (type, size, sha256) that reached it.
        seen = f" [attachments: {'; '.join(attachments)}]" if attachments else ""
        return [{"type": "text", "text": f"Scripted answer to: {_excerpt(prompt, 200)}{seen}"}]


def _tool_use(turn: int, index: int, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_scripted_{turn:03d}_{index:02d}", "name": name, "input": tool_input}


def _attachments(messages: list[dict[str, Any]]) -> list[str]:
    from ..logic.acp import describe_attachment

    return [
        describe_attachment(b)
        for m in messages
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") in ("image", "document")
    ]


def _first_user_text(messages: list[dict[str, Any]]) -> str:
    for message in messages:
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            return content
        for block in content:
            if block.get("type") == "text":
                return str(block["text"])
    return ""


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
