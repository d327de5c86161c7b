"""The worker SDK: run functions anywhere, as tools for runplane runs.

    from pydantic import BaseModel
    from runplane import Worker

    worker = Worker("https://<api>", cluster_id="default", api_key="...")

    class Lookup(BaseModel):
        order_id: str

    @worker.function(description="Look up an order")
    def lookup_order(args: Lookup) -> dict:
        return {"status": "shipped", "id": args.order_id}

    worker.register()   # PUT /clusters/{clusterId}/functions/{name} with a worker target
    worker.run()        # poll for jobs until stopped (Ctrl-C), run them concurrently

The worker polls the API for jobs of its functions, heartbeats long jobs and reports results or
errors. On AWS a job travels through an SQS queue with a Step Functions task token; the API keeps
the token, the worker never sees it.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
import typing
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel

log = logging.getLogger("runplane.worker")


@dataclass
class WorkerFunction:
    name: str
    func: Callable[..., Any]
    description: str
    input_schema: dict[str, Any]
    model: type[BaseModel] | None = None
    requires_approval: bool = False
    timeout_seconds: int = 60
    extra: dict[str, Any] = field(default_factory=dict)

    def call(self, job: dict[str, Any]) -> Any:
        args: Any = self.model.model_validate(job["input"]) if self.model else job["input"]
        params = inspect.signature(self.func).parameters
        if len(params) >= 2:
            return self.func(args, job)
        return self.func(args)


class Worker:
    def __init__(
        self,
        base_url: str,
        cluster_id: str,
        *,
        api_key: str | None = None,
        worker_id: str | None = None,
        max_concurrency: int = 4,
        poll_wait_seconds: int = 10,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.cluster_id = cluster_id
        self.worker_id = worker_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.max_concurrency = max_concurrency
        self.poll_wait_seconds = poll_wait_seconds
        api_key = api_key or os.environ.get("RUNPLANE_API_KEY")
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = http_client or httpx.Client(base_url=base_url, headers=headers, timeout=poll_wait_seconds + 20)
        self.functions: dict[str, WorkerFunction] = {}
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="runplane-job")
        self._slots = threading.Semaphore(max_concurrency)
        self._thread: threading.Thread | None = None

    # -- declaring functions ------------------------------------------------------------------
    def function(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        input_schema: dict[str, Any] | type[BaseModel] | None = None,
        requires_approval: bool = False,
        timeout_seconds: int = 60,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register ``func`` as a tool. The input schema comes from ``input_schema`` (a dict or a
        pydantic model) or from the pydantic model annotating the function's first parameter."""

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            model: type[BaseModel] | None = None
            schema = input_schema
            if schema is None:
                first = next(iter(inspect.signature(func).parameters), None)
                try:  # resolves string annotations (``from __future__ import annotations``) too
                    hint = typing.get_type_hints(func).get(first) if first else None
                except NameError:
                    hint = None
                if isinstance(hint, type) and issubclass(hint, BaseModel):
                    schema = hint
            if isinstance(schema, type) and issubclass(schema, BaseModel):
                model, schema = schema, schema.model_json_schema()
            self.functions[name or func.__name__] = WorkerFunction(
                name=name or func.__name__,
                func=func,
                description=description or (inspect.getdoc(func) or "").strip(),
                input_schema=schema or {"type": "object", "properties": {}},
                model=model,
                requires_approval=requires_approval,
                timeout_seconds=timeout_seconds,
            )
            return func

        return decorate

    def register(self) -> None:
        """Create or update the functions in the cluster, as ``worker`` targets."""
        for fn in self.functions.values():
            resp = self.http.put(
                f"/clusters/{self.cluster_id}/functions/{fn.name}",
                json={
                    "description": fn.description,
                    "inputSchema": fn.input_schema,
                    "requiresApproval": fn.requires_approval,
                    "timeoutSeconds": fn.timeout_seconds,
                    "target": {"type": "worker"},
                },
            )
            _raise_for(resp)

    # -- running --------------------------------------------------------------------------------
    def run_once(self, wait_seconds: int | None = None) -> int:
        """Poll once and start the jobs received (up to the free concurrency); returns how many."""
        free = self._free_slots()
        if free == 0:
            self._stop.wait(0.05)
            return 0
        resp = self.http.post(
            f"/clusters/{self.cluster_id}/jobs/poll",
            json={
                "functions": sorted(self.functions),
                "worker": self.worker_id,
                "waitSeconds": self.poll_wait_seconds if wait_seconds is None else wait_seconds,
                "maxJobs": free,
            },
        )
        _raise_for(resp)
        jobs = resp.json()["jobs"]
        for job in jobs:
            self._slots.acquire()
            self._pool.submit(self._execute, job)
        return len(jobs)

    def run(self) -> None:
        """Poll until :meth:`stop` (or Ctrl-C)."""
        try:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except httpx.HTTPError as exc:
                    log.warning("polling failed: %s", exc)
                    self._stop.wait(2)
        except KeyboardInterrupt:
            pass
        finally:
            self._pool.shutdown(wait=True)

    def start(self) -> Worker:
        """Run in a background thread."""
        self._thread = threading.Thread(target=self.run, name="runplane-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _free_slots(self) -> int:
        free = 0
        while free < self.max_concurrency and self._slots.acquire(blocking=False):
            free += 1
        for _ in range(free):
            self._slots.release()
        return free

    def _execute(self, job: dict[str, Any]) -> None:
        base = f"/clusters/{self.cluster_id}/runs/{job['runId']}/calls/{job['callId']}"
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(base, job, done), daemon=True)
        beat.start()
        try:
            fn = self.functions[job["function"]]
            try:
                result = fn.call(job)
                body: dict[str, Any] = {"worker": self.worker_id, "result": _jsonable(result)}
            except Exception as exc:  # the model sees the error as the tool's result
                log.exception("function %s failed", job["function"])
                body = {"worker": self.worker_id, "error": f"{type(exc).__name__}: {exc}"}
            done.set()
            resp = self.http.post(f"{base}/result", json=body)
            if resp.status_code == 409:
                log.warning("result for %s refused: %s", job["callId"], resp.text)
            else:
                _raise_for(resp)
        finally:
            done.set()
            self._slots.release()

    def _heartbeat(self, base: str, job: dict[str, Any], done: threading.Event) -> None:
        interval = max(0.5, job.get("heartbeatSeconds", 30) / 3)
        while not done.wait(interval):
            try:
                self.http.post(f"{base}/heartbeat", json={"worker": self.worker_id})
            except httpx.HTTPError as exc:
                log.warning("heartbeat failed: %s", exc)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


class WorkerError(Exception):
    pass


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code >= 400:
        raise WorkerError(f"{resp.request.method} {resp.request.url.path} → {resp.status_code}: {resp.text}")
