"""The rate limit's request counters (``logic.ratelimit``), in their own DynamoDB table.

==============  ================================  ===========================================
item            PK                                attributes
==============  ================================  ===========================================
counter         RATE#<keyId>#<window s>#<index>   ``n`` (requests), ``expiresAt`` (TTL)
==============  ================================  ===========================================

One conditional UpdateItem per request (a refused one costs that write too). The table has no
stream, and its items expire by TTL shortly after their window.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..config import Settings
from .clients import client


class DynamoRateCounters:
    def __init__(self, settings: Settings) -> None:
        self.table = settings.limits_table_name

    @property
    def _db(self) -> Any:
        return client("dynamodb")

    def count(self, counter: str, limit: int, expires_at: int) -> bool:
        try:
            self._db.update_item(
                TableName=self.table,
                Key={"PK": {"S": f"RATE#{counter}"}},
                UpdateExpression="SET #e = :e ADD #n :one",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "n", "#e": "expiresAt"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":e": {"N": str(expires_at)},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
