"""Production template assertions (issue 8): notifications, data lifecycle, failure paths, limits.
One synth for the module (with a non-default retention, to see it reach both TTL and lifecycle)."""

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
    synth,
)

NOTIFY = resources.FUNCTIONS["notify"].handler
STREAM = resources.FUNCTIONS["stream"].handler
API = resources.FUNCTIONS["api"].handler


@pytest.fixture(scope="module")
def synthesized() -> tuple[Template, dict[str, Any]]:
    return synth(retentionDays="30")


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
    _, table = only(tpl, "AWS::DynamoDB::Table")
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
