"""The small interfaces the logic depends on. Adapters implement them over AWS; tests may fake them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .schemas import Call, Cluster, Message, Run
from .status import RunStatus
from .tools.models import FunctionRecord


class RunStore(Protocol):
    def get_cluster(self, cluster_id: str) -> Cluster | None: ...

    def put_cluster(self, cluster: Cluster) -> bool:
        """Create the cluster; False when it already exists."""

    def create_run(
        self, run: Run, first_message: Message | None, history: Sequence[Message] = (), *, queued: bool = False
    ) -> Run | None:
        """Store a new run (one conditional write), then its earlier ``history`` messages and its first
        message (idempotently); the existing run if the id is taken. ``queued``: it waits for a
        concurrency slot (logic/admission.py)."""

    def get_run(self, cluster_id: str, run_id: str) -> Run | None: ...

    def list_runs(
        self,
        cluster_id: str,
        *,
        status: RunStatus | None,
        metadata: dict[str, str],
        limit: int,
        cursor: str | None,
        test: bool | None = None,
        config_id: str | None = None,
    ) -> tuple[list[Run], str | None]: ...

    def set_run_fields(self, run: Run, **fields: Any) -> Run | None:
        """Write fields outside the status graph (feedback); None if the run is gone."""

    def delete_run(self, run: Run) -> int:
        """Delete the run and everything under it; ConcurrentUpdate if the run moved meanwhile."""

    def put_machine(self, cluster_id: str, machine: dict[str, Any]) -> None: ...

    def get_machine(self, cluster_id: str, machine_id: str) -> dict[str, Any] | None: ...

    def list_machines(self, cluster_id: str) -> list[dict[str, Any]]: ...

    def put_service(self, cluster_id: str, service: dict[str, Any]) -> None: ...

    def get_service(self, cluster_id: str, name: str) -> dict[str, Any] | None: ...

    def list_services(self, cluster_id: str) -> list[dict[str, Any]]: ...

    def touch(self, cluster_id: str, sk: str, at: str, **fields: Any) -> None: ...

    def put_call_blob(self, cluster_id: str, run_id: str, blob: dict[str, Any], data: bytes) -> None: ...

    def call_blobs(self, cluster_id: str, run_id: str) -> list[dict[str, Any]]: ...

    def get_call_blob(self, cluster_id: str, run_id: str, blob_id: str) -> tuple[dict[str, Any], bytes] | None: ...

    def transition(
        self,
        run: Run,
        target: RunStatus,
        *,
        acquire: Sequence[tuple[str, int]] = (),
        queue: bool = False,
        **fields: Any,
    ) -> Run:
        """Commit a status change (checked against the status graph) if nobody changed the run since
        ``run`` was read; raise ConcurrentUpdate otherwise. ``acquire``: (counter, cap) slots taken
        in the same transaction (SlotsFull when one is at its cap); a run's slots are given back in
        the transaction that ends it. ``queue``: into ``pending``, waiting for a slot."""

    def slots_in_use(self, counter: str) -> int:
        """How many runs hold a slot of the counter (consistent)."""

    def waiting_runs(self, limit: int, after: str | None = None) -> tuple[list[tuple[str, str, str]], str | None]:
        """Runs waiting for a slot, oldest first: ([(queue key, cluster id, run id)], next ``after``)."""

    def messages(self, run: Run) -> list[Message]: ...

    def append_message(self, run: Run, message: Message, *, usage: tuple[int, int] | None = None) -> bool:
        """Store the message at its index unless one is there already (False then). With ``usage``,
        the run's token counters (and, for agent messages, its turn count) grow too."""

    def put_function(self, cluster_id: str, record: FunctionRecord) -> None: ...

    def get_function(self, cluster_id: str, name: str) -> FunctionRecord | None: ...

    def list_functions(self, cluster_id: str) -> list[FunctionRecord]: ...

    def delete_function(self, cluster_id: str, name: str) -> bool: ...

    def put_call(self, call: Call) -> bool:
        """Store a new call; False if it exists already."""

    def get_call(self, cluster_id: str, run_id: str, call_id: str) -> Call | None: ...

    def calls(self, cluster_id: str, run_id: str) -> list[Call]: ...

    def update_call(self, call: Call, expected: set[str] | frozenset[str], **fields: Any) -> Call:
        """Write the fields if the call's status is one of ``expected``; ConcurrentUpdate if not."""

    def put_blob(self, key: str, body: bytes) -> str: ...

    def get_blob(self, key: str) -> bytes: ...


class Executions(Protocol):
    def start(self, run: Run) -> None:
        """Start the run's current agent-loop execution; a no-op if it exists already."""

    def stop(self, run: Run, cause: str) -> None:
        """Stop the run's current execution (no-op if it is not running)."""

    def send_task_success(self, token: str, output: dict[str, Any]) -> bool:
        """Resume a task waiting on ``token``; False if the task is gone (timed out, stopped)."""

    def send_task_heartbeat(self, token: str) -> bool: ...


class EventSink(Protocol):
    def put(self, entries: Sequence[dict[str, Any]]) -> list[int]:
        """Send entries; return the indexes of the entries that failed."""
