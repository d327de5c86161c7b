"""Tool calls: the tool-step function (the Map iteration's tasks), the Lambda functions it may invoke
as tool targets, the worker job queues, and answering task tokens (approvals, worker results).

Two runtime conventions become IAM here, and the stack sets both as settings so code and policy agree:

- Lambda targets must be named ``<tool prefix>*`` (``RUNPLANE_TOOL_LAMBDA_PREFIX``): the tool step may
  invoke those functions and no other.
- Worker job queues are created on demand by the functions, named ``<job queue prefix><hash>``
  (``RUNPLANE_JOB_QUEUE_PREFIX``): roles may create/use/send to queues with that prefix only. They are
  not part of the stack (``cdk destroy`` leaves them); they are tagged ``runplane:cluster`` and
  ``runplane:function``, and deleting their function deletes them.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from constructs import Construct

from runplane import resources

from .functions import FunctionDefaults, runplane_function
from .storage import Storage

DEFAULT_TOOL_LAMBDA_PREFIX = "runplane-tool-"

# Step Functions does not scope SendTask* to a resource (the task token names the task): "*" only.
TASK_RESPONSE_ACTIONS = ("states:SendTaskSuccess", "states:SendTaskHeartbeat")


class JobQueues:
    """The worker job queues' naming contract and the grants on them (no resources of its own)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @property
    def arn_pattern(self) -> str:
        return f"arn:{Aws.PARTITION}:sqs:{Aws.REGION}:{Aws.ACCOUNT_ID}:{self.prefix}*"

    def _grant(self, grantee: iam.IGrantable, *actions: str) -> None:
        iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=[self.arn_pattern])

    def grant_create(self, grantee: iam.IGrantable) -> None:
        """CreateQueue (idempotent, also how a queue's URL is found); tagging on creation needs TagQueue."""
        self._grant(grantee, "sqs:CreateQueue", "sqs:TagQueue")

    def grant_consume(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, "sqs:ReceiveMessage", "sqs:DeleteMessage")

    def grant_remove(self, grantee: iam.IGrantable) -> None:
        """Deleting a worker function deletes its queue."""
        self._grant(grantee, "sqs:GetQueueUrl", "sqs:DeleteQueue")

    def grant_send(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, "sqs:SendMessage")


def grant_task_response(grantee: iam.IGrantable) -> None:
    iam.Grant.add_to_principal(grantee=grantee, actions=list(TASK_RESPONSE_ACTIONS), resource_arns=["*"])


class Tools(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        storage: Storage,
        job_queues: JobQueues,
        tool_lambda_prefix: str = DEFAULT_TOOL_LAMBDA_PREFIX,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = runplane_function(self, "StepFunction", resources.FUNCTIONS["tools"], defaults)
        # Calls live in the table; large results go to the bucket.
        storage.table.grant_read_write_data(self.function)
        storage.bucket.grant_read(self.function)
        storage.bucket.grant_put(self.function)
        # Lambda targets: only functions named with the prefix (any version or alias of them).
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["lambda:InvokeFunction"],
            resource_arns=[f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:{tool_lambda_prefix}*"],
        )
        # A worker call's descriptor carries its queue's URL; an already-decided approval resumes at once.
        job_queues.grant_create(self.function)
        grant_task_response(self.function)
