"""DynamoDB storage of run configurations (and ACP sessions), in the runs table.

=====================  ======================  =============================================
item                   PK                      SK
=====================  ======================  =============================================
run configuration      CLUSTER#<cid>           RUNCONFIG#<configId>       (the current version)
its versions           CLUSTER#<cid>           RUNCONFIGV#<configId>#<version:06d>
ACP session entry      SESSION#<cid>#<sid>     RUN#<createdAt>#<runId>    (one per run of the session)
=====================  ======================  =============================================

A new version is written first under ``attribute_not_exists`` (two writers of one version: one
wins, the other gets ConcurrentUpdate and re-reads), then the current item, only if it is older.
No transactions: moto's failed transactions restore a snapshot of the whole table (DESIGN §5).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..config import Settings
from ..errors import ConcurrentUpdate
from ..logic.run_configs import RunConfig, RunConfigVersion
from .clients import client
from .dynamo import _code, _key, _serialize, cluster_pk, deserialize


def session_pk(cluster_id: str, session_id: str) -> str:
    return f"SESSION#{cluster_id}#{session_id}"


class DynamoRunConfigStore:
    def __init__(self, settings: Settings) -> None:
        self.table = settings.table_name

    @property
    def _db(self) -> Any:
        return client("dynamodb")

    # -- run configurations ---------------------------------------------------------------------
    def get_config(self, cluster_id: str, config_id: str) -> RunConfig | None:
        resp = self._db.get_item(
            TableName=self.table, Key=_key(cluster_pk(cluster_id), f"RUNCONFIG#{config_id}"), ConsistentRead=True
        )
        return RunConfig.model_validate_json(resp["Item"]["data"]["S"]) if "Item" in resp else None

    def list_configs(self, cluster_id: str) -> list[RunConfig]:
        items = self._prefix(cluster_pk(cluster_id), "RUNCONFIG#")
        return [RunConfig.model_validate_json(i["data"]["S"]) for i in items]

    def config_versions(self, cluster_id: str, config_id: str) -> list[RunConfigVersion]:
        items = self._prefix(cluster_pk(cluster_id), f"RUNCONFIGV#{config_id}#")
        return [RunConfigVersion.model_validate_json(i["data"]["S"]) for i in items]

    def config_version(self, cluster_id: str, config_id: str, version: int) -> RunConfigVersion | None:
        resp = self._db.get_item(
            TableName=self.table,
            Key=_key(cluster_pk(cluster_id), f"RUNCONFIGV#{config_id}#{version:06d}"),
            ConsistentRead=True,
        )
        return RunConfigVersion.model_validate_json(resp["Item"]["data"]["S"]) if "Item" in resp else None

    def put_config_version(self, config: RunConfig) -> None:
        pk = cluster_pk(config.cluster_id)
        version = {
            "PK": pk,
            "SK": f"RUNCONFIGV#{config.id}#{config.version:06d}",
            "type": "run-config-version",
            "data": config.current().model_dump_json(by_alias=True),
        }
        try:
            self._db.put_item(
                TableName=self.table, Item=_serialize(version), ConditionExpression="attribute_not_exists(SK)"
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(f"run configuration '{config.id}' version {config.version} exists") from exc
            raise
        current = {
            "PK": pk,
            "SK": f"RUNCONFIG#{config.id}",
            "type": "run-config",
            "version": config.version,
            "data": config.model_dump_json(by_alias=True, exclude={"versions"}),
        }
        try:
            self._db.put_item(
                TableName=self.table,
                Item=_serialize(current),
                ConditionExpression="attribute_not_exists(SK) OR #v < :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues=_serialize({":v": config.version}),
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise  # a newer version is current already: this one stays in the history

    def delete_config(self, cluster_id: str, config_id: str) -> bool:
        pk = cluster_pk(cluster_id)
        resp = self._db.delete_item(
            TableName=self.table, Key=_key(pk, f"RUNCONFIG#{config_id}"), ReturnValues="ALL_OLD"
        )
        for item in self._prefix(pk, f"RUNCONFIGV#{config_id}#"):
            self._db.delete_item(TableName=self.table, Key={"PK": item["PK"], "SK": item["SK"]})
        return "Attributes" in resp

    # -- ACP sessions ------------------------------------------------------------------------------
    def add_session_run(self, cluster_id: str, session_id: str, run_id: str, created_at: str) -> None:
        item = {
            "PK": session_pk(cluster_id, session_id),
            "SK": f"RUN#{created_at}#{run_id}",
            "type": "session-run",
            "runId": run_id,
        }
        self._db.put_item(TableName=self.table, Item=_serialize(item))

    def session_runs(self, cluster_id: str, session_id: str) -> list[str]:
        """The session's run ids, oldest first."""
        return [deserialize(i)["runId"] for i in self._prefix(session_pk(cluster_id, session_id), "RUN#")]

    def _prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
            "ExpressionAttributeValues": _serialize({":pk": pk, ":p": prefix}),
            "ConsistentRead": True,
        }
        while True:
            resp = self._db.query(**kwargs)
            out.extend(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
