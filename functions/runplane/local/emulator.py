"""The embedded AWS emulator: moto's server in this process, holding runplane's resources.

Glue lives here and only here:
- moto wants Docker to run a Lambda; we run the function's handler in-process instead, with a
  Lambda-like context, and report errors the way Lambda does (``errorType`` → ASL error names);
- moto does not deliver a DynamoDB stream to Lambda the way AWS does; a poller thread reads the
  stream and invokes the stream function with batches, honouring ``batchItemFailures``;
- tests may shrink the state machine's real sleeps (Retry back-off) with ``sleep_scale``.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import importlib.util
import io
import json
import os
import socket
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .. import resources
from ..adapters import clients
from ..config import reset_settings_cache
from ..handlers import wiring
from . import dynamodb, priority
from .heap import Collector
from .persist import DataDir
from .priority import PRIORITY
from .queues import QueuePoller, notify_queue_names, provision_notify_queues

REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = "runplane"
RESTARTED = "local mode restarted"


@dataclass
class LocalNames:
    table: str = f"{PREFIX}-runs"
    limits_table: str = f"{PREFIX}-limits"
    bucket: str = f"{PREFIX}-blobs"
    bus: str = PREFIX
    state_machine: str = f"{PREFIX}-agent-loop"
    role: str = f"{PREFIX}-local"

    def function(self, key: str) -> str:
        return f"{PREFIX}-{key.replace('_', '-')}"


class _Context:
    """The parts of Lambda's context object that handlers (and Powertools) read."""

    def __init__(self, name: str, memory: int, timeout: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class ExecutionEnvironments:
    """Lambda's isolation for in-process handlers: an execution environment handles one event at a
    time, and concurrent invocations get more environments (Lambda scales out; it never queues an
    event behind another). Handlers keep per-event state on module globals (Powertools' resolver
    holds the current event), so each environment is its own instance of the handler module: the
    first is the imported module itself, each further one a fresh execution of the same source.
    Idle environments are reused, most recent first, as Lambda reuses warm ones. A long poll holds
    one environment and blocks nobody else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._init_lock = threading.Lock()
        self._idle: dict[str, list[Callable[[Any, Any], Any]]] = {}
        self._created: dict[str, int] = {}

    def acquire(self, handler_path: str) -> Callable[[Any, Any], Any]:
        with self._lock:
            idle = self._idle.setdefault(handler_path, [])
            if idle:
                return idle.pop()
            index = self._created.get(handler_path, 0)
            self._created[handler_path] = index + 1
        # One environment is set up at a time: on AWS each has its own process, here they share
        # process-wide state (the logging module: two Powertools Loggers of one service configuring
        # it at once left one without a formatter, and its invocation failed).
        with self._init_lock:
            return self._load(handler_path, index)

    def release(self, handler_path: str, func: Callable[[Any, Any], Any]) -> None:
        with self._lock:
            self._idle.setdefault(handler_path, []).append(func)

    def warm(self, handler_path: str, count: int) -> None:
        """Set up environments until ``count`` exist (Lambda's init phase ahead of the first events)."""
        made = [self.acquire(handler_path) for _ in range(max(0, count - self.count(handler_path)))]
        for func in made:
            self.release(handler_path, func)

    def count(self, handler_path: str) -> int:
        with self._lock:
            return self._created.get(handler_path, 0)

    @staticmethod
    def _load(handler_path: str, index: int) -> Callable[[Any, Any], Any]:
        module_name, func_name = handler_path.rsplit(".", 1)
        if index == 0:
            module = importlib.import_module(module_name)
        else:
            spec = importlib.util.find_spec(module_name)
            if spec is None or spec.loader is None:
                raise ImportError(f"no module named {module_name!r}")
            module = importlib.util.module_from_spec(spec)  # not put in sys.modules: a private instance
            spec.loader.exec_module(module)
        func: Callable[[Any, Any], Any] = getattr(module, func_name)
        return func


ENVIRONMENTS = ExecutionEnvironments()


def _isolate_powertools_event() -> None:
    """Powertools' event handler keeps the event being resolved on its ``BaseRouter`` *class*
    (``BaseRouter.current_event = ...`` in ``resolve``), shared by every resolver in the process.
    On Lambda a process handles one event at a time, so that is safe there; here concurrent
    invocations run on threads of one process (each in its own execution environment), so the
    event and context are made per thread. Reading and writing them is unchanged for Powertools."""
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    if getattr(BaseRouter, "_runplane_per_thread", False):
        return
    local = threading.local()

    def slot(name: str) -> property:
        def get(_: Any) -> Any:
            try:
                return getattr(local, name)
            except AttributeError:
                raise AttributeError(name) from None

        def set_(_: Any, value: Any) -> None:
            setattr(local, name, value)

        return property(get, set_)

    # Instances (``app.current_event``) find the property in the class; the class itself
    # (``BaseRouter.current_event = ...``) goes through the same property on its metaclass.
    for name in ("current_event", "lambda_context"):
        type.__setattr__(BaseRouter, name, slot(name))
    meta = type(BaseRouter)
    per_thread = type("PerThreadRouterMeta", (meta,), {n: slot(n) for n in ("current_event", "lambda_context")})
    BaseRouter.__class__ = per_thread
    BaseRouter._runplane_per_thread = True  # type: ignore[attr-defined]


def _isolate_powertools_log_keys() -> None:
    """Powertools' Logger keeps the keys of every JSON log line (``correlation_id``, ``run_id``, the
    Lambda context's request id, ``cold_start``) in a dict on its formatter, one per service name in a
    process: on Lambda one event at a time uses it; here invocations on other threads would write one
    run's id into another's log lines. Each thread gets its own keys, starting from the formatter's
    constructor keys as Powertools' ``clear_state`` does. The handlers keep calling ``append_keys`` and
    ``set_correlation_id`` as on Lambda."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    if getattr(LambdaPowertoolsFormatter, "_runplane_per_thread", False):
        return
    local = threading.local()

    def fresh(formatter: Any) -> dict[str, Any]:
        keys: dict[str, Any] = dict.fromkeys(formatter.log_record_order)
        keys.update(**formatter.keys_combined)
        return keys

    def get(self: Any) -> dict[str, Any]:
        per_thread: dict[int, dict[str, Any]] = local.__dict__.setdefault("formats", {})
        keys = per_thread.get(id(self))
        if keys is None:
            keys = per_thread[id(self)] = fresh(self)
        return keys

    def set_(self: Any, value: dict[str, Any]) -> None:
        local.__dict__.setdefault("formats", {})[id(self)] = value

    LambdaPowertoolsFormatter.log_format = property(get, set_)  # type: ignore[assignment]
    LambdaPowertoolsFormatter._runplane_per_thread = True  # type: ignore[attr-defined]


def _isolate_powertools_metrics() -> None:
    """Powertools' Metrics keeps the metrics being gathered in one set per process (class-level
    dicts shared by every ``Metrics``), flushed by each handler's ``log_metrics``. Local mode turns
    metrics off (``POWERTOOLS_METRICS_DISABLED``: ``runplane.metrics`` then gathers nothing); with them
    on, concurrent invocations on other threads would flush each other's metrics. Each thread gets its
    own set, as each Lambda execution environment has its own process."""
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    if getattr(AmazonCloudWatchEMFProvider, "_runplane_per_thread", False):
        return
    local = threading.local()
    fresh: dict[str, Callable[[Any], Any]] = {
        "metric_set": lambda _: {},
        "dimension_set": lambda p: {k: str(v) for k, v in p.default_dimensions.items()},
        "metadata_set": lambda _: {},
        "dimension_sets": lambda _: [],
        "timestamp": lambda _: None,
    }

    def slot(name: str) -> property:
        def get(self: Any) -> Any:
            values: dict[int, Any] = local.__dict__.setdefault(name, {})
            if id(self) not in values:
                values[id(self)] = fresh[name](self)
            return values[id(self)]

        def set_(self: Any, value: Any) -> None:
            local.__dict__.setdefault(name, {})[id(self)] = value

        return property(get, set_)

    for name in fresh:
        setattr(AmazonCloudWatchEMFProvider, name, slot(name))
    AmazonCloudWatchEMFProvider._runplane_per_thread = True  # type: ignore[attr-defined]


def invoke_in_process(handler_path: str, event: Any, name: str, memory: int, timeout: int) -> tuple[str, bool]:
    """Run a handler as Lambda would: (payload, errored). Errors become Lambda's error payload."""
    func = ENVIRONMENTS.acquire(handler_path)
    try:
        result = func(event, _Context(name, memory, timeout))
        return json.dumps(result), False
    except Exception as exc:
        payload = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": "",
            "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
        }
        return json.dumps(payload), True
    finally:
        ENVIRONMENTS.release(handler_path, func)


def invoke_function(function_name: str, event: Any) -> tuple[Any, bool]:
    """Invoke a local-mode function the way AWS's own services do (API Gateway's integration, an
    event source mapping): straight into an execution environment, not through the Lambda API over
    HTTP. The event and the answer cross as JSON, as they do on AWS. Returns (payload, errored)."""
    spec = _function_specs()[function_name]
    body, errored = invoke_in_process(
        spec.handler, json.loads(json.dumps(event, default=str)), function_name, spec.memory_mb, spec.timeout_seconds
    )
    return json.loads(body or "null"), errored


@functools.lru_cache(maxsize=1)
def _function_specs() -> dict[str, resources.FunctionSpec]:
    names = LocalNames()
    return {names.function(spec.key): spec for spec in resources.FUNCTIONS.values()}


def _patch_moto(sleep_scale: float) -> None:
    from moto.awslambda.models import LambdaFunction
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    from moto import backends

    # moto's server lists its own package directory (listdir + isdir of ~150 folders) on every
    # request to find the backend for a host: a fifth of its time per request. The list is fixed.
    if not hasattr(backends, "_runplane_modules"):
        backends._runplane_modules = tuple(backends.list_of_moto_modules())  # type: ignore[attr-defined]
        backends.list_of_moto_modules = lambda: backends._runplane_modules  # type: ignore[attr-defined]
    # moto's server answers HTTP/1.0, so every SDK call opened (and the server threaded) a new TCP
    # connection: about 9 ms a call under load. HTTP/1.1 keeps the SDK's pooled connections open.
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    MotoRequestHandler.protocol_version = "HTTP/1.1"
    dynamodb.install()  # DynamoDB's per-item atomicity and all-or-nothing-per-item transactions
    _isolate_powertools_event()  # one event per execution environment, also for Powertools' class state
    _isolate_powertools_log_keys()  # one run's id in its own log lines only
    _isolate_powertools_metrics()  # each invocation flushes its own metrics
    priority.install()  # API requests first (priority.py)

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        PRIORITY.step()  # invoked by a state machine task or an async invoke: background work
        payload = event if event is not None else {}
        if isinstance(payload, str | bytes):
            payload = json.loads(payload or "{}")
        body, errored = invoke_in_process(
            self.handler, payload, self.function_name, int(self.memory_size or 128), int(self.timeout or 3)
        )
        return body, errored, ""

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]

    class _ScaledTime:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            time.sleep(seconds * sleep_scale)

    retrier_decl.time = _ScaledTime()  # type: ignore[assignment]
    _parse_each_definition_once()
    _reuse_interpreter_clients()
    _atomic_start_execution()


_START_LOCK = threading.Lock()


def _atomic_start_execution() -> None:
    """StartExecution, as AWS runs it: one execution per name. AWS answers a second start of a name
    with the running execution (same input) or ExecutionAlreadyExists; runplane relies on that when
    two writers admit the same run at once (``Admission.start``). moto checks the name, builds the
    execution and only then starts it, with no lock: two concurrent starts of one name could both
    pass the check and run the agent loop twice, and a start that read an execution between its
    creation and its start failed on its missing status (an API 500, seen under load). The check,
    the creation and the start now happen under one lock (a few ms: a copy of the state machine)."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start = StepFunctionsParserBackend.start_execution
    if getattr(start, "_runplane_atomic", False):
        return

    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _START_LOCK:
            return start(self, *args, **kwargs)

    start_execution._runplane_atomic = True  # type: ignore[attr-defined]
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


_INTERPRETER_CLIENTS: dict[tuple[str, str, bool, str], Any] = {}
_INTERPRETER_CLIENTS_LOCK = threading.Lock()


def _reuse_interpreter_clients() -> None:
    """moto's interpreter builds a new boto3 client for every task state it runs (the Lambda invoke
    of each agent step, every SQS or EventBridge integration): about 10 ms of CPU each, a third of a
    run's background cost. botocore clients are thread-safe and these carry no per-call state, so
    one per (service, region, transport) is kept, for one emulator's life (``Emulator.start`` and
    ``stop`` forget them). A task with its own credentials gets its own."""
    import pkgutil

    import moto.stepfunctions.parser.asl as asl
    from moto.core.models import botocore_stubber
    from moto.stepfunctions.parser.asl.utils import boto_client

    build = boto_client.boto_client_for
    if getattr(build, "_runplane_cached", False):
        return

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if state_credentials is not None:
            return build(region=region, service=service, state_credentials=state_credentials)
        key = (region, service, bool(botocore_stubber.enabled), os.environ.get("AWS_ENDPOINT_URL", ""))
        found = _INTERPRETER_CLIENTS.get(key)
        if found is None:
            with _INTERPRETER_CLIENTS_LOCK:
                found = _INTERPRETER_CLIENTS.get(key) or build(region=region, service=service)
                _INTERPRETER_CLIENTS[key] = found
        return found

    boto_client_for._runplane_cached = True  # type: ignore[attr-defined]
    boto_client.boto_client_for = boto_client_for  # type: ignore[assignment]
    # The integrations imported the function by name: rebind it in each module that did.
    for info in pkgutil.walk_packages(asl.__path__, asl.__name__ + "."):
        module = sys.modules.get(info.name)
        if module is None and "state_task" not in info.name and "state_map" not in info.name:
            continue
        module = module or importlib.import_module(info.name)
        if getattr(module, "boto_client_for", None) is build:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


_PARSED: dict[str, Any] = {}
_PARSE_LOCK = threading.Lock()


def parsed_program(definition: str) -> Any:
    """The parsed program of a definition (parsed once; callers must not change it). Parsed under
    the lock: executions that start together (a burst of creates) wait for the one parse instead of
    each parsing the same definition at once."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    with _PARSE_LOCK:
        program = _PARSED.get(definition)
        if program is None:
            program = AmazonStateLanguageParser.parse(definition)[0]
            if len(_PARSED) >= 64:
                _PARSED.clear()
            _PARSED[definition] = program
        return program


def _parse_each_definition_once() -> None:
    """moto's interpreter parses the state machine's ASL (an ANTLR grammar, in Python) for every
    execution: about a second of CPU for agent_loop.asl.json, the largest cost of a run in local mode.
    Parse a definition once and give each execution its own deep copy of the parsed program (what a
    fresh parse would give it, some tens of times cheaper)."""
    import copy

    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    if getattr(ExecutionWorker, "_runplane_cached", False):
        return

    def entrypoint(self: Any) -> Any:
        PRIORITY.step()  # an execution starting is background work (priority.py)
        return copy.deepcopy(parsed_program(self._evaluation_details.state_machine_details.definition))

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]
    ExecutionWorker._runplane_cached = True  # type: ignore[attr-defined]

    # The interpreter builds a new JSONPath parser (PLY tables and all) for every path it evaluates,
    # several per state. A parsed path is immutable: parse each distinct path once.
    from jsonpath_ng import parse as parse_plain_path
    from jsonpath_ng.ext import parse as parse_path
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(parse_path)  # type: ignore[attr-defined]
    result_path.parse = functools.lru_cache(maxsize=4096)(parse_plain_path)  # type: ignore[attr-defined]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Emulator:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sleep_scale: float = 1.0,
        settings_env: dict[str, str] | None = None,
        stream_poll_seconds: float = 0.02,
        data_dir: str | os.PathLike[str] | None = None,
        snapshot_seconds: float = 1.0,
        admission_sweep_seconds: float = 10.0,
        warm_api_environments: int = 1,
    ) -> None:
        self.host = host
        # Execution environments of the API and its authorizer set up at start (Lambda's provisioned
        # concurrency): a burst of that many requests does not wait for environments to be made.
        self.warm_api_environments = max(1, warm_api_environments)
        self.port = port or free_port(host)
        self.sleep_scale = sleep_scale
        self.names = LocalNames()
        self.extra_env = settings_env or {}
        self.stream_poll_seconds = stream_poll_seconds
        self._server: Any = None
        self._poller: StreamPoller | None = None
        self.notify_poller: QueuePoller | None = None
        self.notify_queue_url = ""
        self.notify_dlq_url = ""
        self._saved_env: dict[str, str | None] = {}
        # None: ephemeral (tests, bench). A directory: local mode keeps its state there (persist.py).
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.snapshot_seconds = snapshot_seconds
        # The admission sweep's schedule (on AWS: every resources.ADMISSION_SWEEP_MINUTES).
        self.admission_sweep_seconds = admission_sweep_seconds
        self._sweeper: Sweeper | None = None
        self._collector: Collector | None = None
        self._data: DataDir | None = None
        self.restored: dict[str, int] = {}
        self.recovered: list[tuple[str, str]] = []
        self.state_machine_arn = ""
        self.table_stream_arn = ""

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """What every function (and the local API) sees: the same variables the CDK stack sets."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "MOTO_PORT": str(self.port),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "runplane",
            # No CloudWatch here to read Powertools' EMF lines: keep them out of the terminal.
            "POWERTOOLS_METRICS_DISABLED": "true",
            "RUNPLANE_TABLE_NAME": self.names.table,
            "RUNPLANE_LIMITS_TABLE_NAME": self.names.limits_table,
            "RUNPLANE_BLOB_BUCKET": self.names.bucket,
            "RUNPLANE_EVENT_BUS_NAME": self.names.bus,
            "RUNPLANE_STATE_MACHINE_ARN": (
                f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{self.names.state_machine}"
            ),
            "RUNPLANE_NOTIFY_QUEUE_URL": f"{self.endpoint}/{ACCOUNT}/{notify_queue_names(PREFIX)[0]}",
        }
        env.pop("AWS_SESSION_TOKEN", None)
        env.update(self.extra_env)
        return env

    def start(self) -> Emulator:
        from moto.server import ThreadedMotoServer

        collector = self._collector = Collector()
        collector.hold()
        _patch_moto(self.sleep_scale)
        env = self.environment()
        self._saved_env = {k: os.environ.get(k) for k in [*env, "AWS_SESSION_TOKEN", "AWS_PROFILE"]}
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(env)
        # This process's own AWS calls (handlers, pollers, the state machine interpreter) go straight
        # to the emulator's services through moto's botocore stubber: no HTTP round trip, socket or
        # server thread per call. Other processes (the CLI, SDKs, tests) use the server on the port.
        os.environ.pop("AWS_ENDPOINT_URL", None)
        boto3.DEFAULT_SESSION = None  # a session made before moto was imported would not be intercepted
        from moto.core.models import botocore_stubber

        botocore_stubber.enabled = True
        clients.reset()
        _INTERPRETER_CLIENTS.clear()
        wiring.reset()
        reset_settings_cache()
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        # moto's state is process-wide: start from a clean slate (an earlier emulator may have run).
        import requests

        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        self._provision()
        if self.data_dir is not None:
            self._data = DataDir(
                self.data_dir,
                account=ACCOUNT,
                region=REGION,
                tables=[self.names.table],
                buckets=[self.names.bucket],
                s3=self.client("s3"),
                interval=self.snapshot_seconds,
            )
            self.restored = self._data.load()
        self._poller = StreamPoller(self.table_stream_arn, self.names.function("stream"), self.stream_poll_seconds)
        self._poller.start()
        self.notify_poller = QueuePoller(
            self.notify_queue_url, self.names.function("notify"), REGION, self.stream_poll_seconds, invoke_function
        )
        self.notify_poller.start()
        self._sweeper = Sweeper(self.names.function("admission"), self.admission_sweep_seconds)
        self._sweeper.start()
        if self._data is not None:
            self._recover_open_runs(self._data.open_runs())
            self._data.start()
        # Lambda's init phase, done now rather than by the first requests: one execution environment
        # per function (its handler module imported) and the clients the handlers use.
        for spec in _function_specs().values():
            ENVIRONMENTS.warm(spec.handler, self.warm_api_environments if spec.key in ("api", "authorizer") else 1)
        for service in ("dynamodb", "stepfunctions", "events", "sqs", "lambda", "s3"):
            clients.client(service)
        collector.start()  # full collections when the API is idle (heap.py)
        return self

    def _recover_open_runs(self, runs: list[tuple[str, str]]) -> None:
        """Runs that were pending, running or paused when local mode stopped: their executions (and
        task tokens) did not survive, so they fail, with their events, through the status graph."""
        service = wiring.run_service()
        for cluster_id, run_id in runs:
            if service.fail_open_run(cluster_id, run_id, RESTARTED):
                self.recovered.append((cluster_id, run_id))
        # Runs waiting for a concurrency slot survive a restart: the slots the failed runs gave back go to them.
        wiring.admission().dispatch()

    def persist(self) -> None:
        """Write the final snapshot now (a clean stop; the API must have stopped taking requests)."""
        if self._data is not None:
            if self._sweeper:
                self._sweeper.stop()
            if self._poller:
                self._poller.halt()
            self._data.stop()
            self._data = None

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def _provision(self) -> None:
        iam, ddb = self.client("iam"), self.client("dynamodb")
        role_arn = iam.create_role(
            RoleName=self.names.role,
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        gsi, gsi_pk, gsi_sk = resources.TABLE_GSI
        waiting, wait_pk, wait_sk = resources.TABLE_WAITING_GSI
        table = ddb.create_table(
            TableName=self.names.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"}
                for n in (resources.TABLE_PARTITION_KEY, resources.TABLE_SORT_KEY, gsi_pk, gsi_sk, wait_pk, wait_sk)
            ],
            KeySchema=[
                {"AttributeName": resources.TABLE_PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": resources.TABLE_SORT_KEY, "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": gsi,
                    "KeySchema": [
                        {"AttributeName": gsi_pk, "KeyType": "HASH"},
                        {"AttributeName": gsi_sk, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": waiting,
                    "KeySchema": [
                        {"AttributeName": wait_pk, "KeyType": "HASH"},
                        {"AttributeName": wait_sk, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": resources.TABLE_STREAM_VIEW},
        )
        self.table_stream_arn = table["TableDescription"]["LatestStreamArn"]
        ddb.create_table(
            TableName=self.names.limits_table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": resources.LIMITS_PARTITION_KEY, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": resources.LIMITS_PARTITION_KEY, "KeyType": "HASH"}],
        )
        self.client("s3").create_bucket(Bucket=self.names.bucket)
        self.client("events").create_event_bus(Name=self.names.bus)
        self.notify_queue_url, self.notify_dlq_url = provision_notify_queues(self.client("sqs"), PREFIX)
        lam = self.client("lambda")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as zf:
            zf.writestr("README.txt", "runplane local mode runs handlers in-process from the source tree")
        arns: dict[str, str] = {}
        for spec in resources.FUNCTIONS.values():
            arns[spec.key] = lam.create_function(
                FunctionName=self.names.function(spec.key),
                Runtime="python3.13",
                Role=role_arn,
                Handler=spec.handler,
                Code={"ZipFile": code.getvalue()},
                Description=spec.description,
                Timeout=spec.timeout_seconds,
                MemorySize=spec.memory_mb,
                Environment={"Variables": {k: v for k, v in self.environment().items() if k.startswith("RUNPLANE_")}},
            )["FunctionArn"]
        definition = resources.load_definition(
            {"AgentStepFunctionArn": arns["agent_step"], "ToolStepFunctionArn": arns["tools"]}
        )
        self.state_machine_arn = self.client("stepfunctions").create_state_machine(
            name=self.names.state_machine, definition=definition, roleArn=role_arn, type="STANDARD"
        )["stateMachineArn"]
        parsed_program(definition)  # now, not in the first run's way (about a second of CPU)

    def stop(self) -> None:
        if self._collector:
            self._collector.stop()
            self._collector = None
        if self._sweeper:
            self._sweeper.stop()
        if self._poller:
            self._poller.stop()
        if self.notify_poller:
            self.notify_poller.stop()
        self.persist()
        if self._server:
            try:
                self._stop_executions()
            finally:
                self._server.stop()
                self._server = None
                from moto.core.models import botocore_stubber

                botocore_stubber.enabled = False
                _INTERPRETER_CLIENTS.clear()
                for key, value in self._saved_env.items():  # leave the process as we found it
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                clients.reset()
                wiring.reset()
                reset_settings_cache()

    def _stop_executions(self) -> None:
        sfn = self.client("stepfunctions")
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn, statusFilter="RUNNING"
        ):
            for execution in page["executions"]:
                try:
                    sfn.stop_execution(executionArn=execution["executionArn"], cause="emulator stopped")
                except ClientError:  # it ended meanwhile (moto answers 500 for a finished worker)
                    continue

    def wait_for_stream(self, timeout: float = 10.0) -> None:
        """Block until the stream poller has delivered every record written so far (tests)."""
        assert self._poller is not None
        self._poller.drain(timeout)


class Sweeper(threading.Thread):
    """Invokes a function on a schedule, as an EventBridge schedule rule does on AWS (an error is
    logged by the function and waits for the next tick)."""

    def __init__(self, function_name: str, interval: float) -> None:
        super().__init__(name=f"runplane-schedule-{function_name}", daemon=True)
        self.function_name = function_name
        self.interval = interval
        self._halt = threading.Event()
        self.invocations = 0

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            PRIORITY.step()  # a background step: API requests go first
            try:
                invoke_function(self.function_name, {"source": "aws.scheduler", "detail-type": "Scheduled Event"})
                self.invocations += 1
            except Exception:  # the emulator is stopping: the next tick (a handler error is its answer)
                continue

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


class StreamPoller(threading.Thread):
    """Delivers the runs table's stream to the stream function, as Lambda's event source mapping
    does on AWS: in order, in batches, retrying from the first record the function reports failed.

    Like the event source mapping, it reads the stream from inside the service (moto's stream
    shard, under the DynamoDB lock), not through the DynamoDB Streams API over HTTP: serializing
    batches of full item images through moto's response serializer cost a sixth of local mode's
    CPU under load, and it held the DynamoDB lock meanwhile."""

    BATCH = 100

    def __init__(self, stream_arn: str, function_name: str, interval: float) -> None:
        super().__init__(name="runplane-stream-poller", daemon=True)
        self.stream_arn = stream_arn
        self.table_name = stream_arn.split(":table/", 1)[1].split("/", 1)[0]
        self.function_name = function_name
        self.interval = interval
        self._halt = threading.Event()
        self._idle = threading.Event()
        self._next: int | None = None  # the sequence number of the next record to deliver
        self.delivered = 0
        self.errors = 0

    IDLE_MAX = 0.25  # an idle stream is polled less and less often, down to 4 times a second

    def run(self) -> None:
        wait = self.interval
        while not self._halt.is_set():
            try:
                records = self._fetch()
            except Exception:
                self.errors += 1
                self._halt.wait(0.2)
                continue
            if not records:
                self._idle.set()
                self._halt.wait(wait)
                wait = min(self.IDLE_MAX, wait * 1.5)
                continue
            wait = self.interval
            self._idle.clear()
            self._deliver(records)

    def _fetch(self) -> list[dict[str, Any]]:
        """The next batch (TRIM_HORIZON first), as the Lambda event carries it."""
        from moto.dynamodb.models import dynamodb_backends

        with dynamodb.LOCK:
            shard = dynamodb_backends[ACCOUNT][REGION].get_table(self.table_name).stream_shard
            if shard is None:
                return []
            first = shard.starting_sequence_number
            start = max(0, (self._next if self._next is not None else first) - first)
            batch = [record.to_json() for record in shard.items[start : start + self.BATCH]]
            records = [{**r, "dynamodb": dict(r["dynamodb"])} for r in batch]  # moto keeps the originals
        for record in records:
            record["eventSourceARN"] = self.stream_arn
            data = record["dynamodb"]
            created = data.get("ApproximateCreationDateTime")
            if created is not None and not isinstance(created, int | float):  # moto: a naive UTC datetime
                utc = created if created.tzinfo else created.replace(tzinfo=datetime.UTC)
                data["ApproximateCreationDateTime"] = int(utc.timestamp())  # epoch seconds, as Lambda gets it
        return records

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        PRIORITY.step()
        body, errored = invoke_function(self.function_name, {"Records": records})
        failures = body.get("batchItemFailures") if isinstance(body, dict) else None
        if errored or failures:
            self.errors += 1
            # retry from the first failed record (all of the batch when the function itself failed)
            self._next = int(failures[0]["itemIdentifier"] if failures else records[0]["dynamodb"]["SequenceNumber"])
            self._halt.wait(0.2)
            return
        self._next = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
        self.delivered += len(records)

    def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._idle.clear()
        while not self._idle.wait(0.05):
            if time.monotonic() > deadline:
                raise TimeoutError("the stream poller did not catch up")

    def halt(self) -> None:
        self._halt.set()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
