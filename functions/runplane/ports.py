"""The small interfaces the logic depends on. Adapters implement them over AWS; tests may fake them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .schemas import Cluster, Message, Run
from .status import RunStatus


class RunStore(Protocol):
    def get_cluster(self, cluster_id: str) -> Cluster | None: ...

    def put_cluster(self, cluster: Cluster) -> bool:
        """Create the cluster; False when it already exists."""

    def create_run(self, run: Run, first_message: Message | None) -> Run | None:
        """Store a new run (and its first message) atomically; the existing run if the id is taken."""

    def get_run(self, cluster_id: str, run_id: str) -> Run | None: ...

    def list_runs(
        self,
        cluster_id: str,
        *,
        status: RunStatus | None,
        metadata: dict[str, str],
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Run], str | None]: ...

    def transition(self, run: Run, target: RunStatus, **fields: Any) -> Run:
        """Commit a status change (checked against the status graph) if nobody changed the run since
        ``run`` was read; raise ConcurrentUpdate otherwise."""

    def messages(self, run: Run) -> list[Message]: ...

    def append_message(self, run: Run, message: Message, *, usage: tuple[int, int] | None = None) -> bool:
        """Store the message at its index unless one is there already (False then). With ``usage``,
        the run's token counters and turn count grow in the same transaction."""


class Executions(Protocol):
    def start(self, run: Run) -> None:
        """Start the run's agent-loop execution; a no-op if it exists already."""


class EventSink(Protocol):
    def put(self, entries: Sequence[dict[str, Any]]) -> list[int]:
        """Send entries; return the indexes of the entries that failed."""
