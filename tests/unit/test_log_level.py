"""The handlers' log level comes from configuration: ``POWERTOOLS_LOG_LEVEL`` (the stack sets it from
``runplaneLogLevel``), and Lambda's application log level (``AWS_LAMBDA_LOG_LEVEL``, set by Lambda
with the JSON log format) wins over it, as on AWS. Each case is a fresh process (a cold start) running
the real authorizer handler on an event without a key: it logs the refusal at INFO."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROGRAM = """
import json, types
from runplane.handlers import authorizer
context = types.SimpleNamespace(function_name="runplane-authorizer", memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:runplane-authorizer",
    aws_request_id="req-1", function_version="$LATEST", log_group_name="g", log_stream_name="s")
event = {"type": "REQUEST", "path": "/clusters/c/runs", "headers": {},
    "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/clusters/c/runs"}
try:
    authorizer.handler(event, context)
except Exception as exc:
    assert str(exc) == "Unauthorized"
"""


def _lines(**env: str) -> list[dict[str, object]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_LAMBDA", "RUNPLANE_"))}
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env={**base, "AWS_DEFAULT_REGION": "us-east-1", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    ("env", "logged"),
    [
        ({"POWERTOOLS_LOG_LEVEL": "INFO"}, True),
        ({"POWERTOOLS_LOG_LEVEL": "WARNING"}, False),
        # Lambda's advanced logging controls (the stack's application log level) win
        ({"POWERTOOLS_LOG_LEVEL": "INFO", "AWS_LAMBDA_LOG_LEVEL": "WARN"}, False),
        ({"POWERTOOLS_LOG_LEVEL": "DEBUG", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"}, True),
    ],
)
def test_the_log_level_comes_from_the_environment(env: dict[str, str], logged: bool) -> None:
    lines = _lines(**env)
    refused = [li for li in lines if li.get("message") == "request refused: no live key"]
    assert bool(refused) is logged, lines
    for line in refused:  # Powertools' JSON line, the service named
        assert line["level"] == "INFO" and line["service"] == "runplane-authorizer"
