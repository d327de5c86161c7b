"""``runplane`` commands over the HTTP API: ``run``, ``runs …``, ``keys create|list|revoke``,
``functions list`` (see docs/cli.md). They use the client SDK (:mod:`runplane.client`) and ``rich``.

Exit codes: 0 done (or the command worked), 1 failed (the run failed, or the API refused), 2 usage,
3 cancelled, 4 timeout. ``--json`` prints stable, documented JSON on stdout; messages go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from .client import FINAL_STATUSES, ApiError, Run, Runplane, RunplaneClientError, RunTimeout

EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED, EXIT_TIMEOUT = 0, 1, 2, 3, 4
EXIT_FOR_STATUS = {"done": EXIT_DONE, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}


class UsageError(Exception):
    """Bad arguments found after parsing (exit 2)."""


def _console(stderr: bool = True) -> Any:
    try:
        from rich.console import Console
    except ImportError:  # pragma: no cover - the light install without the [cli] extra
        raise UsageError("the runplane CLI needs rich: pip install 'runplane[cli]'") from None
    return Console(stderr=stderr, highlight=False)


def _client(args: argparse.Namespace) -> Runplane:
    return Runplane(args.api_url, args.api_key, cluster=args.cluster, profile=args.profile)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=None, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def _pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag}: write key=value (got {item!r})")
        out[key] = value
    return out


def _json_arg(text: str | None, flag: str) -> Any:
    if text is None:
        return None
    try:
        raw = Path(text[1:]).read_text() if text.startswith("@") else text
    except OSError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag}: not valid JSON ({exc})") from None


# -- live status ------------------------------------------------------------------------------------
def _progress(entries: list[dict[str, Any]]) -> tuple[int, int]:
    """(model turns so far, tool calls so far), from the run's entry log."""
    turns = sum(1 for e in entries if e.get("type") == "message" and e.get("kind") == "agent")
    calls = sum(1 for e in entries if e.get("type") == "call")
    return turns, calls


def _status_line(run: Run, entries: list[dict[str, Any]], started: float) -> Any:
    from rich.text import Text

    turns, calls = _progress(entries)
    colour = {"done": "green", "failed": "red", "cancelled": "red", "paused": "yellow"}.get(str(run.status), "cyan")
    line = Text()
    line.append(f"{run.status:<9}", style=f"bold {colour}")
    line.append(
        f"  turn {turns}  ·  {calls} tool call{'s' if calls != 1 else ''}  ·  {time.monotonic() - started:5.1f}s"
    )
    line.append(f"  ·  {run.id}", style="dim")
    if run.pending_approvals:
        names = ", ".join(f"{p['function']} ({p['callId']})" for p in run.pending_approvals)
        line.append(f"\n  waiting for approval: {names}  →  runplane runs approve {run.id}", style="yellow")
    return line


def wait_for(run: Run, timeout: float, interval: float, live: bool) -> Run:
    """Poll until the run finishes, showing the live status line on a terminal (stderr)."""
    started, deadline = time.monotonic(), time.monotonic() + timeout
    console = _console()
    show = live and console.is_terminal
    from rich.live import Live

    with Live(console=console, refresh_per_second=8, transient=False) if show else _Null() as display:
        while True:
            run.refresh()
            if show:
                display.update(_status_line(run, run.timeline(), started))
            if run.status in FINAL_STATUSES:
                return run
            if time.monotonic() >= deadline:
                raise RunTimeout(run, timeout)
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *_: object) -> None:
        return None


def _show_run(run: Run, as_json: bool) -> None:
    if as_json:
        _print_json(run.raw)
        return
    from rich.panel import Panel
    from rich.pretty import Pretty
    from rich.table import Table

    out = _console(stderr=False)
    facts = Table.grid(padding=(0, 2))
    for label, value in (
        ("status", run.status),
        ("name", run.name),
        ("model", run.model),
        ("created", run.created_at),
        ("usage", f"{run.usage.get('inputTokens', 0)} in / {run.usage.get('outputTokens', 0)} out tokens"),
        ("metadata", ", ".join(f"{k}={v}" for k, v in run.metadata.items()) or "-"),
    ):
        facts.add_row(f"[dim]{label}[/]", str(value))
    if run.failure_reason:
        facts.add_row("[dim]failure[/]", f"[red]{run.failure_reason}[/]")
    for p in run.pending_approvals:
        facts.add_row(
            "[dim]pending[/]", f"[yellow]{p['function']}[/] call {p['callId']} input {json.dumps(p['input'])}"
        )
    out.print(Panel(facts, title=f"run {run.id}", expand=False))
    if run.summary:
        out.print(run.summary)
    if run.raw.get("result") is not None:
        out.print(Pretty(run.raw["result"]))


# -- commands -----------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    schema = _json_arg("@" + args.schema if args.schema else None, "--schema")
    with _client(args) as client:
        run = client.runs.create(
            args.prompt,
            result_schema=schema,
            attached_functions=[] if args.no_functions else (args.function or None),
            metadata=_pairs(args.metadata, "--metadata") or None,
            name=args.name,
            model=args.model,
            context=_json_arg(args.context, "--context"),
            test=_json_arg(args.test, "--test"),
        )
        if not args.wait:
            if args.json:
                _print_json(run.raw)
            else:
                print(run.id)
            return EXIT_DONE
        run = wait_for(run, args.timeout, args.interval, live=not args.json)
        _show_run(run, args.json)
        return EXIT_FOR_STATUS[str(run.status)]


def cmd_runs_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        items = []
        for run in client.runs.list(status=args.status, metadata=_pairs(args.metadata, "--metadata") or None):
            items.append(run.raw)
            if len(items) >= args.limit:
                break
    if args.json:
        _print_json(items)
        return EXIT_DONE
    from rich.table import Table

    table = Table("id", "status", "name", "model", "created", "metadata")
    for r in items:
        meta = ", ".join(f"{k}={v}" for k, v in (r.get("metadata") or {}).items())
        table.add_row(r["id"], r["status"], r.get("name") or "", r.get("model") or "", r.get("createdAt") or "", meta)
    _console(stderr=False).print(table)
    return EXIT_DONE


def cmd_runs_get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _show_run(client.runs.get(args.run_id), args.json)
    return EXIT_DONE


def _entry_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    kind = entry.get("type")
    if kind == "call":
        return (kind, entry.get("callId"), entry.get("status"))
    return (kind, entry.get("callId"), entry.get("index"), entry.get("sequence"), entry.get("at"))


def _describe(entry: dict[str, Any]) -> str:
    kind = entry.get("type")
    if kind == "status":
        return f"status → {entry['status']}"
    if kind == "message":
        text = " ".join(b.get("text", "") for b in entry.get("content") or [] if b.get("type") == "text").strip()
        uses = [b.get("name") for b in entry.get("content") or [] if b.get("type") == "tool_use"]
        extra = f" [calls {', '.join(map(str, uses))}]" if uses else ""
        return f"{entry.get('kind')}: {text[:300]}{extra}"
    if kind == "call":
        tail = f" error: {entry['error']}" if entry.get("error") else ""
        if entry.get("result") is not None:
            tail = f" → {json.dumps(entry['result'])[:300]}"
        return (
            f"call {entry['function']} ({entry['callId']}) {entry['status']} input {json.dumps(entry['input'])}{tail}"
        )
    if kind == "approval-requested":
        return f"approval requested: {entry['function']} ({entry['callId']})"
    if kind == "approval-decided":
        verdict = "approved" if entry.get("approved") else "denied"
        reason = f" — {entry['reason']}" if entry.get("reason") else ""
        return f"{verdict} {entry['callId']}{reason}"
    return json.dumps(entry)


def cmd_runs_tail(args: argparse.Namespace) -> int:
    """Follow the run's entry log until the run finishes (JSON Lines with --json)."""
    console = None if args.json else _console(stderr=False)
    seen: set[tuple[Any, ...]] = set()
    deadline = time.monotonic() + args.timeout
    with _client(args) as client:
        run = client.runs.get(args.run_id)
        while True:
            entries = run.timeline()
            for entry in entries:
                key = _entry_key(entry)
                if key in seen:
                    continue
                seen.add(key)
                if args.json:
                    _print_json(entry)
                else:
                    assert console is not None
                    console.print(f"[dim]{entry.get('at', '')}[/]  {_describe(entry)}", markup=True, highlight=False)
            run.refresh()
            if run.status in FINAL_STATUSES and len(run.timeline()) == len(entries):
                return EXIT_FOR_STATUS[str(run.status)]
            if time.monotonic() >= deadline:
                raise RunTimeout(run, args.timeout)
            time.sleep(args.interval)


def _pick_call(run: Run, call_id: str | None, timeout: float) -> str:
    """The call to decide: the one given; else the only pending one (waiting while the run is still
    working towards one); with several, ask on a terminal, else a usage error listing them."""
    if call_id:
        return call_id
    deadline = time.monotonic() + timeout
    while not run.pending_approvals and run.status in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        run.refresh()
    pending = run.pending_approvals
    if not pending:
        raise UsageError(f"run {run.id} has no call waiting for approval (it is {run.status})")
    if len(pending) == 1:
        return str(pending[0]["callId"])
    listing = "\n".join(
        f"  {i + 1}. {p['function']} {p['callId']} input {json.dumps(p['input'])}" for i, p in enumerate(pending)
    )
    if not sys.stdin.isatty():
        raise UsageError(f"run {run.id} has {len(pending)} calls waiting; name one:\n{listing}")
    from rich.prompt import IntPrompt

    console = _console()
    console.print(f"calls waiting for approval:\n{listing}")
    choice = IntPrompt.ask("which one", console=console, choices=[str(i + 1) for i in range(len(pending))])
    return str(pending[choice - 1]["callId"])


def _decide(args: argparse.Namespace, approved: bool) -> int:
    with _client(args) as client:
        run = client.runs.get(args.run_id)
        call_id = _pick_call(run, args.call_id, args.timeout)
        if approved:
            call = run.approve(call_id, input=_json_arg(args.input, "--input"))
        else:
            call = run.deny(call_id, reason=args.reason)
    if args.json:
        _print_json(call)
    else:
        print(f"{'approved' if approved else 'denied'} {call['function']} call {call['id']} of run {args.run_id}")
    return EXIT_DONE


def cmd_runs_approve(args: argparse.Namespace) -> int:
    return _decide(args, True)


def cmd_runs_deny(args: argparse.Namespace) -> int:
    return _decide(args, False)


def cmd_runs_message(args: argparse.Namespace) -> int:
    with _client(args) as client:
        run = client.runs.get(args.run_id).message(args.text)
    if args.json:
        _print_json(run.raw)
    else:
        print(f"sent; run {run.id} is {run.status}")
    return EXIT_DONE


def cmd_runs_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        run = client.runs.get(args.run_id).cancel(args.reason)
    if args.json:
        _print_json(run.raw)
    else:
        print(f"run {run.id} is {run.status}")
    return EXIT_DONE


def cmd_keys_create(args: argparse.Namespace) -> int:
    with _client(args) as client:
        created = client.keys.create(args.name, args.kind)
    if args.json:
        _print_json(created)
    else:
        print(f"{args.kind} key {created['id']} for cluster '{client.cluster}' (shown once, stored only as a hash):")
        print(created["key"])
    return EXIT_DONE


def cmd_keys_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        keys = client.keys.list()
    if args.json:
        _print_json(keys)
        return EXIT_DONE
    from rich.table import Table

    table = Table("id", "name", "kind", "created", "revoked")
    for k in keys:
        table.add_row(k["id"], k.get("name") or "", k["kind"], k.get("createdAt") or "", k.get("revokedAt") or "")
    _console(stderr=False).print(table)
    return EXIT_DONE


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.keys.revoke(args.key_id)
    if args.json:
        _print_json({"id": args.key_id, "revoked": True})
    else:
        print(f"revoked {args.key_id}")
    return EXIT_DONE


def cmd_functions_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        functions = client.functions.list()
    if args.json:
        _print_json(functions)
        return EXIT_DONE
    from rich.table import Table

    table = Table("name", "target", "approval", "description")
    for f in functions:
        table.add_row(
            f["name"], f["target"]["type"], "yes" if f.get("requiresApproval") else "", f.get("description") or ""
        )
    _console(stderr=False).print(table)
    return EXIT_DONE


# -- argparse -----------------------------------------------------------------------------------------
def connection_flags(parser: argparse.ArgumentParser, cluster: bool = True) -> None:
    group = parser.add_argument_group(
        "connection (else RUNPLANE_API_URL, RUNPLANE_API_KEY, RUNPLANE_CLUSTER, a profile)"
    )
    group.add_argument("--api-url", default=None, help="the API's URL")
    group.add_argument("--api-key", default=None, help="an API key")
    if cluster:
        group.add_argument("--cluster", default=None, help="the cluster (default: the profile's, else 'default')")
    group.add_argument("--profile", default=None, help="a profile of ~/.config/runplane/config.toml")


def _common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    connection_flags(parser)
    parser.add_argument("--json", action="store_true", help="print stable JSON on stdout (docs/cli.md)")
    parser.set_defaults(api_command=True)
    return parser


def add_commands(sub: Any, keys: Any) -> None:
    """Add ``run``, ``runs``, ``functions`` to the top-level subparsers and ``list``/``revoke`` to ``keys``."""
    run = _common(sub.add_parser("run", help="start a run (and --wait for it)"))
    run.add_argument("prompt", help="the initial prompt")
    run.add_argument("--schema", help="a JSON Schema file for the result")
    run.add_argument("--function", action="append", help="attach this function (repeatable; default: all)")
    run.add_argument("--no-functions", action="store_true", help="attach no functions at all")
    run.add_argument("--metadata", action="append", help="key=value (repeatable)")
    run.add_argument("--name", default=None)
    run.add_argument("--model", default=None)
    run.add_argument("--context", default=None, help="JSON object (or @file) passed to every tool call")
    run.add_argument("--test", default=None, help="the run's test options as JSON (or @file), e.g. a modelScript")
    run.add_argument("--wait", action="store_true", help="follow the run with a live status line until it ends")
    run.add_argument(
        "--timeout", type=float, default=600.0, help="with --wait: give up after this many seconds (exit 4)"
    )
    run.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)

    runs = sub.add_parser("runs", help="list, inspect, follow and act on runs").add_subparsers(
        dest="runs_command", required=True
    )
    p = _common(runs.add_parser("list", help="runs, newest first"))
    p.add_argument("--status", choices=["pending", "running", "paused", "done", "failed", "cancelled"])
    p.add_argument("--metadata", action="append", help="key=value filter (repeatable, AND)")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50; pages are followed)")
    p.set_defaults(func=cmd_runs_list)
    p = _common(runs.add_parser("get", help="one run"))
    p.add_argument("run_id")
    p.set_defaults(func=cmd_runs_get)
    p = _common(runs.add_parser("tail", help="follow a run's timeline until it ends"))
    p.add_argument("run_id")
    p.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds (exit 4)")
    p.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_runs_tail)
    for name, func in (("approve", cmd_runs_approve), ("deny", cmd_runs_deny)):
        p = _common(runs.add_parser(name, help=f"{name} a call waiting for approval"))
        p.add_argument("run_id")
        p.add_argument("call_id", nargs="?", help="default: the one pending call (asks when there are several)")
        if name == "approve":
            p.add_argument("--input", default=None, help="edited input as JSON (or @file)")
        else:
            p.add_argument("--reason", default=None, help="why (the model sees it)")
        p.add_argument("--timeout", type=float, default=30.0, help="wait this long for a call to need approval")
        p.set_defaults(func=func)
    p = _common(runs.add_parser("message", help="send a follow-up message"))
    p.add_argument("run_id")
    p.add_argument("text")
    p.set_defaults(func=cmd_runs_message)
    p = _common(runs.add_parser("cancel", help="cancel a run"))
    p.add_argument("run_id")
    p.add_argument("--reason", default=None)
    p.set_defaults(func=cmd_runs_cancel)

    functions = sub.add_parser("functions", help="the cluster's functions").add_subparsers(
        dest="functions_command", required=True
    )
    _common(functions.add_parser("list", help="functions and builtins")).set_defaults(func=cmd_functions_list)

    _common(keys.add_parser("list", help="the cluster's keys (over the API)")).set_defaults(func=cmd_keys_list)
    p = _common(keys.add_parser("revoke", help="revoke a key (over the API)"))
    p.add_argument("key_id")
    p.set_defaults(func=cmd_keys_revoke)


def call(func: Any, args: argparse.Namespace) -> int:
    """Run a command, turning errors into messages and exit codes."""
    try:
        return int(func(args))
    except UsageError as exc:
        print(f"runplane: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RunTimeout as exc:
        print(f"runplane: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            _print_json(exc.run.raw)
        return EXIT_TIMEOUT
    except ApiError as exc:
        details = "".join(f"\n  {e.get('field')}: {e.get('problem')}" for e in exc.errors[1:])
        print(f"runplane: the API answered {exc.status}: {exc.message}{details}", file=sys.stderr)
        return EXIT_USAGE if exc.status == 400 else EXIT_FAILED
    except RunplaneClientError as exc:
        print(f"runplane: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (httpx.HTTPError, OSError) as exc:
        print(f"runplane: cannot reach the API: {exc}", file=sys.stderr)
        return EXIT_FAILED
