"""Production template assertions (issue 8): notifications, data lifecycle, failure paths, limits,
monitoring, and the cdk-nag and cfn-lint gates. One synth for the module, with cdk-nag's AwsSolutions
and Serverless packs on (a finding without its acknowledgement fails that synth) and a non-default
retention (to see it reach both TTL and lifecycle)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from runplane import resources
from tests.infra.helpers import (
    function_env,
    function_id,
    only,
    resources_for,
    resources_of,
    role_of_function,
    role_statements,
    runs_table,
    synth,
)

NOTIFY = resources.FUNCTIONS["notify"].handler
STREAM = resources.FUNCTIONS["stream"].handler
API = resources.FUNCTIONS["api"].handler


@pytest.fixture(scope="module")
def synthesized() -> tuple[Template, dict[str, Any]]:
    return synth(retentionDays="30", runplaneNag="true")


@pytest.fixture(scope="module")
def template(synthesized: tuple[Template, dict[str, Any]]) -> Template:
    return synthesized[0]


@pytest.fixture(scope="module")
def tpl(synthesized: tuple[Template, dict[str, Any]]) -> dict[str, Any]:
    return synthesized[1]


def _queue(tpl: dict[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, v) for k, v in resources_of(tpl, "AWS::SQS::Queue").items() if k.startswith(prefix)]
    return found


# -- onStatusChange ------------------------------------------------------------------------------
def test_notifications_go_through_a_fifo_queue_with_a_dead_letter_queue(
    template: Template, tpl: dict[str, Any]
) -> None:
    dlq_id, dlq = _queue(tpl, "NotificationsDeadLetterQueue")
    queue_id, queue = _queue(tpl, "NotificationsQueue")
    assert dlq["Properties"]["FifoQueue"] is True and queue["Properties"]["FifoQueue"] is True
    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": resources.NOTIFY_MAX_RECEIVES,
    }
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * resources.FUNCTIONS["notify"].timeout_seconds
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": function_id(tpl, NOTIFY)},
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": resources.NOTIFY_BATCH_SIZE,
        },
    )
    # the outbox publisher queues, the notify function consumes and backs off
    assert function_env(tpl, STREAM)["RUNPLANE_NOTIFY_QUEUE_URL"] == {"Ref": queue_id}
    assert function_env(tpl, NOTIFY)["RUNPLANE_NOTIFY_QUEUE_URL"] == {"Ref": queue_id}
    stream = role_statements(tpl, role_of_function(tpl, STREAM))
    assert {"Fn::GetAtt": [queue_id, "Arn"]} in resources_for(stream, "sqs:SendMessage")
    notify = role_statements(tpl, role_of_function(tpl, NOTIFY))
    assert resources_for(notify, "sqs:ChangeMessageVisibility") == [{"Fn::GetAtt": [queue_id, "Arn"]}]
    assert "NotificationDeadLetterQueueUrl" in tpl["Outputs"]


# -- data lifecycle --------------------------------------------------------------------------------
def test_ttl_retention_lifecycle_rule_and_deletion_protection(tpl: dict[str, Any]) -> None:
    _, table = runs_table(tpl)
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    for handler in (API, NOTIFY, STREAM, resources.FUNCTIONS["agent_step"].handler):
        assert function_env(tpl, handler)["RUNPLANE_RETENTION_DAYS"] == "30"
    _, bucket = only(tpl, "AWS::S3::Bucket")
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["Prefix"] == "runs/"
    assert rule["ExpirationInDays"] == 30 + 30  # retention + the margin for long runs


def test_job_queues_may_be_removed_by_the_api(tpl: dict[str, Any]) -> None:
    statements = role_statements(tpl, role_of_function(tpl, API))
    (pattern,) = resources_for(statements, "sqs:DeleteQueue")
    assert "-jobs-*" in str(pattern)


# -- failure paths and limits ------------------------------------------------------------------------
def test_api_timeout_is_below_api_gateways(tpl: dict[str, Any]) -> None:
    fn = resources_of(tpl, "AWS::Lambda::Function")[function_id(tpl, API)]
    assert fn["Properties"]["Timeout"] < 29


def test_the_account_cloudwatch_role_is_left_alone_by_default(template: Template) -> None:
    template.resource_count_is("AWS::ApiGateway::Account", 0)


# -- failure paths: every asynchronous path ends in a queue, and every queue alarms ---------------
def test_every_async_path_has_an_on_failure_destination(tpl: dict[str, Any]) -> None:
    configs = {
        c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
        for c in resources_of(tpl, "AWS::Lambda::EventInvokeConfig").values()
    }
    # the asynchronously invoked functions: reconcile (execution events) and the admission sweep (schedule)
    for key, dlq_prefix, rule_marker in (
        ("reconcile", "AgentLoopReconcileDeadLetterQueue", "aws.states"),
        ("admission", "AdmissionSweepDeadLetterQueue", "rate("),
    ):
        config = configs.pop(function_id(tpl, resources.FUNCTIONS[key].handler))
        dlq_id, _ = _queue(tpl, dlq_prefix)
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
        # the EventBridge target of the function has the same DLQ
        (rule,) = [r for r in resources_of(tpl, "AWS::Events::Rule").values() if rule_marker in str(r)]
        (target,) = rule["Properties"]["Targets"]
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    assert configs == {}
    # stream and SQS event sources: a destination or a redrive policy each
    for mapping in resources_of(tpl, "AWS::Lambda::EventSourceMapping").values():
        props = mapping["Properties"]
        source = str(props["EventSourceArn"])
        if "StreamArn" in source:
            assert props["DestinationConfig"]["OnFailure"]["Destination"]
        else:
            queue_id = props["EventSourceArn"]["Fn::GetAtt"][0]
            assert resources_of(tpl, "AWS::SQS::Queue")[queue_id]["Properties"]["RedrivePolicy"]


def _alarms(tpl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources_of(tpl, "AWS::CloudWatch::Alarm").items()}


def test_alarms_and_their_metrics(tpl: dict[str, Any]) -> None:
    alarms = _alarms(tpl)
    topic_id, _ = only(tpl, "AWS::SNS::Topic")
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": topic_id}]

    def find(prefix: str) -> dict[str, Any]:
        (props,) = [v for k, v in alarms.items() if k.startswith(f"Monitoring{prefix}Alarm")]
        return props

    def metric_names(props: dict[str, Any]) -> set[str]:
        if "MetricName" in props:
            return {props["MetricName"]}
        return {m["MetricStat"]["Metric"]["MetricName"] for m in props["Metrics"] if "MetricStat" in m}

    assert metric_names(find("FailedRunRate")) == {"RunsDone", "RunsFailed"}
    assert metric_names(find("ExecutionsFailed")) == {"ExecutionsFailed"}
    assert metric_names(find("ExecutionsTimedOut")) == {"ExecutionsTimedOut"}
    assert metric_names(find("Api5xxRate")) == {"5XXError", "Count"}
    p90 = find("ApiLatencyP90")
    assert p90["MetricName"] == "Latency" and p90["ExtendedStatistic"] == "p90"
    assert (
        metric_names(find("ModelThrottles")) == {"ModelThrottles"} and find("ModelThrottles")["Namespace"] == "runplane"
    )
    queues = resources_of(tpl, "AWS::SQS::Queue")
    dead_letter_queues = [k for k in queues if "DeadLetterQueue" in k]
    assert len(dead_letter_queues) == 4
    for key in ("Outbox", "Reconcile", "Notifications", "Admission"):
        props = find(f"{key}DeadLetters")
        assert props["MetricName"] == "ApproximateNumberOfMessagesVisible" and props["Threshold"] == 0
    watched = {
        d["Value"]["Fn::GetAtt"][0]
        for p in alarms.values()
        for d in p.get("Dimensions", [])
        if d["Name"] == "QueueName"
    }
    assert watched == {q for q in dead_letter_queues}  # every DLQ
    functions = set(resources_of(tpl, "AWS::Lambda::Function"))
    for metric in ("Errors", "Throttles"):
        covered = {
            d["Value"]["Ref"]
            for p in alarms.values()
            if p.get("MetricName") == metric and p.get("Namespace") == "AWS/Lambda"
            for d in p["Dimensions"]
        }
        assert covered == functions, metric


def test_dashboard_topic_and_outputs(template: Template, tpl: dict[str, Any]) -> None:
    _, dashboard = only(tpl, "AWS::CloudWatch::Dashboard")
    body = str(dashboard["Properties"]["DashboardBody"])
    for name in (
        "RunsCreated",
        "RunsFailed",
        "NotificationsDelivered",
        "ModelThrottles",
        "5XXError",
        "ModelLatency",
        "ModelInputTokens",
        "ModelOutputTokens",
        "ToolCalls",
        "ToolErrors",
        "ApprovalWaitTime",
        "WebhooksDelivered",
        "WebhooksFailed",
    ):
        assert name in body, name
    assert "DashboardUrl" in tpl["Outputs"] and "AlarmTopicArn" in tpl["Outputs"]
    template.resource_count_is("AWS::SNS::Subscription", 0)  # no email unless asked for


def test_functions_log_json_at_the_configured_level_and_trace(tpl: dict[str, Any]) -> None:
    functions = resources_of(tpl, "AWS::Lambda::Function")
    assert len(functions) == len(resources.FUNCTIONS)
    for fn in functions.values():
        props = fn["Properties"]
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["LoggingConfig"]["ApplicationLogLevel"] == "INFO"  # runplaneLogLevel's default
        assert props["LoggingConfig"]["SystemLogLevel"] == "INFO"  # START/END/REPORT lines
        assert props["LoggingConfig"]["LogGroup"]
        assert props["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "INFO"
        assert props["TracingConfig"] == {"Mode": "Active"}


def test_an_unknown_log_level_is_refused() -> None:
    from infra.functions import log_level

    assert log_level(None) == "INFO" and log_level("warn") == "WARN"
    with pytest.raises(ValueError, match="runplaneLogLevel"):
        log_level("LOUD")


def test_alarm_email_waf_and_log_level_by_context(template: Template) -> None:
    template.resource_count_is("AWS::WAFv2::WebACL", 0)  # off by default
    on, tpl = synth(alarmEmail="oncall@example.com", waf="true", runplaneLogLevel="DEBUG")
    for fn in resources_of(tpl, "AWS::Lambda::Function").values():
        assert fn["Properties"]["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"
        assert fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    on.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"})
    acl_id, acl = only(tpl, "AWS::WAFv2::WebACL")
    assert acl["Properties"]["Scope"] == "REGIONAL"
    groups = [r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in acl["Properties"]["Rules"]]
    assert "AWSManagedRulesCommonRuleSet" in groups and "AWSManagedRulesKnownBadInputsRuleSet" in groups
    _, association = only(tpl, "AWS::WAFv2::WebACLAssociation")
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}


# -- bounded concurrency and per-key rate limits -----------------------------------------------------
ADMISSION = resources.FUNCTIONS["admission"].handler
AGENT_STEP = resources.FUNCTIONS["agent_step"].handler
CAP_SETTINGS = (
    "RUNPLANE_MAX_RUNNING",
    "RUNPLANE_MAX_RUNNING_PER_CLUSTER",
    "RUNPLANE_RATE_LIMIT_PER_SECOND",
    "RUNPLANE_RATE_LIMIT_BURST",
    "RUNPLANE_LIMITS_TABLE_NAME",
)


def test_caps_and_rate_limits_reach_every_function_with_their_defaults(tpl: dict[str, Any]) -> None:
    limits_id = next(k for k in resources_of(tpl, "AWS::DynamoDB::Table") if k.startswith("StorageLimits"))
    for fn in resources_of(tpl, "AWS::Lambda::Function").values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert {k: env[k] for k in CAP_SETTINGS} == {
            "RUNPLANE_MAX_RUNNING": "100",
            "RUNPLANE_MAX_RUNNING_PER_CLUSTER": "0",
            "RUNPLANE_RATE_LIMIT_PER_SECOND": "50",
            "RUNPLANE_RATE_LIMIT_BURST": "100",
            "RUNPLANE_LIMITS_TABLE_NAME": {"Ref": limits_id},
        }
    # no reserved concurrency unless asked for (new accounts have little to reserve from)
    for fn in resources_of(tpl, "AWS::Lambda::Function").values():
        assert "ReservedConcurrentExecutions" not in fn["Properties"]


def test_caps_rate_limits_and_reserved_concurrency_by_context() -> None:
    _, tpl = synth(
        runplaneMaxRunning="7",
        runplaneMaxRunningPerCluster="3",
        runplaneRateLimit="0",
        runplaneRateBurst="20",
        runplaneAgentStepReservedConcurrency="25",
    )
    env = function_env(tpl, API)
    assert (env["RUNPLANE_MAX_RUNNING"], env["RUNPLANE_MAX_RUNNING_PER_CLUSTER"]) == ("7", "3")
    assert (env["RUNPLANE_RATE_LIMIT_PER_SECOND"], env["RUNPLANE_RATE_LIMIT_BURST"]) == ("0", "20")
    functions = resources_of(tpl, "AWS::Lambda::Function")
    assert functions[function_id(tpl, AGENT_STEP)]["Properties"]["ReservedConcurrentExecutions"] == 25
    reserved = [k for k, f in functions.items() if "ReservedConcurrentExecutions" in f["Properties"]]
    assert reserved == [function_id(tpl, AGENT_STEP)]
    with pytest.raises(ValueError, match="runplaneMaxRunning"):
        synth(runplaneMaxRunning="-1")


def test_the_waiting_index_the_limits_table_and_their_grants(tpl: dict[str, Any]) -> None:
    runs_id, runs = runs_table(tpl)
    waiting, wait_pk, wait_sk = resources.TABLE_WAITING_GSI
    (index,) = [i for i in runs["Properties"]["GlobalSecondaryIndexes"] if i["IndexName"] == waiting]
    assert index["KeySchema"] == [
        {"AttributeName": wait_pk, "KeyType": "HASH"},
        {"AttributeName": wait_sk, "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}  # the key says who waits, since when
    limits_id, limits = next(
        (k, v) for k, v in resources_of(tpl, "AWS::DynamoDB::Table").items() if k.startswith("StorageLimits")
    )
    props = limits["Properties"]
    assert props["KeySchema"] == [{"AttributeName": resources.LIMITS_PARTITION_KEY, "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert "StreamSpecification" not in props and props["BillingMode"] == "PAY_PER_REQUEST"
    # the API and ACP functions count requests: UpdateItem on the limits table, nothing else there
    for handler in (API, resources.FUNCTIONS["acp"].handler):
        statements = role_statements(tpl, role_of_function(tpl, handler))
        on_limits = [s for s in statements if {"Fn::GetAtt": [limits_id, "Arn"]} in _as_list(s["Resource"])]
        assert [s["Action"] for s in on_limits] == ["dynamodb:UpdateItem"]
    # the outbox and the sweep admit runs: the runs table and its Waiting index, no wider
    index_arn = {"Fn::Join": ["", [{"Fn::GetAtt": [runs_id, "Arn"]}, f"/index/{waiting}"]]}
    for handler in (STREAM, ADMISSION):
        statements = role_statements(tpl, role_of_function(tpl, handler))
        assert index_arn in resources_for(statements, "dynamodb:Query")
        assert {"Fn::GetAtt": [runs_id, "Arn"]} in resources_for(statements, "dynamodb:UpdateItem")


def test_the_admission_sweep_runs_on_a_schedule(tpl: dict[str, Any]) -> None:
    sweep = function_id(tpl, ADMISSION)
    (rule,) = [r for r in resources_of(tpl, "AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]]
    assert rule["Properties"]["ScheduleExpression"] == f"rate({resources.ADMISSION_SWEEP_MINUTES} minute)"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [sweep, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0  # the next tick is the retry
    statements = role_statements(tpl, role_of_function(tpl, ADMISSION))
    assert resources_for(statements, "states:StartExecution")
    # the outbox (a slot freed) may start the executions of the runs it admits too
    assert resources_for(role_statements(tpl, role_of_function(tpl, STREAM)), "states:StartExecution")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- gates -----------------------------------------------------------------------------------------
def test_cdk_nag_ran_and_every_acknowledgement_has_a_reason() -> None:
    # The module's synth ran both rule packs (a finding would have failed it); the acknowledgements
    # name their construct and say why.
    from infra import nag

    assert set(nag.NO_FUNCTION_DLQ) == set(nag.FUNCTIONS)
    assert all(len(reason) > 40 for reason in nag.NO_FUNCTION_DLQ.values())


def test_cfn_lint_with_the_serverless_rules_passes(tpl: dict[str, Any]) -> None:
    import json

    from cfnlint.api import ManualArgs, lint

    matches = lint(
        json.dumps(tpl), config=ManualArgs(regions=["us-east-1"], append_rules=["cfn_lint_serverless.rules"])
    )
    assert [f"{m.rule.id} {m.message}" for m in matches] == []
    # each exception is on its resource, with its reason
    for resource in tpl["Resources"].values():
        ignored = resource.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
        assert set(ignored) == set(resource.get("Metadata", {}).get("runplane:cfn-lint-reasons", {}))
