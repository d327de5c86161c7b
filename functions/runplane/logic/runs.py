"""Creating, reading and listing runs."""

from __future__ import annotations

import hashlib
import json

from .. import catalog
from ..config import Settings
from ..errors import Conflict, InvalidRequest, NotFound
from ..ids import ulid
from ..ports import Executions, RunStore
from ..schemas import Cluster, CreateClusterRequest, CreateRunRequest, Message, Run, function_name
from ..status import RunStatus
from ..timeutil import now_iso
from .naming import name_from_prompt

MAX_LIST_LIMIT = 100


def request_hash(body: CreateRunRequest) -> str:
    canonical = json.dumps(
        body.model_dump(mode="json", by_alias=True, exclude={"id"}), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def prompt_message(text: str, index: int = 0) -> Message:
    return Message(
        index=index, role="user", kind="human", content=[{"type": "text", "text": text}], created_at=now_iso()
    )


class RunService:
    def __init__(self, store: RunStore, executions: Executions, settings: Settings) -> None:
        self.store = store
        self.executions = executions
        self.settings = settings

    # -- clusters ---------------------------------------------------------------------------
    def create_cluster(self, body: CreateClusterRequest) -> tuple[Cluster, bool]:
        cluster_id = body.id or ulid().lower()
        cluster = Cluster(
            id=cluster_id, name=body.name or cluster_id, description=body.description, created_at=now_iso()
        )
        created = self.store.put_cluster(cluster)
        return (cluster if created else self.require_cluster(cluster_id)), created

    def require_cluster(self, cluster_id: str) -> Cluster:
        cluster = self.store.get_cluster(cluster_id)
        if cluster is None:
            raise NotFound(f"cluster '{cluster_id}' not found")
        return cluster

    # -- runs -------------------------------------------------------------------------------
    def create_run(self, cluster_id: str, body: CreateRunRequest) -> tuple[Run, bool]:
        """Store the run and start its agent loop. Same id + same body → the same run (created False)."""
        self.require_cluster(cluster_id)
        model = catalog.resolve(body.model, self.settings.default_model)
        provider = self.settings.model_provider
        now = now_iso()
        run = Run(
            id=body.id or ulid(),
            cluster_id=cluster_id,
            name=body.name or name_from_prompt(body.initial_prompt),
            status=RunStatus.PENDING,
            seq=1,
            created_at=now,
            updated_at=now,
            request_hash=request_hash(body),
            initial_prompt=body.initial_prompt,
            system_prompt=body.system_prompt,
            model=model,
            provider=provider,
            model_id=catalog.provider_model_id(model, provider, self.settings.bedrock_model_ids),
            result_schema=body.result_schema,
            attached_functions=(
                [function_name(f) for f in body.attached_functions] if body.attached_functions is not None else None
            ),
            on_status_change=(
                body.on_status_change.model_dump(mode="json", exclude_none=True) if body.on_status_change else None
            ),
            metadata=body.metadata or {},
            context=body.context,
            reasoning_traces=body.reasoning_traces,
            call_summarization=body.call_summarization,
            interactive=body.interactive,
            test=body.test.model_dump(mode="json", by_alias=True, exclude_none=True) if body.test else None,
            config=body.config.model_dump(mode="json", exclude_none=True) if body.config else None,
        )
        existing = self.store.create_run(run, prompt_message(body.initial_prompt))
        if existing is not None:
            if existing.request_hash != run.request_hash:
                raise Conflict(f"a run with id '{run.id}' already exists with a different body")
            run = existing
        if run.status == RunStatus.PENDING:
            self.executions.start(run)
        return run, existing is None

    def get_run(self, cluster_id: str, run_id: str) -> Run:
        run = self.store.get_run(cluster_id, run_id)
        if run is None:
            self.require_cluster(cluster_id)
            raise NotFound(f"run '{run_id}' not found in cluster '{cluster_id}'")
        return run

    def list_runs(
        self,
        cluster_id: str,
        *,
        status: RunStatus | None = None,
        metadata: dict[str, str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Run], str | None]:
        self.require_cluster(cluster_id)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRequest(f"'limit' must be between 1 and {MAX_LIST_LIMIT}", field="limit")
        return self.store.list_runs(
            cluster_id, status=status, metadata=metadata or {}, limit=limit, cursor=cursor
        )
