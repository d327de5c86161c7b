"""Builds the logic objects from configuration, once per Lambda process (lazily: no AWS calls at import)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..adapters.webhooks import DynamoWebhookSecrets, NotificationTargets
    from ..logic.agent import AgentSteps

from ..adapters.clients import client
from ..adapters.dynamo import DynamoRunStore
from ..adapters.eventbridge import EventBridgeSink
from ..adapters.jobs import SqsJobQueues
from ..adapters.keys import DynamoKeyStore
from ..adapters.notify_queue import SqsNotificationQueue
from ..adapters.ratelimit import DynamoRateCounters
from ..adapters.run_configs import DynamoRunConfigStore
from ..adapters.stepfunctions import StepFunctionsExecutions
from ..config import settings
from ..logic.admission import Admission
from ..logic.calls import CallSteps
from ..logic.functions import FunctionService
from ..logic.jobs import JobService
from ..logic.keys import KeyService
from ..logic.ratelimit import RateLimiter
from ..logic.run_configs import RunConfigService
from ..logic.runs import RunService
from ..logic.services import ServiceCalls


@lru_cache(maxsize=1)
def store() -> DynamoRunStore:
    return DynamoRunStore(settings())


@lru_cache(maxsize=1)
def executions() -> StepFunctionsExecutions:
    return StepFunctionsExecutions(settings())


@lru_cache(maxsize=1)
def job_queues() -> SqsJobQueues:
    return SqsJobQueues(settings())


@lru_cache(maxsize=1)
def functions() -> FunctionService:
    return FunctionService(store(), settings(), job_queues())


@lru_cache(maxsize=1)
def call_steps() -> CallSteps:
    return CallSteps(store(), executions(), settings(), job_queues(), lambda_client=client("lambda"))


@lru_cache(maxsize=1)
def config_store() -> DynamoRunConfigStore:
    return DynamoRunConfigStore(settings())


@lru_cache(maxsize=1)
def run_configs() -> RunConfigService:
    return RunConfigService(config_store())


@lru_cache(maxsize=1)
def admission() -> Admission:
    return Admission(store(), executions(), settings())


@lru_cache(maxsize=1)
def run_service() -> RunService:
    return RunService(
        store(),
        executions(),
        settings(),
        functions(),
        call_steps(),
        run_configs(),
        webhook_secrets=webhook_secrets(),
        admission=admission(),
    )


@lru_cache(maxsize=1)
def jobs() -> JobService:
    return JobService(store(), executions(), job_queues(), call_steps())


@lru_cache(maxsize=1)
def services() -> ServiceCalls:
    return ServiceCalls(
        store(),
        executions(),
        job_queues(),
        call_steps(),
        functions(),
        poll_wait_seconds=settings().call_poll_wait_seconds,
    )


@lru_cache(maxsize=1)
def agent_steps() -> AgentSteps:
    # Imported here: the agent loop (and jsonschema) is only needed by the agent-step function.
    from ..llm.base import ModelClient
    from ..llm.factory import model_for
    from ..logic.agent import AgentSteps

    cfg = settings()

    def model(provider: str) -> ModelClient:
        return model_for(provider, cfg)

    return AgentSteps(store(), model, cfg, functions(), call_steps())


@lru_cache(maxsize=1)
def keys() -> KeyService:
    return KeyService(DynamoKeyStore(settings()))


@lru_cache(maxsize=1)
def rate_limiter() -> RateLimiter:
    return RateLimiter(DynamoRateCounters(settings()), settings())


@lru_cache(maxsize=1)
def event_sink() -> EventBridgeSink:
    return EventBridgeSink(settings())


@lru_cache(maxsize=1)
def notification_queue() -> SqsNotificationQueue:
    return SqsNotificationQueue(settings())


@lru_cache(maxsize=1)
def webhook_secrets() -> DynamoWebhookSecrets:
    from ..adapters.webhooks import DynamoWebhookSecrets

    return DynamoWebhookSecrets(settings())


@lru_cache(maxsize=1)
def notification_targets() -> NotificationTargets:
    from ..adapters.webhooks import NotificationTargets, WebhookSender

    return NotificationTargets(settings(), WebhookSender(settings(), webhook_secrets()))


def reset() -> None:
    for cached in (
        store,
        executions,
        job_queues,
        functions,
        call_steps,
        run_service,
        jobs,
        services,
        agent_steps,
        event_sink,
        keys,
        notification_queue,
        webhook_secrets,
        notification_targets,
        admission,
        rate_limiter,
    ):
        cached.cache_clear()
    for cached in (config_store, run_configs):
        cached.cache_clear()
