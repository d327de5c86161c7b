"""RunplaneStack: composes the capability constructs; it holds no resources of its own but outputs.

Options (stack props, else CDK context, e.g. ``cdk deploy -c modelProvider=anthropic``):

- ``modelProvider``: ``bedrock`` | ``anthropic`` | ``scripted``. Default: ``anthropic`` when
  ``anthropicSecretName`` is given, else ``bedrock`` (IAM only, so a bare ``cdk deploy`` works).
- ``anthropicSecretName``: name of an existing Secrets Manager secret holding the Anthropic API key.
- ``bedrockModelIds``: JSON object, model name -> Bedrock model id (e.g. ``eu.`` or ``global.``
  inference profiles); becomes ``RUNPLANE_BEDROCK_MODEL_IDS``.
- ``toolLambdaPrefix``: Lambda functions registered as tool targets must be named with this prefix
  (default ``runplane-tool-``); the tool step may invoke those and no others.
- ``eventBusName``: name of the custom event bus (default ``runplane``; one per account and region).
- ``retentionDays``: finished runs and everything they own expire this many days after they finish
  (default 90; DynamoDB TTL, and the bucket's lifecycle rule for run objects).
- ``waf``: ``true`` puts an AWS WAF web ACL with AWS managed rule groups in front of the API stage
  (default false: a web ACL has a fixed monthly cost).
- ``runplaneLogLevel``: the functions' application log level, ``DEBUG`` | ``INFO`` | ``WARN`` |
  ``ERROR`` (default ``INFO``); Lambda's JSON log format filters on it and Powertools' Logger uses it.
- ``alarmEmail``: an address subscribed to the alarm topic (optional; confirm the subscription mail).
- ``apiGatewayCloudWatchRole``: set API Gateway's account-level CloudWatch role (default false: it is
  an account-wide setting that would be overwritten for every API in the region). Access logging
  needs that role once per account and region; docs/deploy.md says how to set it.
- ``runplaneMaxRunning``: at most this many runs running (or paused) at once in the deployment
  (default 100; 0 = no cap). Runs over it wait in ``pending`` and start in order.
- ``runplaneMaxRunningPerCluster``: the same per cluster (default 0 = only the deployment's cap).
- ``runplaneRateLimit`` / ``runplaneRateBurst``: each API key may average this many requests per
  second and send up to the burst at once (default 50 and 100; ``runplaneRateLimit=0`` = off);
  over it → 429 with ``retry-after``.
- ``runplaneAgentStepReservedConcurrency``: reserved concurrency for the agent-step function (the
  model's caller), off by default: reserving takes from the account's unreserved pool, and Lambda
  refuses a reservation that leaves less than 100 unreserved (new accounts often have a limit of
  10 in all). Set it to keep model calls from starving other functions, or the other way round.

The stack is environment-agnostic (no account or region lookups): it synthesizes offline.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as lambda_destinations
from constructs import Construct

from .acp import AcpApi
from .admission import AdmissionSweep
from .agent_loop import AgentLoop
from .api import Api
from .bundling import lambda_code
from .events import DEFAULT_BUS_NAME, Events, Outbox
from .functions import SNAP_START_FUNCTIONS, FunctionDefaults, log_level
from .model import ModelAccess, resolve_provider
from .monitoring import Monitoring
from .notifications import Notifications
from .storage import DEFAULT_RETENTION_DAYS, Storage
from .tools import DEFAULT_TOOL_LAMBDA_PREFIX, JobQueues, Tools
from .waf import ApiWaf


def _json_object(value: Any, name: str) -> dict[str, str] | None:
    if value in (None, ""):
        return None
    parsed = json.loads(value) if isinstance(value, str) else value
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ValueError(f"{name} must be a JSON object of strings; got {value!r}")
    return {str(k): v for k, v in parsed.items()}


DEFAULT_MAX_RUNNING = 100
DEFAULT_MAX_RUNNING_PER_CLUSTER = 0
DEFAULT_RATE_LIMIT = 50
DEFAULT_RATE_BURST = 100


def _number(value: Any, name: str, default: float, *, integer: bool = True) -> float:
    if value in (None, ""):
        return default
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a {'whole ' if integer else ''}number >= 0; got {value!r}") from None
    if number < 0:
        raise ValueError(f"{name} must be >= 0; got {value!r}")
    return number


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("false", "0", "no", "off", "")


class RunplaneStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_provider: str | None = None,
        anthropic_secret_name: str | None = None,
        event_bus_name: str | None = None,
        api_gateway_cloud_watch_role: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        ctx = self.node.try_get_context
        secret_name = anthropic_secret_name or ctx("anthropicSecretName") or None
        provider = resolve_provider(model_provider or ctx("modelProvider"), secret_name)
        bedrock_ids = _json_object(ctx("bedrockModelIds"), "bedrockModelIds")
        bus_name = event_bus_name or ctx("eventBusName") or DEFAULT_BUS_NAME
        tool_prefix = str(ctx("toolLambdaPrefix") or DEFAULT_TOOL_LAMBDA_PREFIX)
        # Worker job queues are created at run time; the prefix ties them (and the grants) to this stack.
        job_queues = JobQueues(prefix=f"{self.stack_name.lower()}-jobs-")
        cloud_watch_role = (
            api_gateway_cloud_watch_role
            if api_gateway_cloud_watch_role is not None
            else _flag(ctx("apiGatewayCloudWatchRole"), False)
        )

        retention_days = int(ctx("retentionDays") or DEFAULT_RETENTION_DAYS)
        max_running = int(_number(ctx("runplaneMaxRunning"), "runplaneMaxRunning", DEFAULT_MAX_RUNNING))
        per_cluster = ctx("runplaneMaxRunningPerCluster")
        max_per_cluster = int(_number(per_cluster, "runplaneMaxRunningPerCluster", DEFAULT_MAX_RUNNING_PER_CLUSTER))
        rate_limit = _number(ctx("runplaneRateLimit"), "runplaneRateLimit", DEFAULT_RATE_LIMIT, integer=False)
        rate_burst = int(_number(ctx("runplaneRateBurst"), "runplaneRateBurst", DEFAULT_RATE_BURST)) or 1
        step_concurrency = ctx("runplaneAgentStepReservedConcurrency")
        storage = Storage(self, "Storage", retention_days=retention_days)
        events = Events(self, "Events", bus_name=bus_name)
        model = ModelAccess(
            self,
            "Model",
            provider=provider,
            anthropic_secret_name=secret_name if provider == "anthropic" else None,
        )
        environment = {
            "RUNPLANE_TABLE_NAME": storage.table.table_name,
            "RUNPLANE_BLOB_BUCKET": storage.bucket.bucket_name,
            "RUNPLANE_EVENT_BUS_NAME": events.bus.event_bus_name,
            "RUNPLANE_MODEL_PROVIDER": provider,
            "RUNPLANE_TOOL_LAMBDA_PREFIX": tool_prefix,
            "RUNPLANE_JOB_QUEUE_PREFIX": job_queues.prefix,
            "RUNPLANE_RETENTION_DAYS": str(retention_days),
            "RUNPLANE_MAX_RUNNING": str(max_running),
            "RUNPLANE_MAX_RUNNING_PER_CLUSTER": str(max_per_cluster),
            "RUNPLANE_RATE_LIMIT_PER_SECOND": f"{rate_limit:g}",
            "RUNPLANE_RATE_LIMIT_BURST": str(rate_burst),
            "RUNPLANE_LIMITS_TABLE_NAME": storage.limits.table_name,
        }
        if bedrock_ids:
            environment["RUNPLANE_BEDROCK_MODEL_IDS"] = json.dumps(bedrock_ids, separators=(",", ":"))
        snap_start = frozenset(SNAP_START_FUNCTIONS) if _flag(ctx("snapStart"), False) else frozenset()
        defaults = FunctionDefaults(  # one asset for all
            code=lambda_code(),
            environment=environment,
            snap_start=snap_start,
            log_level=log_level(ctx("runplaneLogLevel")),
        )
        tools = Tools(
            self, "Tools", defaults=defaults, storage=storage, job_queues=job_queues, tool_lambda_prefix=tool_prefix
        )
        loop = AgentLoop(
            self,
            "AgentLoop",
            defaults=defaults,
            storage=storage,
            model=model,
            tool_function=tools.function,
            job_queues=job_queues,
        )
        api = Api(
            self,
            "Api",
            defaults=defaults,
            storage=storage,
            state_machine=loop.state_machine,
            job_queues=job_queues,
            cloud_watch_role=cloud_watch_role,
        )
        acp = AcpApi(
            self,
            "Acp",
            defaults=defaults,
            storage=storage,
            state_machine=loop.state_machine,
            rest_api=api.rest_api,
            authorizer=api.authorizer,
        )
        if step_concurrency not in (None, ""):
            reserved = int(_number(step_concurrency, "runplaneAgentStepReservedConcurrency", 0))
            step = loop.step_function.node.default_child
            assert isinstance(step, lambda_.CfnFunction)
            step.reserved_concurrent_executions = reserved
        # Every authenticated request counts against its key (one conditional UpdateItem).
        for fn in (api.function, acp.function):
            fn.add_to_role_policy(
                iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[storage.limits.table_arn])
            )
        admission = AdmissionSweep(
            self, "Admission", defaults=defaults, storage=storage, state_machine=loop.state_machine
        )
        outbox = Outbox(
            self,
            "Outbox",
            table=storage.table,
            bus=events.bus,
            state_machine=loop.state_machine,
            defaults=defaults,
            admission_grant=storage.grant_admission,
        )
        notifications = Notifications(
            self,
            "Notifications",
            defaults=defaults,
            storage=storage,
            publisher=outbox.function,
            tool_lambda_prefix=tool_prefix,
        )
        # The reconcile function is invoked asynchronously (EventBridge): after Lambda's own retries,
        # a failed invocation goes to its dead-letter queue too (and alarms), never silently away.
        loop.reconcile_function.configure_async_invoke(
            on_failure=lambda_destinations.SqsDestination(loop.reconcile_dead_letter_queue),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            functions={
                "Api": api.function,
                "Acp": acp.function,
                "Authorizer": api.authorizer_function,
                "AgentStep": loop.step_function,
                "ToolStep": tools.function,
                "Reconcile": loop.reconcile_function,
                "Outbox": outbox.function,
                "Notify": notifications.function,
                "AdmissionSweep": admission.function,
            },
            state_machine=loop.state_machine,
            rest_api=api.rest_api,
            dead_letter_queues={
                "Outbox": outbox.dead_letter_queue,
                "Reconcile": loop.reconcile_dead_letter_queue,
                "Notifications": notifications.dead_letter_queue,
                "Admission": admission.dead_letter_queue,
            },
            alarm_email=ctx("alarmEmail") or None,
        )
        self.monitoring = monitoring
        self.waf = ApiWaf(self, "Waf", rest_api=api.rest_api) if _flag(ctx("waf"), False) else None

        self.model_provider = provider
        self.storage, self.events, self.tools, self.agent_loop = storage, events, tools, loop
        self.api, self.acp, self.outbox, self.notifications = api, acp, outbox, notifications
        self.admission = admission

        CfnOutput(self, "ApiUrl", value=api.url, description="Base URL of the runplane API (stage included)")
        CfnOutput(self, "EventBusName", value=events.bus.event_bus_name, description="Run status events bus")
        CfnOutput(self, "EventBusArn", value=events.bus.event_bus_arn)
        CfnOutput(self, "StateMachineArn", value=loop.state_machine.state_machine_arn)
        CfnOutput(self, "TableName", value=storage.table.table_name)
        CfnOutput(self, "BlobBucketName", value=storage.bucket.bucket_name)
        CfnOutput(
            self,
            "OutboxDeadLetterQueueUrl",
            value=outbox.dead_letter_queue.queue_url,
            description="Stream batches the event publisher gave up on (should stay empty)",
        )
        CfnOutput(
            self,
            "NotificationDeadLetterQueueUrl",
            value=notifications.dead_letter_queue.queue_url,
            description="onStatusChange deliveries that ran out of retries (redrive them to retry)",
        )
        CfnOutput(self, "ModelProvider", value=provider)
