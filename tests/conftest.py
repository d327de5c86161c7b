from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

# Lambda handlers log JSON through Powertools; keep test output readable.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
logging.getLogger("werkzeug").setLevel(logging.ERROR)
# moto's interpreter logs every failed state (expected in these tests) with the whole program dumped.
logging.getLogger("moto").setLevel(logging.CRITICAL)


def emulator_settings(**overrides: str) -> dict[str, str]:
    env = {
        "RUNPLANE_MODEL_PROVIDER": "scripted",
        "RUNPLANE_MAX_TURNS": "8",
        # The suite's tests poll hard with one key: a high per-key rate limit (still counted per
        # request; tests/integration/test_rate_limit.py runs with a low one).
        "RUNPLANE_RATE_LIMIT_PER_SECOND": "100000",
        "RUNPLANE_RATE_LIMIT_BURST": "1000000",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="module")
def tools() -> Iterator[object]:
    """The module's http tool server on 127.0.0.1 (a free port), playing users' http endpoints."""
    from tests.support.tool_server import ToolServer

    server = ToolServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hooks() -> Iterator[object]:
    """The module's webhook receiver (tests/support/hook_server.py), for runs' notifications."""
    from tests.support.hook_server import HookServer

    server = HookServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def emulator_env(tools: object) -> dict[str, str]:
    """Override per module to configure the emulator's functions (e.g. the model provider). The
    module's tool server is the one plain-http origin its http functions may call."""
    return emulator_settings(RUNPLANE_LOOPBACK_HTTP_ORIGINS=tools.url)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def harness(emulator_env: dict[str, str]) -> Iterator[object]:
    from runplane.local.emulator import Emulator
    from tests.support.harness import Harness

    emulator = Emulator(sleep_scale=0.005, settings_env=emulator_env).start()
    h = Harness(emulator)
    try:
        yield h
    finally:
        h.close()
        emulator.stop()
