"""The ACP construct: a streamed Lambda proxy integration on the REST API, the exec wrapper that
makes the Python function stream, and the authorizer in front (infra/acp.py)."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from infra.acp import ACP_RESOURCES, EXEC_WRAPPER, AcpApi
from infra.functions import FunctionDefaults
from infra.storage import Storage
from runplane import resources
from tests.infra import helpers


def synth() -> dict[str, Any]:
    app = cdk.App(context=helpers.NO_BUNDLING)
    stack = cdk.Stack(app, "AcpTest", env=cdk.Environment(account="123456789012", region="us-east-1"))
    storage = Storage(stack, "Storage")
    machine = sfn.StateMachine(stack, "Loop", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "P")))
    code = lambda_.Code.from_asset(str(resources.REPO_ROOT / "functions"))
    defaults = FunctionDefaults(code=code, environment={"RUNPLANE_TABLE_NAME": "t"})
    authorizer_fn = lambda_.Function(
        stack, "AuthFn", runtime=lambda_.Runtime.PYTHON_3_13, handler="x.handler", code=code
    )
    authorizer = apigw.RequestAuthorizer(
        stack, "Auth", handler=authorizer_fn, identity_sources=[apigw.IdentitySource.header("authorization")]
    )
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("ANY", apigw.MockIntegration())
    AcpApi(stack, "Acp", defaults=defaults, storage=storage, state_machine=machine, rest_api=api, authorizer=authorizer)
    return Template.from_stack(stack).to_json()


def test_acp_routes_use_a_streamed_integration_behind_the_authorizer() -> None:
    tpl = synth()
    methods = [r["Properties"] for r in tpl["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method"]
    streamed = [m for m in methods if m["Integration"].get("ResponseTransferMode") == "STREAM"]
    assert len(streamed) == 2 * len(ACP_RESOURCES) + 1  # ANY on /x and /x/{proxy+}, and GET /ping
    for method in streamed:
        uri = json.dumps(method["Integration"]["Uri"])
        assert "2021-11-15/functions/" in uri and "response-streaming-invocations" in uri
        assert method["Integration"]["TimeoutInMillis"] == 900_000
        if method["HttpMethod"] != "GET" or "ping" not in json.dumps(method["ResourceId"]).lower():
            assert method["AuthorizationType"] == "CUSTOM"


def test_the_function_streams_through_the_exec_wrapper() -> None:
    tpl = synth()
    fns = [r["Properties"] for r in tpl["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    acp = next(f for f in fns if f["Handler"] == resources.FUNCTIONS["acp"].handler)
    assert acp["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"] == EXEC_WRAPPER
    assert acp["Timeout"] == 900 and acp["Runtime"] == "python3.13"
    wrapper = resources.REPO_ROOT / "functions" / EXEC_WRAPPER.removeprefix("/var/task/")
    assert wrapper.is_file() and os.stat(wrapper).st_mode & stat.S_IXUSR  # executable in the asset
    assert "-m runplane.streaming" in wrapper.read_text()
