"""The agent-step Lambda: the Task states of ``statemachines/agent_loop.asl.json`` call it.

Errors it raises keep their class names as Lambda's ``errorType`` — ``ModelThrottled``,
``ModelOverloaded`` and ``ModelUnavailable`` are retried by the state machine; anything else ends in
its Catch, which calls this function again with ``action: fail``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import wiring

logger = Logger(service="runplane-agent")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id, cluster_id = event["runId"], event["clusterId"]
    logger.append_keys(run_id=run_id, cluster_id=cluster_id)
    action = event.get("action", "model")
    if action == "model":
        step = wiring.agent_steps().model_turn(cluster_id, run_id)
    elif action == "fail":
        step = wiring.agent_steps().record_failure(cluster_id, run_id, event.get("error"))
    else:
        raise ValueError(f"unknown action '{action}'")
    logger.info("step finished", action=action, next=step["next"], calls=len(step.get("calls", [])))
    return {"runId": run_id, "clusterId": cluster_id, "next": step["next"], "calls": step.get("calls", [])}
