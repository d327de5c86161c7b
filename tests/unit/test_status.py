from __future__ import annotations

import itertools

import pytest

from runplane.status import TERMINAL, TRANSITIONS, InvalidTransition, RunStatus, can_transition, check_transition

ALLOWED = {
    ("pending", "running"),
    ("pending", "failed"),
    ("pending", "cancelled"),
    ("running", "paused"),
    ("running", "done"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("paused", "running"),
    ("paused", "failed"),
    ("paused", "cancelled"),
    ("done", "running"),
    ("failed", "running"),
    # a follow-up message while a concurrency cap is full: the run waits for a slot
    ("done", "pending"),
    ("failed", "pending"),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(RunStatus, RunStatus)))
def test_the_graph_is_exactly_the_documented_one(current: RunStatus, target: RunStatus) -> None:
    expected = (current.value, target.value) in ALLOWED
    assert can_transition(current, target) is expected
    if expected:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition, match=f"from '{current}' to '{target}'"):
            check_transition(current, target)


def test_cancelled_is_final_and_every_status_is_in_the_graph() -> None:
    assert TRANSITIONS[RunStatus.CANCELLED] == frozenset()
    assert set(TRANSITIONS) == set(RunStatus)
    assert {RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED} == TERMINAL
