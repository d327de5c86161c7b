"""``runplane`` command line: ``runplane local`` (local mode), ``runplane bench`` (benchmark), and the
commands over the API (``run``, ``runs``, ``keys``, ``functions``: :mod:`runplane.cli_tools`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from . import cli_tools


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
    local_env = {
        "RUNPLANE_MODEL_PROVIDER": provider,
        # ACP's own examples send no key: keyless ACP requests from loopback act on this cluster.
        "RUNPLANE_KEYLESS_LOOPBACK_CLUSTER": os.environ.get("RUNPLANE_KEYLESS_LOOPBACK_CLUSTER", args.cluster),
    }
    emulator = Emulator(host=args.host, port=args.emulator_port, settings_env=local_env).start()
    try:
        cluster_key, admin_key = _local_keys(args.cluster)
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
        f"  cluster key     {cluster_key}    (export RUNPLANE_API_KEY={cluster_key})\n"
        f"  admin key       {admin_key}    (clusters and keys of every cluster)\n"
        f"  try it          curl -s -X POST {api.url}/clusters/{args.cluster}/runs -H 'authorization: {cluster_key}' "
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


def _local_keys(cluster_id: str) -> tuple[str, str]:
    """Create the local cluster and its two keys: a ``cluster`` key and an ``admin`` key. Their
    secrets come from RUNPLANE_API_KEY / RUNPLANE_ADMIN_KEY when set (so scripts know them in
    advance), else they are minted now and shown in the banner."""
    from .handlers import wiring
    from .schemas import CreateClusterRequest

    wiring.run_service().create_cluster(CreateClusterRequest(id=cluster_id, name=cluster_id))
    keys = wiring.keys()
    _, cluster_key = keys.create(
        cluster_id,
        name="local mode cluster key",
        kind="cluster",
        created_by="runplane local",
        secret=os.environ.get("RUNPLANE_API_KEY") or None,
    )
    _, admin_key = keys.create(
        cluster_id,
        name="local mode admin key",
        kind="admin",
        created_by="runplane local",
        secret=os.environ.get("RUNPLANE_ADMIN_KEY") or None,
    )
    return cluster_key, admin_key


def _keys_create(args: argparse.Namespace) -> int:
    """``keys create``: over the API (a cluster or admin key), or with --stack/--table straight into
    the table (the operator's path to the first admin key)."""
    if not (args.stack or args.table):
        from . import cli_tools

        return cli_tools.call(cli_tools.cmd_keys_create, args)
    args.cluster = args.cluster or "default"
    return _keys_create_direct(args)


def _keys_create_direct(args: argparse.Namespace) -> int:
    """Mint a key straight into a deployed stack's table, with the caller's AWS credentials (how an
    operator gets the first admin key: no key is needed to make it, IAM is the gate)."""
    import boto3

    from .config import reset_settings_cache
    from .handlers import wiring
    from .schemas import CreateClusterRequest

    table = args.table or stack_output(boto3.client("cloudformation", region_name=args.region), args.stack, "TableName")
    os.environ["RUNPLANE_TABLE_NAME"] = table
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    reset_settings_cache()
    wiring.reset()
    wiring.run_service().create_cluster(CreateClusterRequest(id=args.cluster, name=args.cluster))
    key, secret = wiring.keys().create(
        args.cluster, name=args.name, kind=args.kind, created_by="runplane keys create (AWS credentials)"
    )
    if args.json:
        import json

        print(json.dumps({"id": key.id, "key": secret, "clusterId": key.cluster_id, "kind": key.kind}))
    else:
        print(f"{key.kind} key {key.id} for cluster '{key.cluster_id}' (shown once, stored only as a hash):")
        print(secret)
    return 0


def stack_output(cloudformation: object, stack: str, name: str) -> str:
    """An output of a deployed runplane stack (e.g. its TableName)."""
    stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]  # type: ignore[attr-defined]
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == name:
            return str(output["OutputValue"])
    raise SystemExit(f"stack '{stack}' has no output '{name}': is it a runplane stack?")


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
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser(
        "create",
        help="mint a key: over the API, or with --stack/--table straight into a deployed stack's table "
        "with your AWS credentials (the first admin key)",
    )
    where = create.add_mutually_exclusive_group()
    where.add_argument("--stack", help="the deployed stack's name (its TableName output is used)")
    where.add_argument("--table", help="the runs table's name, instead of --stack")
    create.add_argument("--kind", choices=["cluster", "consumer", "machine", "admin"], default="cluster")
    create.add_argument(
        "--cluster",
        default=None,
        help="the key's cluster (with --stack/--table: created if missing; default 'default')",
    )
    create.add_argument("--name", default="created with runplane keys create")
    create.add_argument("--region", default=None, help="AWS region (default: your AWS configuration's)")
    create.add_argument("--json", action="store_true", help="print {id, key, clusterId, kind} as JSON")
    cli_tools.connection_flags(create, cluster=False)
    create.set_defaults(func=_keys_create)
    cli_tools.add_commands(sub, keys)
    bench = sub.add_parser("bench", help="benchmark the agent loop in the emulator")
    bench.add_argument("--runs", type=int, default=20, help="scripted runs for the throughput figure")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    if getattr(args, "api_command", False):
        return cli_tools.call(args.func, args)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
