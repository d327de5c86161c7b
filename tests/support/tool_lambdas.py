"""Lambda handlers that tests register in the emulator as users' ``lambda`` tool targets."""

from __future__ import annotations

from typing import Any


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"echo": event["input"], "context": event.get("context"), "run": event["run"], "call": event["call"]}


def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("the warehouse database refused the connection")
