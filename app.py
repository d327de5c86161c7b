#!/usr/bin/env python3
"""runplane's CDK app: ``cdk deploy`` (see docs/deploy.md), or ``python app.py`` to synthesize.

Offline by design: no account or region lookups, no environment needed, no Docker (the Lambda asset
is bundled with ``pip install --platform``; see infra/bundling.py).
"""

import sys
from pathlib import Path

_FUNCTIONS = str(Path(__file__).resolve().parent / "functions")
if _FUNCTIONS not in sys.path:
    sys.path.insert(0, _FUNCTIONS)  # the stack reads runplane.resources from this checkout

from infra import build_app  # noqa: E402

build_app().synth()
