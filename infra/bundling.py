"""The Lambda code asset, built without Docker.

One asset serves every function: ``functions/runplane`` plus the runtime dependencies of
``pyproject.toml`` (``[project].dependencies`` and the ``server`` extra, the single source of truth;
the base alone is the light client/worker install), installed for the Lambda
platform (Linux, arm64, CPython 3.13) by ``pip install --platform ... --only-binary=:all:``, with
``requirements.lock`` as constraints so the asset holds the versions the tests ran with.

The AWS SDK (boto3, botocore, s3transfer) is left out: the Lambda runtime provides
it. A dependency that pulls botocore in gets it removed after the install, so that the
runtime's boto3 never meets a botocore of another version from the asset.

Tests skip bundling with the standard context ``{"aws:cdk:bundling-stacks": []}``; CDK then points the
functions at the source directory without running the bundler.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = REPO_ROOT / "pyproject.toml"
FUNCTIONS_DIR = REPO_ROOT / "functions"
PACKAGE = "runplane"
# Pins every transitive dependency to the versions the test suite runs with.
LOCK_FILE = REPO_ROOT / "requirements.lock"
# pip's output per (requirements, lock file), reused across synths; build/ is git-ignored.
DEPS_CACHE = REPO_ROOT / "build" / "lambda-deps"

LAMBDA_PLATFORM = "manylinux2014_aarch64"  # matches Architecture.ARM_64 in infra/functions.py
LAMBDA_PYTHON = "3.13"  # matches Runtime.PYTHON_3_13

# The AWS SDK, provided by the Lambda Python runtime as a matched set: never shipped in the asset.
# (Its small pure-Python dependencies, e.g. jmespath which Powertools also needs, stay in.)
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.egg-info", ".DS_Store")


def _dist_name(requirement: str) -> str:
    """The normalized distribution name of a requirement string (PEP 503)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise ValueError(f"cannot parse requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


SERVER_EXTRA = "server"  # [project.optional-dependencies].server: what the handlers need beyond the base


def runtime_dependencies(pyproject: Path = PYPROJECT) -> list[str]:
    """``[project].dependencies`` plus the ``server`` extra of pyproject.toml, minus what the Lambda
    runtime provides."""
    project = tomllib.loads(pyproject.read_text())["project"]
    deps = [*project["dependencies"], *project.get("optional-dependencies", {}).get(SERVER_EXTRA, [])]
    return [d for d in deps if _dist_name(d) not in RUNTIME_PROVIDED]


def pip_command(output_dir: str, requirements: Sequence[str], constraints: Path | None = LOCK_FILE) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",  # .pyc files would be compiled by *this* interpreter, not Lambda's 3.13
        "--platform",
        LAMBDA_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON,
        "--only-binary=:all:",
        *(["--constraint", str(constraints)] if constraints and constraints.exists() else []),
        "--target",
        output_dir,
        *requirements,
    ]


def _remove_distributions(target: Path, names: Iterable[str]) -> list[str]:
    """Delete installed distributions (files listed in their RECORD, then the dist-info)."""
    wanted = set(names)
    removed: list[str] = []
    for dist_info in sorted(target.glob("*.dist-info")):
        name = _dist_name(dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        if name not in wanted:
            continue
        record = dist_info / "RECORD"
        tops: set[Path] = set()
        if record.exists():
            for line in record.read_text().splitlines():
                rel = line.split(",", 1)[0]
                if not rel or rel.startswith(".."):
                    continue
                path = target / rel
                if path.is_file() or path.is_symlink():
                    path.unlink()
                tops.add(target / Path(rel).parts[0])
        for top in tops:
            if top.is_dir() and not any(p.is_file() for p in top.rglob("*")):
                shutil.rmtree(top)
        shutil.rmtree(dist_info, ignore_errors=True)
        removed.append(name)
    return removed


def dependencies_key(requirements: Sequence[str], constraints: Path | None = LOCK_FILE) -> str:
    """Identifies one pip install: the requirements, the pinned versions and the target platform."""
    h = hashlib.sha256("\0".join([LAMBDA_PLATFORM, LAMBDA_PYTHON, *RUNTIME_PROVIDED, *requirements]).encode())
    if constraints and constraints.exists():
        h.update(b"\0" + constraints.read_bytes())
    return h.hexdigest()[:32]


def install_dependencies(requirements: Sequence[str], cache_dir: Path = DEPS_CACHE) -> Path:
    """The dependencies installed for Lambda, in a directory reused while requirements.lock and the
    requirements stay the same (CDK re-bundles on every synth; pip need not run again)."""
    target = cache_dir / dependencies_key(requirements)
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=cache_dir))
    try:
        subprocess.run(pip_command(str(staging), requirements), check=True)
        _remove_distributions(staging, RUNTIME_PROVIDED)
        staging.rename(target)  # a half-finished install is never reused
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def bundle_into(output_dir: str | Path, requirements: Sequence[str], cache_dir: Path = DEPS_CACHE) -> None:
    """What the asset contains: the runtime dependencies for Lambda, then the runplane package."""
    out = Path(output_dir)
    if requirements:
        shutil.copytree(install_dependencies(requirements, cache_dir), out, dirs_exist_ok=True)
    shutil.copytree(FUNCTIONS_DIR / PACKAGE, out / PACKAGE, ignore=_IGNORE, dirs_exist_ok=True)


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundler:
    """CDK local bundling: runs before (and instead of) Docker bundling; never returns False, so Docker
    is never tried. A failed pip install fails the synth with pip's message."""

    def __init__(self, requirements: Sequence[str] | None = None) -> None:
        self.requirements = list(runtime_dependencies() if requirements is None else requirements)

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        try:
            bundle_into(output_dir, self.requirements)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"bundling the Lambda asset failed: pip exited with {exc.returncode} (command: {' '.join(exc.cmd)})"
            ) from exc
        return True


def asset_fingerprint(requirements: Sequence[str]) -> str:
    """Hash of everything that goes into the asset: the package sources and the pip inputs.

    CDK's own source fingerprint would cover all of ``functions/`` (egg-info included) and cannot see
    the requirements, which live in pyproject.toml; this one covers exactly what the bundle is made of.
    """
    h = hashlib.sha256(dependencies_key(requirements).encode())
    root = FUNCTIONS_DIR / PACKAGE
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        h.update(b"\0" + path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def lambda_code() -> lambda_.AssetCode:
    """The one code asset all runplane functions share (bind the same object to every function)."""
    requirements = runtime_dependencies()
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=asset_fingerprint(requirements),
        bundling=cdk.BundlingOptions(
            # Never pulled or run: the local bundler always does the work (there is no Docker here).
            image=cdk.DockerImage.from_registry("runplane-local-bundling-only"),
            local=LocalPipBundler(requirements),
            output_type=cdk.BundlingOutput.NOT_ARCHIVED,
        ),
    )
