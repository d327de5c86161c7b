"""Property-based fuzzing of the served OpenAPI document (schemathesis over ``/docs?format=json``):
every operation, with valid and invalid inputs, through the local API Gateway adapter → the
emulator's Lambda service → the real API handler. No input may get a 5xx.

Budget: a fixed number of examples per operation and generation mode, derandomized (the same cases
every run), no example database. Runs it creates fail at their first model turn (the model provider
points at a closed local port), so fuzzed functions are never called: nothing leaves the machine.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import emulator_settings

# Examples per operation: with the cluster and run of the path pinned to real ones (reaches the
# logic), as generated (mostly 404s and path validation), and outside the schema (400s).
BUDGET = {"pinned": 5, "positive": 2, "negative": 3}
MAX_WAIT = 0  # long polls (jobs/poll waitSeconds up to 20) are clamped so the budget holds


@pytest.fixture(scope="module")
def emulator_env() -> Iterator[dict[str, str]]:
    env = emulator_settings(
        RUNPLANE_MODEL_PROVIDER="anthropic",
        RUNPLANE_ANTHROPIC_BASE_URL="http://127.0.0.1:9",  # closed: every run fails at once
        RUNPLANE_MODEL_SDK_RETRIES="0",
        RUNPLANE_CALL_POLL_WAIT_SECONDS="0",  # Inferable's call poll would wait 20 s for calls
    )
    saved = os.environ.pop("ANTHROPIC_API_KEY", None)
    yield env
    for name in ("RUNPLANE_ANTHROPIC_BASE_URL", "RUNPLANE_MODEL_SDK_RETRIES", "RUNPLANE_CALL_POLL_WAIT_SECONDS"):
        os.environ.pop(name, None)
    if saved is not None:
        os.environ["ANTHROPIC_API_KEY"] = saved


@pytest.fixture(scope="module")
def real(harness: Any) -> dict[str, str]:
    cluster = harness.cluster()
    run_id = harness.create_run(cluster, {"initialPrompt": "A run for the fuzzer"})
    harness.put_function(cluster, "lookup", {"target": {"type": "worker"}})
    return {"clusterId": cluster, "runId": run_id, "name": "lookup"}


def _clamp(case: Any) -> None:
    if case.path.endswith("/jobs/poll") and isinstance(case.body, dict):
        wait = case.body.get("waitSeconds")
        if isinstance(wait, int) and not isinstance(wait, bool) and wait > MAX_WAIT:
            case.body["waitSeconds"] = MAX_WAIT


def _exercise(
    key: dict[str, str], statuses: collections.Counter[int], server_errors: list[str]
) -> Callable[[Any], None]:
    """One request of a generated case, with ``key``; 5xx answers are collected."""

    def exercise(case: Any) -> None:
        _clamp(case)
        response = case.call(headers=key)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            server_errors.append(
                f"{response.status_code} {case.method} {case.formatted_path} query={case.query} "
                f"headers={case.headers} body={str(case.body)[:300]!r} → {response.text[:300]}"
            )

    return exercise


def test_no_input_gets_a_5xx(harness: Any, real: dict[str, str]) -> None:
    from runplane.local.http import ApiGatewayAdapter

    app = ApiGatewayAdapter(harness.emulator.names.function("api"))  # runs the authorizer first
    cluster_key = {"authorization": harness.keys[real["clusterId"]]}
    admin_key = {"authorization": harness.admin_key}
    schema = schemathesis.openapi.from_wsgi("/docs?format=json", app, headers=cluster_key)
    statuses: collections.Counter[int] = collections.Counter()
    server_errors: list[str] = []
    unsatisfiable: list[str] = []
    # Deletions last: the pinned run and function stay for the other operations.
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: op.method == "delete")
    assert len(operations) >= 15, [op.label for op in operations]
    print(f"{len(operations)} operations: {', '.join(op.label for op in operations)}")
    for operation in operations:
        path_names = {p.name for p in operation.path_parameters}
        # The cluster's own key (the admin key where only it may act): requests reach the handler.
        key = admin_key if operation.path == "/clusters" else cluster_key
        pinned = {k: v for k, v in real.items() if k in path_names}
        plans = [
            ("pinned", GenerationMode.POSITIVE, pinned),
            ("positive", GenerationMode.POSITIVE, None),
            ("negative", GenerationMode.NEGATIVE, None),
        ]
        for plan, mode, path_parameters in plans:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)

            exercise = settings(
                max_examples=BUDGET[plan],
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(given(case=strategy)(_exercise(key, statuses, server_errors)))
            try:
                exercise()
            except Unsatisfiable:  # e.g. no invalid input exists for an operation without parameters
                unsatisfiable.append(f"{operation.label} ({plan})")
    print(f"fuzzed {len(operations)} operations, {sum(statuses.values())} requests: {dict(sorted(statuses.items()))}")
    print(f"no input to generate for: {unsatisfiable}")
    assert server_errors == [], "\n".join(server_errors[:20])
    assert sum(statuses.values()) >= 5 * len(operations)
