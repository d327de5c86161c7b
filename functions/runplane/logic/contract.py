"""Inferable's response shapes (the SDK's ``contract.ts``) built from what runplane stores.

No I/O here: the callers read the run, its messages, calls and blobs and pass them in.
"""

from __future__ import annotations

import json
from typing import Any

from ..schemas import RUNPLANE_SERVICE, Call, Message, Run
from ..status import RunStatus
from .services import JOB_STATUS, contract_call_id, plain_function

FINAL_TOOL = "final_result"


def message_id(message: Message) -> str:
    """Stable and ordered (the timeline's ``messagesAfter`` compares ids): a client-chosen id wins."""
    return message.id or f"m{message.index:06d}"


def _text(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(b["text"] for b in blocks if b.get("type") == "text" and b.get("text")).strip()


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"value": value}


def _entry(mid: str, kind: str, data: dict[str, Any], created_at: str) -> dict[str, Any]:
    return {
        "id": mid,
        "type": kind,
        "data": data,
        "createdAt": created_at,
        "pending": False,
        "displayableContext": None,
    }


def messages_view(run: Run, messages: list[Message]) -> list[dict[str, Any]]:
    """``listMessages``: human, agent and invocation-result messages (runplane's repair and notice
    messages, which the model reads as the user's, are ``supervisor`` messages)."""
    out: list[dict[str, Any]] = []
    last_agent = max((m.index for m in messages if m.role == "assistant"), default=-1)
    for m in messages:
        mid = message_id(m)
        if m.kind == "human":
            out.append(_entry(mid, "human", {"message": _text(m.content)}, m.created_at))
        elif m.kind == "agent":
            data: dict[str, Any] = {}
            text = _text(m.content)
            invocations = []
            for block in m.content:
                if block.get("type") != "tool_use":
                    continue
                if block.get("name") == FINAL_TOOL:
                    args = block.get("input") if isinstance(block.get("input"), dict) else {}
                    if "result" in args and args["result"] is not None:
                        data["result"] = _object(args["result"])
                    if isinstance(args.get("summary"), str):
                        text = text or args["summary"]
                    continue
                invocation = {
                    "id": f"{run.id}.{block['id']}",
                    "toolName": block.get("name"),
                    "input": block.get("input") if isinstance(block.get("input"), dict) else {},
                }
                if text:
                    invocation["reasoning"] = text
                invocations.append(invocation)
            if text:
                data["message"] = text
            if invocations:
                data["invocations"] = invocations
            if m.index == last_agent and run.status == RunStatus.DONE and not invocations:
                data["done"] = True
                if "result" not in data and isinstance(run.result, dict):
                    data["result"] = run.result
            out.append(_entry(mid, "agent", data, m.created_at))
        elif m.kind == "tool-result":
            for n, block in enumerate(b for b in m.content if b.get("type") == "tool_result"):
                content = block.get("content")
                text = content if isinstance(content, str) else json.dumps(content)
                if block.get("is_error"):
                    result: dict[str, Any] = {"error": text}
                else:
                    try:
                        result = _object(json.loads(text))
                    except ValueError:
                        result = {"value": text}
                data = {"id": f"{run.id}.{block.get('tool_use_id')}", "result": result}
                out.append(_entry(f"{mid}.{n:02d}", "invocation-result", data, m.created_at))
        else:  # repair, notice
            text = _text(m.content) or "; ".join(
                str(b.get("content")) for b in m.content if b.get("type") == "tool_result"
            )
            out.append(_entry(mid, "supervisor", {"message": text}, m.created_at))
    return out


def run_core(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "userId": None,
        "status": str(run.status),
        "failureReason": run.failure_reason,
        "test": bool(run.test and run.test.get("enabled")),
        "feedbackComment": run.feedback_comment,
        "feedbackScore": run.feedback_score,
        "attachedFunctions": run.attached_functions,
        "name": run.name,
    }


def run_list_item(run: Run, model: str) -> dict[str, Any]:
    """``listRuns``' item, plus runplane's ``metadata``, ``model`` and ``updatedAt``."""
    return {
        "id": run.id,
        "name": run.name,
        "userId": None,
        "createdAt": run.created_at,
        "status": str(run.status),
        "test": bool(run.test and run.test.get("enabled")),
        "configId": run.config_id or (run.config or {}).get("id"),
        "configVersion": run.config_version,
        "feedbackScore": run.feedback_score,
        "metadata": run.metadata,
        "model": model,
        "updatedAt": run.updated_at,
    }


def job_view(call: Call) -> dict[str, Any]:
    result_type = call.result_type
    if result_type is None and call.status in ("succeeded", "failed"):
        result_type = "resolution" if call.status == "succeeded" else "rejection"
    return {
        "id": contract_call_id(call),
        "status": JOB_STATUS.get(call.status, call.status),
        "targetFn": plain_function(call),
        "service": call.service or RUNPLANE_SERVICE,
        "resultType": result_type,
        "createdAt": call.created_at,
        "approved": call.approval.approved if call.approval else None,
        "approvalRequested": call.approval is not None or call.requires_approval,
        "function": call.function,
        "callStatus": call.status,
    }


def activity_view(run: Run, history: list[dict[str, Any]], calls: list[Call]) -> list[dict[str, Any]]:
    """Status changes and call events, oldest first; ids sort in that order within their kind."""
    events: list[dict[str, Any]] = []
    for change in history:
        events.append(
            {
                "id": f"s{int(change['sequence']):06d}",
                "type": f"run{str(change['status']).capitalize()}",
                "machineId": None,
                "service": None,
                "createdAt": change["at"],
                "jobId": None,
                "targetFn": None,
            }
        )
    for call in calls:
        base = {
            "service": call.service or RUNPLANE_SERVICE,
            "jobId": contract_call_id(call),
            "targetFn": plain_function(call),
        }
        events.append(
            {
                "id": f"c{call.created_at}.{call.id}.0",
                "type": "jobCreated",
                "machineId": None,
                "createdAt": call.created_at,
                **base,
            }
        )
        if call.acknowledged_at:
            events.append(
                {
                    "id": f"c{call.acknowledged_at}.{call.id}.1",
                    "type": "jobAcknowledged",
                    "machineId": call.worker,
                    "createdAt": call.acknowledged_at,
                    **base,
                }
            )
        if call.approval is not None:
            events.append(
                {
                    "id": f"c{call.approval.requested_at}.{call.id}.2",
                    "type": "approvalRequested",
                    "machineId": None,
                    "createdAt": call.approval.requested_at,
                    **base,
                }
            )
            if call.approval.decided_at:
                kind = "approvalGranted" if call.approval.approved else "approvalDenied"
                events.append(
                    {
                        "id": f"c{call.approval.decided_at}.{call.id}.3",
                        "type": kind,
                        "machineId": None,
                        "createdAt": call.approval.decided_at,
                        **base,
                    }
                )
        if call.status in ("succeeded", "failed", "timed_out", "denied", "expired", "cancelled"):
            events.append(
                {
                    "id": f"c{call.updated_at}.{call.id}.4",
                    "type": f"job{JOB_STATUS[call.status].capitalize()}",
                    "machineId": call.worker,
                    "createdAt": call.updated_at,
                    **base,
                }
            )
    events.sort(key=lambda e: (e["createdAt"], e["id"]))
    return events
