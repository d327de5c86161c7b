"""Fails runs whose agent-loop execution ended outside the loop's own paths.

An EventBridge rule sends Step Functions' "Execution Status Change" events (FAILED, TIMED_OUT,
ABORTED) of the agent-loop state machine here. The loop records its own failures; this catches what
it cannot: an execution stopped by an operator, a timeout, a service error. The run fails with a
reason (and, through the outbox, its event) instead of staying ``running`` forever.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import initialized, wiring

logger = Logger(service="runplane-reconcile")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event.get("detail") or {}
    try:
        execution_input = json.loads(detail.get("input") or "{}")
        run_id, cluster_id = execution_input["runId"], execution_input["clusterId"]
    except (ValueError, KeyError, TypeError):
        logger.warning("not a runplane execution", execution=detail.get("executionArn"))
        return {"changed": False}
    logger.set_correlation_id(run_id)
    changed = wiring.run_service().execution_ended(
        cluster_id, run_id, str(detail.get("name", "")), str(detail.get("status", "")), detail.get("error")
    )
    logger.info(
        "execution ended",
        run_id=run_id,
        status=detail.get("status"),
        error=detail.get("error"),
        cause=str(detail.get("cause") or "")[:4000],
        run_failed=changed,
    )
    return {"changed": changed}


initialized()  # the last statement: the cold start's imports are done (handlers/__init__.py)
