"""``runplane local`` as a subprocess (as a user starts it), for the tools' end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runplane import cli
from runplane.local.emulator import free_port

CLUSTER_KEY = "sk_tools_cluster_key_0123456789abcdef"
ADMIN_KEY = "sk_tools_admin_key_0123456789abcdef"


def clean_env() -> dict[str, str]:
    """The environment without anything of the caller's AWS, runplane or Anthropic settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNPLANE_", "ANTHROPIC_", "MOTO_"))}
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    return env


@contextlib.contextmanager
def local_mode() -> Iterator[dict[str, Any]]:
    api_port, emu_port = free_port(), free_port()
    env = clean_env()
    env["RUNPLANE_API_KEY"] = CLUSTER_KEY
    env["RUNPLANE_ADMIN_KEY"] = ADMIN_KEY
    args = [sys.executable, "-m", "runplane.cli", "local", "--port", str(api_port), "--emulator-port", str(emu_port)]
    with tempfile.TemporaryDirectory(prefix="runplane-tools-") as data_dir:
        source = Path(cli.__file__).read_text()
        if "--ephemeral" in source:  # keep nothing: no .runplane/ in the working directory
            args.append("--ephemeral")
        elif "--data-dir" in source:
            args += ["--data-dir", data_dir]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        banner: list[str] = []
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner.append(line)
            if line.strip().startswith("stop"):
                break
        text = "".join(banner)
        # Keep reading what it prints (warnings), so that a full pipe never blocks it.
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        try:
            assert "runplane local mode is ready" in text, text
            yield {"api": f"http://127.0.0.1:{api_port}", "key": CLUSTER_KEY, "admin": ADMIN_KEY, "proc": proc}
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
