"""Bounded concurrency (``runplane.logic.admission``): the admission sweep and the rate limit's table.

- The sweep function admits runs waiting for a concurrency slot. Waiting runs are admitted as soon
  as a slot frees (the outbox function sees the run that gave it back); this schedule is the safety
  net for a lost trigger, every ``resources.ADMISSION_SWEEP_MINUTES``. Dispatches may overlap (each
  admission is a conditional transaction), so it needs no reserved concurrency: reserving would
  take from the account's unreserved pool, which new accounts keep small.
- Its asynchronous invocations (the schedule) end in a dead-letter queue on failure (alarmed).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda_destinations as lambda_destinations
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from runplane import resources

from .functions import FunctionDefaults, dead_letter_queue, runplane_function
from .storage import Storage


class AdmissionSweep(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        storage: Storage,
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = runplane_function(
            self,
            "SweepFunction",
            resources.FUNCTIONS["admission"],
            defaults,
            environment={"RUNPLANE_STATE_MACHINE_ARN": state_machine.state_machine_arn},
        )
        # Reads the Waiting index and the slot counters, admits runs (transactions), starts executions.
        storage.grant_admission(self.function)
        state_machine.grant_start_execution(self.function)
        self.dead_letter_queue = dead_letter_queue(self, "SweepDeadLetterQueue")
        # A failed tick is not retried: the next one is a minute away. The failure is kept (and alarms).
        self.function.configure_async_invoke(
            on_failure=lambda_destinations.SqsDestination(self.dead_letter_queue),
            retry_attempts=0,
            max_event_age=Duration.minutes(5),
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="runplane: admit runs waiting for a concurrency slot (safety net for lost triggers)",
            schedule=events.Schedule.rate(Duration.minutes(resources.ADMISSION_SWEEP_MINUTES)),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=0,
                    max_event_age=Duration.minutes(5),
                )
            ],
        )
