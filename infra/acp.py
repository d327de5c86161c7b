"""The Agent Communication Protocol on the same REST API, streamed: the ACP function behind API
Gateway's *response streaming* Lambda proxy integration (docs/acp.md).

- Integration: ``responseTransferMode: STREAM``; API Gateway invokes the function with
  ``InvokeWithResponseStream`` (URI ``…/2021-11-15/functions/{arn}/response-streaming-invocations``)
  and forwards each chunk as it is written, up to the integration timeout (15 minutes here).
- Function: the managed Python runtime cannot stream by itself, so ``AWS_LAMBDA_EXEC_WRAPPER`` runs
  ``runplane/bin/streaming-bootstrap``, which replaces the runtime loop with ``runplane.streaming``
  (a Runtime API client that writes the handler's chunks to Lambda's streaming response).
- The same authorizer as every other route: ACP requests carry runplane keys in ``authorization``.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from runplane import resources

from .functions import FunctionDefaults, runplane_function
from .storage import Storage
from .tools import grant_task_response

EXEC_WRAPPER = "/var/task/runplane/bin/streaming-bootstrap"
# Streamed integrations may run up to 15 minutes (buffered ones stop at 29 s).
STREAM_TIMEOUT = Duration.minutes(15)
# The first path segment of every ACP route (GET /ping answers without a key).
ACP_RESOURCES = ("runs", "agents", "session", "sessions")


class AcpApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        storage: Storage,
        state_machine: sfn.IStateMachine,
        rest_api: apigw.RestApi,
        authorizer: apigw.IAuthorizer,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.Function = runplane_function(
            self,
            "Function",
            resources.FUNCTIONS["acp"],
            defaults,
            environment={
                "RUNPLANE_STATE_MACHINE_ARN": state_machine.state_machine_arn,
                "AWS_LAMBDA_EXEC_WRAPPER": EXEC_WRAPPER,
            },
        )
        # What the API function may do with runs (create, read, cancel, decide approvals), plus the
        # input images/PDFs it stores in the bucket.
        storage.table.grant_read_write_data(self.function)
        storage.bucket.grant_read(self.function)
        storage.bucket.grant_put(self.function)
        state_machine.grant_start_execution(self.function)
        state_machine.grant_execution(self.function, "states:StopExecution")
        grant_task_response(self.function)

        self.integration = apigw.LambdaIntegration(
            self.function, response_transfer_mode=apigw.ResponseTransferMode.STREAM, timeout=STREAM_TIMEOUT
        )
        auth = apigw.MethodOptions(authorizer=authorizer, authorization_type=apigw.AuthorizationType.CUSTOM)
        for name in ACP_RESOURCES:
            resource = rest_api.root.get_resource(name) or rest_api.root.add_resource(name)
            resource.add_method(
                "ANY", self.integration, authorizer=auth.authorizer, authorization_type=auth.authorization_type
            )
            resource.add_proxy(default_integration=self.integration, any_method=True, default_method_options=auth)
        ping = rest_api.root.get_resource("ping")
        if ping is None:  # else the Api construct routes it: the lead points it here (docs/acp.md)
            rest_api.root.add_resource("ping").add_method(
                "GET", self.integration, authorization_type=apigw.AuthorizationType.NONE
            )
