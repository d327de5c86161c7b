"""The synthesized stack (default options: Bedrock), asserted on its CloudFormation template."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from runplane import resources
from tests.infra.helpers import (
    WILDCARD_ONLY_ACTIONS,
    actions_of,
    as_list,
    function_env,
    function_id,
    only,
    render,
    resources_for,
    resources_of,
    role_of_function,
    role_statements,
    runs_table,
    synth,
)

API = resources.FUNCTIONS["api"].handler
STEP = resources.FUNCTIONS["agent_step"].handler
TOOLS = resources.FUNCTIONS["tools"].handler
STREAM = resources.FUNCTIONS["stream"].handler
RECONCILE = resources.FUNCTIONS["reconcile"].handler
# Which function fills which placeholder of the ASL file.
PLACEHOLDERS = {"AgentStepFunctionArn": STEP, "ToolStepFunctionArn": TOOLS}
JOB_QUEUES = "arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:runplane-jobs-*"


@pytest.fixture(scope="module")
def synthesized() -> tuple[Template, dict[str, Any]]:
    return synth()


@pytest.fixture(scope="module")
def template(synthesized: tuple[Template, dict[str, Any]]) -> Template:
    return synthesized[0]


@pytest.fixture(scope="module")
def tpl(synthesized: tuple[Template, dict[str, Any]]) -> dict[str, Any]:
    return synthesized[1]


def sm_id(tpl: dict[str, Any]) -> str:
    return only(tpl, "AWS::StepFunctions::StateMachine")[0]


# -- storage -------------------------------------------------------------------------------------
def test_table_keys_index_stream_and_settings(template: Template) -> None:
    gsi, gsi_pk, gsi_sk = resources.TABLE_GSI
    template.resource_count_is("AWS::DynamoDB::Table", 2)  # runs, and the rate limit's counters
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": resources.TABLE_PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": resources.TABLE_SORT_KEY, "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": Match.array_with(
                    [{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", gsi_pk, gsi_sk)]
                ),
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": gsi,
                        "KeySchema": [
                            {"AttributeName": gsi_pk, "KeyType": "HASH"},
                            {"AttributeName": gsi_sk, "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    },
                    {
                        "IndexName": resources.TABLE_WAITING_GSI[0],
                        "KeySchema": [
                            {"AttributeName": resources.TABLE_WAITING_GSI[1], "KeyType": "HASH"},
                            {"AttributeName": resources.TABLE_WAITING_GSI[2], "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    },
                ],
                "StreamSpecification": {"StreamViewType": resources.TABLE_STREAM_VIEW},
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_blob_bucket_is_private_encrypted_and_tls_only(template: Template, tpl: dict[str, Any]) -> None:
    template.resource_count_is("AWS::S3::Bucket", 1)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        },
    )
    _, policy = only(tpl, "AWS::S3::BucketPolicy")
    denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


# -- functions -----------------------------------------------------------------------------------
def test_functions_from_the_manifest(template: Template, tpl: dict[str, Any]) -> None:
    functions = resources_of(tpl, "AWS::Lambda::Function")
    assert sorted(f["Properties"]["Handler"] for f in functions.values()) == sorted(
        s.handler for s in resources.FUNCTIONS.values()
    )
    for spec in resources.FUNCTIONS.values():
        template.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": spec.handler,
                "Runtime": "python3.13",
                "Architectures": ["arm64"],
                "Timeout": spec.timeout_seconds,
                "MemorySize": spec.memory_mb,
                "TracingConfig": {"Mode": "Active"},
                "LoggingConfig": {"LogGroup": Match.any_value()},
            },
        )


def test_functions_share_one_asset(tpl: dict[str, Any]) -> None:
    codes = {
        json.dumps(f["Properties"]["Code"], sort_keys=True) for f in resources_of(tpl, "AWS::Lambda::Function").values()
    }
    assert len(codes) == 1


def test_no_custom_resources_or_hidden_functions(tpl: dict[str, Any]) -> None:
    types = {r["Type"] for r in tpl["Resources"].values()}
    assert not any(t.startswith("Custom::") or t == "AWS::CloudFormation::CustomResource" for t in types)


def test_log_groups_have_retention(tpl: dict[str, Any]) -> None:
    groups = resources_of(tpl, "AWS::Logs::LogGroup")
    assert len(groups) == len(resources.FUNCTIONS) + 2  # the functions, the state machine, API access logs
    assert all(g["Properties"].get("RetentionInDays") for g in groups.values())


def test_function_environment(tpl: dict[str, Any]) -> None:
    table = {"Ref": runs_table(tpl)[0]}
    bucket = {"Ref": only(tpl, "AWS::S3::Bucket")[0]}
    bus = {"Ref": only(tpl, "AWS::Events::EventBus")[0]}
    for spec in resources.FUNCTIONS.values():
        env = function_env(tpl, spec.handler)
        assert env["RUNPLANE_TABLE_NAME"] == table
        assert env["RUNPLANE_BLOB_BUCKET"] == bucket
        assert env["RUNPLANE_EVENT_BUS_NAME"] == bus
        assert env["RUNPLANE_MODEL_PROVIDER"] == "bedrock"
        assert env["POWERTOOLS_SERVICE_NAME"].startswith("runplane-")
        assert env["RUNPLANE_INIT_GC"] == "hold"  # no collections during the cold start's imports
        assert "RUNPLANE_ANTHROPIC_SECRET_ARN" not in env
    for handler in (API, STREAM):
        assert function_env(tpl, handler)["RUNPLANE_STATE_MACHINE_ARN"] == {"Ref": sm_id(tpl)}
    for handler in (STEP, TOOLS):  # the state machine invokes them: its ARN would be a cycle
        assert "RUNPLANE_STATE_MACHINE_ARN" not in function_env(tpl, handler)
    for spec in resources.FUNCTIONS.values():
        env = function_env(tpl, spec.handler)
        assert env["RUNPLANE_TOOL_LAMBDA_PREFIX"] == "runplane-tool-"
        assert env["RUNPLANE_JOB_QUEUE_PREFIX"] == "runplane-jobs-"


def test_environment_names_are_settings(tpl: dict[str, Any]) -> None:
    from runplane.config import Settings

    names = {f"RUNPLANE_{n.upper()}" for n in Settings.model_fields}
    for spec in resources.FUNCTIONS.values():
        unknown = {k for k in function_env(tpl, spec.handler) if k.startswith("RUNPLANE_")} - names
        assert not unknown, f"{spec.key}: not runplane settings: {unknown}"


# -- agent loop ----------------------------------------------------------------------------------
def test_deployed_definition_is_the_asl_file(tpl: dict[str, Any]) -> None:
    props = only(tpl, "AWS::StepFunctions::StateMachine")[1]["Properties"]
    text = render(props["DefinitionString"])
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        text = text.replace("${" + key + "}", render(value))
    arns = {key: f"<{function_id(tpl, handler)}.Arn>" for key, handler in PLACEHOLDERS.items()}
    assert set(arns) == set(resources.ASL_SUBSTITUTIONS)
    expected = resources.load_definition(arns)
    assert json.loads(text) == json.loads(expected)
    assert all(arn in text for arn in arns.values()) and "${" not in text


def test_state_machine_is_standard_logged_and_traced(template: Template, tpl: dict[str, Any]) -> None:
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": Match.any_value()}}],
                "Level": Match.any_value(),
            },
        },
    )


def test_definition_placeholders_must_have_values() -> None:
    from infra.agent_loop import definition_substitutions

    values = {key: f"arn-{n}" for n, key in enumerate(resources.ASL_SUBSTITUTIONS)}
    assert definition_substitutions('{"a": "${AgentStepFunctionArn}"}', values) == values
    with pytest.raises(ValueError, match="Unknown"):
        definition_substitutions('{"a": "${Unknown}"}', values)
    with pytest.raises(ValueError, match="AgentStepFunctionArn"):
        definition_substitutions("{}", {k: v for k, v in values.items() if k != "AgentStepFunctionArn"})


# -- events --------------------------------------------------------------------------------------
def test_bus_and_archive(template: Template, tpl: dict[str, Any]) -> None:
    bus_id, _ = only(tpl, "AWS::Events::EventBus")
    template.has_resource_properties("AWS::Events::EventBus", {"Name": "runplane"})
    template.has_resource_properties(
        "AWS::Events::Archive",
        {"SourceArn": {"Fn::GetAtt": [bus_id, "Arn"]}, "EventPattern": {"source": [resources.EVENT_SOURCE]}},
    )


def test_stream_event_source_mapping(template: Template, tpl: dict[str, Any]) -> None:
    table_id, _ = runs_table(tpl)
    (queue_id,) = [q for q in resources_of(tpl, "AWS::SQS::Queue") if q.startswith("Outbox")]
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 2)  # + the notify queue (test_production)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": function_id(tpl, STREAM)},
            "EventSourceArn": {"Fn::GetAtt": [table_id, "StreamArn"]},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 100,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": Match.any_value(),
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}},
        },
    )


# -- API -----------------------------------------------------------------------------------------
def test_rest_api_proxies_everything_to_the_api_function(template: Template, tpl: dict[str, Any]) -> None:
    """ANY / and ANY /{proxy+} (and GET /live, GET /playground) go to the API function; ACP's routes (and GET /ping)
    to the streamed ACP function (tests/infra/test_acp_streaming.py)."""
    api_fn = function_id(tpl, API)
    acp_fn = function_id(tpl, resources.FUNCTIONS["acp"].handler)
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}})
    template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "{proxy+}"})
    parts = {rid: r["Properties"] for rid, r in resources_of(tpl, "AWS::ApiGateway::Resource").items()}

    def top(resource_id: Any) -> str:
        """The first path segment of a method's resource ('' for the root)."""
        rid = resource_id.get("Ref") if isinstance(resource_id, dict) else None
        segment = ""
        while rid in parts:
            segment = parts[rid]["PathPart"]
            parent = parts[rid]["ParentId"]
            rid = parent.get("Ref") if isinstance(parent, dict) else None
        return segment

    to_api = []
    for method in resources_of(tpl, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        assert props["Integration"]["Type"] == "AWS_PROXY"
        segment = top(props["ResourceId"])
        target = acp_fn if resources.is_acp_path("/" + segment) else api_fn
        assert f"<{target}.Arn>" in render(props["Integration"]["Uri"]), segment
        if target == api_fn:
            to_api.append((props["HttpMethod"], segment))
    public = [(m, p.strip("/")) for m, p in resources.PUBLIC_ROUTES if not resources.is_acp_path(p)]
    assert sorted(to_api) == sorted([("ANY", ""), ("ANY", "{proxy+}"), *public])
    assert ("GET", "live") in public and ("GET", "playground") in public
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {"ThrottlingRateLimit": Match.any_value(), "ThrottlingBurstLimit": Match.any_value()}
                    )
                ]
            ),
        },
    )


def test_the_authorizer_fronts_every_route_but_the_health_checks(tpl: dict[str, Any]) -> None:
    [(authorizer_id, authorizer)] = resources_of(tpl, "AWS::ApiGateway::Authorizer").items()
    props = authorizer["Properties"]
    assert props["Type"] == "REQUEST"
    assert props["IdentitySource"] == "method.request.header.authorization"
    assert props["AuthorizerResultTtlInSeconds"] == resources.AUTHORIZER_CACHE_SECONDS
    assert f"<{function_id(tpl, resources.FUNCTIONS['authorizer'].handler)}.Arn>" in render(props["AuthorizerUri"])
    paths = {rid: r["Properties"]["PathPart"] for rid, r in resources_of(tpl, "AWS::ApiGateway::Resource").items()}
    public = {(m, p.strip("/")) for m, p in resources.PUBLIC_ROUTES}
    seen_public = set()
    for method in resources_of(tpl, "AWS::ApiGateway::Method").values():
        p = method["Properties"]
        path = paths.get(p["ResourceId"].get("Ref", ""), "/") if isinstance(p["ResourceId"], dict) else "/"
        if (p["HttpMethod"], path) in public:
            assert p["AuthorizationType"] == "NONE"
            seen_public.add((p["HttpMethod"], path))
        else:
            assert p["AuthorizationType"] == "CUSTOM" and p["AuthorizerId"] == {"Ref": authorizer_id}, p
    assert seen_public == public


def test_authorizer_role_reads_keys_only(tpl: dict[str, Any]) -> None:
    statements = role_statements(tpl, role_of_function(tpl, resources.FUNCTIONS["authorizer"].handler))
    table_id, _ = runs_table(tpl)
    data_actions = {a for a in actions_of(statements) if not a.startswith(("logs:", "xray:"))}
    assert data_actions == {"dynamodb:GetItem"}
    assert resources_for(statements, "dynamodb:GetItem") == [{"Fn::GetAtt": [table_id, "Arn"]}]


# -- IAM: least privilege ------------------------------------------------------------------------
def test_only_wildcard_only_actions_on_star(tpl: dict[str, Any]) -> None:
    for policy_id, policy in resources_of(tpl, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "*" in as_list(statement["Resource"]):
                extra = set(as_list(statement["Action"])) - WILDCARD_ONLY_ACTIONS
                assert not extra, f"{policy_id} grants {sorted(extra)} on '*'"
            assert "*" not in as_list(statement["Action"]), policy_id


def test_lambda_roles_use_no_managed_policies(tpl: dict[str, Any]) -> None:
    for spec in resources.FUNCTIONS.values():
        role = tpl["Resources"][role_of_function(tpl, spec.handler)]
        assert not role["Properties"].get("ManagedPolicyArns"), spec.key


def test_api_role(tpl: dict[str, Any]) -> None:
    statements = role_statements(tpl, role_of_function(tpl, API))
    assert resources_for(statements, "states:StartExecution") == [{"Ref": sm_id(tpl)}]
    [stop] = [render(r) for r in resources_for(statements, "states:StopExecution")]
    assert ":execution:" in stop and stop.endswith(":*") and sm_id(tpl) in stop  # this machine's executions
    assert resources_for(statements, "states:SendTaskSuccess") == ["*"]  # approvals, worker results
    table_id, _ = runs_table(tpl)
    assert {"Fn::GetAtt": [table_id, "Arn"]} in resources_for(statements, "dynamodb:PutItem")
    assert {"Fn::GetAtt": [table_id, "Arn"]} in resources_for(statements, "dynamodb:Query")
    for action in ("sqs:CreateQueue", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage"):
        assert [render(r) for r in resources_for(statements, action)] == [JOB_QUEUES], action
    actions = actions_of(statements)
    assert not {a for a in actions if a.startswith(("events:", "bedrock:", "secretsmanager:", "lambda:"))}
    bucket_id, _ = only(tpl, "AWS::S3::Bucket")
    deletes = resources_for(statements, "s3:DeleteObject*")  # deleteRun: only the blob bucket's objects
    assert deletes and all(bucket_id in render(r) for r in deletes)


def test_agent_step_role(tpl: dict[str, Any]) -> None:
    statements = role_statements(tpl, role_of_function(tpl, STEP))
    actions = actions_of(statements)
    table_id, _ = runs_table(tpl)
    bucket_id, _ = only(tpl, "AWS::S3::Bucket")
    assert {"Fn::GetAtt": [table_id, "Arn"]} in resources_for(statements, "dynamodb:UpdateItem")
    assert "s3:PutObject" in actions and "s3:GetObject*" in actions
    assert all(bucket_id in render(r) for r in resources_for(statements, "s3:PutObject"))
    bedrock = {render(r) for r in resources_for(statements, "bedrock:InvokeModel")}
    assert bedrock == {
        "arn:<AWS::Partition>:bedrock:*::foundation-model/anthropic.*",
        "arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/*.anthropic.*",
    }
    assert "bedrock:InvokeModelWithResponseStream" in actions
    assert [render(r) for r in resources_for(statements, "sqs:CreateQueue")] == [JOB_QUEUES]
    assert not {a for a in actions if a.startswith(("states:", "events:", "secretsmanager:", "lambda:"))}


def test_tools_role(tpl: dict[str, Any]) -> None:
    statements = role_statements(tpl, role_of_function(tpl, TOOLS))
    actions = actions_of(statements)
    assert [render(r) for r in resources_for(statements, "lambda:InvokeFunction")] == [
        "arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:runplane-tool-*"
    ]
    assert [render(r) for r in resources_for(statements, "sqs:CreateQueue")] == [JOB_QUEUES]
    assert resources_for(statements, "states:SendTaskSuccess") == ["*"]
    table_id, _ = runs_table(tpl)
    assert {"Fn::GetAtt": [table_id, "Arn"]} in resources_for(statements, "dynamodb:UpdateItem")
    assert "s3:PutObject" in actions
    assert not {a for a in actions if a.startswith(("bedrock:", "secretsmanager:", "events:"))}
    assert not actions & {"states:StartExecution", "states:StopExecution", "sqs:ReceiveMessage"}


def test_stream_role(tpl: dict[str, Any]) -> None:
    statements = role_statements(tpl, role_of_function(tpl, STREAM))
    bus_id, _ = only(tpl, "AWS::Events::EventBus")
    table_id, _ = runs_table(tpl)
    assert resources_for(statements, "events:PutEvents") == [{"Fn::GetAtt": [bus_id, "Arn"]}]
    assert resources_for(statements, "states:StartExecution") == [{"Ref": sm_id(tpl)}]
    assert resources_for(statements, "dynamodb:GetRecords") == [{"Fn::GetAtt": [table_id, "StreamArn"]}]
    actions = actions_of(statements)
    # Item access is admission's only (a run gave its slot back → admit waiting runs): read runs and
    # counters, query the Waiting index, update in transactions. No puts, no deletes, no other index.
    assert not actions & {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Scan"}
    waiting = {"Fn::Join": ["", [{"Fn::GetAtt": [table_id, "Arn"]}, f"/index/{resources.TABLE_WAITING_GSI[0]}"]]}
    for action in ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"):
        assert resources_for(statements, action) == [{"Fn::GetAtt": [table_id, "Arn"]}, waiting], action
    assert not {a for a in actions if a.startswith(("s3:", "bedrock:", "secretsmanager:", "lambda:"))}
    assert "sqs:SendMessage" in actions  # the on-failure destination


def test_executions_that_end_outside_the_loop_reach_the_reconcile_function(tpl: dict[str, Any]) -> None:
    rules = [
        r["Properties"]
        for r in resources_of(tpl, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.states"]
    ]
    assert len(rules) == 1
    rule = rules[0]
    assert rule["EventPattern"]["detail-type"] == ["Step Functions Execution Status Change"]
    assert rule["EventPattern"]["detail"] == {
        "stateMachineArn": [{"Ref": sm_id(tpl)}],
        "status": ["FAILED", "TIMED_OUT", "ABORTED"],
    }
    assert "EventBusName" not in rule  # Step Functions publishes to the default bus
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id(tpl, RECONCILE), "Arn"]}
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][1] == "Arn"
    statements = role_statements(tpl, role_of_function(tpl, RECONCILE))
    actions = actions_of(statements)
    assert "dynamodb:UpdateItem" in actions
    assert not {a for a in actions if a.startswith(("states:", "s3:", "bedrock:", "events:", "lambda:"))}
    # its on-failure destination (async invocations): send to its dead-letter queue, nothing else
    assert {a for a in actions if a.startswith("sqs:")} <= {
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    dlq = target["DeadLetterConfig"]["Arn"]
    assert resources_for(statements, "sqs:SendMessage") == [dlq]


def test_state_machine_role_invokes_only_the_step_functions(tpl: dict[str, Any]) -> None:
    props = only(tpl, "AWS::StepFunctions::StateMachine")[1]["Properties"]
    statements = role_statements(tpl, props["RoleArn"]["Fn::GetAtt"][0])
    steps = [function_id(tpl, h) for h in PLACEHOLDERS.values()]
    assert {render(r) for r in resources_for(statements, "lambda:InvokeFunction")} == {
        *(f"<{s}.Arn>" for s in steps),
        *(f"<{s}.Arn>:*" for s in steps),
    }
    assert [render(r) for r in resources_for(statements, "sqs:SendMessage")] == [JOB_QUEUES]  # worker jobs
    assert {a for a in actions_of(statements) if not a.startswith(("logs:", "xray:"))} == {
        "lambda:InvokeFunction",
        "sqs:SendMessage",
    }


# -- outputs -------------------------------------------------------------------------------------
def test_outputs(template: Template, tpl: dict[str, Any]) -> None:
    outputs = tpl["Outputs"]
    for name in ("ApiUrl", "EventBusName", "EventBusArn", "StateMachineArn", "TableName"):
        assert name in outputs, name
    assert outputs["StateMachineArn"]["Value"] == {"Ref": sm_id(tpl)}
    assert outputs["TableName"]["Value"] == {"Ref": runs_table(tpl)[0]}
    bus_id, _ = only(tpl, "AWS::Events::EventBus")
    assert outputs["EventBusArn"]["Value"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    assert render(outputs["ApiUrl"]["Value"]).startswith("https://")
    template.has_output("ModelProvider", {"Value": "bedrock"})
