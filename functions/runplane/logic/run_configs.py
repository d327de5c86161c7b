"""Run configurations (Inferable's run-configs): named, versioned run templates that runs inherit.

Every write makes a new version (1, 2, …); every version is kept, so a run that records
``configVersion`` can always be traced to the exact prompt, tools and schemas it used. A run created
with ``configId`` (or the older ``config: {id, input}``) inherits the configuration's current
version; any field given on the run overrides the configuration's. ``input`` must conform to the
configuration's ``inputSchema`` and is appended to the initial prompt as Inferable does::

    <initialPrompt>

    <DATA>
    { ...input, pretty-printed JSON... }
    </DATA>
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from pydantic import ConfigDict, Field

from ..errors import ConcurrentUpdate, InvalidRequest, NotFound
from ..ids import ulid
from ..model import Model
from ..schemas import FUNCTION_NAME_PATTERN, CreateRunRequest, JsonSchema, Strict
from ..timeutil import now_iso

CONFIG_ID_PATTERN = r"^[a-zA-Z0-9_-]{6,128}$"
MAX_CONFIGS_LISTED = 1000


class RunConfigBody(Strict):
    """Body of createRunConfig (``name`` required) and upsertRunConfig (``name`` may be kept)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    initial_prompt: str | None = Field(default=None, alias="initialPrompt", max_length=200_000)
    system_prompt: str | None = Field(default=None, alias="systemPrompt", max_length=100_000)
    attached_functions: list[str] | None = Field(default=None, alias="attachedFunctions", max_length=128)
    result_schema: JsonSchema | None = Field(default=None, alias="resultSchema")
    input_schema: JsonSchema | None = Field(default=None, alias="inputSchema")
    public: bool = False
    model: str | None = None
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Fields(Model):
    version: int
    name: str
    description: str | None = None
    initial_prompt: str | None = Field(default=None, alias="initialPrompt")
    system_prompt: str | None = Field(default=None, alias="systemPrompt")
    attached_functions: list[str] = Field(default_factory=list, alias="attachedFunctions")
    result_schema: dict[str, Any] | None = Field(default=None, alias="resultSchema")
    input_schema: dict[str, Any] | None = Field(default=None, alias="inputSchema")
    public: bool = False
    model: str | None = None
    model_config = ConfigDict(populate_by_name=True)


class RunConfigVersion(_Fields):
    """One version of a configuration, exactly as it was written (``createdAt``: when)."""

    created_at: str = Field(alias="createdAt")


class RunConfig(_Fields):
    """A configuration: its identity and its current version."""

    id: str
    cluster_id: str = Field(alias="clusterId")
    created_at: str = Field(alias="createdAt")  # when version 1 was written
    updated_at: str = Field(alias="updatedAt")  # when the current version was written
    versions: list[RunConfigVersion] | None = None

    def current(self) -> RunConfigVersion:
        data = self.model_dump(include=set(_Fields.model_fields))
        return RunConfigVersion(**data, created_at=self.updated_at)

    def view(self, *, with_versions: bool = False) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude={"versions"})
        if with_versions:
            data["versions"] = [v.model_dump(mode="json", by_alias=True) for v in self.versions or []]
        return data


class RunConfigStore(Protocol):
    def get_config(self, cluster_id: str, config_id: str) -> RunConfig | None: ...

    def list_configs(self, cluster_id: str) -> list[RunConfig]: ...

    def config_versions(self, cluster_id: str, config_id: str) -> list[RunConfigVersion]: ...

    def config_version(self, cluster_id: str, config_id: str, version: int) -> RunConfigVersion | None: ...

    def put_config_version(self, config: RunConfig) -> None:
        """Store ``config`` as version ``config.version``: the version item (refused with
        ConcurrentUpdate if that version exists) and the current item."""

    def delete_config(self, cluster_id: str, config_id: str) -> bool: ...


def merge_input(prompt: str, data: dict[str, Any] | None) -> str:
    """Inferable's merge of structured input into the initial prompt."""
    if not data:
        return prompt
    return f"{prompt}\n\n<DATA>\n{json.dumps(data, indent=2)}\n</DATA>"


class RunConfigService:
    def __init__(self, store: RunConfigStore) -> None:
        self.store = store

    # -- CRUD ------------------------------------------------------------------------------
    def create(self, cluster_id: str, body: RunConfigBody) -> RunConfig:
        if body.name is None:
            raise InvalidRequest("'name' is required", field="name")
        return self._write(cluster_id, ulid().lower(), body, existing=None)

    def upsert(self, cluster_id: str, config_id: str, body: RunConfigBody) -> RunConfig:
        """Replace the configuration's fields (a new version); create it if it does not exist."""
        if not re.match(CONFIG_ID_PATTERN, config_id):
            raise InvalidRequest(f"must match {CONFIG_ID_PATTERN}", field="configId")
        for _ in range(5):
            existing = self.store.get_config(cluster_id, config_id)
            if existing is None and body.name is None:
                raise InvalidRequest("'name' is required to create a run configuration", field="name")
            try:
                return self._write(cluster_id, config_id, body, existing=existing)
            except ConcurrentUpdate:
                continue
        raise ConcurrentUpdate(f"run configuration '{config_id}' kept changing; try again")

    def _write(self, cluster_id: str, config_id: str, body: RunConfigBody, existing: RunConfig | None) -> RunConfig:
        for name in body.attached_functions or []:
            if not re.match(FUNCTION_NAME_PATTERN, name.replace(".", "_")):
                raise InvalidRequest(f"'{name}' is not a function name", field="attachedFunctions")
        if body.model is not None:
            from .. import catalog

            catalog.resolve(body.model, "claude-sonnet-5-5")  # an unknown model → 400 listing the names
        now = now_iso()
        config = RunConfig(
            id=config_id,
            cluster_id=cluster_id,
            version=(existing.version + 1) if existing else 1,
            name=body.name or (existing.name if existing else ""),
            description=body.description,
            initial_prompt=body.initial_prompt or None,
            system_prompt=body.system_prompt or None,
            attached_functions=body.attached_functions or [],
            result_schema=body.result_schema,
            input_schema=body.input_schema,
            public=body.public,
            model=body.model,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        self.store.put_config_version(config)
        return config

    def get(self, cluster_id: str, config_id: str, *, with_versions: bool = False) -> RunConfig:
        config = self.store.get_config(cluster_id, config_id)
        if config is None:
            raise NotFound(f"run configuration '{config_id}' not found")
        if with_versions:
            versions = self.store.config_versions(cluster_id, config_id)
            config.versions = [v for v in versions if v.version < config.version]
            config.versions.sort(key=lambda v: v.version, reverse=True)
        return config

    def delete(self, cluster_id: str, config_id: str) -> None:
        if not self.store.delete_config(cluster_id, config_id):
            raise NotFound(f"run configuration '{config_id}' not found")

    def list(self, cluster_id: str) -> list[RunConfig]:
        configs = self.store.list_configs(cluster_id)
        return sorted(configs, key=lambda c: (c.name.lower(), c.id))[:MAX_CONFIGS_LISTED]

    def by_name(self, cluster_id: str, name: str) -> RunConfig | None:
        """An ACP agent: the configuration with this name (or this id); the newest if names repeat."""
        direct = self.store.get_config(cluster_id, name) if re.match(CONFIG_ID_PATTERN, name) else None
        if direct is not None:
            return direct
        named = [c for c in self.store.list_configs(cluster_id) if c.name == name]
        return max(named, key=lambda c: c.updated_at) if named else None

    def search(self, cluster_id: str, text: str) -> list[tuple[RunConfig, float]]:
        """Configurations ranked by word overlap with ``text`` (name counts double), best first."""
        words = _words(text)
        if not words:
            return []
        scored = []
        for config in self.store.list_configs(cluster_id):
            name = _words(config.name)
            body = _words(" ".join(filter(None, [config.description, config.initial_prompt, config.system_prompt])))
            hits = sum(2 if w in name else 1 if w in body else 0 for w in words)
            if hits:
                scored.append((config, round(min(1.0, hits / (2 * len(words))), 4)))
        return sorted(scored, key=lambda pair: (-pair[1], pair[0].name))

    # -- runs ------------------------------------------------------------------------------
    def apply(self, cluster_id: str, body: CreateRunRequest) -> tuple[CreateRunRequest, RunConfig | None]:
        """The run's request with its configuration applied (the run's own fields win), and the
        configuration used. Bad input → InvalidRequest naming ``input.<path>``; unknown → NotFound."""
        config_id = body.config_id or (body.config.id if body.config else None)
        data = body.input if body.input is not None else (body.config.input if body.config else None)
        if config_id is None:
            if data is not None:
                raise InvalidRequest("'input' needs a run configuration ('configId')", field="input")
            return body, None
        config = self.store.get_config(cluster_id, config_id)
        if config is None:
            raise NotFound(f"run configuration '{config_id}' not found")
        if config.input_schema is not None:
            if data is None:
                raise InvalidRequest(
                    f"run configuration '{config_id}' has an inputSchema: 'input' is required", field="input"
                )
            from .result import validation_errors

            problems = validation_errors(config.input_schema, data)
            if problems:
                where, _, problem = problems[0].partition(": ")
                field = "input" if where == "(root)" else "input." + where.replace("/", ".")
                raise InvalidRequest(problem, field=field)
        prompt = body.initial_prompt or config.initial_prompt
        if not prompt:
            raise InvalidRequest(
                f"'initialPrompt' is required: run configuration '{config_id}' has none", field="initialPrompt"
            )
        merged = body.model_copy(
            update={
                "initial_prompt": merge_input(prompt, data),
                "system_prompt": body.system_prompt if body.system_prompt is not None else config.system_prompt,
                "attached_functions": (
                    body.attached_functions
                    if body.attached_functions is not None
                    else (list(config.attached_functions) or None)
                ),
                "result_schema": body.result_schema if body.result_schema is not None else config.result_schema,
                "model": body.model if body.model is not None else config.model,
                "config_id": config.id,
            }
        )
        return merged, config


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 1}
