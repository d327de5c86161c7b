"""Calling a function's target: a Lambda function, an HTTPS endpoint, or a builtin.

Worker targets are not called from here: their jobs travel through a queue (see ``logic.jobs``).
"""

from __future__ import annotations

import json
from typing import Any

from .builtins import BUILTINS, ToolError
from .netguard import Policy, UnsafeUrl, pinned_client

MAX_RESPONSE_BYTES = 5 * 1024 * 1024


def call_payload(call: Any, run: Any) -> dict[str, Any]:
    """What a lambda or http target receives: ``{input, context, run, call}``."""
    return {
        "input": call.input,
        "context": run.context or {},
        "run": {"id": run.id, "clusterId": run.cluster_id, "name": run.name, "metadata": run.metadata},
        "call": {"id": call.id, "function": call.function},
    }


def invoke_builtin(name: str, args: dict[str, Any], *, policy: Policy) -> Any:
    if name not in BUILTINS:
        raise ToolError(f"unknown builtin '{name}'")
    return BUILTINS[name][1](args, policy=policy)


def invoke_http(target: dict[str, Any], payload: dict[str, Any], timeout: float, *, policy: Policy) -> Any:
    import httpx

    url = str(target["url"])
    try:
        client = pinned_client(url, policy, timeout=timeout)
    except UnsafeUrl as exc:
        raise ToolError(f"refused to call {url}: {exc}") from None
    headers = {"content-type": "application/json", "user-agent": "runplane/1", **(target.get("headers") or {})}
    try:
        with client:
            resp = client.post(url, json=payload, headers=headers)
    except httpx.TimeoutException:
        raise ToolError(f"the call timed out after {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"POST {url} failed: {exc}") from None
    if len(resp.content) > MAX_RESPONSE_BYTES:
        raise ToolError(f"the response is larger than {MAX_RESPONSE_BYTES} bytes")
    if resp.status_code >= 300:
        raise ToolError(f"HTTP {resp.status_code}: {resp.text[:500]}")
    try:
        return resp.json()
    except ValueError:
        return resp.text


def invoke_lambda(lambda_client: Any, target: dict[str, Any], payload: dict[str, Any]) -> Any:
    resp = lambda_client.invoke(FunctionName=target["arn"], Payload=json.dumps(payload).encode())
    body = resp["Payload"].read()
    try:
        result = json.loads(body) if body else None
    except ValueError:
        result = body.decode("utf-8", errors="replace")
    if resp.get("FunctionError"):
        if isinstance(result, dict):
            raise ToolError(f"{result.get('errorType', 'Error')}: {result.get('errorMessage', '')}".strip())
        raise ToolError(f"the function failed: {result}")
    return result
