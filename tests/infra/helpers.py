"""Synthesizing the stack for tests and reading its template (IAM statements, functions by handler)."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

from aws_cdk.assertions import Template

# Standard CDK context: bundle no stack (the functions point at the source directory; no pip run).
NO_BUNDLING = {"aws:cdk:bundling-stacks": []}

# Actions AWS only grants on "*" (no resource-level permissions) — the only ones allowed there.
WILDCARD_ONLY_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "dynamodb:ListStreams",
    # Task tokens name the task; Step Functions does not scope SendTask* to a resource.
    "states:SendTaskSuccess",
    "states:SendTaskHeartbeat",
    "states:SendTaskFailure",
    # Step Functions logging to CloudWatch Logs (vended log delivery).
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def synth(**context: Any) -> tuple[Template, dict[str, Any]]:
    from infra import DEFAULT_STACK_NAME, build_app

    app = build_app({**NO_BUNDLING, **context})
    template = Template.from_stack(app.node.find_child(DEFAULT_STACK_NAME))
    return template, template.to_json()


def resources_of(tpl: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in tpl["Resources"].items() if r["Type"] == type_}


def only(tpl: dict[str, Any], type_: str) -> tuple[str, dict[str, Any]]:
    found = resources_of(tpl, type_)
    assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
    return next(iter(found.items()))


def runs_table(tpl: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The runs table (the stack's other table holds the rate limit's counters)."""
    found = [(k, r) for k, r in resources_of(tpl, "AWS::DynamoDB::Table").items() if k.startswith("StorageRuns")]
    assert len(found) == 1, f"expected one runs table, found {[k for k, _ in found]}"
    return found[0]


def function_id(tpl: dict[str, Any], handler: str) -> str:
    ids = [k for k, r in resources_of(tpl, "AWS::Lambda::Function").items() if r["Properties"]["Handler"] == handler]
    assert len(ids) == 1, f"expected one function with handler {handler}, found {ids}"
    return ids[0]


def function_env(tpl: dict[str, Any], handler: str) -> dict[str, Any]:
    props = tpl["Resources"][function_id(tpl, handler)]["Properties"]
    return dict(props.get("Environment", {}).get("Variables", {}))


def role_of_function(tpl: dict[str, Any], handler: str) -> str:
    role = tpl["Resources"][function_id(tpl, handler)]["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0])


def role_statements(tpl: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in resources_of(tpl, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements if s["Effect"] == "Allow" for a in as_list(s["Action"])}


def resources_for(statements: list[dict[str, Any]], action: str) -> list[Any]:
    """Every resource an Allow statement grants ``action`` on."""
    return [
        r
        for s in statements
        if s["Effect"] == "Allow" and action in as_list(s["Action"])
        for r in as_list(s["Resource"])
    ]


def render(value: Any) -> str:
    """A CloudFormation value as text: tokens become <LogicalId.Attr> / <LogicalId> / <AWS::Pseudo>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::Join":
            sep, parts = arg
            return sep.join(render(p) for p in parts)
        if fn == "Fn::Select":
            return f"<select {arg[0]} of {render(arg[1])}>"
        if fn == "Fn::Split":
            return f"<split {render(arg[1])} on {arg[0]!r}>"
    raise AssertionError(f"cannot render {value!r}")
