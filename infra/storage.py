"""Storage: the runs table (runs, messages, clusters; its stream is the event outbox) and the blob
bucket (message bodies too large for a DynamoDB item). Mirrors ``runplane.local.emulator``."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from runplane import resources

TTL_ATTRIBUTE = "expiresAt"


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
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
        )
