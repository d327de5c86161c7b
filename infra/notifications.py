"""onStatusChange delivery: the FIFO queue the outbox feeds (one message group per run, deduplicated
on the notification id), its dead-letter queue, and the notify function that delivers (signed
webhooks, function calls). Mirrors ``runplane.local.queues``."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from runplane import resources

from .functions import FunctionDefaults, runplane_function
from .storage import Storage


class Notifications(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        storage: Storage,
        publisher: lambda_.Function,
        tool_lambda_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        spec = resources.FUNCTIONS["notify"]
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            fifo=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            fifo=True,
            content_based_deduplication=False,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(4),
            # Lambda's guidance: at least 6x the function's timeout.
            visibility_timeout=Duration.seconds(6 * spec.timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=resources.NOTIFY_MAX_RECEIVES
            ),
        )
        self.function = runplane_function(
            self, "Function", spec, defaults, environment={"RUNPLANE_NOTIFY_QUEUE_URL": self.queue.queue_url}
        )
        self.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=resources.NOTIFY_BATCH_SIZE, report_batch_item_failures=True)
        )
        # Back-off: a failed delivery's message gets a longer visibility timeout.
        self.queue.grant(self.function, "sqs:ChangeMessageVisibility")
        # Function targets and the cluster's signing secret are in the table.
        storage.table.grant_read_data(self.function)
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["lambda:InvokeFunction"],
            resource_arns=[f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:{tool_lambda_prefix}*"],
        )
        # The outbox publisher queues the notifications.
        publisher.add_environment("RUNPLANE_NOTIFY_QUEUE_URL", self.queue.queue_url)
        self.queue.grant_send_messages(publisher)
