"""Storage: the runs table (runs, messages, clusters; its stream is the event outbox) and the blob
bucket (message bodies too large for a DynamoDB item). Mirrors ``runplane.local.emulator``."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
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
