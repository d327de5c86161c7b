"""Builds the logic objects from configuration, once per Lambda process (lazily: no AWS calls at import)."""

from __future__ import annotations

from functools import lru_cache

from ..adapters.dynamo import DynamoRunStore
from ..adapters.eventbridge import EventBridgeSink
from ..adapters.stepfunctions import StepFunctionsExecutions
from ..config import settings
from ..logic.runs import RunService


@lru_cache(maxsize=1)
def run_service() -> RunService:
    cfg = settings()
    return RunService(DynamoRunStore(cfg), StepFunctionsExecutions(cfg), cfg)


@lru_cache(maxsize=1)
def event_sink() -> EventBridgeSink:
    return EventBridgeSink(settings())


@lru_cache(maxsize=1)
def executions() -> StepFunctionsExecutions:
    return StepFunctionsExecutions(settings())


def reset() -> None:
    run_service.cache_clear()
    event_sink.cache_clear()
    executions.cache_clear()
