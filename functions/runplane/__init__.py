"""runplane: a serverless control plane for AI-agent runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AsyncRunplane", "Runplane", "Worker"]

if TYPE_CHECKING:
    from .client import AsyncRunplane, Runplane
    from .worker import Worker


def __getattr__(name: str) -> Any:
    # Lazy: Lambda handlers import ``runplane.*`` and must not pay for the SDKs' imports.
    if name == "Worker":
        from .worker import Worker

        return Worker
    if name in ("Runplane", "AsyncRunplane"):
        from . import client

        return getattr(client, name)
    raise AttributeError(name)
