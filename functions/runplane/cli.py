"""``runplane`` command line: ``runplane local`` (local mode) and ``runplane bench`` (benchmark)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def _local(args: argparse.Namespace) -> int:
    import logging

    # Handlers log JSON through Powertools; in a terminal keep to warnings unless asked otherwise.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG" if args.verbose else "WARNING")
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.ERROR)
    from .local.emulator import Emulator
    from .local.http import LocalApiServer

    provider = os.environ.get("RUNPLANE_MODEL_PROVIDER") or (
        "anthropic" if os.environ.get("ANTHROPIC_API_KEY") else "scripted"
    )
    data_dir = _data_dir(args)
    emulator = Emulator(
        host=args.host,
        port=args.emulator_port,
        settings_env={"RUNPLANE_MODEL_PROVIDER": provider},
        data_dir=data_dir,
    ).start()
    try:
        from .handlers import wiring
        from .schemas import CreateClusterRequest

        wiring.run_service().create_cluster(CreateClusterRequest(id=args.cluster, name=args.cluster))
        api = LocalApiServer(emulator.names.function("api"), host=args.host, port=args.port).start()
    except BaseException:
        emulator.stop()
        raise
    provider_note = {
        "scripted": "scripted (offline and deterministic; set ANTHROPIC_API_KEY to use Claude)",
        "anthropic": "anthropic (Claude via the Anthropic API, key from ANTHROPIC_API_KEY)",
        "bedrock": "bedrock (Claude via Amazon Bedrock, your AWS credentials)",
    }[provider]
    print(
        "runplane local mode is ready\n"
        f"  API             {api.url}    (OpenAPI docs: {api.url}/docs)\n"
        f"  cluster         {args.cluster}\n"
        f"  try it          curl -s -X POST {api.url}/clusters/{args.cluster}/runs "
        "-H 'content-type: application/json' -d '{\"initialPrompt\": \"Say hello\"}'\n"
        f"  AWS emulator    {emulator.endpoint}    (AWS_ENDPOINT_URL={emulator.endpoint} "
        "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1)\n"
        f"  event bus       {emulator.names.bus}    state machine {emulator.state_machine_arn}\n"
        f"  model provider  {provider_note}\n"
        f"  data            {_data_note(data_dir, emulator)}\n"
        "  stop            Ctrl-C",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    print("\nstopping runplane local mode", flush=True)
    # Stop taking requests, then write the last snapshot: every acknowledged write is on disk. Then
    # leave at once: the emulator's execution threads would keep the interpreter alive (and tearing
    # a large heap down takes long); whatever they still do is not kept (open runs are failed with
    # "local mode restarted" at the next start).
    api.stop()
    emulator.persist()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _data_dir(args: argparse.Namespace) -> Path | None:
    if args.ephemeral:
        return None
    path = Path(args.data_dir).expanduser().resolve()
    if args.fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _data_note(data_dir: Path | None, emulator: Any) -> str:
    if data_dir is None:
        return "in memory only (--ephemeral): nothing is kept after a stop"
    restored = emulator.restored
    note = f"{data_dir}    (kept across restarts; --fresh or deleting it starts empty)"
    if restored.get("items"):
        note += f"\n                  restored {restored['items']} items, {restored['objects']} objects"
        if emulator.recovered:
            note += f"; {len(emulator.recovered)} open runs failed: local mode restarted"
    return note


def _bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runplane", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="run runplane locally on an embedded AWS emulator")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    local.add_argument("--emulator-port", type=int, default=4566, help="AWS emulator port (default 4566)")
    local.add_argument("--cluster", default="default", help="cluster created at start (default 'default')")
    local.add_argument("--verbose", action="store_true", help="print handler logs and HTTP access lines")
    local.add_argument("--data-dir", default=".runplane", help="where local mode keeps its state (default ./.runplane)")
    local.add_argument("--fresh", action="store_true", help="delete the data directory first: start empty")
    local.add_argument("--ephemeral", action="store_true", help="keep nothing: no data directory, state in memory")
    local.set_defaults(func=_local)
    bench = sub.add_parser("bench", help="benchmark the agent loop in the emulator")
    bench.add_argument("--runs", type=int, default=20, help="scripted runs for the throughput figure")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument(
        "--scenario",
        choices=("loop", "concurrency"),
        default="loop",
        help="loop: the agent loop's figures (default); concurrency: N clients x M runs over HTTP",
    )
    bench.add_argument("--clients", type=int, default=16, help="concurrency: HTTP clients (default 16)")
    bench.add_argument("--total-runs", type=int, default=200, help="concurrency: runs created in all (default 200)")
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
