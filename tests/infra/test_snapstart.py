"""SnapStart (context ``snapStart``): off by default; on, the API and agent-step functions publish a
version with SnapStart and callers invoke their ``live`` alias, never $LATEST."""

from __future__ import annotations

from typing import Any

import pytest

from infra.functions import LIVE_ALIAS, SNAP_START_FUNCTIONS
from runplane import resources
from tests.infra.helpers import function_id, resources_of, synth

API = resources.FUNCTIONS["api"].handler
AGENT = resources.FUNCTIONS["agent_step"].handler


@pytest.fixture(scope="module")
def off() -> dict[str, Any]:
    return synth()[1]


@pytest.fixture(scope="module")
def on() -> dict[str, Any]:
    return synth(snapStart="true")[1]


def _refs(value: Any) -> set[str]:
    """Every logical id a template fragment references (Ref / Fn::GetAtt)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for v in value.values():
            found |= _refs(v)
    elif isinstance(value, list):
        for v in value:
            found |= _refs(v)
    return found


def _integration_targets(tpl: dict[str, Any]) -> set[str]:
    """What API Gateway's Lambda proxy integrations invoke (logical ids in their URIs)."""
    targets: set[str] = set()
    for method in resources_of(tpl, "AWS::ApiGateway::Method").values():
        integration = method["Properties"].get("Integration", {})
        if integration.get("Type") == "AWS_PROXY":
            targets |= _refs(integration["Uri"])
    return targets


def _state_machine_refs(tpl: dict[str, Any]) -> set[str]:
    (sm,) = resources_of(tpl, "AWS::StepFunctions::StateMachine").values()
    return _refs(sm["Properties"]["DefinitionSubstitutions"])


def test_snapstart_is_off_by_default(off: dict[str, Any]) -> None:
    for fn in resources_of(off, "AWS::Lambda::Function").values():
        assert "SnapStart" not in fn["Properties"]
    assert resources_of(off, "AWS::Lambda::Alias") == {}
    assert resources_of(off, "AWS::Lambda::Version") == {}
    api = function_id(off, API)
    assert api in _integration_targets(off)  # API Gateway invokes the function ($LATEST)
    assert function_id(off, AGENT) in _state_machine_refs(off)


def test_snapstart_on_the_api_and_agent_step_only(on: dict[str, Any]) -> None:
    assert set(SNAP_START_FUNCTIONS) == {"api", "agent_step"}
    with_snapstart = {
        r["Properties"]["Handler"]
        for r in resources_of(on, "AWS::Lambda::Function").values()
        if r["Properties"].get("SnapStart") == {"ApplyOn": "PublishedVersions"}
    }
    assert with_snapstart == {API, AGENT}
    # One published version and one `live` alias on it, per SnapStart function.
    versions = resources_of(on, "AWS::Lambda::Version")
    aliases = resources_of(on, "AWS::Lambda::Alias")
    assert {v["Properties"]["FunctionName"]["Ref"] for v in versions.values()} == {
        function_id(on, API),
        function_id(on, AGENT),
    }
    assert len(aliases) == 2
    for alias in aliases.values():
        props = alias["Properties"]
        assert props["Name"] == LIVE_ALIAS
        version_id = props["FunctionVersion"]["Fn::GetAtt"][0]
        assert version_id in versions and props["FunctionName"] == versions[version_id]["Properties"]["FunctionName"]


def _alias_of(tpl: dict[str, Any], handler: str) -> str:
    fn = function_id(tpl, handler)
    (alias_id,) = [
        k for k, a in resources_of(tpl, "AWS::Lambda::Alias").items() if a["Properties"]["FunctionName"] == {"Ref": fn}
    ]
    return alias_id


def test_api_gateway_invokes_the_alias(on: dict[str, Any]) -> None:
    alias, fn = _alias_of(on, API), function_id(on, API)
    targets = _integration_targets(on)
    assert alias in targets and fn not in targets
    # ...and may: every API Gateway permission on the API function names the alias.
    permissions = [
        p["Properties"]
        for p in resources_of(on, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and {alias, fn} & _refs(p["Properties"]["FunctionName"])
    ]
    assert permissions and all(_refs(p["FunctionName"]) == {alias} for p in permissions)


def test_step_functions_invokes_the_alias(on: dict[str, Any]) -> None:
    alias, fn = _alias_of(on, AGENT), function_id(on, AGENT)
    refs = _state_machine_refs(on)
    assert alias in refs and fn not in refs
    # The state machine's role may invoke the alias (and the tool function), not the agent step's $LATEST.
    (sm,) = resources_of(on, "AWS::StepFunctions::StateMachine").values()
    role = sm["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    invokes: set[str] = set()
    for policy in resources_of(on, "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            if "lambda:InvokeFunction" in actions:
                invokes |= _refs(stmt["Resource"])
    assert alias in invokes and fn not in invokes
