"""``runplane`` command line: ``runplane local`` (local mode) and ``runplane bench`` (benchmark)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


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
    settings_env = {"RUNPLANE_MODEL_PROVIDER": provider, "RUNPLANE_KEYLESS_LOOPBACK_CLUSTER": args.cluster}
    emulator = Emulator(host=args.host, port=args.emulator_port, settings_env=settings_env).start()
    try:
        from .handlers import wiring
        from .schemas import CreateClusterRequest

        wiring.run_service().create_cluster(CreateClusterRequest(id=args.cluster, name=args.cluster))
        _chat_agent(args.cluster)
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
        f"  cluster         {args.cluster}    (ACP agent 'chat'; keyless ACP requests from this machine use it)\n"
        f"  try it          curl -s -X POST {api.url}/clusters/{args.cluster}/runs "
        "-H 'content-type: application/json' -d '{\"initialPrompt\": \"Say hello\"}'\n"
        f"  AWS emulator    {emulator.endpoint}    (AWS_ENDPOINT_URL={emulator.endpoint} "
        "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1)\n"
        f"  event bus       {emulator.names.bus}    state machine {emulator.state_machine_arn}\n"
        f"  model provider  {provider_note}\n"
        "  stop            Ctrl-C",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping runplane local mode", flush=True)
        api.stop()
        emulator.stop()
    return 0


def _chat_agent(cluster: str) -> None:
    """The run configuration ``chat`` (a plain conversational agent): ACP's own example uses it."""
    from .handlers import wiring
    from .logic.run_configs import RunConfigBody

    if wiring.run_configs().by_name(cluster, "chat") is None:
        wiring.run_configs().upsert(
            cluster,
            "chat-agent",
            RunConfigBody(
                name="chat",
                description="A plain conversational agent: answers the conversation so far.",
                system_prompt="You are a helpful, concise conversational assistant.",
                public=True,
            ),
        )


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
    local.set_defaults(func=_local)
    bench = sub.add_parser("bench", help="benchmark the agent loop in the emulator")
    bench.add_argument("--runs", type=int, default=20, help="scripted runs for the throughput figure")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
