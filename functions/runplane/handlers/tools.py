"""The tool-step Lambda: the Map iteration's Task states call it (one call per invocation).

It never imports ``anthropic``: calling functions needs no model.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import wiring

logger = Logger(service="runplane-tools")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    cluster_id, run_id, call_id = event["clusterId"], event["runId"], event["callId"]
    logger.append_keys(run_id=run_id, cluster_id=cluster_id, call_id=call_id)
    steps = wiring.call_steps()
    action = event["action"]
    if action == "run_call":
        out = steps.run_call(cluster_id, run_id, call_id)
    elif action == "await_approval":
        out = steps.await_approval(cluster_id, run_id, call_id, event["taskToken"])
    elif action == "approval_expired":
        out = steps.approval_expired(cluster_id, run_id, call_id)
    elif action == "call_failed":
        out = steps.call_failed(cluster_id, run_id, call_id, event.get("error"))
    else:
        raise ValueError(f"unknown action '{action}'")
    logger.info("tool step finished", action=action, mode=out.get("mode"))
    return out
