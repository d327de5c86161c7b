"""`python app.py` synthesizes offline: no AWS credentials, account, region or Docker needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runplane import resources

ROOT = Path(__file__).resolve().parents[2]


def test_app_synthesizes_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(
        CDK_OUTDIR=str(tmp_path),
        CDK_CONTEXT_JSON=json.dumps({"aws:cdk:bundling-stacks": []}),
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        CDK_DISABLE_CLI_TELEMETRY="true",
    )
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    template = json.loads((tmp_path / "Runplane.template.json").read_text())
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == len(resources.FUNCTIONS)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["artifacts"]["Runplane"]["environment"] == "aws://unknown-account/unknown-region"
