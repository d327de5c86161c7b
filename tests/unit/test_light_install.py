"""The client and worker SDKs are the light part of runplane: importing them loads none of the
server's dependencies (pyproject's base dependencies are httpx and pydantic: tests/infra/test_bundling.py)."""

from __future__ import annotations

import json
import subprocess
import sys

# (Not rich: httpx itself imports rich and click for its own CLI whenever they are installed.)
SERVER_ONLY = ("anthropic", "aws_lambda_powertools", "boto3", "botocore", "jsonschema", "standardwebhooks", "moto")


def test_the_sdks_import_without_the_servers_dependencies() -> None:
    code = (
        "import json, sys\n"
        "from runplane import Runplane, AsyncRunplane, Worker\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert {"httpx", "pydantic", "runplane"} <= loaded
    assert not loaded & set(SERVER_ONLY), loaded & set(SERVER_ONLY)
    assert "asyncio" not in loaded  # only the async client's calls import it
