"""``runplane bench``: structural figures of the agent loop, measured in the local emulator.

Every figure except throughput and import time is read from what Step Functions records (the
execution history), so it is deterministic: state transitions per model turn (the bill and the
25,000-event history cap), Lambda invocations per turn, and the largest state payload (the 256 KB
cap that cannot be caught). Runs are created through the real API handler (an API Gateway proxy
event, invoked through the emulator's Lambda service) and driven by the offline ``scripted`` model.

Scenarios:
  one_turn           one model turn, no result schema;
  repair             a result schema; the model answers invalid, invalid, valid (3 turns);
  long_conversation  a result schema, 6 plain-text turns of ~200 KB (each of the first 5 answered by a
                     repair message), the 6th with the result: the conversation exceeds 1 MB and its big
                     messages go to S3;
  throughput         N one-turn runs created back to back; wall time until every execution ended.
  concurrency        (``--scenario concurrency``, bench_load.py) N clients create M runs over real HTTP
                     against a ``runplane local`` process: latency, duplicates, lost, stuck, peak RSS.
Cold import time of each Lambda handler module (resources.FUNCTIONS) is measured in fresh
interpreters (median of 3), with whether ``anthropic`` got imported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from .local.gateway import call_api
from .local.http import proxy_event

# Before any runplane/Powertools import: handlers log JSON to stdout, which would garble the report.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

CLUSTER = "bench"
PAD_BYTES = 200 * 1024  # one long turn's text: above the store's 200,000-byte inline limit
LONG_TURNS = 6
TOOL_CALLS = 3  # parallel tool calls in the tools scenario
IMPORT_REPEATS = 7
EXECUTION_TIMEOUT = 120.0

# The long conversation is LONG_TURNS plain-text turns under a result schema: each is answered by a
# repair message, so the bench allows more repairs than the default (2).
EMULATOR_SETTINGS = {"RUNPLANE_MODEL_PROVIDER": "scripted", "RUNPLANE_MAX_RESULT_REPAIRS": str(LONG_TURNS)}

TARGET_LOOP_TRANSITIONS_PER_TURN = 2
TARGET_MAX_STATE_PAYLOAD = 8 * 1024

SEVERITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "severity": {"enum": ["low", "medium", "high"]},
        "title": {"type": "string", "minLength": 3},
    },
    "required": ["severity", "title"],
}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}


# -- the API, through the real Lambda handler ----------------------------------------------------


class Bench:
    def __init__(self, emulator: Any) -> None:
        from .handlers import wiring

        self.emulator = emulator
        self.sfn = emulator.client("stepfunctions")
        _, self.key = wiring.keys().create(CLUSTER, name="bench", created_by="bench")

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Through the authorizer and the API function, as API Gateway calls them."""
        event = proxy_event(
            method,
            path,
            body=json.dumps(body) if body is not None else None,
            headers={"content-type": ["application/json"], "authorization": [self.key]},
            stage="bench",
        )
        names = self.emulator.names
        payload = call_api(event, names.function("api"), names.function("authorizer"))
        return int(payload["statusCode"]), json.loads(payload.get("body") or "null")

    def create_run(self, body: dict[str, Any]) -> str:
        status, payload = self.api("POST", f"/clusters/{CLUSTER}/runs", body)
        if status != 201:
            raise RuntimeError(f"POST /clusters/{CLUSTER}/runs answered {status}: {payload}")
        return str(payload["id"])

    def get_run(self, run_id: str) -> dict[str, Any]:
        status, payload = self.api("GET", f"/clusters/{CLUSTER}/runs/{run_id}")
        if status != 200:
            raise RuntimeError(f"GET run {run_id} answered {status}: {payload}")
        return dict(payload)

    def execution_arn(self, run_id: str) -> str:
        return f"{self.emulator.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"

    def wait_executions(self, run_ids: list[str], timeout: float = EXECUTION_TIMEOUT) -> dict[str, str]:
        """Block until no execution of ``run_ids`` is RUNNING; their final statuses."""
        deadline = time.monotonic() + timeout
        remaining, final = list(run_ids), {}
        while remaining:
            still = []
            for run_id in remaining:
                status = self.sfn.describe_execution(executionArn=self.execution_arn(run_id))["status"]
                if status == "RUNNING":
                    still.append(run_id)
                else:
                    final[run_id] = status
            remaining = still
            if remaining:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(remaining)} executions still running after {timeout}s")
                time.sleep(0.02)
        return final

    def history(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.sfn.get_execution_history(executionArn=self.execution_arn(run_id))["events"])


# -- reading the history ---------------------------------------------------------------------------
def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def payload_sizes(events: list[dict[str, Any]]) -> Iterator[tuple[int, str, str]]:
    """(bytes, event type, state name) of every input/output/parameters a history event carries."""
    state = ""
    for event in events:
        details = _details(event)
        state = details.get("name", state)
        for field in ("input", "output", "parameters"):
            value = details.get(field)
            if isinstance(value, str):
                yield len(value.encode()), f"{event['type']}.{field}", state


_ENDED = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut")


def analyse(events: list[dict[str, Any]], model_turns: int) -> dict[str, Any]:
    entered = [e for e in events if e["type"].endswith("StateEntered")]
    names = [e["stateEnteredEventDetails"]["name"] for e in entered]
    terminal = sum(1 for e in entered if e["type"] in ("SucceedStateEntered", "FailStateEntered"))
    lambda_calls = sum(
        1
        for e in events
        if e["type"] == "LambdaFunctionScheduled"
        or (e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"].get("resourceType") == "lambda")
    )
    sizes = list(payload_sizes(events))
    biggest = max(sizes, default=(0, "", ""))
    turns = max(model_turns, 1)
    return {
        "model_turns": model_turns,
        "model_turn_states": names.count("ModelTurn"),
        "history_events": len(events),
        "states_entered": names,
        "state_transitions": len(entered),
        "terminal_transitions": terminal,
        "loop_transitions_per_turn": round((len(entered) - terminal) / turns, 3),
        "transitions_per_turn": round(len(entered) / turns, 3),
        "lambda_invocations": lambda_calls,
        "lambda_invocations_per_turn": round(lambda_calls / turns, 3),
        "max_state_payload_bytes": biggest[0],
        "max_state_payload_at": f"{biggest[1]} ({biggest[2]})" if biggest[1] else "",
        "execution_status": next(
            (e["type"].removeprefix("Execution").upper() for e in reversed(events) if e["type"] in _ENDED),
            "RUNNING",
        ),
    }


# -- the long conversation ---------------------------------------------------------------------------
def long_script() -> list[dict[str, Any]]:
    """No tools: plain-text turns of PAD_BYTES each (each answered by a small repair message), then
    the result. ``textBytes`` makes the scripted model write the long answers itself."""
    turns: list[dict[str, Any]] = [
        {"text": f"Turn {i}: a long answer.", "textBytes": PAD_BYTES} for i in range(LONG_TURNS - 1)
    ]
    last = {"text": "The answer.", "textBytes": PAD_BYTES, "result": {"answer": "42"}, "summary": "Read every page."}
    return [*turns, last]


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    log = logging.getLogger(logger_name)
    was, log.disabled = log.disabled, True
    try:
        yield
    finally:
        log.disabled = was


# -- scenarios -------------------------------------------------------------------------------------------
def _finish(bench: Bench, run_id: str) -> tuple[dict[str, Any], Any]:
    from .adapters.dynamo import DynamoRunStore
    from .config import settings

    bench.wait_executions([run_id])
    view = bench.get_run(run_id)
    stored = DynamoRunStore(settings()).get_run(CLUSTER, run_id)
    if stored is None:
        raise RuntimeError(f"run {run_id} is not in the store")
    detail = analyse(bench.history(run_id), stored.turns)
    detail.update(run_id=run_id, status=view["status"], result_error=view.get("resultError"))
    return detail, stored


def scenario_one_turn(bench: Bench) -> dict[str, Any]:
    run_id = bench.create_run({"initialPrompt": "Say hello to the team in one sentence"})
    return _finish(bench, run_id)[0]


def scenario_repair(bench: Bench) -> dict[str, Any]:
    script = [
        {"result": {"severity": "urgent", "title": "Disk full"}, "summary": "first try"},
        {"result": {"severity": "high", "title": 7}, "summary": "second try"},
        {"result": {"severity": "high", "title": "Disk full"}, "summary": "The database disk is full."},
    ]
    run_id = bench.create_run(
        {
            "initialPrompt": "Classify the incident",
            "resultSchema": SEVERITY_SCHEMA,
            "test": {"enabled": False, "modelScript": script},
        }
    )
    return _finish(bench, run_id)[0]


def scenario_long_conversation(bench: Bench) -> dict[str, Any]:
    from .adapters.dynamo import DynamoRunStore
    from .config import settings

    body: dict[str, Any] = {
        "initialPrompt": "Read every page and answer",
        "resultSchema": ANSWER_SCHEMA,
        "test": {"enabled": False, "modelScript": long_script()},
    }
    detail, stored = _finish(bench, bench.create_run(body))
    cfg = settings()
    messages = DynamoRunStore(cfg).messages(stored)
    sizes = [len(json.dumps(m.content, separators=(",", ":")).encode()) for m in messages]
    detail.update(
        messages=len(sizes),
        conversation_bytes=sum(sizes),
        largest_message_bytes=max(sizes, default=0),
        messages_offloaded_to_s3=sum(1 for s in sizes if s > cfg.inline_message_bytes),
    )
    return detail


def scenario_tools(bench: Bench, calls: int = TOOL_CALLS) -> dict[str, Any]:
    """One turn that calls ``calls`` builtins in parallel, then a final answer: 2 model turns."""
    script = [
        {"toolCalls": [{"name": "current_time", "input": {"timezone": "UTC"}} for _ in range(calls)]},
        {"text": "It is late."},
    ]
    run_id = bench.create_run(
        {"initialPrompt": "What time is it?", "attachedFunctions": ["current_time"], "test": {"modelScript": script}}
    )
    detail = _finish(bench, run_id)[0]
    tool_turn = detail["state_transitions"] - 2 - 1  # minus the final turn (ModelTurn + Route) and the end state
    detail.update(tool_calls=calls, transitions_tool_turn=tool_turn, target_tool_turn=3 + 2 * calls)
    return detail


def scenario_throughput(bench: Bench, runs: int) -> dict[str, Any]:
    from .adapters.dynamo import DynamoRunStore
    from .config import settings

    started = time.perf_counter()
    run_ids, latencies = [], []
    for i in range(runs):
        t0 = time.perf_counter()
        run_ids.append(bench.create_run({"initialPrompt": f"Say hello to visitor {i}"}))
        latencies.append((time.perf_counter() - t0) * 1000)
    created = time.perf_counter()
    final = bench.wait_executions(run_ids)
    ended = time.perf_counter()
    store = DynamoRunStore(settings())
    statuses: dict[str, int] = {}
    for run_id in run_ids:
        run = store.get_run(CLUSTER, run_id)
        key = str(run.status) if run else "missing"
        statuses[key] = statuses.get(key, 0) + 1
    histories = [analyse(bench.history(r), 1) for r in run_ids]
    biggest = max(histories, key=lambda h: h["max_state_payload_bytes"])
    wall = ended - started
    return {
        "runs": runs,
        "run_statuses": statuses,
        "execution_statuses": sorted(set(final.values())),
        "create_seconds": round(created - started, 3),
        "create_ms": {
            "first": round(latencies[0], 1),
            "median": round(statistics.median(latencies), 1),
            "max": round(max(latencies), 1),
            "last": round(latencies[-1], 1),
        },
        "wall_seconds": round(wall, 3),
        "runs_per_second": round(runs / wall, 2) if wall > 0 else None,
        "state_transitions": sorted({h["state_transitions"] for h in histories}),
        "max_state_payload_bytes": biggest["max_state_payload_bytes"],
        "max_state_payload_at": biggest["max_state_payload_at"],
    }


# -- cold imports ------------------------------------------------------------------------------------------
# Each figure is the CPU time (time.process_time: steadier than wall time on a shared machine) of one
# import in a fresh interpreter, median of IMPORT_REPEATS rounds, with .pyc files present as in the Lambda
# asset (runplane is compiled first; pip compiled the site-packages). The baseline is a bare
# `import boto3` measured the same way in the same run; every handler's figure is also a ratio to it.
_IMPORT_PROBE = (
    "import importlib, sys, time\n"
    "t = time.process_time()\n"
    "importlib.import_module(sys.argv[1])\n"
    "ms = (time.process_time() - t) * 1000\n"
    "print(ms, 'anthropic' in sys.modules)\n"
)

# The agent step's first model turn: the handler module, then what its first turn loads: the Bedrock
# client (the default provider) and one messages.create through the real SDK, answered by an in-process
# transport (no network), so that the SDK's lazily loaded parts are counted too.
_FIRST_TURN_PROBE = (
    "import importlib, sys, time\n"
    "t = time.process_time()\n"
    "importlib.import_module('runplane.handlers.agent_step')\n"
    "import httpx2\n"
    "from runplane.llm.anthropic_model import AnthropicModel\n"
    "from runplane.llm.base import ModelRequest\n"
    "body = {'id': 'msg_1', 'type': 'message', 'role': 'assistant', 'model': 'm', 'stop_reason': 'end_turn',\n"
    "        'content': [{'type': 'text', 'text': 'hi'}], 'stop_sequence': None,\n"
    "        'usage': {'input_tokens': 1, 'output_tokens': 1}}\n"
    "http = httpx2.Client(transport=httpx2.MockTransport(lambda request: httpx2.Response(200, json=body)))\n"
    "model = AnthropicModel.bedrock(region='us-east-1', http_client=http, max_retries=0)\n"
    "model.complete(ModelRequest(model_id='m', system=None, messages=[{'role': 'user', 'content': 'hi'}]))\n"
    "ms = (time.process_time() - t) * 1000\n"
    "print(ms, 'anthropic' in sys.modules)\n"
)

TARGET_API_IMPORT_RATIO = 1.5
TARGET_FIRST_TURN_RATIO = 3.0


def _probe_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "RUNPLANE_"))}
    # Dummy credentials: the Bedrock client signs its (in-process) request; nothing leaves the machine.
    env.update(
        POWERTOOLS_LOG_LEVEL="WARNING",
        RUNPLANE_INIT_GC="hold",  # as the stack configures every function (handlers/__init__.py)
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
    )
    return env


def _sample(args: list[str], repeats: int, env: dict[str, str]) -> tuple[list[float], bool]:
    samples, anthropic = [], False
    for _ in range(repeats):
        # -P: the working directory is not put on sys.path (the installed runplane is measured)
        proc = subprocess.run([sys.executable, "-P", *args], capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"import probe {args[-1]} failed:\n{proc.stderr[-2000:]}")
        ms, flag = proc.stdout.split()[-2:]
        samples.append(float(ms))
        anthropic = anthropic or flag == "True"
    return samples, anthropic


def _compile_runplane() -> None:
    """.pyc files for runplane in this interpreter's cache tag, as the asset has them for 3.13."""
    import compileall
    from pathlib import Path

    compileall.compile_dir(str(Path(__file__).resolve().parent), quiet=1)


def import_method(repeats: int) -> str:
    version = ".".join(str(v) for v in sys.version_info[:3])
    return (
        f"fresh python {version} subprocesses ({sys.executable}), .pyc present (runplane compiled first, "
        f"site-packages by pip), CPU time of the import, median of {repeats} interleaved rounds; the Lambda "
        "asset's pycs are for 3.13 (infra/bundling.py); RUNPLANE_INIT_GC=hold as the stack sets it "
        "(handlers/__init__.py)"
    )


def cold_imports(repeats: int = IMPORT_REPEATS) -> dict[str, dict[str, Any]]:
    """Rounds of one sample each, in the same order every round (boto3, every handler, the first
    turn): a slow moment of the shared machine falls on one round of every figure, not on all of
    one figure, and the baseline is sampled as often as the handlers."""
    from . import resources

    _compile_runplane()
    env = _probe_env()
    probes: dict[str, tuple[str, list[str]]] = {"boto3": ("boto3", ["-c", _IMPORT_PROBE, "boto3"])}
    for spec in resources.FUNCTIONS.values():
        module = spec.handler.rsplit(".", 1)[0]
        probes[spec.key] = (module, ["-c", _IMPORT_PROBE, module])
    probes["agent_step_first_turn"] = (
        "runplane.handlers.agent_step + first model turn (Bedrock, anthropic SDK)",
        ["-c", _FIRST_TURN_PROBE, "agent_step first turn"],
    )
    samples: dict[str, list[float]] = {key: [] for key in probes}
    anthropic: dict[str, bool] = dict.fromkeys(probes, False)
    for _ in range(repeats):
        for key, (_module, args) in probes.items():
            taken, loaded = _sample(args, 1, env)
            samples[key] += taken
            anthropic[key] = anthropic[key] or loaded
    boto3_ms = statistics.median(samples["boto3"])
    return {
        key: {
            "module": module,
            "median_ms": round(statistics.median(samples[key]), 1),
            "samples_ms": [round(v, 1) for v in samples[key]],
            "ratio_to_boto3": round(statistics.median(samples[key]) / boto3_ms, 2),
            "imports_anthropic": anthropic[key],
        }
        for key, (module, _args) in probes.items()
    }


# -- the emulator -------------------------------------------------------------------------------------------
def _reset_caches() -> None:
    from .adapters import clients
    from .config import reset_settings_cache
    from .handlers import wiring

    clients.reset()
    wiring.reset()
    reset_settings_cache()


class ErrorCounter(logging.Handler):
    """Counts (instead of printing) the errors the emulator's HTTP server logs: requests moto failed
    with a 500, which botocore then retried."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.kinds: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        lines = [line for line in record.getMessage().strip().splitlines() if line.strip()]
        kind = lines[-1].strip()[:160] if lines else record.levelname
        self.kinds[kind] = self.kinds.get(kind, 0) + 1


@contextlib.contextmanager
def _counting_server_errors() -> Iterator[ErrorCounter]:
    log = logging.getLogger("werkzeug")
    saved = (log.level, log.propagate, list(log.handlers))
    counter = ErrorCounter()
    log.setLevel(logging.ERROR)
    log.propagate = False
    log.handlers = [counter]
    try:
        yield counter
    finally:
        log.setLevel(saved[0])
        log.propagate = saved[1]
        log.handlers = saved[2]


@contextlib.contextmanager
def running_emulator() -> Iterator[Any]:
    from .local.emulator import Emulator

    saved = dict(os.environ)
    _reset_caches()
    emulator = Emulator(sleep_scale=0.01, settings_env=EMULATOR_SETTINGS)
    try:
        emulator.start()
        yield emulator
    finally:
        emulator.stop()
        os.environ.clear()
        os.environ.update(saved)
        _reset_caches()


# -- report ------------------------------------------------------------------------------------------
def run_bench(runs: int, import_repeats: int = IMPORT_REPEATS) -> dict[str, Any]:
    # First, in fresh interpreters, before the emulator's threads compete for the CPU.
    imports = cold_imports(import_repeats)
    with _counting_server_errors() as server_errors, running_emulator() as emulator:
        from .handlers import wiring
        from .schemas import CreateClusterRequest

        wiring.run_service().create_cluster(CreateClusterRequest(id=CLUSTER, name=CLUSTER))
        bench = Bench(emulator)
        scenarios = {
            "one_turn": scenario_one_turn(bench),
            "repair": scenario_repair(bench),
            "long_conversation": scenario_long_conversation(bench),
            "tools": scenario_tools(bench),
        }
        throughput = scenario_throughput(bench, runs)
        from .bench_cost import scenario_cost

        cost = scenario_cost(bench)
    turn_scenarios = scenarios.values()
    biggest = max([*turn_scenarios, throughput], key=lambda s: s["max_state_payload_bytes"])
    where = next(k for k, v in {**scenarios, "throughput": throughput}.items() if v is biggest)
    return {
        "transitions_per_turn": {k: v["transitions_per_turn"] for k, v in scenarios.items()},
        "loop_transitions_per_turn": {k: v["loop_transitions_per_turn"] for k, v in scenarios.items()},
        "transitions_per_run": {k: v["state_transitions"] for k, v in scenarios.items()},
        "lambda_invocations_per_turn": {k: v["lambda_invocations_per_turn"] for k, v in scenarios.items()},
        "max_state_payload_bytes": biggest["max_state_payload_bytes"],
        "max_state_payload_at": f"{where}: {biggest['max_state_payload_at']}",
        "conversation_bytes_long_run": scenarios["long_conversation"]["conversation_bytes"],
        "runs_per_second": throughput["runs_per_second"],
        "cold_import_ms": {k: v["median_ms"] for k, v in imports.items()},
        "cold_import_ratio_to_boto3": {k: v["ratio_to_boto3"] for k, v in imports.items()},
        "import_method": import_method(import_repeats),
        "api_imports_anthropic": imports["api"]["imports_anthropic"],
        "imports_anthropic": {k: v["imports_anthropic"] for k, v in imports.items()},
        "targets": {
            "loop_transitions_per_turn": f"<= {TARGET_LOOP_TRANSITIONS_PER_TURN} (no tools)",
            "max_state_payload_bytes": f"<= {TARGET_MAX_STATE_PAYLOAD}",
            "api_imports_anthropic": False,
            "api_import_ratio_to_boto3": f"<= {TARGET_API_IMPORT_RATIO}",
            "agent_first_turn_ratio_to_boto3": f"<= {TARGET_FIRST_TURN_RATIO}",
        },
        "emulator_server_errors": {"count": server_errors.count, "kinds": server_errors.kinds},
        "cost_counts": cost,
        "scenarios": {**scenarios, "throughput": throughput},
        "cold_imports": imports,
    }


def _ok(good: bool) -> str:
    return "ok" if good else "MISSED"


def render(report: dict[str, Any]) -> str:
    sc = report["scenarios"]
    lines = [
        "runplane bench: the agent loop in the local emulator (scripted model; figures from execution history)",
        "",
        f"{'scenario':<18} {'status':<7} {'turns':>5} {'states':>6} {'loop/turn':>9} {'all/turn':>8} "
        f"{'lambda/turn':>11} {'max payload':>11}",
    ]
    for name in ("one_turn", "repair", "long_conversation", "tools"):
        s = sc[name]
        lines.append(
            f"{name:<18} {s['status']:<7} {s['model_turns']:>5} {s['state_transitions']:>6} "
            f"{s['loop_transitions_per_turn']:>9.2f} {s['transitions_per_turn']:>8.2f} "
            f"{s['lambda_invocations_per_turn']:>11.2f} {s['max_state_payload_bytes']:>9} B"
        )
    for name in ("one_turn", "repair", "long_conversation", "tools"):
        lines.append(f"  {name}: {' > '.join(sc[name]['states_entered'])}")
    long_run, tp = sc["long_conversation"], sc["throughput"]
    loop_max = max(v for k, v in report["loop_transitions_per_turn"].items() if k != "tools")
    imports = report["cold_imports"]
    lines += [
        "",
        f"{'figure':<44} {'value':>14}   target",
        f"{'state transitions per model turn (loop)':<44} {loop_max:>14.2f}   "
        f"<= {TARGET_LOOP_TRANSITIONS_PER_TURN} without tools: "
        f"{_ok(loop_max <= TARGET_LOOP_TRANSITIONS_PER_TURN)}",
        f"{'  + terminal state, once per run':<44} {'+1':>14}   (Succeed/Fail state; 1 turn -> 3 per run)",
        f"{'Lambda invocations per model turn':<44} "
        f"{report['lambda_invocations_per_turn']['one_turn']:>14.2f}   "
        f"without tools; {report['lambda_invocations_per_turn']['tools']:.2f} with "
        f"{sc['tools']['tool_calls']} calls in one of 2 turns (API/stream Lambdas are not in the history)",
        f"{'largest state payload (all runs)':<44} {report['max_state_payload_bytes']:>12} B   "
        f"<= {TARGET_MAX_STATE_PAYLOAD} B: "
        f"{_ok(report['max_state_payload_bytes'] <= TARGET_MAX_STATE_PAYLOAD)}"
        f"   at {report['max_state_payload_at']}",
        f"{'conversation bytes, long run':<44} {long_run['conversation_bytes']:>12,} B   "
        f"{long_run['messages']} messages, {long_run['messages_offloaded_to_s3']} in S3, "
        f"largest {long_run['largest_message_bytes']:,} B",
        f"{'transitions, turn with ' + str(sc['tools']['tool_calls']) + ' tool calls':<44} "
        f"{sc['tools']['transitions_tool_turn']:>14}   <= 3 + 2k = {sc['tools']['target_tool_turn']}: "
        f"{_ok(sc['tools']['transitions_tool_turn'] <= sc['tools']['target_tool_turn'])}",
        f"{'throughput (' + str(tp['runs']) + ' one-turn runs)':<44} {tp['runs_per_second']:>10} r/s   "
        f"wall {tp['wall_seconds']} s (creating {tp['create_seconds']} s), statuses {tp['run_statuses']}",
        f"{'  create latency (POST through the API Lambda)':<44} {tp['create_ms']['median']:>11.1f} ms   "
        f"median; first {tp['create_ms']['first']} ms, max {tp['create_ms']['max']} ms, "
        f"last {tp['create_ms']['last']} ms",
    ]
    errors = report["emulator_server_errors"]
    if errors["count"]:
        kinds = "; ".join(f"{n} x {k}" for k, n in errors["kinds"].items())
        lines.append(f"{'emulator 500s (retried by botocore)':<44} {errors['count']:>14}   {kinds}")
    per_run = report["cost_counts"]["per_run"]
    lines += [
        "",
        f"billable operations per one-turn run (mean of {report['cost_counts']['runs']}; 1 POST + 1 GET through "
        "the authorizer and the API; docs/deploy.md prices them):",
        f"  API requests {per_run['api_requests']}, state transitions {per_run['state_transitions']}, "
        f"Lambda invocations {per_run['lambda_invocations_total']} {per_run['lambda_invocations']}",
        f"  DynamoDB reads {per_run['dynamodb_read_requests']}, writes {per_run['dynamodb_write_requests']}, "
        f"EventBridge events {per_run['eventbridge_events']}",
        f"  AWS calls by handlers: {per_run['aws_calls']}",
    ]
    lines += ["", f"cold imports: {report['import_method']}", f"{'handler':<24} {'CPU ms':>8} {'x boto3':>8}   notes"]
    targets = {"api": TARGET_API_IMPORT_RATIO, "agent_step_first_turn": TARGET_FIRST_TURN_RATIO}
    for key, imp in imports.items():
        notes = f"anthropic imported: {imp['imports_anthropic']}"
        if key == "api":
            notes += f" (must be False: {_ok(not imp['imports_anthropic'])})"
        if key in targets:
            notes += f"; target <= {targets[key]}x: {_ok(imp['ratio_to_boto3'] <= targets[key])}"
        if key == "agent_step_first_turn":
            notes += "; handler import + Bedrock client + one messages.create (in-process transport)"
        lines.append(f"{key:<24} {imp['median_ms']:>8.1f} {imp['ratio_to_boto3']:>7.2f}x   {notes}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if getattr(args, "scenario", "loop") == "concurrency":
        from .bench_load import render as render_load
        from .bench_load import scenario_concurrency

        load = scenario_concurrency(max(1, int(args.clients)), max(1, int(args.total_runs)))
        print(
            json.dumps(load, separators=(",", ":")) if getattr(args, "json", False) else render_load(load), flush=True
        )
        return 0
    runs = max(1, int(getattr(args, "runs", 20) or 20))
    # import_repeats is not a CLI option: the test lowers it to stay fast.
    report = run_bench(runs, max(1, int(getattr(args, "import_repeats", IMPORT_REPEATS))))
    if getattr(args, "json", False):
        print(json.dumps(report, separators=(",", ":")), flush=True)
    else:
        print(render(report), flush=True)
    return 0
