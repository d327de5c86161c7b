"""Status events: the custom EventBridge bus (with an archive for replay) and the outbox publisher,
the runs table's stream -> the ``stream`` function -> PutEvents on the bus."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from runplane import resources

from .functions import FunctionDefaults, dead_letter_queue, runplane_function

DEFAULT_BUS_NAME = "runplane"

# The outbox's delivery policy (the stream keeps records 24 h):
STREAM_BATCH_SIZE = 100
# The handler already retries PutEvents a few times per invocation; each retry here re-delivers from
# the first record it reported. Past this many, the batch's coordinates go to the DLQ.
STREAM_RETRY_ATTEMPTS = 20


class Events(Construct):
    """The custom bus every run status change is published to, and an archive of those events."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus_name: str = DEFAULT_BUS_NAME,
        archive_retention_days: int = 30,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=bus_name)
        # Replayable history of what runplane published (subscribers' own rules may add DLQs).
        self.archive = self.bus.archive(
            "Archive",
            description="runplane run status events",
            event_pattern=events.EventPattern(source=[resources.EVENT_SOURCE]),
            retention=Duration.days(archive_retention_days),
        )


class Outbox(Construct):
    """The publisher: every committed change in the runs table reaches the bus (at least once).

    Records are handled in order and the function reports the first one it could not publish
    (ReportBatchItemFailures), so Lambda retries from there; a failing batch is bisected to isolate a
    bad record; after the retries the batch's stream coordinates land in an SQS dead-letter queue.
    The function also starts a run's execution when the API died between its write and its start,
    and admits waiting runs when a run gives its concurrency slot back.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        state_machine: sfn.IStateMachine,
        defaults: FunctionDefaults,
        admission_grant: Callable[[iam.IGrantable], None] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = runplane_function(
            self,
            "Function",
            resources.FUNCTIONS["stream"],
            defaults,
            environment={"RUNPLANE_STATE_MACHINE_ARN": state_machine.state_machine_arn},
        )
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        self.function.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=STREAM_BATCH_SIZE,
                report_batch_item_failures=True,
                bisect_batch_on_error=True,
                retry_attempts=STREAM_RETRY_ATTEMPTS,
                on_failure=sources.SqsDlq(self.dead_letter_queue),
            )
        )
        bus.grant_put_events_to(self.function)
        state_machine.grant_start_execution(self.function)
        # A run that gave its concurrency slot back → admit waiting runs (logic/admission.py).
        if admission_grant is not None:
            admission_grant(self.function)
