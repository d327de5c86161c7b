"""cdk-nag (AwsSolutions + Serverless rule packs, 3.x API) for the runplane stack, and the written
reason for every finding runplane accepts. Each acknowledgement is scoped to the one construct it
is about; a new finding anywhere else fails synthesis.

Run by the test suite (tests/infra/test_production.py) and by ``cdk synth -c runplaneNag=true``.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import Construct, IConstruct

from runplane import resources

AWS = "AwsSolutions::AwsSolutions-"
SLS = "Serverless::Serverless-"

FUNCTIONS = (
    "Api/Function",
    "Acp/Function",
    "Api/AuthorizerFunction",
    "AgentLoop/StepFunction",
    "Tools/StepFunction",
    "AgentLoop/ReconcileFunction",
    "Outbox/Function",
    "Notifications/Function",
    "Admission/SweepFunction",
)
DEAD_LETTER_QUEUES = (
    "Outbox/DeadLetterQueue",
    "AgentLoop/ReconcileDeadLetterQueue",
    "Notifications/DeadLetterQueue",
    "Admission/SweepDeadLetterQueue",
)
# Why a function has no Lambda-level DLQ (DeadLetterConfig applies to asynchronous invocations only).
NO_FUNCTION_DLQ = {
    "Api/Function": "invoked synchronously by API Gateway; a failure is the HTTP answer",
    "Acp/Function": "invoked synchronously by API Gateway (ACP routes, streamed answers); a failure is the HTTP answer",
    "Api/AuthorizerFunction": "invoked synchronously by API Gateway as the REQUEST authorizer",
    "AgentLoop/StepFunction": "invoked synchronously by the state machine, whose Retry/Catch handle failures",
    "Tools/StepFunction": "invoked synchronously by the state machine's Map iterations (Retry/Catch)",
    "AgentLoop/ReconcileFunction": "async failures go to ReconcileDeadLetterQueue through an on-failure "
    "destination (EventInvokeConfig), which this rule does not read",
    "Outbox/Function": "a DynamoDB stream consumer: its event source mapping's on-failure destination is the "
    "Outbox DeadLetterQueue",
    "Notifications/Function": "an SQS consumer: the notify queue's redrive policy moves failed messages to "
    "Notifications/DeadLetterQueue",
    "Admission/SweepFunction": "invoked by its schedule: async failures go to Admission/SweepDeadLetterQueue "
    "through an on-failure destination (EventInvokeConfig), which this rule does not read",
}


def _at(stack: Stack, path: str) -> IConstruct:
    node: IConstruct = stack
    for part in path.split("/"):
        child = node.node.try_find_child(part)
        if child is None:
            raise KeyError(f"no construct {path} in {stack.node.path} (the acknowledgement would be stale)")
        node = child
    return node


def _ack(stack: Stack, path: str, rule: str, reason: str) -> None:
    Validations.of(_at(stack, path)).acknowledge(Acknowledgment(id=rule, reason=f"{path}: {reason}"))


def _role_policy(function_path: str) -> str:
    return f"{function_path}Role/DefaultPolicy"


def apply(app: Construct, stack: Stack) -> None:
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks

    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))

    for fn in FUNCTIONS:
        _ack(
            stack,
            fn,
            f"{AWS}L1",
            "Python 3.13 is pinned: the asset is bundled for cp313 wheels "
            "(infra/bundling.py); moving to 3.14 is a deliberate change of both",
        )
        _ack(stack, fn, f"{SLS}LambdaLatestVersion", "same as AwsSolutions-L1: the runtime follows the bundled wheels")
        _ack(stack, fn, f"{SLS}LambdaDLQ", NO_FUNCTION_DLQ[fn])
        # X-Ray: PutTraceSegments/PutTelemetryRecords cannot be scoped to a resource.
        _ack(
            stack,
            _role_policy(fn),
            f"{AWS}IAM5[Resource::*]",
            "X-Ray trace writes (xray:Put*) support only "
            "Resource '*'; the tool step and API also answer task tokens (states:SendTask*), which Step "
            "Functions does not scope to a resource",
        )
    for queue in DEAD_LETTER_QUEUES:
        _ack(stack, queue, f"{AWS}SQS3", "this queue is itself a dead-letter queue")
        _ack(stack, queue, f"{SLS}SQSRedrivePolicy", "this queue is itself a dead-letter queue (alarmed on depth)")
    mapping = _at(stack, "Notifications/Function").node.find_all()
    for child in mapping:
        if "SqsEventSource" in child.node.id:
            Validations.of(child).acknowledge(
                Acknowledgment(
                    id=f"{SLS}LambdaEventSourceMappingDestination",
                    reason="Notifications/Function SqsEventSource: SQS sources take no on-failure destination; "
                    "the queue's redrive policy (8 receives) is the dead-letter path",
                )
            )

    # IAM wildcards, each bounded to runplane's own resources.
    blobs = "<StorageBlobs31FE9BCB.Arn>/*"
    index = "<StorageRunsEDEB48FF.Arn>/index/*"
    jobs = "arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:runplane-jobs-*"
    tool = "arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:runplane-tool-*"
    for fn in ("Api/Function", "Acp/Function", "AgentLoop/StepFunction", "Tools/StepFunction"):
        policy = _role_policy(fn)
        _ack(
            stack,
            policy,
            f"{AWS}IAM5[Resource::{blobs}]",
            "objects of the one blob bucket (message bodies and large results are keyed per run at run time)",
        )
        for action in ("s3:Abort*", "s3:GetBucket*", "s3:GetObject*", "s3:List*"):
            _ack(
                stack,
                policy,
                f"{AWS}IAM5[Action::{action}]",
                "CDK's bucket.grant_read/grant_put action groups, on the blob bucket only",
            )
    _ack(
        stack,
        _role_policy("Api/Function"),
        f"{AWS}IAM5[Action::s3:DeleteObject*]",
        "deleting a run deletes its objects in the blob bucket (bucket-scoped)",
    )
    for fn in (
        "Api/Function",
        "Acp/Function",
        "AgentLoop/StepFunction",
        "Tools/StepFunction",
        "AgentLoop/ReconcileFunction",
        "Notifications/Function",
    ):
        _ack(
            stack,
            _role_policy(fn),
            f"{AWS}IAM5[Resource::{index}]",
            "queries of the runs table's GSI1 (run listing) and Waiting index (runs waiting for a "
            "concurrency slot); CDK's table grants cover the table's indexes",
        )
    for path in ("Api/Function", "AgentLoop/StepFunction", "Tools/StepFunction"):
        _ack(
            stack,
            _role_policy(path),
            f"{AWS}IAM5[Resource::{jobs}]",
            "worker job queues are created at run "
            "time, one per cluster and function; the stack-specific prefix bounds them",
        )
    _ack(
        stack,
        "AgentLoop/StateMachine/Role/DefaultPolicy",
        f"{AWS}IAM5[Resource::{jobs}]",
        "the loop sends worker jobs to the run-time job queues (stack-specific prefix)",
    )
    for path in ("Tools/StepFunction", "Notifications/Function"):
        _ack(
            stack,
            _role_policy(path),
            f"{AWS}IAM5[Resource::{tool}]",
            "users' Lambda tool targets must be "
            "named with the tool prefix (RUNPLANE_TOOL_LAMBDA_PREFIX); only those may be invoked",
        )
    for step in ("AgentLoopStepFunction1B8C5B29", "ToolsStepFunction4331737D"):
        _ack(
            stack,
            "AgentLoop/StateMachine/Role/DefaultPolicy",
            f"{AWS}IAM5[Resource::<{step}.Arn>:*]",
            "grant_invoke covers the step function's versions and aliases (qualified ARNs)",
        )
    _ack(
        stack,
        "AgentLoop/StateMachine/Role/DefaultPolicy",
        f"{AWS}IAM5[Resource::*]",
        "X-Ray and CloudWatch Logs delivery (logs:*LogDelivery*) support only Resource '*'",
    )
    _ack(
        stack,
        _role_policy("AgentLoop/StepFunction"),
        f"{AWS}IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/anthropic.*]",
        "cross-region inference profiles route to Anthropic foundation models in any region",
    )
    _ack(
        stack,
        _role_policy("AgentLoop/StepFunction"),
        f"{AWS}IAM5[Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/*.anthropic.*]",
        "Anthropic inference profiles (us./eu./global.) of this account and region",
    )
    for fn in ("Api/Function", "Acp/Function"):
        _ack(
            stack,
            _role_policy(fn),
            f"{AWS}IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"AgentLoopStateMachineE82F075A"}}]}}]}}:*]',
            "cancel stops any execution of the agent-loop state machine (execution names are run ids)",
        )
    for prefix in ("agents", "runs", "session", "sessions"):
        for method in (f"Api/RestApi/Default/{prefix}/ANY", f"Api/RestApi/Default/{prefix}/{{proxy+}}/ANY"):
            _ack(
                stack,
                method,
                f"{AWS}COG4",
                "an ACP route, authorized by the REQUEST Lambda authorizer (runplane API keys), not Cognito",
            )

    # API Gateway
    _ack(
        stack,
        "Api/RestApi",
        f"{AWS}APIG2",
        "the API function validates every body with pydantic and answers "
        "400 naming the field; a gateway validator would duplicate the models",
    )
    _ack(
        stack,
        "Api/RestApi/DeploymentStage.v1",
        f"{AWS}APIG3",
        "WAF is optional (context waf=true attaches "
        "AWS managed rule groups); off by default for its fixed monthly cost",
    )
    for verb, path in resources.PUBLIC_ROUTES:
        method = f"Api/RestApi/Default{path}/{verb}"
        why = (
            "the Playground's page holds no data; every API call it makes sends the key the person enters"
            if path == "/playground"
            else "a public health check answers without a key"
        )
        _ack(stack, method, f"{AWS}APIG4", f"{why} (resources.PUBLIC_ROUTES)")
        _ack(stack, method, f"{AWS}COG4", why)
    for method in ("Api/RestApi/Default/ANY", "Api/RestApi/Default/{proxy+}/ANY"):
        _ack(
            stack,
            method,
            f"{AWS}COG4",
            "authorized by the REQUEST Lambda authorizer (runplane API keys, "
            "Inferable's sk_ scheme), not Cognito user pools",
        )
    _ack(
        stack,
        "Storage/Blobs",
        f"{AWS}S1",
        "private bucket reached only by runplane's roles over TLS; enable "
        "CloudTrail S3 data events for an access audit instead of a second log bucket",
    )
    _ack(
        stack,
        "AgentLoop/StateMachine",
        f"{AWS}SF1",
        "ERROR-level logging with execution data: ALL would log "
        "every state transition (cost); the payload carries ids only and the conversation is in DynamoDB",
    )


# cfn-lint (with the serverless rules) exceptions: template metadata on the one resource each is
# about (``Metadata.cfn-lint.config.ignore_checks``), its reason next to it.
CFN_LINT_FUNCTION_EXCEPTIONS = {
    "WS1004": "the function logs to its own log group with retention (LoggingConfig.LogGroup); the rule looks "
    "for one named /aws/lambda/<name>",
    "W3005": "CDK adds an explicit DependsOn on the role (and its policy) next to the GetAtt: harmless",
}


def _lint_metadata(construct: IConstruct, reasons: dict[str, str]) -> None:
    from aws_cdk import CfnResource

    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    assert isinstance(resource, CfnResource), construct.node.path
    resource.add_metadata("cfn-lint", {"config": {"ignore_checks": sorted(reasons)}})
    resource.add_metadata("runplane:cfn-lint-reasons", reasons)


def cfn_lint_exceptions(stack: Stack) -> None:
    for fn in FUNCTIONS:
        _lint_metadata(_at(stack, fn), CFN_LINT_FUNCTION_EXCEPTIONS)
    _lint_metadata(
        _at(stack, "AgentLoop/StateMachine"),
        {"W3005": "CDK adds an explicit DependsOn on the role (and its policy) next to the GetAtt: harmless"},
    )
    for queue in DEAD_LETTER_QUEUES:
        _lint_metadata(_at(stack, queue), {"ES6000": "this queue is itself a dead-letter queue (alarmed on depth)"})
    for child in _at(stack, "Notifications/Function").node.find_all():
        if "SqsEventSource" in child.node.id and child.node.default_child is not None:
            _lint_metadata(
                child,
                {
                    "ES1001": "Lambda takes no on-failure destination for SQS sources; the queue's redrive policy is "
                    "the dead-letter path"
                },
            )
    for rule, what in (("AgentLoop/ExecutionEnded", "reconcile"), ("Admission/Schedule", "admission sweep")):
        for child in _at(stack, rule).node.find_all():
            if "AllowEventRule" in child.node.id:
                _lint_metadata(
                    child,
                    {
                        "ES1007": f"the {what} function has an EventInvokeConfig (on-failure destination: its "
                        "dead-letter queue) for $LATEST; the rule does not match it to this permission"
                    },
                )
