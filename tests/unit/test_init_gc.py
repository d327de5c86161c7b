"""Cold start: with the stack's ``RUNPLANE_INIT_GC=hold``, a handler module's import runs no garbage
collection, and ends with what it made frozen and collection back on (handlers/__init__.py). Without
the variable nothing changes. Fresh interpreters, one per handler module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runplane import resources

FUNCTIONS = str(Path(__file__).resolve().parents[2] / "functions")

PROBE = r"""
import gc, importlib, json, sys
import runplane.handlers  # the package: from here on, the hold (the collections before it are Python's own start)
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
importlib.import_module(sys.argv[1])
print(json.dumps({"collections": len(collections), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def _import(module: str, hold: bool) -> dict[str, int | bool]:
    env = {k: v for k, v in os.environ.items() if k != "RUNPLANE_INIT_GC"}
    env.update(PYTHONPATH=FUNCTIONS, POWERTOOLS_LOG_LEVEL="WARNING", AWS_DEFAULT_REGION="us-east-1")
    if hold:
        env["RUNPLANE_INIT_GC"] = "hold"
    proc = subprocess.run(
        [sys.executable, "-P", "-c", PROBE, module], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("key", sorted(resources.FUNCTIONS))
def test_a_handler_import_holds_collection_then_freezes(key: str) -> None:
    module = resources.FUNCTIONS[key].handler.rsplit(".", 1)[0]
    out = _import(module, hold=True)
    assert out["collections"] == 0, out
    assert out["enabled"] is True and out["frozen"] > 10_000, out


def test_without_the_setting_nothing_changes() -> None:
    out = _import("runplane.handlers.api", hold=False)
    assert out["collections"] > 0 and out["enabled"] is True and out["frozen"] == 0, out
