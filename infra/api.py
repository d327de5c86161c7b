"""The HTTPS API: the API Lambda behind an API Gateway REST API (Lambda proxy: ``/`` and ``/{proxy+}``).

The API is not authenticated yet (per-cluster API keys are a later issue): anyone who knows the URL
can call it. Stage throttling bounds the damage; docs/deploy.md says so plainly.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from runplane import resources

from .functions import FunctionDefaults, runplane_function
from .storage import Storage
from .tools import JobQueues, grant_task_response

STAGE_NAME = "v1"
THROTTLING_RATE_LIMIT = 50  # requests per second, steady state
THROTTLING_BURST_LIMIT = 100


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        storage: Storage,
        state_machine: sfn.IStateMachine,
        job_queues: JobQueues,
        cloud_watch_role: bool = True,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = runplane_function(
            self,
            "Function",
            resources.FUNCTIONS["api"],
            defaults,
            environment={"RUNPLANE_STATE_MACHINE_ARN": state_machine.state_machine_arn},
        )
        # Runs, calls and functions in the table (large prompts and results in the bucket); starts
        # executions (new runs, follow-up messages) and stops them (cancel).
        storage.table.grant_read_write_data(self.function)
        storage.bucket.grant_read(self.function)
        storage.bucket.grant_put(self.function)
        state_machine.grant_start_execution(self.function)
        state_machine.grant_execution(self.function, "states:StopExecution")
        # Approvals and worker results resume tasks; workers' job polling reads the job queues.
        grant_task_response(self.function)
        job_queues.grant_create(self.function)
        job_queues.grant_consume(self.function)

        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.rest_api = apigw.LambdaRestApi(
            self,
            "RestApi",
            handler=self.function,
            proxy=True,  # ANY on / and on /{proxy+}
            description="runplane HTTPS API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway writes access logs only once the account has a CloudWatch role; this sets it
            # (an account-wide setting, kept on `cdk destroy`). Context apiGatewayCloudWatchRole=false
            # skips it when the account is already set up.
            cloud_watch_role=cloud_watch_role,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=THROTTLING_RATE_LIMIT,
                throttling_burst_limit=THROTTLING_BURST_LIMIT,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )

        # LambdaRestApi adds an "Endpoint" output of its own; the stack outputs ApiUrl instead.
        self.rest_api.node.try_remove_child("Endpoint")

    @property
    def url(self) -> str:
        return self.rest_api.url
