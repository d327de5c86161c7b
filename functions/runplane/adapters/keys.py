"""API keys in the runs table. The secret never reaches DynamoDB: an item is keyed by its hash.

=========  ======================  ========  ==========================================
item       PK                      SK        GSI1 (list a cluster's keys)
=========  ======================  ========  ==========================================
api key    APIKEY#<sha256>         APIKEY    KEYS#<clusterId> / KEY#<keyId>
=========  ======================  ========  ==========================================
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..config import Settings
from ..logic.keys import ApiKey
from .clients import client
from .dynamo_types import deserialize_value, serialize_value

GSI1 = "GSI1"


def _item(key: ApiKey, secret_hash: str) -> dict[str, Any]:
    data = key.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {
        "PK": f"APIKEY#{secret_hash}",
        "SK": "APIKEY",
        "GSI1PK": f"KEYS#{key.cluster_id}",
        "GSI1SK": f"KEY#{key.id}",
        "type": "apikey",
        **data,
    }


def _key(raw: dict[str, Any]) -> ApiKey:
    data = {k: deserialize_value(v) for k, v in raw.items()}
    return ApiKey.model_validate({k: v for k, v in data.items() if k not in ("PK", "SK", "GSI1PK", "GSI1SK", "type")})


class DynamoKeyStore:
    def __init__(self, settings: Settings) -> None:
        self.table = settings.table_name

    @property
    def _db(self) -> Any:
        return client("dynamodb")

    def put_key(self, key: ApiKey, secret_hash: str) -> bool:
        item = {k: serialize_value(v) for k, v in _item(key, secret_hash).items()}
        try:
            self._db.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(PK)")
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise

    def key_by_hash(self, secret_hash: str) -> ApiKey | None:
        resp = self._db.get_item(
            TableName=self.table,
            Key={"PK": {"S": f"APIKEY#{secret_hash}"}, "SK": {"S": "APIKEY"}},
            ConsistentRead=True,
        )
        return _key(resp["Item"]) if "Item" in resp else None

    def _query(self, cluster_id: str, key_id: str | None = None) -> list[dict[str, Any]]:
        values = {":pk": {"S": f"KEYS#{cluster_id}"}}
        cond = "GSI1PK = :pk"
        if key_id is not None:
            values[":sk"] = {"S": f"KEY#{key_id}"}
            cond += " AND GSI1SK = :sk"
        else:
            values[":sk"] = {"S": "KEY#"}
            cond += " AND begins_with(GSI1SK, :sk)"
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": GSI1,
            "KeyConditionExpression": cond,
            "ExpressionAttributeValues": values,
        }
        while True:
            resp = self._db.query(**kwargs)
            items.extend(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def list_keys(self, cluster_id: str) -> list[ApiKey]:
        return [_key(i) for i in self._query(cluster_id)]

    def revoke_key(self, cluster_id: str, key_id: str, at: str) -> ApiKey | None:
        found = self._query(cluster_id, key_id)
        if not found:
            return None
        resp = self._db.update_item(
            TableName=self.table,
            Key={"PK": found[0]["PK"], "SK": found[0]["SK"]},
            UpdateExpression="SET revokedAt = if_not_exists(revokedAt, :at)",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":at": {"S": at}},
            ReturnValues="ALL_NEW",
        )
        return _key(resp["Attributes"])
