"""DynamoDB's atomicity guarantees, given to the embedded emulator (moto 5.2.5).

What AWS guarantees, and what moto does without this module:

- Every single-item write (PutItem, UpdateItem, DeleteItem, with or without a condition) is atomic
  and isolated: its condition is checked against, and its change applied to, the item as it is at
  that instant. moto serves requests on many threads and mutates plain dicts without a lock: a
  condition and the write it guards can interleave with another thread's write to the same item
  (two creates with one id both "succeed"), and a query iterating a partition while a put adds to
  it fails with ``dictionary changed size during iteration`` (a 500 that botocore retries).
- TransactWriteItems is all-or-nothing over *its own items*: when one condition fails, nothing of
  the transaction is written, and no other item of the table is touched. moto deep-copies every
  table the transaction names before it starts (cost grows with the table: seconds and gigabytes
  at a few thousand items) and, on failure, puts the copies back: every write another thread made
  to those tables meanwhile is silently undone.

What this module does: one lock serializes moto's DynamoDB and DynamoDB Streams request handling
(each request sees and leaves a consistent table: per-item atomicity, and more), and
TransactWriteItems is replaced by one that checks every condition first, writes only when all
hold, and, if a write fails half-way, puts back only the items it had written (and drops the stream
records it had added). ``changes()`` counts committed writes, so the persistence snapshot knows
when the table changed.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from typing import Any

LOCK = threading.RLock()
_WRITES = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
        "CreateTable",
        "DeleteTable",
        "UpdateTable",
    }
)
_changes = 0
_MAX_ITERATORS = 1000
_installed = False


def changes() -> int:
    """How many write requests the emulator's DynamoDB has handled (a snapshot's change marker)."""
    return _changes


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def serialized(original: Any, counts_writes: bool) -> Any:
        def call_action(self: Any) -> Any:
            global _changes
            with LOCK:
                if counts_writes and self._get_action() in _WRITES:
                    _changes += 1
                return original(self)

        return call_action

    DynamoHandler.call_action = serialized(DynamoHandler.call_action, True)  # type: ignore[method-assign]
    DynamoDBStreamsHandler.call_action = serialized(  # type: ignore[method-assign]
        DynamoDBStreamsHandler.call_action, False
    )
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    get_records = DynamoDBStreamsBackend.get_records

    def bounded_get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        # moto keeps every shard iterator it ever handed out (each GetRecords makes one): keep the
        # newest ones only (AWS expires them after 15 minutes).
        result = get_records(self, iterator_arn, limit)
        excess = len(self.shard_iterators) - _MAX_ITERATORS
        if excess > 0:
            for stale in list(self.shard_iterators)[:excess]:
                del self.shard_iterators[stale]
        return dict(result)

    DynamoDBStreamsBackend.get_records = bounded_get_records  # type: ignore[method-assign]
    _index_queries()
    _plain_json_responses()
    _item_size_once()
    _direct_calls()
    _installed = True


def _direct_calls() -> None:
    """This process's DynamoDB calls go from the SDK to moto's DynamoDB handler directly.

    moto's in-process hook (its botocore stubber, on ``before-send``) takes the request after the
    SDK has built and signed an HTTP request (user agent, SigV4, retry bookkeeping), rebuilds a
    WSGI request from it, matches its URL against every service's patterns and parses the JSON body
    as a query string too: about two thirds of a GetItem's 3 ms, none of it meaning anything in one
    process. Here the SDK's ``before-call`` hands the request it serialized (validated parameters as
    DynamoDB JSON) to moto's parser and handler, and the SDK's own parser reads the answer, errors
    and their modeled fields included. What is skipped is transport only: botocore does not retry
    (nothing here throttles or drops a connection), and signing is not checked (moto does not
    check it either). It takes the calls moto's own hook would take (to DynamoDB's AWS endpoints);
    clients of other processes reach the same handler over the emulator's port."""
    from botocore.awsrequest import AWSResponse
    from botocore.endpoint import Endpoint, convert_to_response_dict
    from botocore.handlers import BUILTIN_HANDLERS
    from botocore.parsers import create_parser
    from moto.core.botocore_stubber import MockRawResponse
    from moto.core.exceptions import HTTPException
    from moto.core.models import botocore_stubber
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.utils import get_equivalent_url_in_aws_domain, get_service_model
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodb.urls import url_bases

    response_parser = create_parser("json")
    dynamodb_urls = [re.compile(pattern) for pattern in url_bases]

    def intercepted(url: str) -> bool:
        """The calls moto's own hook would take: to DynamoDB's AWS endpoints. A client pointed
        elsewhere (another process's emulator, say) still goes there over HTTP."""
        parsed, _ = get_equivalent_url_in_aws_domain(url)
        return any(p.match(f"{parsed.scheme}://{parsed.netloc}{parsed.path}") for p in dynamodb_urls)

    service_model = get_service_model("dynamodb")
    request_parsers: dict[str, Any] = {}

    def call(model: Any, params: dict[str, Any], request_signer: Any = None, context: Any = None, **_: Any) -> Any:
        if not botocore_stubber.enabled or not intercepted(str(params.get("url", ""))):
            return None
        name = model.name
        parser = request_parsers.get(name)
        if parser is None:
            parser = request_parsers[name] = PROTOCOL_PARSERS["json"](service_model.operation_model(name))
        body = params.get("body") or b"{}"
        text = body.decode("utf-8") if isinstance(body, bytes) else str(body)
        handler = DynamoHandler()
        handler.headers = {"X-Amz-Target": f"DynamoDB_20120810.{name}", "Content-Type": "application/x-amz-json-1.0"}
        handler.querystring = {}
        handler.data = {}
        handler.uri = handler.path = handler.raw_path = "/"
        handler.uri_match = {}
        handler.method = "POST"
        handler.raw_body = body
        handler.region = (context or {}).get("client_region") or "us-east-1"
        handler.partition = "aws"
        handler.response_headers = {"server": "amazon.com"}
        credentials = getattr(request_signer, "_credentials", None)
        if credentials is not None and getattr(credentials, "access_key", None):
            handler.headers["Authorization"] = f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/"
        handler.access_key = handler.get_access_key()
        handler.current_account = handler.get_current_account()
        try:
            handler.params = parser.parse(
                {"method": "POST", "values": {}, "headers": {}, "body": text, "url_path": "/", "url_params": {}}
            )
            status, headers, answer = handler.call_action()
        except HTTPException as exc:
            status, headers, answer = exc.code, dict(exc.get_headers() or []), exc.get_body()
        http = AWSResponse(params.get("url", "/"), int(status), headers, MockRawResponse(answer))
        response = convert_to_response_dict(http, model)
        parsed = response_parser.parse(response, model.output_shape)
        if http.status_code >= 300:
            Endpoint._add_modeled_error_fields(None, response, parsed, model, response_parser)  # type: ignore[arg-type]
        return http, parsed

    BUILTIN_HANDLERS.append(("before-call.dynamodb", call))


def _item_size_once() -> None:
    """moto checks DynamoDB's 400 KB item limit in ``LimitedSizeDict.__setitem__`` by adding up the
    sizes of every attribute already set, so building an item of n attributes costs n² size walks
    (nested maps and lists included): the run item's put was most of a create's time. A new item's
    size is added up once; later single-attribute writes (UpdateItem) keep moto's check."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict, bytesize

    def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in values.items()) > 405000:  # moto's limit
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, values)

    Item.__init__ = item_init  # type: ignore[method-assign]


# Data-plane operations: their results are plain DynamoDB JSON (moto builds them as dicts).
_PLAIN = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


def _plain_json_responses() -> None:
    """moto serializes every response through a generic, shape-walking serializer (a fifth of a
    DynamoDB call's time, under the lock above). A data-plane operation's result is already the
    response body (DynamoDB's JSON protocol: the result dict as JSON), so it is written as such.
    ``RUNPLANE_CHECK_DYNAMODB_JSON=1`` compares every such body with moto's own (tests)."""
    import json
    import os

    from moto.dynamodb.responses import DynamoHandler

    serialized = DynamoHandler.serialized
    check = os.environ.get("RUNPLANE_CHECK_DYNAMODB_JSON") == "1"

    def plain(self: Any, action_result: Any) -> Any:
        result = getattr(action_result, "result", None)
        if not isinstance(result, dict) or self._get_action() not in _PLAIN:
            return serialized(self, action_result)
        members = _output_members(self._get_action())
        headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
        try:
            body = json.dumps({k: v for k, v in result.items() if k in members}, separators=(",", ":"))
        except TypeError:  # binary attributes (bytes): moto's serializer base64-encodes them
            return serialized(self, action_result)
        if check:
            _, _, theirs = serialized(self, action_result)
            a, b = json.loads(theirs), json.loads(body)
            if a != b:
                diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
                raise AssertionError(f"{self._get_action()}: moto's != plain: {str(diff)[-600:]}")
        return 200, headers, body

    @functools.cache
    def _output_members(action: str) -> frozenset[str]:  # moto adds fields the API does not have
        from moto.core.utils import get_service_model

        output = get_service_model("dynamodb").operation_model(action).output_shape
        return frozenset(output.members) if output is not None else frozenset()

    DynamoHandler.serialized = plain  # type: ignore[method-assign]

    from moto.core import responses, utils

    names = utils.method_names_from_class
    cached: dict[type, list[str]] = {}

    def method_names(clazz: Any) -> list[str]:  # inspect.getmembers of the handler class per request
        found = cached.get(clazz)
        if found is None:
            found = cached[clazz] = names(clazz)
        return found

    responses.method_names_from_class = method_names  # type: ignore[attr-defined]


def _index_queries() -> None:
    """A Query reads one partition (a base-table query) or the items of one index, as DynamoDB's
    does. moto's ``Table.query`` starts from ``all_items()``: every item of the table, sorted by
    primary key (Python-level comparisons), for every query, under the lock above. At a few
    thousand items that was tens of milliseconds a query and most of local mode's time under load.
    Here a base-table query starts from its partition only, and an index query from the table's
    items unsorted (moto sorts the index's results by the index's keys afterwards)."""
    from moto.dynamodb.models.table import Table

    query = Table.query

    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if self.range_key_attr is None:
            return query(self, hash_key, *args, **kwargs)
        if index_name is None:
            partition = self.items.get(hash_key, {})
            self.all_items = lambda: list(partition.values())  # only while this query runs (LOCK)
        else:
            self.all_items = lambda: [item for part in self.items.values() for item in part.values()]
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = partition_query  # type: ignore[method-assign]


def _table_key(table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
    return hash_value, range_value


def _restore(table: Any, hash_value: Any, range_value: Any, previous: Any) -> None:
    if range_value is None:
        if previous is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = previous
        return
    if previous is None:
        table.items[hash_value].pop(range_value, None)
        if not table.items[hash_value]:
            table.items.pop(hash_value, None)
    else:
        table.items[hash_value][range_value] = previous


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems with DynamoDB's semantics: conditions first, then the writes; a
    failure touches nothing outside the transaction's own items. Runs under ``LOCK``."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    reasons: list[tuple[Any, Any, Any]] = []
    plan: list[tuple[str, dict[str, Any], Any, dict[str, Any]]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        table = self.get_table(table_name)
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        marker = (str(table_name), str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                reasons.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, old))
                continue
        reasons.append((None, None, None))
        plan.append((op_type, op, table, key))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)

    undo: list[tuple[Any, Any, Any, Any]] = []
    stream_marks: dict[int, tuple[Any, int]] = {}
    failed = 0
    try:
        for index, (op_type, op, table, key) in enumerate(plan):
            if op_type == "ConditionCheck":
                continue
            failed = index
            if table.stream_shard is not None:
                stream_marks.setdefault(id(table), (table, len(table.stream_shard.items)))
            hash_value, range_value = _table_key(table, key)
            undo.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(
                    table.name, op["Item"], expression_attribute_names=names, expression_attribute_values=values
                )
            elif op_type == "Delete":
                self.delete_item(table.name, key, expression_attribute_names=names, expression_attribute_values=values)
            else:
                self.update_item(
                    table.name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
    except Exception as exc:
        for table, hash_value, range_value, previous in reversed(undo):
            _restore(table, hash_value, range_value, previous)
        for table, length in stream_marks.values():
            del table.stream_shard.items[length:]
        if isinstance(exc, MultipleTransactionsException | MockValidationException):
            raise
        raise TransactionCanceledException(
            [(type(exc).__name__, str(exc), None) if i == failed else (None, None, None) for i in range(len(plan))]
        ) from exc
