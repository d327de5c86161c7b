"""``runplane local`` as a subprocess (as a user starts it), for the tools' end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from runplane.local.emulator import free_port

CLUSTER_KEY = "sk_tools_cluster_key_0123456789abcdef"
ADMIN_KEY = "sk_tools_admin_key_0123456789abcdef"


def clean_env() -> dict[str, str]:
    """The environment without anything of the caller's AWS, runplane or Anthropic settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNPLANE_", "ANTHROPIC_", "MOTO_"))}
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    return env


@contextlib.contextmanager
def local_mode(env: dict[str, str] | None = None, args: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """``runplane local`` on free ports, in memory (``--ephemeral``) unless ``args`` say otherwise,
    with the known keys above (``env`` adds or overrides variables). Yields its API URL and port, the
    emulator endpoint, the banner, the process and the keys; stops it with Ctrl-C."""
    api_port, emu_port = free_port(), free_port()
    environment = {
        **clean_env(),
        "RUNPLANE_API_KEY": CLUSTER_KEY,
        "RUNPLANE_ADMIN_KEY": ADMIN_KEY,
        # The e2e tests poll hard with one key: a high per-key rate limit (configuration, as a user sets it).
        "RUNPLANE_RATE_LIMIT_PER_SECOND": "100000",
        "RUNPLANE_RATE_LIMIT_BURST": "1000000",
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "runplane.cli", "local", "--port", str(api_port), "--emulator-port", str(emu_port)]
    cmd += args if args is not None else ["--ephemeral"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    banner: list[str] = []
    deadline = time.monotonic() + 180  # a loaded CI machine starts slowly
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
        endpoint = re.search(r"AWS emulator\s+(http://\S+)", text)
        assert endpoint, text
        yield {
            "api": f"http://127.0.0.1:{api_port}",
            "port": api_port,
            "endpoint": endpoint.group(1),
            "banner": text,
            "proc": proc,
            "key": environment["RUNPLANE_API_KEY"],
            "admin": environment["RUNPLANE_ADMIN_KEY"],
        }
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
