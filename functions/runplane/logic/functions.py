"""The per-cluster function registry and the standard library."""

from __future__ import annotations

import json
from typing import Any

from ..config import Settings
from ..errors import Conflict, InvalidRequest, NotFound, TooLarge
from ..ports import RunStore
from ..timeutil import now_iso
from ..tools.builtins import BUILTINS, builtin_functions
from ..tools.models import (
    DEFAULT_INPUT_SCHEMA,
    REVEAL_SECRETS,
    SECRET_MASK,
    FunctionDefinition,
    FunctionRecord,
    lambda_function_name,
)
from ..tools.netguard import UnsafeUrl, check_url, policy_for

# A function is one DynamoDB item (capped at 400 KB); keep room for the key and attribute names.
MAX_FUNCTION_BYTES = 256 * 1024


def _check_size(record: FunctionRecord) -> None:
    total = len(record.model_dump_json(by_alias=True, context=REVEAL_SECRETS).encode())
    if total <= MAX_FUNCTION_BYTES:
        return
    fields = record.model_dump(mode="json", by_alias=True, context=REVEAL_SECRETS)
    sizes = {k: len(json.dumps(v, separators=(",", ":")).encode()) for k, v in fields.items()}
    largest = max(sizes, key=lambda k: sizes[k])
    raise TooLarge(
        f"the function definition is {total} bytes, over the {MAX_FUNCTION_BYTES}-byte limit "
        f"(largest field: '{largest}', {sizes[largest]} bytes)",
        field=largest,
    )


def _keep_stored_secrets(headers: dict[str, str], existing: FunctionRecord | None) -> dict[str, str]:
    """A header sent back as the mask (from a GET) keeps its stored value."""
    stored = (existing.target.get("headers") or {}) if existing is not None else {}
    out = {}
    for key, value in headers.items():
        if value == SECRET_MASK:
            if key not in stored:
                raise InvalidRequest(
                    f"'{SECRET_MASK}' stands for a stored value, and this function has none for '{key}': "
                    "send the real value",
                    field=f"target.headers.{key}",
                )
            value = stored[key]
        out[key] = value
    return out


class FunctionService:
    def __init__(self, store: RunStore, settings: Settings, job_queues: Any = None) -> None:
        self.store = store
        self.settings = settings
        self.job_queues = job_queues  # worker functions' queues: removed with their function

    def put(self, cluster_id: str, name: str, body: FunctionDefinition) -> tuple[FunctionRecord, bool]:
        target = body.target.model_dump(mode="json", exclude_none=True)
        input_schema = body.input_schema
        if body.target.type == "builtin":
            if name not in BUILTINS:
                raise InvalidRequest(
                    f"'{name}' is not a runplane builtin (builtins: {', '.join(sorted(BUILTINS))})", field="target"
                )
            input_schema = input_schema or BUILTINS[name][0].input_schema
        elif name in BUILTINS:
            raise InvalidRequest(
                f"'{name}' is the name of a runplane builtin; use target type 'builtin' or another name", field="name"
            )
        if body.target.type == "lambda":
            prefix = self.settings.tool_lambda_prefix
            if not lambda_function_name(target["arn"]).startswith(prefix):
                raise InvalidRequest(
                    f"this deployment may only invoke Lambda functions whose name starts with '{prefix}'",
                    field="target.arn",
                )
        if body.target.type == "http":
            try:
                check_url(target["url"], policy_for(self.settings), resolve=False)
            except UnsafeUrl as exc:
                raise InvalidRequest(str(exc), field="target.url") from None
        existing = self.store.get_function(cluster_id, name)
        if existing is not None and existing.kind == "service":
            raise Conflict(
                f"'{name}' is a function of Inferable service '{existing.service}'; register it with POST /machines"
            )
        if target.get("headers"):
            target["headers"] = _keep_stored_secrets(target["headers"], existing)
        now = now_iso()
        record = FunctionRecord(
            name=name,
            description=body.description,
            input_schema=input_schema or dict(DEFAULT_INPUT_SCHEMA),
            requires_approval=body.requires_approval,
            timeout_seconds=body.timeout_seconds,
            approval_timeout_seconds=body.approval_timeout_seconds,
            target=target,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        _check_size(record)
        self.store.put_function(cluster_id, record)
        return record, existing is None

    def get(self, cluster_id: str, name: str) -> FunctionRecord:
        record = self.store.get_function(cluster_id, name)
        if record is None:
            if name in BUILTINS:
                return BUILTINS[name][0]
            raise NotFound(f"function '{name}' not found in cluster '{cluster_id}'")
        return record

    def list(self, cluster_id: str) -> list[FunctionRecord]:
        """The cluster's functions plus the builtins it has not overridden, by name."""
        own = {f.name: f for f in self.store.list_functions(cluster_id)}
        for builtin in builtin_functions():
            own.setdefault(builtin.name, builtin)
        return [own[name] for name in sorted(own)]

    def service_functions(self, cluster_id: str, service: str | None = None) -> list[FunctionRecord]:
        """The functions Inferable services registered (of one service, or of all)."""
        return [
            f
            for f in self.store.list_functions(cluster_id)
            if f.kind == "service" and (service is None or f.service == service)
        ]

    def delete(self, cluster_id: str, name: str) -> None:
        record = self.store.get_function(cluster_id, name)
        if not self.store.delete_function(cluster_id, name):
            raise NotFound(f"function '{name}' not found in cluster '{cluster_id}'")
        if record is not None and record.kind == "worker" and self.job_queues is not None:
            self.job_queues.remove(cluster_id, name)

    def resolve_attached(
        self, cluster_id: str, names: list[str] | None, strict: bool = True, *, private: bool = False
    ) -> list[FunctionRecord]:
        """The functions a run may call: all (absent) or exactly the named ones. An unknown name is a
        400 when the run is created (``strict``) and is skipped later (the function was deleted).
        Private service functions are never offered to a model (``private``: include them)."""
        available = {f.name: f for f in self.list(cluster_id) if private or not f.private}
        if names is None:
            return list(available.values())
        unknown = [n for n in names if n not in available]
        if unknown and not strict:
            return [available[n] for n in dict.fromkeys(names) if n in available]
        if unknown:
            raise InvalidRequest(
                f"unknown function(s): {', '.join(unknown)}; this cluster has: {', '.join(sorted(available))}",
                field="attachedFunctions",
            )
        return [available[n] for n in dict.fromkeys(names)]
