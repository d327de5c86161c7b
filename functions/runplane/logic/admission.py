"""Bounded concurrency in front of the model quota: caps on runs holding a slot, per deployment
(``Settings.max_running``) and per cluster (``Settings.max_running_per_cluster``); 0 = no cap.

- A run holds a slot from its admission (the write that moves it ``pending`` → ``running``) until
  the write that ends it (done, failed, cancelled — by the loop, the API, or reconcile). Both are one
  DynamoDB transaction with the slot counters (``adapters.dynamo.DynamoRunStore.transition``): a
  counter can only grow under ``running < cap``, and a run gives back exactly the slots it took,
  exactly once. A paused run keeps its slots.
- A run that finds no slot waits in ``pending``, in the sparse ``Waiting`` index (oldest first).
  :meth:`Admission.dispatch` admits waiting runs oldest first: a cluster at its own cap is skipped
  (it does not block other clusters), a full deployment stops it. It runs where a slot may free or
  a run may start — the create request, the outbox (a slot freed, a run queued) and a periodic
  sweep (``handlers/admission.py``) — so a lost trigger only delays a run. Any number of dispatches
  may run at once: each admission is a conditional transaction, so they cannot over-admit.
- A follow-up message to a finished run takes a slot on its way back to ``running``, or waits
  (``done`` → ``pending``) when none is free or older runs are waiting.

With both caps 0, runs start as they always did: the execution starts at once and the loop's first
step moves the run to ``running``; no counter is written.
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..errors import ConcurrentUpdate, SlotsFull
from ..ports import Executions, RunStore
from ..schemas import Run
from ..status import RunStatus, holds_slot
from ..timeutil import now_iso

DEPLOYMENT = "deployment"
PAGE = 100  # waiting runs read per query
MAX_PAGES = 10  # per dispatch: past this many, the next trigger or sweep goes on


def cluster_counter(cluster_id: str) -> str:
    return f"cluster/{cluster_id}"


class Admission:
    def __init__(self, store: RunStore, executions: Executions, settings: Settings) -> None:
        self.store = store
        self.executions = executions
        self.max_running = settings.max_running
        self.max_per_cluster = settings.max_running_per_cluster

    @property
    def enabled(self) -> bool:
        return bool(self.max_running or self.max_per_cluster)

    def caps(self, cluster_id: str) -> list[tuple[str, int]]:
        """(counter, cap) of every cap a run of this cluster takes a slot of."""
        caps = [(DEPLOYMENT, self.max_running)] if self.max_running else []
        if self.max_per_cluster:
            caps.append((cluster_counter(cluster_id), self.max_per_cluster))
        return caps

    # -- entry points ---------------------------------------------------------------------------
    def start(self, run: Run) -> None:
        """A new run (stored ``pending``, in the Waiting index when a cap is on): start it now if a
        slot allows and no older run waits for it, else it waits for :meth:`dispatch`."""
        if not self.enabled:
            self.executions.start(run)
            return
        if (run.cluster_id, run.id) not in self.dispatch(hint=run):
            # Another dispatch may have admitted it a moment ago and not started it yet: start it
            # here too (idempotent), so that an admitted run's execution exists when this returns.
            fresh = self.store.get_run(run.cluster_id, run.id)
            if fresh is not None and fresh.status == RunStatus.RUNNING and fresh.admitted_at:
                self.executions.start(fresh)

    def resume(self, run: Run, **fields: Any) -> Run:
        """A run continued by a follow-up message: a finished one to ``running`` with its slots (and
        its next execution started), or to ``pending`` to wait for them; a paused one keeps its own.
        ConcurrentUpdate if the run moved meanwhile."""
        if not self.enabled or holds_slot(run.status):  # a paused run still holds its slots
            resumed = self.store.transition(run, RunStatus.RUNNING, **fields)
            self.executions.start(resumed)
            return resumed
        waiting, _ = self.store.waiting_runs(1)
        if not waiting:
            try:
                resumed = self.store.transition(
                    run, RunStatus.RUNNING, acquire=self.caps(run.cluster_id), admitted_at=now_iso(), **fields
                )
            except SlotsFull:
                pass
            else:
                self.executions.start(resumed)
                return resumed
        queued = self.store.transition(run, RunStatus.PENDING, queue=True, **fields)
        if (run.cluster_id, run.id) not in self.dispatch(hint=queued):
            return queued
        return self.store.get_run(run.cluster_id, run.id) or queued

    def dispatch(self, hint: Run | None = None, limit: int = 1000) -> list[tuple[str, str]]:
        """Admit waiting runs, oldest first, while the caps allow (``hint``: a run just queued, which
        the eventually consistent index may not show yet). Returns the (cluster id, run id) of the
        runs it admitted, in order."""
        admitted: list[tuple[str, str]] = []
        if self.max_running and self.store.slots_in_use(DEPLOYMENT) >= self.max_running:
            return admitted
        full: set[str] = set()  # clusters at their own cap
        after: str | None = None
        extra = [_wait_key(hint)] if hint is not None and hint.status == RunStatus.PENDING else []
        seen: set[tuple[str, str]] = set()
        for _ in range(MAX_PAGES):
            page, after = self.store.waiting_runs(PAGE, after)
            candidates = [(key, cid, rid) for key, cid, rid in page]
            if extra and (after is None or extra[0][0] <= page[-1][0]):
                candidates = sorted([*candidates, *extra])
                extra = []
            for _key, cluster_id, run_id in candidates:
                if (cluster_id, run_id) in seen or cluster_id in full:
                    continue
                seen.add((cluster_id, run_id))
                outcome = self._admit(cluster_id, run_id)
                if outcome == DEPLOYMENT:
                    break
                if outcome == "cluster":
                    full.add(cluster_id)
                elif outcome == "admitted":
                    admitted.append((cluster_id, run_id))
                    if len(admitted) >= limit:
                        break
            else:
                if after is not None:
                    continue
            break
        return admitted

    def _admit(self, cluster_id: str, run_id: str) -> str:
        run = self.store.get_run(cluster_id, run_id)
        if run is None or run.status != RunStatus.PENDING:
            return "gone"  # admitted, cancelled or deleted meanwhile (the index lags a moment)
        try:
            admitted = self.store.transition(
                run, RunStatus.RUNNING, acquire=self.caps(cluster_id), admitted_at=now_iso()
            )
        except SlotsFull as exc:
            return DEPLOYMENT if exc.counter == DEPLOYMENT else "cluster"
        except ConcurrentUpdate:
            return "gone"
        # If this start is lost (the process dies here), the outbox starts it: it sees admittedAt change.
        self.executions.start(admitted)
        return "admitted"


def _wait_key(run: Run) -> tuple[str, str, str]:
    """The run's place in the Waiting index (it was queued by the write that set ``updated_at``)."""
    return (f"{run.updated_at}#{run.cluster_id}#{run.id}", run.cluster_id, run.id)
