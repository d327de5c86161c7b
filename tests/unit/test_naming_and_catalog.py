from __future__ import annotations

import pytest

from runplane import catalog
from runplane.errors import InvalidRequest
from runplane.ids import is_run_id, ulid
from runplane.logic.naming import name_from_prompt


@pytest.mark.parametrize(
    ("prompt", "name"),
    [
        ("Summarize the open incidents for the payments team", "Summarize the open incidents"),
        ("please can you check order #1234 status", "Check order 1234 status"),
        ("Classify this ticket: my card was charged twice", "Classify this ticket"),
        ("", "Untitled run"),
        ("!!!", "Untitled run"),
        ("x" * 200, "X" + "x" * 59),
        ("héllo wörld", "Héllo wörld"),
    ],
)
def test_names_are_short_and_readable(prompt: str, name: str) -> None:
    assert name_from_prompt(prompt) == name
    assert len(name_from_prompt(prompt)) <= 60


def test_inferable_names_are_aliases_of_current_models() -> None:
    assert catalog.resolve("claude-3-5-sonnet", "claude-haiku-4-5") == "claude-sonnet-5-5"
    assert catalog.resolve("claude-3-haiku", "x") == "claude-haiku-5-5"
    assert catalog.resolve(None, "claude-sonnet-4-6") == "claude-sonnet-4-6"
    assert catalog.provider_model_id("claude-haiku-4-5", "bedrock") == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert catalog.provider_model_id("claude-sonnet-5-5", "bedrock", {"claude-sonnet-5-5": "arn:x"}) == "arn:x"
    assert catalog.provider_model_id("claude-sonnet-5-5", "scripted") == "scripted:claude-sonnet-5-5"
    with pytest.raises(InvalidRequest) as err:
        catalog.resolve("gpt-4o", "claude-sonnet-5-5")
    assert err.value.field == "model" and "claude-3-5-sonnet" in str(err.value)


def test_ulids_sort_by_time_and_are_valid_run_ids() -> None:
    first = ulid()
    ids = [ulid() for _ in range(50)]
    assert all(len(i) == 26 and is_run_id(i) for i in ids)
    assert len(set(ids)) == 50
    assert all(first[:8] <= i[:8] for i in ids)
