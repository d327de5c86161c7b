"""The Agent Communication Protocol (ACP v0.2) over runplane's runs: agents are run configurations.

Pure logic (no boto3, no HTTP): the wire models, runplane run → ACP run, input parts → the model's
content blocks, the events of a run (derived from what is persisted, so their ids are stable across
requests and reconnections), approvals as ``await_request`` / ``await_resume``, and sessions.

Status mapping: pending → created, running → in-progress, paused (a call waits for a human) →
awaiting, done → completed, failed → failed, cancelled → cancelled (``cancelling`` is never held:
a runplane cancel is one committed change).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..model import Model
from ..schemas import Call, Message, Run
from ..status import RunStatus

# -- errors -------------------------------------------------------------------------------------
ErrorCode = Literal["server_error", "invalid_input", "not_found"]


class AcpError(Exception):
    """An ACP error answer: ``{code, message, data}`` with an HTTP status."""

    def __init__(self, status: int, code: ErrorCode, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


def invalid(field: str, problem: str) -> AcpError:
    return AcpError(400, "invalid_input", f"{field}: {problem}", {"errors": [{"field": field, "problem": problem}]})


# -- wire models (acp-sdk 1.0.3 models.py / the ACP OpenAPI document, field by field) ------------
class MessagePart(Model):
    name: str | None = None
    content_type: str | None = "text/plain"
    content: str | None = None
    content_encoding: Literal["plain", "base64"] | None = "plain"
    content_url: str | None = None
    metadata: dict[str, Any] | None = None
    model_config = ConfigDict(extra="allow")


class AcpMessage(Model):
    role: str = Field(default="user", pattern=r"^(user|agent(\/[a-zA-Z0-9_\-]+)?)$")
    parts: list[MessagePart]
    created_at: str | None = None
    completed_at: str | None = None


class SessionIn(Model):
    id: uuid.UUID
    history: list[str] = Field(default_factory=list)
    state: str | None = None
    model_config = ConfigDict(extra="allow")


class RunCreateRequest(Model):
    agent_name: str = Field(min_length=1, max_length=200)
    session_id: uuid.UUID | None = None
    session: SessionIn | None = None
    input: list[AcpMessage] = Field(min_length=1, max_length=100)
    mode: Literal["sync", "async", "stream"] = "sync"


class AwaitResume(Model):
    type: Literal["message"] = "message"
    message: AcpMessage


class RunResumeRequest(Model):
    await_resume: AwaitResume
    mode: Literal["sync", "async", "stream"] = "sync"


# -- ids: runplane's ULIDs are 128-bit, ACP's run ids are UUIDs: the same number ------------------
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def run_uuid(run_id: str) -> str | None:
    """The ACP run id (a UUID) of a runplane run id, if it is a ULID."""
    if not _ULID_RE.match(run_id):
        return None
    value = 0
    for ch in run_id:
        value = value * 32 + _CROCKFORD.index(ch)
    return str(uuid.UUID(int=value)) if value < 2**128 else None


def run_ulid(acp_run_id: str) -> str:
    try:
        value = uuid.UUID(acp_run_id).int
    except ValueError:
        raise AcpError(404, "not_found", f"run '{acp_run_id}' not found (ACP run ids are UUIDs)") from None
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


# -- input parts → the model's content blocks --------------------------------------------------------
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
DOCUMENT_TYPES = ("application/pdf",)
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # Anthropic's per-image limit
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
SUPPORTED = "text/*, " + ", ".join(IMAGE_TYPES + DOCUMENT_TYPES)
BLOB_SOURCE = "runplane_blob"  # a content block source kept in S3, resolved just before the model call


def _ext(content_type: str) -> str:
    return content_type.split("/", 1)[1].split("+")[0]


class ParsedInput(Model):
    texts: list[str]
    attachments: list[dict[str, Any]]  # image/document content blocks
    data: list[Any]  # application/json parts, parsed

    def prompt(self) -> str:
        return "\n\n".join(self.texts) or "(see the attached files)"


def parse_input(messages: list[AcpMessage], blob_key: str, put_blob: Any) -> ParsedInput:
    """The user's input: its text, its attachments as the model's content blocks, its JSON parts.

    Images and PDFs given inline go to S3 (``put_blob(key, bytes)``): DynamoDB items hold a reference.
    Anything else → ``invalid_input`` naming the part (``input[i].parts[j]``)."""
    blocks: list[dict[str, Any]] = []
    texts: list[str] = []
    data_parts: list[Any] = []
    for i, message in enumerate(messages):
        for j, part in enumerate(message.parts):
            where = f"input[{i}].parts[{j}]"
            ctype = (part.content_type or "text/plain").split(";")[0].strip().lower()
            if part.content is not None and part.content_url is not None:
                raise invalid(where, "give one of 'content' or 'content_url', not both")
            if ctype.startswith("text/") or ctype == "application/json":
                if part.content_url is not None:
                    raise invalid(where, f"content_url is supported for images and PDFs, not '{ctype}'")
                text = part.content or ""
                if part.content_encoding == "base64":
                    try:
                        text = base64.b64decode(text, validate=True).decode("utf-8")
                    except (binascii.Error, UnicodeDecodeError):
                        raise invalid(where, "content is not base64-encoded UTF-8 text") from None
                if ctype == "application/json":
                    try:
                        data_parts.append(json.loads(text))
                    except ValueError:
                        raise invalid(where, "an application/json part must hold valid JSON") from None
                elif text.strip():
                    texts.append(text)
                continue
            if ctype not in IMAGE_TYPES + DOCUMENT_TYPES:
                raise invalid(where, f"content_type '{ctype}' is not supported (supported: {SUPPORTED})")
            kind = "image" if ctype in IMAGE_TYPES else "document"
            if part.content_url is not None:
                if not re.match(r"^https?://", part.content_url):
                    raise invalid(where, "content_url must be an http(s) URL")
                blocks.append({"type": kind, "source": {"type": "url", "url": part.content_url}})
                continue
            if part.content is None:
                raise invalid(where, "an image or PDF part needs 'content' (base64) or 'content_url'")
            if part.content_encoding != "base64":
                raise invalid(where, f"'{ctype}' content must be sent with content_encoding 'base64'")
            try:
                data = base64.b64decode(part.content, validate=True)
            except binascii.Error:
                raise invalid(where, "content is not valid base64") from None
            limit = MAX_IMAGE_BYTES if kind == "image" else MAX_DOCUMENT_BYTES
            if len(data) > limit:
                raise invalid(where, f"{len(data)} bytes, over the {limit}-byte limit for {ctype}")
            key = put_blob(f"{blob_key}/{i:02d}-{j:02d}.{_ext(ctype)}", data)
            blocks.append(
                {"type": kind, "source": {"type": BLOB_SOURCE, "media_type": ctype, "key": key, "bytes": len(data)}}
            )
    if not blocks and not texts and not data_parts:
        raise invalid("input", "the input has no content (no text, JSON, image or PDF part)")
    return ParsedInput(texts=texts, attachments=blocks, data=data_parts)


def resolve_blobs(messages: list[dict[str, Any]], get_blob: Any) -> list[dict[str, Any]]:
    """Wire messages with every ``runplane_blob`` source replaced by the base64 form the model accepts."""
    out = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list) or not any(_is_blob(b) for b in content):
            out.append(message)
            continue
        blocks = []
        for block in content:
            if _is_blob(block):
                src = block["source"]
                data = base64.b64encode(get_blob(src["key"])).decode()
                block = {**block, "source": {"type": "base64", "media_type": src["media_type"], "data": data}}
            blocks.append(block)
        out.append({**message, "content": blocks})
    return out


def _is_blob(block: Any) -> bool:
    return (
        isinstance(block, dict) and isinstance(block.get("source"), dict) and block["source"].get("type") == BLOB_SOURCE
    )


def describe_attachment(block: dict[str, Any]) -> str:
    """``image/png 68 bytes sha256=…`` for a base64 image/document block (the scripted model's record)."""
    src = block.get("source") or {}
    if src.get("type") == "base64":
        data = base64.b64decode(src.get("data", ""))
        return f"{src.get('media_type')} {len(data)} bytes sha256={hashlib.sha256(data).hexdigest()}"
    return f"{block.get('type')} from {src.get('url') or src.get('type')}"


# -- runplane run → ACP run ------------------------------------------------------------------------
_STATUS = {
    RunStatus.PENDING: "created",
    RunStatus.RUNNING: "in-progress",
    RunStatus.PAUSED: "awaiting",
    RunStatus.DONE: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
}
_EVENT = {
    "created": "run.created",
    "in-progress": "run.in-progress",
    "awaiting": "run.awaiting",
    "completed": "run.completed",
    "failed": "run.failed",
    "cancelled": "run.cancelled",
}
TERMINAL_ACP = frozenset({"completed", "failed", "cancelled"})


def acp_status(status: RunStatus | str) -> str:
    return _STATUS[RunStatus(status)]


def agent_role(run: Run) -> str:
    name = re.sub(r"[^a-zA-Z0-9_\-]", "-", run.agent_name or "agent")
    return f"agent/{name}"


def output_messages(run: Run, finished_at: str | None) -> list[dict[str, Any]]:
    if run.status != RunStatus.DONE:
        return []
    result = run.result
    if isinstance(result, dict) and set(result) == {"message"} and isinstance(result["message"], str):
        part = {"content_type": "text/plain", "content": result["message"], "content_encoding": "plain"}
    else:
        part = {"content_type": "application/json", "content": json.dumps(result), "content_encoding": "plain"}
    at = finished_at or run.updated_at
    return [{"role": agent_role(run), "parts": [part], "created_at": at, "completed_at": at}]


def await_request(run: Run, calls: list[Call]) -> dict[str, Any] | None:
    """What a paused run waits for: the pending approvals, as an agent message (ACP's only await type)."""
    if not calls:
        return None
    lines = [f"Approve the call of `{c.function}` with input {json.dumps(c.input, sort_keys=True)}?" for c in calls]
    lines.append("Resume with a message that starts with 'approve' or 'deny' (the rest is the reason).")
    detail = [
        {
            "callId": c.id,
            "function": c.function,
            "input": c.input,
            "expiresAt": c.approval.expires_at if c.approval else None,
        }
        for c in calls
    ]
    return {
        "type": "message",
        "message": {
            "role": agent_role(run),
            "parts": [
                {"content_type": "text/plain", "content": "\n".join(lines), "content_encoding": "plain"},
                {
                    "name": "approvals",
                    "content_type": "application/json",
                    "content": json.dumps({"approvals": detail}),
                    "content_encoding": "plain",
                },
            ],
        },
    }


def acp_run(
    run: Run, *, status: str | None = None, at: str | None = None, awaiting: list[Call] | None = None
) -> dict[str, Any]:
    """The ACP run object: the run now, or (``status``, ``at``) as it stood at one of its status changes."""
    status = status or acp_status(run.status)
    finished_at = (at or _finished_at(run)) if status in TERMINAL_ACP else None
    error = None
    if status == "failed":
        error = {"code": "server_error", "message": run.failure_reason or "the run failed", "data": None}
    view = {
        "run_id": run_uuid(run.id),
        "agent_name": run.agent_name or run.config_id or "",
        "session_id": run.session_id,
        "status": status,
        "await_request": await_request(run, awaiting or []) if status == "awaiting" else None,
        "output": output_messages(run, finished_at) if status == "completed" else [],
        "error": error,
        "created_at": run.created_at,
        "finished_at": finished_at,
    }
    # The spec's optional, non-nullable fields are left out rather than sent as null.
    return {k: v for k, v in view.items() if v is not None or k in ("await_request", "error")}


def _finished_at(run: Run) -> str | None:
    for change in reversed(run.history):
        if change["status"] in ("done", "failed", "cancelled"):
            return str(change["at"])
    return None


# -- events: derived from the run's status history (stable ids: "<sequence>.<k>") ------------------
def event_id(sequence: int, k: int) -> str:
    return f"{sequence:06d}.{k}"


def parse_event_id(value: str | None) -> tuple[int, int]:
    """(sequence, k) of an event id; (0, 0) — before the first event — when absent or not ours."""
    match = re.match(r"^(\d{1,9})\.(\d{1,3})$", (value or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def run_events(run: Run, calls: list[Call]) -> list[tuple[str, dict[str, Any]]]:
    """Every event of the run so far, in order, as (id, event). Only persisted facts are used, so a
    later call returns the same events with the same ids, plus the newer ones after them."""
    changes = [{"sequence": 1, "status": "pending", "at": run.created_at}, *run.history]
    out: list[tuple[str, dict[str, Any]]] = []
    for change in changes:
        seq, at, status = int(change["sequence"]), str(change["at"]), acp_status(change["status"])
        if status == "awaiting":
            snapshot = acp_run(run, status=status, at=at, awaiting=_awaiting_at(calls, at))
        else:
            snapshot = acp_run(run, status=status, at=at)
        if status == "completed" and run.status == RunStatus.DONE and seq == run.seq:
            for message in snapshot["output"]:
                out.append((event_id(seq, 0), {"type": "message.created", "message": {**message, "parts": []}}))
                for k, part in enumerate(message["parts"], start=1):
                    out.append((event_id(seq, k), {"type": "message.part", "part": part}))
                out.append((event_id(seq, 8), {"type": "message.completed", "message": message}))
        out.append((event_id(seq, 9), {"type": _EVENT[status], "run": snapshot}))
    return out


def _awaiting_at(calls: list[Call], at: str) -> list[Call]:
    """The calls a run paused at ``at`` was waiting for: approval requested by then, not decided before."""
    out = []
    for c in calls:
        a = c.approval
        if a is not None and a.requested_at <= at and (a.decided_at is None or a.decided_at >= at):
            out.append(c)
    return sorted(out, key=lambda c: c.id)


# -- await_resume → decisions --------------------------------------------------------------------
_YES = {"approve", "approved", "yes", "y", "ok", "allow", "accept"}
_NO = {"deny", "denied", "no", "n", "reject", "rejected", "decline"}


def decisions(resume: AwaitResume, pending: list[Call]) -> list[tuple[str, bool, str | None]]:
    """(callId, approved, reason) for the pending calls, from the resume message: a JSON part
    ``{"approved": bool, "reason"?, "callId"?}``, or text starting with approve/deny."""
    for part in resume.message.parts:
        if (part.content_type or "").startswith("application/json") and part.content:
            try:
                data = json.loads(part.content)
            except ValueError:
                raise invalid("await_resume.message", "the JSON part is not valid JSON") from None
            if not isinstance(data, dict) or not isinstance(data.get("approved"), bool):
                raise invalid("await_resume.message", "the JSON part needs a boolean 'approved'")
            targets = [c for c in pending if data.get("callId") in (None, c.id)]
            if not targets:
                raise invalid("await_resume.message", f"no pending approval for call '{data.get('callId')}'")
            return [(c.id, data["approved"], data.get("reason")) for c in targets]
    text = " ".join(
        (p.content or "") for p in resume.message.parts if (p.content_type or "text/plain").startswith("text/")
    )
    words = text.strip().split(None, 1)
    first = words[0].lower().strip(".,!:;") if words else ""
    if first not in _YES | _NO:
        raise invalid("await_resume.message", "answer with a message starting with 'approve' or 'deny'")
    reason = words[1].strip() if len(words) > 1 else None
    return [(c.id, first in _YES, reason) for c in pending]


# -- sessions --------------------------------------------------------------------------------------
def human_text(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.kind == "human"]


def session_messages(run: Run, messages: list[Message]) -> list[dict[str, Any]]:
    """One run's part of its session's history, as ACP messages: the user's input, then the answer."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.kind != "human" or m.role != "user":
            continue
        parts = []
        for block in m.content:
            if block.get("type") == "text":
                parts.append({"content_type": "text/plain", "content": block["text"], "content_encoding": "plain"})
            elif block.get("type") in ("image", "document"):
                src = block.get("source") or {}
                if src.get("type") == "url":
                    parts.append({"content_type": "application/octet-stream", "content_url": src.get("url")})
                else:
                    parts.append(
                        {
                            "content_type": src.get("media_type"),
                            "name": "attachment",
                            "content": f"({src.get('bytes', 0)} bytes, kept with run {run.id})",
                        }
                    )
        if parts:
            out.append({"role": "user", "parts": parts, "created_at": m.created_at, "completed_at": m.created_at})
    out.extend(output_messages(run, _finished_at(run)))
    return out


# Earlier exchanges a session's new run starts with (they are stored with the run in one transaction,
# which holds at most 100 items).
MAX_SESSION_EXCHANGES = 40


def prior_conversation(runs: list[tuple[Run, list[Message]]]) -> list[Message]:
    """Earlier runs of a session (the last MAX_SESSION_EXCHANGES that completed) as alternating
    user/assistant messages for the next run's model."""
    out: list[Message] = []
    done = [(run, messages) for run, messages in runs if run.status == RunStatus.DONE]
    for run, messages in done[-MAX_SESSION_EXCHANGES:]:
        user = [b for m in messages if m.kind == "human" for b in m.content if b.get("type") != "tool_result"]
        answer = output_messages(run, None)
        if not user or not answer:
            continue
        text = answer[0]["parts"][0]["content"]
        out.append(Message(index=len(out), role="user", kind="notice", content=user, created_at=run.created_at))
        out.append(
            Message(
                index=len(out),
                role="assistant",
                kind="agent",
                content=[{"type": "text", "text": text}],
                created_at=run.updated_at,
            )
        )
    return out
