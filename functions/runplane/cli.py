"""``runplane`` command line: ``runplane local`` (local mode), ``runplane bench`` (benchmark), and the
commands over the API (``run``, ``runs``, ``keys``, ``functions``: :mod:`runplane.cli_tools`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from . import cli_tools


def _limits_note() -> str:
    from .config import settings

    cfg = settings()
    caps = [f"{cfg.max_running} running" if cfg.max_running else "no cap on running runs"]
    if cfg.max_running_per_cluster:
        caps.append(f"{cfg.max_running_per_cluster} per cluster")
    rate = (
        f"{cfg.rate_limit_per_second:g} requests/s per key (bursts of {cfg.rate_limit_burst})"
        if cfg.rate_limit_per_second
        else "no rate limit"
    )
    return f"{', '.join(caps)}; {rate}    (--max-running, --max-running-per-cluster, --rate-limit, --rate-burst)"


# Local mode sets up this many API (and authorizer) execution environments at start, as provisioned
# concurrency would: a burst of that many clients finds them ready (each is ~20 ms of CPU to make).
LOCAL_WARM_API_ENVIRONMENTS = 16


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
        # The API's own origin is never a tool target (the emulator's port comes from MOTO_PORT).
        "RUNPLANE_OWN_ORIGINS": f"http://127.0.0.1:{args.port}",
    }
    origins = [o for o in os.environ.get("RUNPLANE_LOOPBACK_HTTP_ORIGINS", "").split(",") if o.strip()]
    origins += args.tool_origin or []
    if origins:
        local_env["RUNPLANE_LOOPBACK_HTTP_ORIGINS"] = ",".join(origins)
    # Concurrency caps and the per-key rate limit: the flags, else the same RUNPLANE_* variables.
    for flag, name in (
        ("max_running", "RUNPLANE_MAX_RUNNING"),
        ("max_running_per_cluster", "RUNPLANE_MAX_RUNNING_PER_CLUSTER"),
        ("rate_limit", "RUNPLANE_RATE_LIMIT_PER_SECOND"),
        ("rate_burst", "RUNPLANE_RATE_LIMIT_BURST"),
    ):
        value = getattr(args, flag)
        if value is not None:
            local_env[name] = f"{value:g}" if isinstance(value, float) else str(value)
    data_dir = _data_dir(args)
    emulator = Emulator(
        host=args.host,
        port=args.emulator_port,
        settings_env=local_env,
        data_dir=data_dir,
        warm_api_environments=LOCAL_WARM_API_ENVIRONMENTS,
    ).start()
    try:
        from .config import settings

        settings()  # a bad setting (e.g. a --tool-origin that is not http://127.0.0.1:PORT) stops here
        _remember_keys(data_dir, args.cluster, load=True)
        cluster_key, admin_key = _local_keys(args.cluster)
        _remember_keys(data_dir, args.cluster, keys=(cluster_key, admin_key))
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
        f"  cluster key     {cluster_key}    (export RUNPLANE_API_KEY={cluster_key})\n"
        f"  admin key       {admin_key}    (clusters and keys of every cluster)\n"
        f"  try it          curl -s -X POST {api.url}/clusters/{args.cluster}/runs -H 'authorization: {cluster_key}' "
        "-H 'content-type: application/json' -d '{\"initialPrompt\": \"Say hello\"}'\n"
        f"  AWS emulator    {emulator.endpoint}    (AWS_ENDPOINT_URL={emulator.endpoint} "
        "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1)\n"
        f"  event bus       {emulator.names.bus}    state machine {emulator.state_machine_arn}\n"
        f"  model provider  {provider_note}\n"
        f"  limits          {_limits_note()}\n"
        f"  data            {_data_note(data_dir, emulator)}\n"
        "  stop            Ctrl-C",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Python runs signal handlers on the main thread only, between bytecodes. A signal the kernel
    # delivers to another thread (any of the emulator's) does not wake a main thread blocked in an
    # untimed wait: it stayed asleep with SIGTERM pending. A timed wait comes back to check.
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.wait(0.2):
            pass
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


def _remember_keys(
    data_dir: Path | None, cluster: str, *, load: bool = False, keys: tuple[str, str] | None = None
) -> None:
    """With a data directory, the banner's keys stay the same across restarts: their secrets are
    kept in ``keys.json`` (mode 600) and passed back as the chosen secrets (a no-op if they exist)."""
    if data_dir is None:
        return
    path = data_dir / f"keys-{cluster}.json"
    if load and path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        os.environ.setdefault("RUNPLANE_API_KEY", saved["clusterKey"])
        os.environ.setdefault("RUNPLANE_ADMIN_KEY", saved["adminKey"])
    elif keys is not None:
        path.write_text(json.dumps({"clusterKey": keys[0], "adminKey": keys[1]}), encoding="utf-8")
        path.chmod(0o600)


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
    local.add_argument(
        "--tool-origin",
        action="append",
        metavar="http://127.0.0.1:PORT",
        help="a plain-http tool server that http functions may call (repeatable; also RUNPLANE_LOOPBACK_HTTP_ORIGINS)",
    )
    local.add_argument(
        "--max-running", type=int, metavar="N", help="at most N runs running at once (default 0: no cap)"
    )
    local.add_argument(
        "--max-running-per-cluster", type=int, metavar="N", help="at most N running at once per cluster (default 0)"
    )
    local.add_argument(
        "--rate-limit", type=float, metavar="R", help="requests per second per API key (default 50; 0 = off)"
    )
    local.add_argument("--rate-burst", type=int, metavar="B", help="requests a key may send at once (default 100)")
    local.add_argument("--verbose", action="store_true", help="print handler logs and HTTP access lines")
    local.add_argument("--data-dir", default=".runplane", help="where local mode keeps its state (default ./.runplane)")
    local.add_argument("--fresh", action="store_true", help="delete the data directory first: start empty")
    local.add_argument("--ephemeral", action="store_true", help="keep nothing: no data directory, state in memory")
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
    if getattr(args, "api_command", False):
        return cli_tools.call(args.func, args)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
