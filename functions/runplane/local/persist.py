"""Local mode's data directory: the emulator's DynamoDB tables and S3 objects, kept across restarts.

moto keeps everything in memory. This keeps a copy on disk::

    <data dir>/dynamodb/<table>.jsonl   one item per line, in DynamoDB's typed JSON
    <data dir>/s3/<bucket>/<sha256 of the key>   object bodies, with manifest.json (key -> file, ETag)

A snapshot is taken by a background thread whenever DynamoDB handled a write since the last one
(checked every ``interval`` seconds), and once more on a clean stop, after the API stopped taking
requests: every write acknowledged to a client before the stop is on disk. Table files are written
to a temporary file and renamed, so a snapshot is whole or absent. After a ``kill -9`` the writes of
the last ``interval`` seconds at most are lost; what was on disk is intact.

What is not kept: Step Functions executions, SQS messages and the DynamoDB stream. On start,
:func:`open_runs` lists the runs that were pending, running or paused: their executions are gone,
and the emulator fails them ("local mode restarted") through the run status graph. Runs waiting for
a concurrency slot had no execution: they wait on, and are admitted as slots allow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from . import dynamodb as ddb_glue

OPEN_STATUSES = ("pending", "running", "paused")


def _backend(account: str, region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account][region]


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class DataDir:
    def __init__(
        self,
        root: Path,
        *,
        account: str,
        region: str,
        tables: list[str],
        buckets: list[str],
        s3: Any,
        interval: float = 1.0,
    ) -> None:
        self.root = root
        self.account = account
        self.region = region
        self.tables = tables
        self.buckets = buckets
        self.s3 = s3
        self.interval = interval
        self._saved_at = -1
        self._lock = threading.Lock()  # one snapshot at a time
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.snapshots = 0
        self.errors = 0

    # -- restore -------------------------------------------------------------------------------
    def load(self) -> dict[str, int]:
        """Put the saved items and objects into the (freshly provisioned, empty) emulator. Items go
        straight into moto's tables, not through the API: restoring is not a change, so the stream
        (the outbox) sees none of it and no event is published twice."""
        counts = {"items": 0, "objects": 0}
        backend = _backend(self.account, self.region)
        with ddb_glue.LOCK:
            for name in self.tables:
                path = self.root / "dynamodb" / f"{name}.jsonl"
                if not path.exists() or name not in backend.tables:
                    continue
                table = backend.tables[name]
                shard, table.stream_shard = table.stream_shard, None
                try:
                    with open(path, encoding="utf-8") as fh:
                        for line in fh:
                            if line.strip():
                                table.put_item(json.loads(line))
                                counts["items"] += 1
                finally:
                    table.stream_shard = shard
        for bucket in self.buckets:
            manifest = self._manifest(bucket)
            for key, entry in manifest.items():
                body = (self.root / "s3" / bucket / entry["file"]).read_bytes()
                self.s3.put_object(Bucket=bucket, Key=key, Body=body)
                counts["objects"] += 1
        self._saved_at = ddb_glue.changes()
        return counts

    def open_runs(self) -> list[tuple[str, str]]:
        """(cluster id, run id) of every stored run that was pending, running or paused — but for runs
        waiting for a concurrency slot: they had no execution to lose, and wait on."""
        backend = _backend(self.account, self.region)
        out: list[tuple[str, str]] = []
        with ddb_glue.LOCK:
            for name in self.tables:
                table = backend.tables.get(name)
                for item in table.all_items() if table is not None else []:
                    attrs = item.to_json()["Attributes"]
                    if attrs.get("type", {}).get("S") != "run":
                        continue
                    if "WaitPK" in attrs:
                        continue
                    if attrs.get("status", {}).get("S") in OPEN_STATUSES:
                        out.append((attrs["clusterId"]["S"], attrs["id"]["S"]))
        return out

    # -- save ----------------------------------------------------------------------------------
    def save(self, force: bool = False) -> bool:
        """Write a snapshot if DynamoDB changed since the last one (or ``force``)."""
        with self._lock:
            marker = ddb_glue.changes()
            if not force and marker == self._saved_at:
                return False
            backend = _backend(self.account, self.region)
            dumps: dict[str, bytes] = {}
            with ddb_glue.LOCK:  # a consistent cut: no write is half-applied
                marker = ddb_glue.changes()
                for name in self.tables:
                    table = backend.tables.get(name)
                    if table is None:
                        continue
                    lines = [json.dumps(i.to_json()["Attributes"], separators=(",", ":")) for i in table.all_items()]
                    dumps[name] = ("\n".join(lines) + "\n").encode() if lines else b""
            # Objects after the cut: the store writes an object before the item that names it, so
            # every object an item of the cut names is listed now.
            for bucket in self.buckets:
                self._save_bucket(bucket)
            for name, data in dumps.items():
                _write_atomic(self.root / "dynamodb" / f"{name}.jsonl", data)
            self._saved_at = marker
            self.snapshots += 1
            return True

    def _manifest(self, bucket: str) -> dict[str, dict[str, str]]:
        path = self.root / "s3" / bucket / "manifest.json"
        if not path.exists():
            return {}
        return dict(json.loads(path.read_text(encoding="utf-8")))

    def _save_bucket(self, bucket: str) -> None:
        old = self._manifest(bucket)
        new: dict[str, dict[str, str]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                key, etag = obj["Key"], obj["ETag"]
                file = hashlib.sha256(key.encode()).hexdigest()
                if old.get(key, {}).get("etag") != etag or not (self.root / "s3" / bucket / file).exists():
                    body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                    _write_atomic(self.root / "s3" / bucket / file, body)
                new[key] = {"file": file, "etag": etag}
        if new != old:
            _write_atomic(self.root / "s3" / bucket / "manifest.json", json.dumps(new).encode())
            for key, entry in old.items():
                if key not in new:
                    with contextlib.suppress(FileNotFoundError):
                        (self.root / "s3" / bucket / entry["file"]).unlink()

    # -- the background snapshot -------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="runplane-snapshot", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                self.save()
            except Exception:
                self.errors += 1
                time.sleep(self.interval)

    def stop(self) -> None:
        """Stop the background thread and write the final snapshot."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.save(force=True)
