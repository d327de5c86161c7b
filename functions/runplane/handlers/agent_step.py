"""The agent-step Lambda: the Task states of ``statemachines/agent_loop.asl.json`` call it.

Errors it raises keep their class names as Lambda's ``errorType`` — ``ModelThrottled``,
``ModelOverloaded`` and ``ModelUnavailable`` are retried by the state machine; anything else ends in
its Catch, which calls this function again with ``action: fail``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.dynamo import DynamoRunStore
from ..config import settings
from ..llm.base import ModelClient
from ..llm.factory import model_for
from ..logic.agent import AgentSteps

logger = Logger(service="runplane-agent")


@lru_cache(maxsize=1)
def steps() -> AgentSteps:
    cfg = settings()

    def model(provider: str) -> ModelClient:
        return model_for(provider, cfg)

    return AgentSteps(DynamoRunStore(cfg), model, cfg)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id, cluster_id = event["runId"], event["clusterId"]
    logger.append_keys(run_id=run_id, cluster_id=cluster_id)
    action = event.get("action", "model")
    if action == "model":
        nxt = steps().model_turn(cluster_id, run_id)
    elif action == "fail":
        nxt = steps().record_failure(cluster_id, run_id, event.get("error"))
    else:
        raise ValueError(f"unknown action '{action}'")
    logger.info("step finished", action=action, next=nxt)
    return {"runId": run_id, "clusterId": cluster_id, "next": nxt}
