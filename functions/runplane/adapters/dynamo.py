"""DynamoDB (and S3, for oversized messages) implementation of ``RunStore``.

One table:

=====================  ==================  =============================================
item                   PK                  SK
=====================  ==================  =============================================
cluster                CLUSTER#<cid>       CLUSTER
function               CLUSTER#<cid>       FN#<name>
call                   RUN#<cid>#<rid>     CALL#<toolUseId>
run                    RUN#<cid>#<rid>     RUN          (GSI1: CLUSTER#<cid> / RUN#<createdAt>#<rid>)
message                RUN#<cid>#<rid>     MSG#<index:06d>
slot counter           SLOTS#<counter>     SLOTS        (``running``: runs holding a slot;
                                                        counter: ``deployment``, ``cluster/<cid>``)
blob (a call's)        RUN#<cid>#<rid>     BLOB#<blobId>       (the bytes in S3)
machine                CLUSTER#<cid>       MACHINE#<machineId>
service                CLUSTER#<cid>       SERVICE#<name>
=====================  ==================  =============================================

Every status change increments the run's ``seq`` under a condition on the previous ``seq``; the
table's stream (NEW_AND_OLD_IMAGES) is the outbox the event publisher reads.

A run waiting for a concurrency slot carries ``WaitPK = WAITING`` / ``WaitSK = <queuedAt>#<cid>#<rid>``
(the sparse ``Waiting`` index, oldest first). Admission (pending → running) and every ending of an
admitted run are one transaction with the slot counters (logic/admission.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from ..config import Settings
from ..errors import ConcurrentUpdate, InvalidRequest, SlotsFull
from ..schemas import Call, Cluster, Message, Run, Usage
from ..status import TERMINAL, RunStatus, check_transition
from ..timeutil import now_iso
from ..tools.models import REVEAL_SECRETS, FunctionRecord
from .clients import client
from .dynamo_types import deserialize_value, serialize_value

GSI1 = "GSI1"
WAITING_INDEX, WAIT_PK, WAIT_SK = "Waiting", "WaitPK", "WaitSK"
WAITING = "WAITING"
SLOTS_SK = "SLOTS"
TRANSACTION_ATTEMPTS = 6  # a slot transaction that meets another on a counter is tried again
# Run attributes holding arbitrary JSON are stored as JSON strings (no float/Decimal surprises).
JSON_FIELDS = ("result_schema", "on_status_change", "context", "test", "config", "result")
# DynamoDB attribute name for each Run field (camelCase, as in the API and the events).
_ATTR = {
    "cluster_id": "clusterId",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "request_hash": "requestHash",
    "initial_prompt": "initialPrompt",
    "system_prompt": "systemPrompt",
    "model_id": "modelId",
    "result_schema": "resultSchema",
    "attached_functions": "attachedFunctions",
    "on_status_change": "onStatusChange",
    "reasoning_traces": "reasoningTraces",
    "call_summarization": "callSummarization",
    "result_error": "resultError",
    "failure_reason": "failureReason",
    "cancel_reason": "cancelReason",
    "feedback_comment": "feedbackComment",
    "feedback_score": "feedbackScore",
    "expires_at": "expiresAt",
    "config_id": "configId",
    "config_version": "configVersion",
    "agent_name": "agentName",
    "session_id": "sessionId",
    "admitted_at": "admittedAt",
}
_FIELD = {v: k for k, v in _ATTR.items()}


def run_pk(cluster_id: str, run_id: str) -> str:
    return f"RUN#{cluster_id}#{run_id}"


def cluster_pk(cluster_id: str) -> str:
    return f"CLUSTER#{cluster_id}"


def _wait_sk(run: Run, queued_at: str) -> str:
    return f"{queued_at}#{run.cluster_id}#{run.id}"


def _plain(value: Any) -> Any:
    """Deserialized DynamoDB values → plain JSON types (Decimal → int/float)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


def deserialize(image: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(deserialize_value(v)) for k, v in image.items()}


def run_to_item(run: Run) -> dict[str, Any]:
    data = run.model_dump(mode="json")
    item: dict[str, Any] = {
        "PK": run_pk(run.cluster_id, run.id),
        "SK": "RUN",
        "GSI1PK": cluster_pk(run.cluster_id),
        "GSI1SK": f"RUN#{run.created_at}#{run.id}",
        "type": "run",
        "testRun": bool(run.test and run.test.get("enabled")),
    }
    for name, value in data.items():
        if value is None or (name == "slots" and not value):
            continue
        if name in JSON_FIELDS:
            value = json.dumps(value, separators=(",", ":"))
        elif name == "usage":
            value = {"inputTokens": value["input_tokens"], "outputTokens": value["output_tokens"]}
        item[_ATTR.get(name, name)] = value
    return item


def run_from_item(item: dict[str, Any]) -> Run:
    data: dict[str, Any] = {}
    for attr, value in item.items():
        if attr in ("PK", "SK", "GSI1PK", "GSI1SK", WAIT_PK, WAIT_SK, "type", "testRun"):
            continue
        name = _FIELD.get(attr, attr)
        if name in JSON_FIELDS and isinstance(value, str):
            value = json.loads(value)
        data[name] = value
    data.setdefault("usage", {})
    data["usage"] = Usage.model_validate(data["usage"])
    return Run.model_validate(data)


class DynamoRunStore:
    def __init__(self, settings: Settings) -> None:
        self.table = settings.table_name
        self.bucket = settings.blob_bucket
        self.inline_limit = settings.inline_message_bytes
        self.retention_seconds = settings.retention_days * 86_400

    @property
    def _db(self) -> Any:
        return client("dynamodb")

    # -- clusters ---------------------------------------------------------------------------
    def get_cluster(self, cluster_id: str) -> Cluster | None:
        resp = self._db.get_item(TableName=self.table, Key=_key(cluster_pk(cluster_id), "CLUSTER"), ConsistentRead=True)
        if "Item" not in resp:
            return None
        item = deserialize(resp["Item"])
        return Cluster(
            id=item["id"],
            name=item["name"],
            description=item.get("description", ""),
            created_at=item["createdAt"],
        )

    def put_cluster(self, cluster: Cluster) -> bool:
        item = {
            "PK": cluster_pk(cluster.id),
            "SK": "CLUSTER",
            "type": "cluster",
            "id": cluster.id,
            "name": cluster.name,
            "description": cluster.description,
            "createdAt": cluster.created_at,
        }
        try:
            self._db.put_item(
                TableName=self.table, Item=_serialize(item), ConditionExpression="attribute_not_exists(PK)"
            )
            return True
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise

    # -- runs -------------------------------------------------------------------------------
    def create_run(
        self, run: Run, first_message: Message | None, history: Sequence[Message] = (), *, queued: bool = False
    ) -> Run | None:
        """One conditional put of the run (no transaction: the condition is the whole idempotency
        check), then the earlier ``history`` messages (an ACP session's) and the first message, each
        written idempotently. A fault in between loses no prompt: the run item holds it, and whoever
        needs the first message next (a retried create, or the agent's first turn) writes it under
        the same condition (a session's earlier messages are not re-written then). ``queued``: the
        run waits for admission (it is in the ``Waiting`` index)."""
        item = run_to_item(run)
        if queued:
            item.update({WAIT_PK: WAITING, WAIT_SK: _wait_sk(run, run.created_at)})
        try:
            self._db.put_item(
                TableName=self.table,
                Item=_serialize(item),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            existing = self.get_run(run.cluster_id, run.id)
            if existing is None:  # deleted in between (runs are never deleted today): let the caller retry
                raise ConcurrentUpdate(f"run '{run.id}' could not be stored; retry") from exc
            return existing
        for message in [*history, *([first_message] if first_message is not None else [])]:
            self.append_message(run, message)
        return None

    def get_run(self, cluster_id: str, run_id: str) -> Run | None:
        resp = self._db.get_item(TableName=self.table, Key=_key(run_pk(cluster_id, run_id), "RUN"), ConsistentRead=True)
        return run_from_item(deserialize(resp["Item"])) if "Item" in resp else None

    def list_runs(
        self,
        cluster_id: str,
        *,
        status: RunStatus | None,
        metadata: dict[str, str],
        limit: int,
        cursor: str | None,
        test: bool | None = None,
        config_id: str | None = None,
    ) -> tuple[list[Run], str | None]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":pk": cluster_pk(cluster_id)}
        filters = []
        if test is not None:
            names["#test"] = "testRun"
            values[":test"] = test
            filters.append("#test = :test" if test else "(attribute_not_exists(#test) OR #test = :test)")
        if config_id is not None:
            names["#cfg"] = "configId"
            values[":cfg"] = config_id
            filters.append("#cfg = :cfg")
        if status is not None:
            names["#status"] = "status"
            values[":status"] = str(status)
            filters.append("#status = :status")
        for i, (key, value) in enumerate(sorted(metadata.items())):
            names["#md"] = "metadata"
            names[f"#k{i}"] = key
            values[f":v{i}"] = value
            filters.append(f"#md.#k{i} = :v{i}")
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": GSI1,
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": _serialize(values),
            "ScanIndexForward": False,
            "Limit": max(limit, 25) if filters else limit + 1,
        }
        if names:
            query["ExpressionAttributeNames"] = names
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        start = _decode_cursor(cursor, cluster_pk(cluster_id)) if cursor else None
        runs: list[Run] = []
        while True:
            if start:
                query["ExclusiveStartKey"] = start
            resp = self._db.query(**query)
            for raw in resp.get("Items", []):
                runs.append(run_from_item(deserialize(raw)))
                if len(runs) > limit:
                    break
            start = resp.get("LastEvaluatedKey")
            if len(runs) > limit or not start:
                break
        if len(runs) > limit:
            runs = runs[:limit]
            last = runs[-1]
            next_key = {
                "PK": run_pk(cluster_id, last.id),
                "SK": "RUN",
                "GSI1PK": cluster_pk(cluster_id),
                "GSI1SK": f"RUN#{last.created_at}#{last.id}",
            }
            return runs, _encode_cursor(next_key)
        return runs, None

    def transition(
        self,
        run: Run,
        target: RunStatus,
        *,
        acquire: Sequence[tuple[str, int]] = (),
        queue: bool = False,
        **fields: Any,
    ) -> Run:
        """Commit a status change if nobody changed the run since ``run`` was read: one conditional
        UpdateItem that also bumps ``seq`` and appends to the run's status history.

        Concurrency slots: ``acquire`` lists (counter, cap) pairs the run takes a slot of as it moves
        to ``running`` — one transaction with those counters, each conditioned on ``running < cap``
        (``SlotsFull(counter)`` when one is full). A run holding slots gives them back in the
        transaction that ends it, whoever ends it, exactly once (the run's ``seq`` condition).
        ``queue``: the run moves to ``pending`` to wait for a slot (it joins the Waiting index);
        leaving ``pending`` always leaves the index."""
        check_transition(run.status, target)
        if acquire and target != RunStatus.RUNNING:
            raise ValueError("slots are taken on the way to 'running' only")
        if queue and target != RunStatus.PENDING:
            raise ValueError("only a pending run waits for a slot")
        release = list(run.slots) if target in TERMINAL else []
        # Data lifecycle: a finished run expires (TTL) with everything it owns; a continued one does not.
        expiry_changes = target in TERMINAL or run.status in TERMINAL
        if expiry_changes:
            fields = {**fields, "expires_at": self._expiry() if target in TERMINAL else None}
        now = now_iso()
        if acquire:
            fields = {**fields, "slots": [counter for counter, _ in acquire]}
        elif release:
            fields = {**fields, "slots": None}
        entry = {"sequence": run.seq + 1, "status": str(target), "previousStatus": str(run.status), "at": now}
        sets: dict[str, Any] = {"status": str(target), "updatedAt": now, "seq": run.seq + 1}
        removes: list[str] = []
        for name, value in fields.items():
            attr = _ATTR.get(name, name)
            if value is None:
                removes.append(attr)
            else:
                sets[attr] = json.dumps(value, separators=(",", ":")) if name in JSON_FIELDS else value
        if queue:
            sets[WAIT_PK], sets[WAIT_SK] = WAITING, _wait_sk(run, now)
        elif run.status == RunStatus.PENDING:
            removes += [WAIT_PK, WAIT_SK]
        names = {f"#a{i}": attr for i, attr in enumerate(sets)}
        values = {f":a{i}": value for i, value in enumerate(sets.values())}
        expr = "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(sets)))
        expr += ", #h = list_append(if_not_exists(#h, :empty), :entry)"
        names.update({"#seq": "seq", "#cur": "status", "#h": "history"})
        values.update({":expected": run.seq, ":current": str(run.status), ":empty": [], ":entry": [entry]})
        if removes:
            rnames = {f"#r{i}": attr for i, attr in enumerate(removes)}
            names.update(rnames)
            expr += " REMOVE " + ", ".join(rnames)
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(run_pk(run.cluster_id, run.id), "RUN"),
            "UpdateExpression": expr,
            "ConditionExpression": "#seq = :expected AND #cur = :current",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _serialize(values),
        }
        moved = f"run '{run.id}' changed while moving it from '{run.status}' to '{target}'"
        if acquire or release:
            counters = [self._slot_update(c, +1, cap) for c, cap in acquire] + [
                self._slot_update(c, -1, None) for c in release
            ]
            items = [{"Update": update}, *({"Update": c} for c in counters)]
            for attempt in range(TRANSACTION_ATTEMPTS):
                try:
                    self._db.transact_write_items(TransactItems=items)
                    break
                except ClientError as exc:
                    if _code(exc) != "TransactionCanceledException":
                        raise
                    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                    if reasons and reasons[0] == "ConditionalCheckFailed":
                        raise ConcurrentUpdate(moved) from exc
                    full = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed" and i > 0]
                    if full:
                        raise SlotsFull(acquire[full[0] - 1][0]) from exc
                    # Another transaction held a counter at that moment (TransactionConflict): the
                    # counters are hot items, so try again shortly rather than fail the transition.
                    if attempt == TRANSACTION_ATTEMPTS - 1:
                        raise ConcurrentUpdate(moved) from exc
                    _pause(attempt)
            model_fields = {k: ([] if k == "slots" and v is None else v) for k, v in fields.items()}
            updated = run.model_copy(
                update={
                    **model_fields,
                    "status": target,
                    "seq": run.seq + 1,
                    "updated_at": now,
                    "history": [*run.history, entry],
                }
            )
        else:
            try:
                resp = self._db.update_item(**update, ReturnValues="ALL_NEW")
            except ClientError as exc:
                if _code(exc) == "ConditionalCheckFailedException":
                    raise ConcurrentUpdate(moved) from exc
                raise
            updated = run_from_item(deserialize(resp["Attributes"]))
        if expiry_changes:
            self._stamp_owned(updated, updated.expires_at)
        return updated

    def _slot_update(self, counter: str, delta: int, cap: int | None) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(f"SLOTS#{counter}", SLOTS_SK),
            "UpdateExpression": "SET #t = :t ADD #n :d",
            "ExpressionAttributeNames": {"#n": "running", "#t": "type"},
            "ExpressionAttributeValues": {":d": {"N": str(delta)}, ":t": {"S": "slots"}},
        }
        if cap is not None:
            update["ConditionExpression"] = "attribute_not_exists(#n) OR #n < :cap"
            update["ExpressionAttributeValues"][":cap"] = {"N": str(cap)}
        return update

    def slots_in_use(self, counter: str) -> int:
        """How many runs hold a slot of ``counter`` now (a consistent read)."""
        resp = self._db.get_item(TableName=self.table, Key=_key(f"SLOTS#{counter}", SLOTS_SK), ConsistentRead=True)
        return int(resp.get("Item", {}).get("running", {}).get("N", "0"))

    def waiting_runs(self, limit: int, after: str | None = None) -> tuple[list[tuple[str, str, str]], str | None]:
        """Runs waiting for a slot, oldest first: ([(queued key, cluster id, run id)], last key or None).
        The index is eventually consistent: a run just queued may show a moment later."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": WAITING_INDEX,
            "KeyConditionExpression": "#p = :p" + (" AND #s > :after" if after else ""),
            "ExpressionAttributeNames": {"#p": WAIT_PK, **({"#s": WAIT_SK} if after else {})},
            "ExpressionAttributeValues": {":p": {"S": WAITING}, **({":after": {"S": after}} if after else {})},
            "ScanIndexForward": True,
            "Limit": limit,
        }
        resp = self._db.query(**query)
        out: list[tuple[str, str, str]] = []
        for item in resp.get("Items", []):
            sk = item[WAIT_SK]["S"]
            _, cluster_id, run_id = sk.split("#", 2)
            out.append((sk, cluster_id, run_id))
        return out, (out[-1][0] if out and "LastEvaluatedKey" in resp else None)

    def _expiry(self) -> int:
        import time

        return int(time.time()) + self.retention_seconds

    def _stamp_owned(self, run: Run, expires_at: int | None) -> None:
        """Give every item the run owns (messages, calls, blobs) the run's expiry, or take it away."""
        pk = run_pk(run.cluster_id, run.id)
        for item in self._query_prefix(pk, None):
            sk = item["SK"]["S"]
            if sk == "RUN":
                continue
            update: dict[str, Any] = {
                "TableName": self.table,
                "Key": _key(pk, sk),
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeNames": {"#e": "expiresAt"},
            }
            if expires_at is None:
                update["UpdateExpression"] = "REMOVE #e"
            else:
                update["UpdateExpression"] = "SET #e = :e"
                update["ExpressionAttributeValues"] = {":e": {"N": str(expires_at)}}
            try:
                self._db.update_item(**update)
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":  # deleted meanwhile
                    raise

    def set_run_fields(self, run: Run, **fields: Any) -> Run | None:
        """Write fields that are not part of the status graph (feedback); None if the run is gone."""
        sets = {_ATTR.get(k, k): (_number(v, k) if isinstance(v, float) else v) for k, v in fields.items()}
        names = {f"#a{i}": attr for i, attr in enumerate(sets)}
        values = {f":a{i}": value for i, value in enumerate(sets.values())}
        try:
            resp = self._db.update_item(
                TableName=self.table,
                Key=_key(run_pk(run.cluster_id, run.id), "RUN"),
                UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(sets))),
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_serialize(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return run_from_item(deserialize(resp["Attributes"]))

    def delete_run(self, run: Run) -> int:
        """Delete the run and everything stored under it (messages, calls, blobs; their S3 objects).
        The run item goes last, under a condition on its ``seq``: a run that moved meanwhile stays."""
        pk = run_pk(run.cluster_id, run.id)
        items = [deserialize(i) for i in self._query_prefix(pk, None)]
        keys: list[str] = []
        for item in items:
            if item.get("blob"):
                keys.append(str(item["blob"]))
            if item.get("type") == "call":
                call = Call.model_validate_json(item["data"])
                if call.result_blob:
                    keys.append(call.result_blob)
            if item.get("type") == "blob":
                keys.append(str(item["s3Key"]))
        s3 = client("s3")
        for key in keys:
            s3.delete_object(Bucket=self.bucket, Key=key)
        for item in items:
            if item["SK"] != "RUN":
                self._db.delete_item(TableName=self.table, Key=_key(pk, item["SK"]))
        try:
            self._db.delete_item(
                TableName=self.table,
                Key=_key(pk, "RUN"),
                ConditionExpression="#seq = :seq",
                ExpressionAttributeNames={"#seq": "seq"},
                ExpressionAttributeValues=_serialize({":seq": run.seq}),
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(f"run '{run.id}' changed while it was being deleted") from exc
            raise
        return len(items)

    # -- machines and services (Inferable) ----------------------------------------------------
    def put_machine(self, cluster_id: str, machine: dict[str, Any]) -> None:
        item = {"PK": cluster_pk(cluster_id), "SK": f"MACHINE#{machine['id']}", "type": "machine", **machine}
        self._db.put_item(TableName=self.table, Item=_serialize({k: v for k, v in item.items() if v is not None}))

    def get_machine(self, cluster_id: str, machine_id: str) -> dict[str, Any] | None:
        resp = self._db.get_item(
            TableName=self.table, Key=_key(cluster_pk(cluster_id), f"MACHINE#{machine_id}"), ConsistentRead=True
        )
        return _strip(deserialize(resp["Item"])) if "Item" in resp else None

    def list_machines(self, cluster_id: str) -> list[dict[str, Any]]:
        return [_strip(deserialize(i)) for i in self._query_prefix(cluster_pk(cluster_id), "MACHINE#")]

    def put_service(self, cluster_id: str, service: dict[str, Any]) -> None:
        item = {"PK": cluster_pk(cluster_id), "SK": f"SERVICE#{service['name']}", "type": "service", **service}
        self._db.put_item(TableName=self.table, Item=_serialize({k: v for k, v in item.items() if v is not None}))

    def get_service(self, cluster_id: str, name: str) -> dict[str, Any] | None:
        resp = self._db.get_item(
            TableName=self.table, Key=_key(cluster_pk(cluster_id), f"SERVICE#{name}"), ConsistentRead=True
        )
        return _strip(deserialize(resp["Item"])) if "Item" in resp else None

    def list_services(self, cluster_id: str) -> list[dict[str, Any]]:
        return [_strip(deserialize(i)) for i in self._query_prefix(cluster_pk(cluster_id), "SERVICE#")]

    def touch(self, cluster_id: str, sk: str, at: str, **fields: Any) -> None:
        """Record that a machine or service was seen (``lastPingAt``, and e.g. its ip)."""
        sets = {"lastPingAt": at, **{k: v for k, v in fields.items() if v is not None}}
        names = {f"#a{i}": attr for i, attr in enumerate(sets)}
        values = {f":a{i}": value for i, value in enumerate(sets.values())}
        try:
            self._db.update_item(
                TableName=self.table,
                Key=_key(cluster_pk(cluster_id), sk),
                UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(sets))),
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_serialize(values),
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise

    # -- call blobs (Inferable) ---------------------------------------------------------------
    def put_call_blob(self, cluster_id: str, run_id: str, blob: dict[str, Any], data: bytes) -> None:
        key = f"runs/{cluster_id}/{run_id}/blobs/{blob['id']}"
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=str(blob["type"]))
        fields = {("mimeType" if k == "type" else k): v for k, v in blob.items()}
        item = {"PK": run_pk(cluster_id, run_id), "SK": f"BLOB#{blob['id']}", "type": "blob", "s3Key": key, **fields}
        self._db.put_item(TableName=self.table, Item=_serialize({k: v for k, v in item.items() if v is not None}))

    def call_blobs(self, cluster_id: str, run_id: str) -> list[dict[str, Any]]:
        return [_blob(deserialize(i)) for i in self._query_prefix(run_pk(cluster_id, run_id), "BLOB#")]

    def get_call_blob(self, cluster_id: str, run_id: str, blob_id: str) -> tuple[dict[str, Any], bytes] | None:
        resp = self._db.get_item(
            TableName=self.table, Key=_key(run_pk(cluster_id, run_id), f"BLOB#{blob_id}"), ConsistentRead=True
        )
        if "Item" not in resp:
            return None
        item = _blob(deserialize(resp["Item"]))
        body = client("s3").get_object(Bucket=self.bucket, Key=item.pop("s3Key"))["Body"].read()
        return item, bytes(body)

    # -- conversation -----------------------------------------------------------------------
    def messages(self, run: Run) -> list[Message]:
        out: list[Message] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :msg)",
            "ExpressionAttributeValues": _serialize({":pk": run_pk(run.cluster_id, run.id), ":msg": "MSG#"}),
            "ConsistentRead": True,
        }
        while True:
            resp = self._db.query(**kwargs)
            for raw in resp.get("Items", []):
                item = deserialize(raw)
                if "blob" in item:
                    body = client("s3").get_object(Bucket=self.bucket, Key=item["blob"])["Body"].read()
                    content = json.loads(body)
                else:
                    content = json.loads(item["content"])
                out.append(
                    Message(
                        index=item["index"],
                        role=item["role"],
                        kind=item["kind"],
                        content=content,
                        created_at=item["createdAt"],
                        id=item.get("id"),
                    )
                )
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def append_message(self, run: Run, message: Message, *, usage: tuple[int, int] | None = None) -> bool:
        try:
            self._db.put_item(**self._message_put(run, message))
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False  # a retried step stored it already (its usage was counted then)
            raise
        if usage is not None:
            # A separate write, not a transaction (half the write cost): a step that dies between the
            # two undercounts one turn's tokens, it never counts them twice.
            turn = 1 if message.role == "assistant" else 0
            self._db.update_item(
                TableName=self.table,
                Key=_key(run_pk(run.cluster_id, run.id), "RUN"),
                UpdateExpression="ADD #u.inputTokens :i, #u.outputTokens :o, turns :t",
                ExpressionAttributeNames={"#u": "usage"},
                ExpressionAttributeValues=_serialize({":i": usage[0], ":o": usage[1], ":t": turn}),
            )
        return True

    def _message_put(self, run: Run, message: Message) -> dict[str, Any]:
        body = json.dumps(message.content, separators=(",", ":"))
        item: dict[str, Any] = {
            "PK": run_pk(run.cluster_id, run.id),
            "SK": f"MSG#{message.index:06d}",
            "type": "message",
            "index": message.index,
            "role": message.role,
            "kind": message.kind,
            "createdAt": message.created_at,
        }
        if message.id:
            item["id"] = message.id
        if len(body) > self.inline_limit:
            key = f"runs/{run.cluster_id}/{run.id}/messages/{message.index:06d}.json"
            client("s3").put_object(Bucket=self.bucket, Key=key, Body=body.encode(), ContentType="application/json")
            item["blob"] = key
            item["bytes"] = len(body)
        else:
            item["content"] = body
        return {
            "TableName": self.table,
            "Item": _serialize(item),
            "ConditionExpression": "attribute_not_exists(SK)",
        }

    # -- functions --------------------------------------------------------------------------
    def put_function(self, cluster_id: str, record: FunctionRecord) -> None:
        item = {
            "PK": cluster_pk(cluster_id),
            "SK": f"FN#{record.name}",
            "type": "function",
            "data": record.model_dump_json(by_alias=True, context=REVEAL_SECRETS),  # the real header values
        }
        self._db.put_item(TableName=self.table, Item=_serialize(item))

    def get_function(self, cluster_id: str, name: str) -> FunctionRecord | None:
        resp = self._db.get_item(
            TableName=self.table, Key=_key(cluster_pk(cluster_id), f"FN#{name}"), ConsistentRead=True
        )
        if "Item" not in resp:
            return None
        return FunctionRecord.model_validate_json(resp["Item"]["data"]["S"])

    def list_functions(self, cluster_id: str) -> list[FunctionRecord]:
        items = self._query_prefix(cluster_pk(cluster_id), "FN#")
        return [FunctionRecord.model_validate_json(i["data"]["S"]) for i in items]

    def delete_function(self, cluster_id: str, name: str) -> bool:
        resp = self._db.delete_item(
            TableName=self.table, Key=_key(cluster_pk(cluster_id), f"FN#{name}"), ReturnValues="ALL_OLD"
        )
        return "Attributes" in resp

    # -- calls ------------------------------------------------------------------------------
    def put_call(self, call: Call) -> bool:
        """Store a new call; False if it exists already (a retried step)."""
        try:
            self._db.put_item(
                TableName=self.table,
                Item=_serialize(_call_item(call)),
                ConditionExpression="attribute_not_exists(SK)",
            )
            return True
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise

    def get_call(self, cluster_id: str, run_id: str, call_id: str) -> Call | None:
        resp = self._db.get_item(
            TableName=self.table, Key=_key(run_pk(cluster_id, run_id), f"CALL#{call_id}"), ConsistentRead=True
        )
        return _call_from_item(resp["Item"]) if "Item" in resp else None

    def calls(self, cluster_id: str, run_id: str) -> list[Call]:
        return [_call_from_item(i) for i in self._query_prefix(run_pk(cluster_id, run_id), "CALL#")]

    def update_call(self, call: Call, expected: set[str] | frozenset[str], **fields: Any) -> Call:
        """Write ``fields`` if the call's status is still one of ``expected``; ConcurrentUpdate if not."""
        updated = call.model_copy(update={**fields, "updated_at": now_iso()})
        condition_values = {f":s{i}": status for i, status in enumerate(sorted(expected))}
        item = _call_item(updated)
        try:
            # An update, not a put: attributes the call does not own (the run's expiresAt) stay.
            self._db.update_item(
                TableName=self.table,
                Key=_key(item["PK"], item["SK"]),
                UpdateExpression="SET #st = :new, #data = :data, #type = :type",
                ConditionExpression=f"#st IN ({', '.join(condition_values)})",
                ExpressionAttributeNames={"#st": "status", "#data": "data", "#type": "type"},
                ExpressionAttributeValues=_serialize(
                    {**condition_values, ":new": item["status"], ":data": item["data"], ":type": item["type"]}
                ),
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(f"call '{call.id}' is no longer {' or '.join(sorted(expected))}") from exc
            raise
        return updated

    def put_blob(self, key: str, body: bytes) -> str:
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return key

    def get_blob(self, key: str) -> bytes:
        return bytes(client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def _query_prefix(self, pk: str, prefix: str | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)" if prefix else "PK = :pk",
            "ExpressionAttributeValues": _serialize({":pk": pk, ":p": prefix} if prefix else {":pk": pk}),
            "ConsistentRead": True,
        }
        while True:
            resp = self._db.query(**kwargs)
            out.extend(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def _pause(attempt: int) -> None:
    import random
    import time

    time.sleep(random.uniform(0, 0.02 * 2**attempt))


def _blob(item: dict[str, Any]) -> dict[str, Any]:
    out = _strip(item)
    out["type"] = out.pop("mimeType", None)
    return out


def _strip(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("PK", "SK", "type")}


def _call_item(call: Call) -> dict[str, Any]:
    return {
        "PK": run_pk(call.cluster_id, call.run_id),
        "SK": f"CALL#{call.id}",
        "type": "call",
        "status": call.status,
        "data": call.model_dump_json(),
    }


def _call_from_item(item: dict[str, Any]) -> Call:
    return Call.model_validate_json(item["data"]["S"])


def _number(value: float, field: str) -> Any:
    """A float as a DynamoDB number: magnitudes 1e-130 to 1e126, 38 digits. A JSON float nearer to
    zero than DynamoDB can hold (e.g. 2.2e-311) is stored as 0; one beyond its range is refused."""
    from decimal import Decimal

    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidRequest("not a finite number", field=field)
    if abs(value) < 1e-130:
        return Decimal(0)
    if abs(value) >= 1e126:
        raise InvalidRequest("a number too large to store (DynamoDB numbers are below 1e126)", field=field)
    return Decimal(repr(value))


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def _serialize(data: dict[str, Any]) -> dict[str, Any]:
    return {k: serialize_value(v) for k, v in data.items()}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _encode_cursor(key: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, expected_partition: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(key, dict) or key.get("GSI1PK") != expected_partition:
            raise ValueError
        if set(key) != {"PK", "SK", "GSI1PK", "GSI1SK"} or not all(isinstance(v, str) for v in key.values()):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequest("'cursor' is not a cursor this list returned", field="cursor") from exc
    return {k: {"S": v} for k, v in key.items()}
