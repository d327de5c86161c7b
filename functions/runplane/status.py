"""The run status graph. Every status change in runplane goes through :func:`check_transition`.

    pending ──▶ running ──▶ done
       │          │  ▲ ╲
       │          ▼  │  ▶ failed
       │        paused
       └──────────────────▶ cancelled (from pending, running or paused)

``done`` and ``failed`` runs may go back to ``running`` when an interactive run receives a follow-up
message — or to ``pending`` when a concurrency cap is full (logic/admission.py): it then waits for a
slot like a new run. ``cancelled`` is final.

Slots (the concurrency caps): a run takes its slots in the same write that moves it to ``running``
(admission) and gives them back in the write that ends it (any status in :data:`TERMINAL`); a
``paused`` run keeps them (its execution is still open). See :func:`holds_slot`.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset({RunStatus.PAUSED, RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.PAUSED: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.DONE: frozenset({RunStatus.RUNNING, RunStatus.PENDING}),
    RunStatus.FAILED: frozenset({RunStatus.RUNNING, RunStatus.PENDING}),
    RunStatus.CANCELLED: frozenset(),
}

TERMINAL: frozenset[RunStatus] = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED})


# Statuses in which an admitted run keeps its concurrency slots.
SLOT_HOLDING: frozenset[RunStatus] = frozenset({RunStatus.RUNNING, RunStatus.PAUSED})


def holds_slot(status: RunStatus) -> bool:
    return status in SLOT_HOLDING


class InvalidTransition(Exception):
    def __init__(self, current: RunStatus, target: RunStatus) -> None:
        super().__init__(f"a run cannot go from '{current}' to '{target}'")
        self.current = current
        self.target = target


def can_transition(current: RunStatus, target: RunStatus) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: RunStatus, target: RunStatus) -> None:
    if not can_transition(current, target):
        raise InvalidTransition(current, target)
