"""The Python client SDK: start runs, wait for them, act on them (httpx and pydantic only).

    from pydantic import BaseModel
    from runplane import Runplane

    class Ticket(BaseModel):
        category: str

    client = Runplane()  # RUNPLANE_API_URL / RUNPLANE_API_KEY, or a profile file, or arguments
    run = client.runs.create(initial_prompt="Classify: my card was charged twice", result_schema=Ticket)
    run = run.poll(timeout=120)
    run.result.category  # a Ticket

``AsyncRunplane`` is the same with ``await``. Errors are typed (:class:`BadRequest` 400,
:class:`Unauthorized` 401, :class:`Forbidden` 403, :class:`NotFound` 404, :class:`Conflict` 409,
:class:`RateLimited` 429, :class:`ServerError` 5xx); 429 and 5xx answers are retried with
exponential backoff, honouring ``retry-after``. Every POST the client sends is idempotent (runs and
messages carry a client-made id), so a retried request never makes a second run or message.

Configuration, first match wins: arguments; ``RUNPLANE_API_URL``, ``RUNPLANE_API_KEY``,
``RUNPLANE_CLUSTER``; the profile (``RUNPLANE_PROFILE``, default ``default``) of the profile file
(``RUNPLANE_CONFIG``, default ``~/.config/runplane/config.toml``)::

    [default]
    api_url = "http://127.0.0.1:8000"
    api_key = "sk_..."
    cluster = "default"
"""

from __future__ import annotations

import email.utils
import os
import random
import time
import tomllib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from pydantic import BaseModel

from .ids import ulid

__all__ = [
    "FINAL_STATUSES",
    "ApiError",
    "AsyncRun",
    "AsyncRunplane",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "Run",
    "RunTimeout",
    "Runplane",
    "RunplaneClientError",
    "ServerError",
    "Settings",
    "Unauthorized",
    "resolve_settings",
]

FINAL_STATUSES = frozenset({"done", "failed", "cancelled"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_CONFIG = Path("~/.config/runplane/config.toml")
USER_AGENT = "runplane-python/0.1.0"

M = TypeVar("M", bound=BaseModel)


# -- errors -----------------------------------------------------------------------------------------
class RunplaneClientError(Exception):
    """Anything the client raises."""


class ApiError(RunplaneClientError):
    """The API answered with an error status."""

    status: int = 0

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None, body: Any = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.errors = errors or []
        self.body = body


class BadRequest(ApiError):
    """400: the request names a field and the problem (see ``errors``)."""


class Unauthorized(ApiError):
    """401: no key, or an unknown or revoked key."""


class Forbidden(ApiError):
    """403: a live key of the wrong kind for this route."""


class NotFound(ApiError):
    """404: no such thing (or it belongs to another cluster)."""


class Conflict(ApiError):
    """409: the thing is not in a state that allows this (e.g. a call already decided)."""


class RateLimited(ApiError):
    """429 after every retry."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx after every retry."""


class RunTimeout(RunplaneClientError, TimeoutError):
    """``poll`` gave up before the run reached a status it waited for."""

    def __init__(self, run: Any, timeout: float):
        super().__init__(f"run {run.id} is still {run.status} after {timeout:g}s")
        self.run = run


_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def error_for(response: httpx.Response) -> ApiError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    message = body.get("message") if isinstance(body, dict) else None
    errors = body.get("errors") if isinstance(body, dict) else None
    text = str(message or (body if isinstance(body, str) and body else response.reason_phrase or "error"))
    status = response.status_code
    cls = _ERRORS.get(status) or (ServerError if status >= 500 else ApiError)
    if cls is RateLimited:
        return RateLimited(status, text, errors, body, retry_after=retry_after(response))
    return cls(status, text, errors, body)


def retry_after(response: httpx.Response) -> float | None:
    """``retry-after`` in seconds (delta-seconds or an HTTP date), if the answer has one."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# -- settings ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    api_url: str
    api_key: str | None
    cluster: str


def resolve_settings(
    api_url: str | None = None,
    api_key: str | None = None,
    cluster: str | None = None,
    profile: str | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    """Arguments, then the environment, then the profile file (see the module's docstring)."""
    path = Path(config_file or os.environ.get("RUNPLANE_CONFIG") or DEFAULT_CONFIG).expanduser()
    name = profile or os.environ.get("RUNPLANE_PROFILE") or "default"
    section: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise RunplaneClientError(f"{path}: not valid TOML ({exc})") from None
        section = data.get(name) or (data.get("profiles") or {}).get(name) or {}
    elif profile:
        raise RunplaneClientError(f"profile {profile!r}: no profile file at {path}")
    if profile and not section:
        raise RunplaneClientError(f"profile {profile!r} is not in {path}")
    url = api_url or os.environ.get("RUNPLANE_API_URL") or section.get("api_url")
    if not url:
        raise RunplaneClientError(
            "no API URL: pass api_url, set RUNPLANE_API_URL, or add api_url to a profile in " + str(path)
        )
    return Settings(
        api_url=str(url).rstrip("/"),
        api_key=api_key or os.environ.get("RUNPLANE_API_KEY") or section.get("api_key"),
        cluster=cluster or os.environ.get("RUNPLANE_CLUSTER") or section.get("cluster") or "default",
    )


# -- request building, shared by both clients -------------------------------------------------------
def _schema_of(result_schema: type[BaseModel] | dict[str, Any] | None) -> tuple[dict[str, Any] | None, Any]:
    if result_schema is None:
        return None, None
    if isinstance(result_schema, type) and issubclass(result_schema, BaseModel):
        return result_schema.model_json_schema(), result_schema
    if isinstance(result_schema, dict):
        return result_schema, None
    raise TypeError("result_schema: a pydantic model class or a JSON Schema dict")


def _create_body(initial_prompt: str, result_schema: dict[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
    aliases = {
        "system_prompt": "systemPrompt",
        "attached_functions": "attachedFunctions",
        "on_status_change": "onStatusChange",
        "reasoning_traces": "reasoningTraces",
        "call_summarization": "callSummarization",
    }
    body: dict[str, Any] = {"id": fields.pop("id", None) or ulid(), "initialPrompt": initial_prompt}
    if result_schema is not None:
        body["resultSchema"] = result_schema
    for key, value in fields.items():
        if value is not None:
            body[aliases.get(key, key)] = value
    return body


def _list_params(status: str | None, metadata: dict[str, str] | None, test: bool | None, limit: int) -> dict[str, str]:
    params = {"limit": str(limit)}
    if status:
        params["status"] = status
    if test is not None:
        params["test"] = "true" if test else "false"
    for key, value in (metadata or {}).items():
        params[f"metadata.{key}"] = value
    return params


def _next_cursor(response: httpx.Response) -> str | None:
    """The cursor of the ``Link: <…>; rel="next"`` header (its path may carry a stage prefix)."""
    link = response.links.get("next")
    if not link:
        return None
    return dict(parse_qsl(urlsplit(link["url"]).query)).get("cursor")


def _delay(attempt: int, response: httpx.Response | None, backoff: float, max_backoff: float) -> float:
    hinted = retry_after(response) if response is not None else None
    if hinted is not None:
        return min(hinted, max_backoff)
    return min(max_backoff, backoff * (2**attempt)) * (0.5 + random.random() / 2)


async def _asleep(seconds: float) -> None:
    import asyncio  # only the async client needs it (a cold import of asyncio is not free)

    await asyncio.sleep(seconds)


def _p(value: str) -> str:
    return quote(value, safe="")


class _RunData:
    """What both run classes share: the API's run fields as attributes."""

    def __init__(self, data: dict[str, Any], result_model: type[BaseModel] | None = None):
        self.raw: dict[str, Any] = data
        self.result_model = result_model

    id = property(lambda self: self.raw["id"])
    status = property(lambda self: self.raw.get("status"))
    name = property(lambda self: self.raw.get("name"))
    model = property(lambda self: self.raw.get("model"))
    metadata = property(lambda self: self.raw.get("metadata") or {})
    summary = property(lambda self: self.raw.get("summary"))
    failure_reason = property(lambda self: self.raw.get("failureReason"))
    created_at = property(lambda self: self.raw.get("createdAt"))
    usage = property(lambda self: self.raw.get("usage") or {})
    pending_approvals = property(lambda self: list(self.raw.get("pendingApprovals") or []))

    @property
    def result(self) -> Any:
        """The result, parsed into the result model when the run was created with one."""
        value = self.raw.get("result")
        if self.result_model is not None and value is not None and self.status == "done":
            return self.result_model.model_validate(value)
        return value

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def _pending_call(self, call_id: str | None) -> str:
        if call_id:
            return call_id
        pending = self.pending_approvals
        if len(pending) != 1:
            raise RunplaneClientError(
                f"run {self.id} has {len(pending)} pending approvals; name the call "
                f"({', '.join(p['callId'] for p in pending) or 'none'})"
            )
        return str(pending[0]["callId"])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.status}>"


# -- sync ---------------------------------------------------------------------------------------------
class Runplane:
    """The synchronous client. ``client.runs``, ``client.functions``, ``client.keys``."""

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        cluster: str | None = None,
        profile: str | None = None,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.settings = resolve_settings(api_url, api_key, cluster, profile)
        self.cluster = self.settings.cluster
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        headers = {"user-agent": USER_AGENT}
        if self.settings.api_key:
            headers["authorization"] = self.settings.api_key
        self._http = httpx.Client(base_url=self.settings.api_url, headers=headers, timeout=timeout, transport=transport)
        self.runs = Runs(self)
        self.functions = Functions(self)
        self.keys = Keys(self)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API request, retried on 429/5xx and connection errors; an error status raises."""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt >= self.max_retries:
                    raise
                time.sleep(_delay(attempt, None, self.backoff, self.max_backoff))
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                time.sleep(_delay(attempt, response, self.backoff, self.max_backoff))
                attempt += 1
                continue
            if response.is_error:
                raise error_for(response)
            return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def cluster_path(self, suffix: str = "") -> str:
        return f"/clusters/{_p(self.cluster)}{suffix}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Runplane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Run(_RunData):
    """A run, as last fetched (``refresh()`` fetches it again)."""

    def __init__(self, client: Runplane, data: dict[str, Any], result_model: type[BaseModel] | None = None):
        super().__init__(data, result_model)
        self._client = client

    def _path(self, suffix: str = "") -> str:
        return self._client.cluster_path(f"/runs/{_p(self.id)}{suffix}")

    def refresh(self) -> Run:
        self.raw = self._client.json("GET", self._path())
        return self

    def poll(self, timeout: float = 300.0, interval: float = 1.0, until: Iterable[str] = FINAL_STATUSES) -> Run:
        """Wait until the run's status is one of ``until`` (default: done, failed, cancelled)."""
        wanted = set(until)
        deadline = time.monotonic() + timeout
        while True:
            self.refresh()
            if self.status in wanted:
                return self
            if time.monotonic() >= deadline:
                raise RunTimeout(self, timeout)
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    def approve(self, call_id: str | None = None, input: dict[str, Any] | None = None) -> dict[str, Any]:
        """Approve a pending call (the only one when ``call_id`` is omitted), optionally with edited input."""
        body: dict[str, Any] = {"approved": True}
        if input is not None:
            body["input"] = input
        return self._client.json("POST", self._path(f"/calls/{_p(self._pending_call(call_id))}/approval"), json=body)

    def deny(self, call_id: str | None = None, reason: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"approved": False}
        if reason is not None:
            body["reason"] = reason
        return self._client.json("POST", self._path(f"/calls/{_p(self._pending_call(call_id))}/approval"), json=body)

    def message(self, text: str) -> Run:
        """A follow-up message: the run goes on (``running``)."""
        self._client.request("POST", self._path("/messages"), json={"id": ulid(), "message": text})
        return self.refresh()

    def cancel(self, reason: str | None = None) -> Run:
        self.raw = self._client.json("POST", self._path("/cancel"), json={"reason": reason} if reason else {})
        return self

    def timeline(self) -> list[dict[str, Any]]:
        """runplane's entry log of the run, every page: status changes, messages, calls, approvals."""
        entries: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            page = self._client.json("GET", self._path("/log"), params=params)
            entries += page["entries"]
            cursor = page.get("nextCursor")
            if not cursor:
                return entries


class Runs:
    def __init__(self, client: Runplane):
        self._client = client

    def create(
        self,
        initial_prompt: str,
        *,
        result_schema: type[M] | dict[str, Any] | None = None,
        attached_functions: list[str | dict[str, str]] | None = None,
        metadata: dict[str, str] | None = None,
        context: dict[str, Any] | None = None,
        name: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        on_status_change: dict[str, Any] | None = None,
        reasoning_traces: bool | None = None,
        call_summarization: bool | None = None,
        interactive: bool | None = None,
        test: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        id: str | None = None,
    ) -> Run:
        """Start a run. ``result_schema`` may be a pydantic model: ``poll()`` then parses the result into it."""
        schema, result_model = _schema_of(result_schema)
        fields = {k: v for k, v in locals().items() if k not in ("self", "initial_prompt", "result_schema", "schema")}
        fields.pop("result_model")
        body = _create_body(initial_prompt, schema, fields)
        created = self._client.json("POST", self._client.cluster_path("/runs"), json=body)
        return self.get(created["id"], result_model=result_model)

    def get(self, run_id: str, *, result_model: type[BaseModel] | None = None) -> Run:
        return Run(self._client, {"id": run_id}, result_model).refresh()

    def list(
        self,
        *,
        status: str | None = None,
        metadata: dict[str, str] | None = None,
        test: bool | None = None,
        page_size: int = 50,
    ) -> Iterator[Run]:
        """Every run (newest first) matching the filters, page after page. Items hold the list's fields
        (id, name, status, metadata, model, createdAt, …); ``refresh()`` fetches the whole run."""
        params = _list_params(status, metadata, test, page_size)
        while True:
            response = self._client.request("GET", self._client.cluster_path("/runs"), params=params)
            for item in response.json():
                yield Run(self._client, item)
            cursor = _next_cursor(response)
            if not cursor:
                return
            params = {**params, "cursor": cursor}


class Functions:
    def __init__(self, client: Runplane):
        self._client = client

    def list(self) -> list[dict[str, Any]]:
        """The cluster's functions and the builtins."""
        return list(self._client.json("GET", self._client.cluster_path("/functions"))["functions"])

    def put(self, name: str, definition: dict[str, Any]) -> dict[str, Any]:
        return dict(self._client.json("PUT", self._client.cluster_path(f"/functions/{_p(name)}"), json=definition))

    def services(self) -> list[dict[str, Any]]:
        return list(self._client.json("GET", self._client.cluster_path("/services")))

    def machines(self) -> list[dict[str, Any]]:
        return list(self._client.json("GET", self._client.cluster_path("/machines")))


class Keys:
    def __init__(self, client: Runplane):
        self._client = client

    def create(self, name: str, kind: str = "cluster") -> dict[str, str]:
        """A new key: ``{"id", "key"}``; the secret ``key`` is shown this once."""
        body = {"name": name, "kind": kind}
        return dict(self._client.json("POST", self._client.cluster_path("/api-keys"), json=body))

    def list(self) -> list[dict[str, Any]]:
        return list(self._client.json("GET", self._client.cluster_path("/api-keys")))

    def revoke(self, key_id: str) -> None:
        self._client.request("DELETE", self._client.cluster_path(f"/api-keys/{_p(key_id)}"))


# -- async --------------------------------------------------------------------------------------------
class AsyncRunplane:
    """The asynchronous twin of :class:`Runplane` (same resources, ``await`` each call)."""

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        cluster: str | None = None,
        profile: str | None = None,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.settings = resolve_settings(api_url, api_key, cluster, profile)
        self.cluster = self.settings.cluster
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        headers = {"user-agent": USER_AGENT}
        if self.settings.api_key:
            headers["authorization"] = self.settings.api_key
        self._http = httpx.AsyncClient(
            base_url=self.settings.api_url, headers=headers, timeout=timeout, transport=transport
        )
        self.runs = AsyncRuns(self)
        self.functions = AsyncFunctions(self)
        self.keys = AsyncKeys(self)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt >= self.max_retries:
                    raise
                await _asleep(_delay(attempt, None, self.backoff, self.max_backoff))
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                await _asleep(_delay(attempt, response, self.backoff, self.max_backoff))
                attempt += 1
                continue
            if response.is_error:
                raise error_for(response)
            return response

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def cluster_path(self, suffix: str = "") -> str:
        return f"/clusters/{_p(self.cluster)}{suffix}"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncRunplane:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncRun(_RunData):
    def __init__(self, client: AsyncRunplane, data: dict[str, Any], result_model: type[BaseModel] | None = None):
        super().__init__(data, result_model)
        self._client = client

    def _path(self, suffix: str = "") -> str:
        return self._client.cluster_path(f"/runs/{_p(self.id)}{suffix}")

    async def refresh(self) -> AsyncRun:
        self.raw = await self._client.json("GET", self._path())
        return self

    async def poll(
        self, timeout: float = 300.0, interval: float = 1.0, until: Iterable[str] = FINAL_STATUSES
    ) -> AsyncRun:
        wanted = set(until)
        deadline = time.monotonic() + timeout
        while True:
            await self.refresh()
            if self.status in wanted:
                return self
            if time.monotonic() >= deadline:
                raise RunTimeout(self, timeout)
            await _asleep(min(interval, max(0.0, deadline - time.monotonic())))

    async def approve(self, call_id: str | None = None, input: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"approved": True}
        if input is not None:
            body["input"] = input
        path = self._path(f"/calls/{_p(self._pending_call(call_id))}/approval")
        return await self._client.json("POST", path, json=body)

    async def deny(self, call_id: str | None = None, reason: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"approved": False}
        if reason is not None:
            body["reason"] = reason
        path = self._path(f"/calls/{_p(self._pending_call(call_id))}/approval")
        return await self._client.json("POST", path, json=body)

    async def message(self, text: str) -> AsyncRun:
        await self._client.request("POST", self._path("/messages"), json={"id": ulid(), "message": text})
        return await self.refresh()

    async def cancel(self, reason: str | None = None) -> AsyncRun:
        self.raw = await self._client.json("POST", self._path("/cancel"), json={"reason": reason} if reason else {})
        return self

    async def timeline(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            page = await self._client.json("GET", self._path("/log"), params=params)
            entries += page["entries"]
            cursor = page.get("nextCursor")
            if not cursor:
                return entries


class AsyncRuns:
    def __init__(self, client: AsyncRunplane):
        self._client = client

    async def create(
        self,
        initial_prompt: str,
        *,
        result_schema: type[M] | dict[str, Any] | None = None,
        attached_functions: list[str | dict[str, str]] | None = None,
        metadata: dict[str, str] | None = None,
        context: dict[str, Any] | None = None,
        name: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        on_status_change: dict[str, Any] | None = None,
        reasoning_traces: bool | None = None,
        call_summarization: bool | None = None,
        interactive: bool | None = None,
        test: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        id: str | None = None,
    ) -> AsyncRun:
        schema, result_model = _schema_of(result_schema)
        fields = {k: v for k, v in locals().items() if k not in ("self", "initial_prompt", "result_schema", "schema")}
        fields.pop("result_model")
        body = _create_body(initial_prompt, schema, fields)
        created = await self._client.json("POST", self._client.cluster_path("/runs"), json=body)
        return await self.get(created["id"], result_model=result_model)

    async def get(self, run_id: str, *, result_model: type[BaseModel] | None = None) -> AsyncRun:
        return await AsyncRun(self._client, {"id": run_id}, result_model).refresh()

    async def list(
        self,
        *,
        status: str | None = None,
        metadata: dict[str, str] | None = None,
        test: bool | None = None,
        page_size: int = 50,
    ) -> AsyncIterator[AsyncRun]:
        params = _list_params(status, metadata, test, page_size)
        while True:
            response = await self._client.request("GET", self._client.cluster_path("/runs"), params=params)
            for item in response.json():
                yield AsyncRun(self._client, item)
            cursor = _next_cursor(response)
            if not cursor:
                return
            params = {**params, "cursor": cursor}


class AsyncFunctions:
    def __init__(self, client: AsyncRunplane):
        self._client = client

    async def list(self) -> list[dict[str, Any]]:
        return list((await self._client.json("GET", self._client.cluster_path("/functions")))["functions"])

    async def put(self, name: str, definition: dict[str, Any]) -> dict[str, Any]:
        path = self._client.cluster_path(f"/functions/{_p(name)}")
        return dict(await self._client.json("PUT", path, json=definition))

    async def services(self) -> list[dict[str, Any]]:
        return list(await self._client.json("GET", self._client.cluster_path("/services")))

    async def machines(self) -> list[dict[str, Any]]:
        return list(await self._client.json("GET", self._client.cluster_path("/machines")))


class AsyncKeys:
    def __init__(self, client: AsyncRunplane):
        self._client = client

    async def create(self, name: str, kind: str = "cluster") -> dict[str, str]:
        body = {"name": name, "kind": kind}
        return dict(await self._client.json("POST", self._client.cluster_path("/api-keys"), json=body))

    async def list(self) -> list[dict[str, Any]]:
        return list(await self._client.json("GET", self._client.cluster_path("/api-keys")))

    async def revoke(self, key_id: str) -> None:
        await self._client.request("DELETE", self._client.cluster_path(f"/api-keys/{_p(key_id)}"))
