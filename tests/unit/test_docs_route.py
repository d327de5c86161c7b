"""/docs serves the OpenAPI document Powertools builds for the resolver, built at the first request:
the API's import, and a request that is not /docs, load none of Powertools' OpenAPI machinery (its
document models, its validation's params and compat), nor boto3 or jsonschema (cold start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FUNCTIONS = str(Path(__file__).resolve().parents[2] / "functions")

PROBE = r"""
import json, os, sys
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
from runplane.handlers import api
COLD = ("aws_lambda_powertools.event_handler.openapi.models", "aws_lambda_powertools.event_handler.openapi.params",
        "aws_lambda_powertools.event_handler.openapi.compat", "boto3", "s3transfer", "jsonschema")
loaded_at_import = [m for m in COLD if m in sys.modules]
from runplane.local.http import proxy_event  # local mode's glue (it imports boto3): after the check
COLD = COLD[:3] + COLD[5:]
bad_event = proxy_event("GET", "/clusters/c1/runs", body=None, headers={}, stage="v1")
bad_event["queryStringParameters"] = {"limit": "5"}
bad = api.app.resolve(bad_event, None)
loaded_by_request = [m for m in COLD if m in sys.modules]
event = proxy_event("GET", "/docs", body=None, headers={}, stage="v1")
event["queryStringParameters"] = {"format": "json"}
served = api.app.resolve(event, None)
from aws_lambda_powertools.event_handler.openapi.models import Server
expected = api.app.get_openapi_json_schema(title="runplane API", version="0.1.0", servers=[Server(url="/")])
event["queryStringParameters"] = None
page = api.app.resolve(event, None)
print(json.dumps({
    "loaded_at_import": loaded_at_import, "loaded_by_request": loaded_by_request,
    "bad": [bad["statusCode"], json.loads(bad["body"])],
    "status": served["statusCode"],
    "same": served["body"] == expected.replace("</", "<\\/"),
    "paths": sorted(json.loads(served["body"])["paths"]),
    "page": page["statusCode"], "page_type": page["multiValueHeaders"]["Content-Type"],
    "page_has_spec": '"openapi": "3.1.0"' in page["body"] and "SwaggerUIBundle" in page["body"],
}))
"""


def test_docs_document_is_powertools_and_built_on_demand() -> None:
    env = {**os.environ, "PYTHONPATH": FUNCTIONS}
    proc = subprocess.run([sys.executable, "-P", "-c", PROBE], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["loaded_at_import"] == [] and out["loaded_by_request"] == []
    # a request that is not /docs was bound and refused, naming its field
    assert out["bad"] == [
        400,
        {
            "message": "limit: Input should be greater than or equal to 10",
            "errors": [{"field": "limit", "problem": "Input should be greater than or equal to 10"}],
        },
    ]
    assert out["status"] == 200 and out["same"] is True
    assert "/clusters/{clusterId}/runs" in out["paths"] and "/docs" not in out["paths"]
    assert out["page"] == 200 and out["page_type"] == ["text/html"] and out["page_has_spec"] is True
