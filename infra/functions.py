"""Lambda functions from ``runplane.resources.FUNCTIONS``: one helper, the same settings everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from runplane.resources import FunctionSpec

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
# Where SnapStart would pay (context `snapStart=true`): the functions on a caller's path (the API) and
# on every run's path (the agent step, whose first turn loads the anthropic SDK). Not measured on AWS yet.
SNAP_START_FUNCTIONS = ("api", "agent_step")
LIVE_ALIAS = "live"  # the alias callers invoke when SnapStart is on (SnapStart applies to published versions)
DEFAULT_LOG_LEVEL = "INFO"
# runplaneLogLevel → (Lambda's application log level, Powertools' POWERTOOLS_LOG_LEVEL)
LOG_LEVELS: dict[str, tuple[lambda_.ApplicationLogLevel, str]] = {
    "DEBUG": (lambda_.ApplicationLogLevel.DEBUG, "DEBUG"),
    "INFO": (lambda_.ApplicationLogLevel.INFO, "INFO"),
    "WARN": (lambda_.ApplicationLogLevel.WARN, "WARNING"),
    "WARNING": (lambda_.ApplicationLogLevel.WARN, "WARNING"),
    "ERROR": (lambda_.ApplicationLogLevel.ERROR, "ERROR"),
}


def log_level(value: object) -> str:
    """The ``runplaneLogLevel`` context value, checked (default INFO)."""
    level = str(value or DEFAULT_LOG_LEVEL).strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"runplaneLogLevel must be one of {', '.join(LOG_LEVELS)}; got {value!r}")
    return level


@dataclass(frozen=True)
class FunctionDefaults:
    """What every runplane function shares: the one code asset and the common environment."""

    code: lambda_.Code
    # RUNPLANE_* settings (see runplane.config.Settings) common to every function.
    environment: Mapping[str, str]
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    # FunctionSpec keys with SnapStart on (published versions, invoked through the `live` alias).
    snap_start: frozenset[str] = frozenset()
    # The application log level (runplaneLogLevel): Lambda's JSON log format filters on it, and
    # Powertools' Logger reads it (AWS_LAMBDA_LOG_LEVEL, and POWERTOOLS_LOG_LEVEL for the same value).
    log_level: str = DEFAULT_LOG_LEVEL


def service_name(spec: FunctionSpec) -> str:
    return f"runplane-{spec.key.replace('_', '-')}"


def runplane_function(
    scope: Construct,
    construct_id: str,
    spec: FunctionSpec,
    defaults: FunctionDefaults,
    *,
    environment: Mapping[str, str] | None = None,
) -> lambda_.Function:
    """A Lambda for ``spec``: Python 3.13 on arm64, X-Ray tracing, its own log group with retention,
    Lambda's JSON log format with the configured application log level (system logs at INFO: the
    START/END/REPORT lines).

    Its role starts empty but for writing to that log group (instead of the AWS-managed basic
    execution policy, which allows every log group); each construct then grants what its function uses.
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=defaults.log_retention,
        removal_policy=RemovalPolicy.DESTROY,
    )
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"{service_name(spec)} Lambda",
    )
    log_group.grant_write(role)
    env = {
        **defaults.environment,
        **(environment or {}),
        "POWERTOOLS_SERVICE_NAME": service_name(spec),
        "POWERTOOLS_METRICS_NAMESPACE": "runplane",
        "POWERTOOLS_LOG_LEVEL": LOG_LEVELS[defaults.log_level][1],
        # No garbage collection during the cold start's imports (functions/runplane/handlers/__init__.py)
        "RUNPLANE_INIT_GC": "hold",
    }
    return lambda_.Function(
        scope,
        construct_id,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=spec.handler,
        code=defaults.code,
        description=spec.description,
        timeout=Duration.seconds(spec.timeout_seconds),
        memory_size=spec.memory_mb,
        environment=env,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=LOG_LEVELS[defaults.log_level][0],
        system_log_level_v2=lambda_.SystemLogLevel.INFO,
        role=role,
        snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if spec.key in defaults.snap_start else None,
    )


def invocable(function: lambda_.Function, spec: FunctionSpec, defaults: FunctionDefaults) -> lambda_.IFunction:
    """What callers (API Gateway, Step Functions) invoke: the function itself, or with SnapStart on, its
    `live` alias on the version this deployment published (SnapStart never applies to $LATEST)."""
    if spec.key not in defaults.snap_start:
        return function
    return lambda_.Alias(
        function,
        "LiveAlias",
        alias_name=LIVE_ALIAS,
        version=function.current_version,
        description="the published version callers invoke (SnapStart)",
    )


def dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """Where deliveries that ran out of retries go: encrypted, TLS only, kept 14 days."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
