"""runplane's standard library: functions every cluster has without registering them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .models import FunctionRecord
from .netguard import Policy, UnsafeUrl, pinned_client

HTTP_GET_MAX_BYTES = 256 * 1024
HTTP_GET_TIMEOUT = 10.0


class ToolError(Exception):
    """A failure the model should see as an error tool_result."""


def current_time(args: dict[str, Any], *, policy: Policy | None = None) -> dict[str, Any]:
    zone_name = args.get("timezone") or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone '{zone_name}'") from None
    now = datetime.now(UTC).astimezone(zone)
    return {
        "iso": now.isoformat(timespec="seconds"),
        "timezone": zone_name,
        "weekday": now.strftime("%A"),
        "unix": int(now.timestamp()),
    }


def http_get(args: dict[str, Any], *, policy: Policy | None = None) -> dict[str, Any]:
    import httpx

    url = str(args.get("url", ""))
    try:
        client = pinned_client(url, policy or Policy(), timeout=HTTP_GET_TIMEOUT)
    except UnsafeUrl as exc:
        raise ToolError(f"refused to fetch {url}: {exc}") from None
    try:
        with client, client.stream("GET", url, headers={"user-agent": "runplane-http-get/1"}) as resp:
            body = b""
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > HTTP_GET_MAX_BYTES:
                    body = body[:HTTP_GET_MAX_BYTES]
                    truncated = True
                    break
            else:
                truncated = False
            return {
                "status": resp.status_code,
                "contentType": resp.headers.get("content-type"),
                "location": resp.headers.get("location"),
                "body": body.decode("utf-8", errors="replace"),
                "truncated": truncated,
            }
    except httpx.HTTPError as exc:
        raise ToolError(f"GET {url} failed: {exc}") from None


BUILTINS: dict[str, tuple[FunctionRecord, Callable[..., dict[str, Any]]]] = {
    "current_time": (
        FunctionRecord(
            name="current_time",
            description="The current date and time, optionally in an IANA time zone (e.g. Europe/Paris).",
            input_schema={"type": "object", "properties": {"timezone": {"type": "string"}}},
            timeout_seconds=5,
            target={"type": "builtin"},
            builtin=True,
        ),
        current_time,
    ),
    "http_get": (
        FunctionRecord(
            name="http_get",
            description=(
                "Fetch a public https URL with GET (at most 256 KB, 10 s; private and metadata addresses "
                "are refused; redirects are not followed)."
            ),
            input_schema={
                "type": "object",
                "properties": {"url": {"type": "string", "format": "uri"}},
                "required": ["url"],
            },
            timeout_seconds=15,
            target={"type": "builtin"},
            builtin=True,
        ),
        http_get,
    ),
}


def builtin_functions() -> list[FunctionRecord]:
    return [record for record, _ in BUILTINS.values()]
