"""The HTTPS API: the API Lambda behind an API Gateway REST API (Lambda proxy: ``/`` and ``/{proxy+}``).

Every method but the health checks (``resources.PUBLIC_ROUTES``) is behind a REQUEST Lambda
authorizer that checks the runplane API key in the ``authorization`` header (cached per header value
for ``resources.AUTHORIZER_CACHE_SECONDS``); the API function then checks what the key may do.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from runplane import resources

from .functions import FunctionDefaults, invocable, runplane_function
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
        cloud_watch_role: bool = False,
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
        # API Gateway invokes this: the function, or its `live` alias with SnapStart on.
        self.invocable = invocable(self.function, resources.FUNCTIONS["api"], defaults)
        # Runs, calls and functions in the table (large prompts and results in the bucket); starts
        # executions (new runs, follow-up messages) and stops them (cancel).
        storage.table.grant_read_write_data(self.function)
        storage.bucket.grant_read(self.function)
        storage.bucket.grant_put(self.function)
        storage.bucket.grant_delete(self.function)  # deleteRun removes a run's S3 objects
        state_machine.grant_start_execution(self.function)
        state_machine.grant_execution(self.function, "states:StopExecution")
        # Approvals and worker results resume tasks; workers' job polling reads the job queues.
        grant_task_response(self.function)
        job_queues.grant_create(self.function)
        job_queues.grant_consume(self.function)
        job_queues.grant_remove(self.function)
        job_queues.grant_send(self.function)  # createCall queues a call outside any run

        # The authorizer reads one item (the key, by its hash) per uncached request.
        self.authorizer_function = runplane_function(
            self, "AuthorizerFunction", resources.FUNCTIONS["authorizer"], defaults
        )
        self.authorizer_function.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[storage.table.table_arn])
        )
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=self.authorizer_function,
            identity_sources=[apigw.IdentitySource.header("authorization")],
            results_cache_ttl=Duration.seconds(resources.AUTHORIZER_CACHE_SECONDS),
        )

        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.rest_api = apigw.LambdaRestApi(
            self,
            "RestApi",
            handler=self.invocable,
            proxy=False,  # ANY on / and on /{proxy+}, added below next to the health checks
            default_method_options=apigw.MethodOptions(
                authorizer=self.authorizer, authorization_type=apigw.AuthorizationType.CUSTOM
            ),
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
                # Execution logs of failed requests (errors only: no request or response bodies).
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
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

        # Everything goes to the API function; health checks answer without a key (the same list
        # local mode's gateway uses).
        integration = apigw.LambdaIntegration(self.invocable)
        self.rest_api.root.add_method("ANY", integration)
        self.rest_api.root.add_proxy(default_integration=integration, any_method=True)
        for method, path in resources.PUBLIC_ROUTES:
            if resources.is_acp_path(path):
                continue  # GET /ping is ACP's: infra/acp.py routes it to the ACP function
            self.rest_api.root.resource_for_path(path).add_method(
                method, integration, authorization_type=apigw.AuthorizationType.NONE
            )
        # 401/403 from the gateway itself carry the same JSON shape as the API's own errors.
        for response_type in (apigw.ResponseType.UNAUTHORIZED, apigw.ResponseType.ACCESS_DENIED):
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                templates={"application/json": '{"message": $context.error.messageString}'},
            )

        # LambdaRestApi adds an "Endpoint" output of its own; the stack outputs ApiUrl instead.
        self.rest_api.node.try_remove_child("Endpoint")

    @property
    def url(self) -> str:
        return self.rest_api.url
