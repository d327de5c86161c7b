"""runplane's CDK app: one construct per capability (storage, events, agent loop, API, model access,
functions, bundling) and one stack that only composes them (``RunplaneStack``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from .stack import RunplaneStack

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = REPO_ROOT / "cdk.json"
DEFAULT_STACK_NAME = "Runplane"

__all__ = ["DEFAULT_STACK_NAME", "RunplaneStack", "build_app", "cdk_json_context"]


def cdk_json_context() -> dict[str, Any]:
    """The context of cdk.json (feature flags). The CDK CLI passes it to the app itself; reading it
    here too makes ``python app.py`` and the tests synthesize exactly what ``cdk deploy`` does."""
    return dict(json.loads(CDK_JSON.read_text()).get("context", {}))


def build_app(context: Mapping[str, Any] | None = None, **app_props: Any) -> cdk.App:
    """The app with the runplane stack. ``context`` overrides cdk.json's; the CLI's context
    (``CDK_CONTEXT_JSON``, e.g. ``-c modelProvider=...``) overrides both."""
    app = cdk.App(context={**cdk_json_context(), **(context or {})}, **app_props)
    stack_name = app.node.try_get_context("stackName") or DEFAULT_STACK_NAME
    stack = RunplaneStack(
        app,
        stack_name,
        description="runplane: a serverless control plane for AI-agent runs",
    )
    cdk.Tags.of(stack).add("project", "runplane")
    from . import nag

    nag.cfn_lint_exceptions(stack)
    if str(app.node.try_get_context("runplaneNag") or "").lower() in ("true", "1", "yes"):
        nag.apply(app, stack)
    return app
