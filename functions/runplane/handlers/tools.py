"""The tool-step Lambda: the Map iteration's Task states call it (one call per invocation).

It never imports ``anthropic``: calling functions needs no model.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..schemas import ToolStepEvent
from . import initialized, wiring

logger = Logger(service="runplane-tools")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = ToolStepEvent.model_validate(event)
    logger.set_correlation_id(step.run_id)
    logger.append_keys(run_id=step.run_id, cluster_id=step.cluster_id, call_id=step.call_id)
    calls = wiring.call_steps()
    ids = (step.cluster_id, step.run_id, step.call_id)
    if step.action == "run_call":
        out = calls.run_call(*ids)
    elif step.action == "await_approval":
        if not step.task_token:
            raise ValueError("await_approval needs taskToken")
        out = calls.await_approval(*ids, step.task_token)
    elif step.action == "approval_expired":
        out = calls.approval_expired(*ids)
    else:
        out = calls.call_failed(*ids, step.error)
    logger.info("tool step finished", action=step.action, mode=out.get("mode"))
    return out


initialized()  # the last statement: the cold start's imports are done (handlers/__init__.py)
