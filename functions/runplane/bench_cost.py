"""The billable operations of a run, counted in the local emulator (``runplane bench``, "cost" figures).

While the scenario runs, every handler invocation (the emulator's in-process Lambda) is counted per
function, with its memory and its time, and every AWS API call a handler makes on its thread is
counted per service and operation (PutEvents by entries). State transitions come from the execution
histories. The bench's own calls (creating runs, polling the execution) are not counted: each run is
one ``POST .../runs`` and one ``GET .../runs/{id}`` through API Gateway's path (authorizer + API
function), as a client that polls once would make.

docs/deploy.md turns these counts into a cost per 1,000 runs at list prices.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

COST_RUNS = 5

# DynamoDB operations by what they are billed as (on demand: read and write request units).
DYNAMODB_READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")
DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


class CallCounter:
    """Counts handler invocations and the AWS calls handlers make, while installed."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.invocations: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[tuple[str, str, str]] = Counter()  # (function, service, operation)
        self.event_entries = 0
        self._restore: list[Callable[[], None]] = []

    def install(self) -> None:
        import botocore.client

        from .local import emulator

        original_invoke = emulator.invoke_in_process
        original_call = botocore.client.BaseClient._make_api_call
        counter = self

        def invoke(handler_path: str, event: Any, name: str, memory: int, timeout: int) -> tuple[str, bool]:
            outer = getattr(counter._local, "function", None)
            counter._local.function = name
            started = time.perf_counter()
            try:
                return original_invoke(handler_path, event, name, memory, timeout)
            finally:
                with counter._lock:
                    counter.invocations[name] += 1
                    counter.seconds[name] += time.perf_counter() - started
                counter._local.function = outer

        def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            function = getattr(counter._local, "function", None)
            if function is not None:
                service = client.meta.service_model.service_name
                with counter._lock:
                    counter.calls[(function, service, operation)] += 1
                    if operation == "PutEvents":
                        counter.event_entries += len(params.get("Entries", []))
            return original_call(client, operation, params)

        emulator.invoke_in_process = invoke  # type: ignore[assignment]
        botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
        self._restore = [
            lambda: setattr(emulator, "invoke_in_process", original_invoke),
            lambda: setattr(botocore.client.BaseClient, "_make_api_call", original_call),
        ]

    def uninstall(self) -> None:
        for undo in self._restore:
            undo()
        self._restore = []


def scenario_cost(bench: Any, runs: int = COST_RUNS) -> dict[str, Any]:
    """``runs`` one-turn runs (no tools), each created and read once through the API."""
    from . import resources

    counter = CallCounter()
    counter.install()
    run_ids: list[str] = []
    try:
        for i in range(runs):
            run_ids.append(bench.create_run({"initialPrompt": f"Say hello to visitor {i}"}))
        bench.wait_executions(run_ids)
        bench.emulator.wait_for_stream()  # the outbox has published every status change
        for run_id in run_ids:
            bench.get_run(run_id)
        bench.emulator.wait_for_stream()
    finally:
        counter.uninstall()
    from .bench import analyse

    transitions = sum(analyse(bench.history(r), 1)["state_transitions"] for r in run_ids)
    names = {bench.emulator.names.function(key): key for key in resources.FUNCTIONS}
    per_run = 1 / runs
    invocations = {names.get(n, n): round(c * per_run, 2) for n, c in sorted(counter.invocations.items())}
    gb_seconds = {
        names.get(n, n): round(s * resources.FUNCTIONS[names[n]].memory_mb / 1024 * per_run, 4)
        for n, s in sorted(counter.seconds.items())
        if n in names
    }
    calls: Counter[str] = Counter()
    for (_function, service, operation), n in counter.calls.items():
        calls[f"{service}:{operation}"] += n
    reads = sum(n for k, n in calls.items() if k.split(":")[1] in DYNAMODB_READS and k.startswith("dynamodb:"))
    writes = sum(n for k, n in calls.items() if k.split(":")[1] in DYNAMODB_WRITES and k.startswith("dynamodb:"))
    return {
        "runs": runs,
        "per_run": {
            "api_requests": 2,
            "state_transitions": round(transitions * per_run, 2),
            "lambda_invocations": invocations,
            "lambda_invocations_total": round(sum(counter.invocations.values()) * per_run, 2),
            "lambda_gb_seconds_local": gb_seconds,
            "dynamodb_read_requests": round(reads * per_run, 2),
            "dynamodb_write_requests": round(writes * per_run, 2),
            "eventbridge_events": round(counter.event_entries * per_run, 2),
            "aws_calls": {k: round(n * per_run, 2) for k, n in sorted(calls.items())},
        },
    }
