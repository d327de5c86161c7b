"""The agent-step Lambda: the Task states of ``statemachines/agent_loop.asl.json`` call it.

Errors it raises keep their class names as Lambda's ``errorType`` — ``ModelThrottled``,
``ModelOverloaded`` and ``ModelUnavailable`` are retried by the state machine; anything else ends in
its Catch, which calls this function again with ``action: fail``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .. import metrics
from ..logic.agent import INTERNAL_FAILURE, failure_reason
from ..schemas import AgentStepEvent
from . import initialized, wiring

logger = Logger(service="runplane-agent")


@metrics.flushed  # the model's latency, tokens and throttles (llm/anthropic_model.py)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = AgentStepEvent.model_validate(event)
    logger.set_correlation_id(step.run_id)
    logger.append_keys(run_id=step.run_id, cluster_id=step.cluster_id)
    steps = wiring.agent_steps()
    if step.action == "model":
        out = steps.model_turn(step.cluster_id, step.run_id)
    else:
        # The run's failureReason says what failed in words; the error and its cause stay here.
        error = step.error or {}
        internal = failure_reason(error) == INTERNAL_FAILURE
        (logger.error if internal else logger.warning)("run failed", error=error.get("Error"), cause=error.get("Cause"))
        out = steps.record_failure(step.cluster_id, step.run_id, step.error)
    logger.info("step finished", action=step.action, next=out["next"], calls=len(out.get("calls", [])))
    return {"runId": step.run_id, "clusterId": step.cluster_id, "next": out["next"], "calls": out.get("calls", [])}


initialized()  # the last statement: the cold start's imports are done (handlers/__init__.py)
