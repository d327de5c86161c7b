"""The agent loop: the agent-step function and the Standard state machine defined by
``statemachines/agent_loop.asl.json`` (inlined, its placeholders filled by DefinitionSubstitutions)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from runplane import resources

from .functions import FunctionDefaults, dead_letter_queue, invocable, runplane_function
from .model import ModelAccess
from .storage import Storage
from .tools import JobQueues

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def definition_substitutions(text: str, values: Mapping[str, str]) -> dict[str, str]:
    """The substitutions for the ASL text; refuses placeholders the stack has no value for (they would
    reach Step Functions verbatim)."""
    wanted = set(resources.ASL_SUBSTITUTIONS) | set(_PLACEHOLDER.findall(text))
    missing = wanted - set(values)
    if missing:
        raise ValueError(f"no value for the ASL placeholders {sorted(missing)} of {resources.ASL_PATH.name}")
    return {key: values[key] for key in sorted(wanted)}


class AgentLoop(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        storage: Storage,
        model: ModelAccess,
        tool_function: lambda_.IFunction,
        job_queues: JobQueues,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        self.step_function = runplane_function(
            self, "StepFunction", resources.FUNCTIONS["agent_step"], defaults, environment=model.environment
        )
        # The state machine invokes this: the function, or its `live` alias with SnapStart on.
        self.step_invocable = invocable(self.step_function, resources.FUNCTIONS["agent_step"], defaults)
        # Conversation in the table, large message bodies in the bucket, and the model.
        storage.table.grant_read_write_data(self.step_function)
        storage.bucket.grant_read(self.step_function)
        storage.bucket.grant_put(self.step_function)
        model.grant_invoke(self.step_function)
        job_queues.grant_create(self.step_function)  # a worker call's descriptor carries its queue URL
        # The /aws/vendedlogs/ prefix keeps CloudWatch Logs' resource policy small (AWS guidance).
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-agent-loop",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        definition = resources.ASL_PATH.read_text()
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions=definition_substitutions(
                definition,
                {
                    "AgentStepFunctionArn": self.step_invocable.function_arn,
                    "ToolStepFunctionArn": tool_function.function_arn,
                },
            ),
            # Errors with their input/cause; the payload carries ids only (the conversation is in DynamoDB).
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ERROR, include_execution_data=True),
            tracing_enabled=True,
        )
        # The state machine's role may invoke the two step functions and send worker jobs, nothing else.
        self.step_invocable.grant_invoke(self.state_machine)
        tool_function.grant_invoke(self.state_machine)
        job_queues.grant_send(self.state_machine)

        # Executions that end outside the loop's own paths (stopped by an operator, timed out, a
        # service error) would leave their run open forever: Step Functions' status events for this
        # state machine go to the reconcile function, which fails such runs (with their event).
        self.reconcile_function = runplane_function(
            self, "ReconcileFunction", resources.FUNCTIONS["reconcile"], defaults
        )
        storage.table.grant_read_write_data(self.reconcile_function)
        self.reconcile_dead_letter_queue = dead_letter_queue(self, "ReconcileDeadLetterQueue")
        self.execution_ended_rule = events.Rule(
            self,
            "ExecutionEnded",
            description="runplane: agent-loop executions that ended FAILED, TIMED_OUT or ABORTED",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                    "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.reconcile_function,
                    dead_letter_queue=self.reconcile_dead_letter_queue,
                    retry_attempts=20,
                    max_event_age=Duration.hours(24),
                )
            ],
        )
