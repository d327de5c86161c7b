"""Storage: the runs table (runs, messages, clusters; its stream is the event outbox), the blob
bucket (message bodies too large for a DynamoDB item) and the limits table (the per-key rate
limit's counters). Mirrors ``runplane.local.emulator``."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from runplane import resources

TTL_ATTRIBUTE = "expiresAt"
DEFAULT_RETENTION_DAYS = 90
# S3 lifecycle rules count from an object's creation, not from its run's end: objects under runs/
# expire this many days after the retention (runs may wait up to 30 days on an approval).
BUCKET_EXPIRY_MARGIN_DAYS = 30
RUN_OBJECT_PREFIX = "runs/"


class Storage(Construct):
    def grant_admission(self, grantee: iam.IGrantable) -> None:
        """What admitting waiting runs needs (logic/admission.py): read runs and slot counters, query
        the Waiting index, and the transactions (UpdateItem on the run and the counters)."""
        waiting = resources.TABLE_WAITING_GSI[0]
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
            resource_arns=[self.table.table_arn, f"{self.table.table_arn}/index/{waiting}"],
        )

    def __init__(self, scope: Construct, construct_id: str, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        super().__init__(scope, construct_id)
        self.retention_days = retention_days
        # The data outlives the stack: `cdk destroy` leaves the table and the bucket (docs/deploy.md).
        removal_policy = RemovalPolicy.RETAIN
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.Table(
            self,
            "Runs",
            partition_key=dynamodb.Attribute(name=resources.TABLE_PARTITION_KEY, type=string),
            sort_key=dynamodb.Attribute(name=resources.TABLE_SORT_KEY, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            stream=dynamodb.StreamViewType(resources.TABLE_STREAM_VIEW),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            deletion_protection=True,
            removal_policy=removal_policy,
        )
        index, gsi_pk, gsi_sk = resources.TABLE_GSI
        self.table.add_global_secondary_index(
            index_name=index,
            partition_key=dynamodb.Attribute(name=gsi_pk, type=string),
            sort_key=dynamodb.Attribute(name=gsi_sk, type=string),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        # Runs waiting for a concurrency slot (sparse: only they carry the keys), oldest first.
        waiting, wait_pk, wait_sk = resources.TABLE_WAITING_GSI
        self.table.add_global_secondary_index(
            index_name=waiting,
            partition_key=dynamodb.Attribute(name=wait_pk, type=string),
            sort_key=dynamodb.Attribute(name=wait_sk, type=string),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        # The per-key rate limit's request counters: short-lived items (TTL), no stream, nothing to keep.
        self.limits = dynamodb.Table(
            self,
            "Limits",
            partition_key=dynamodb.Attribute(name=resources.LIMITS_PARTITION_KEY, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=resources.LIMITS_TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.bucket = s3.Bucket(
            self,
            "Blobs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireRunObjects",
                    prefix=RUN_OBJECT_PREFIX,
                    expiration=Duration.days(retention_days + BUCKET_EXPIRY_MARGIN_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
