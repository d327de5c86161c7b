"""The Lambda code asset, built without Docker.

One asset serves every function: ``functions/runplane`` plus the runtime dependencies of
``pyproject.toml`` (``[project].dependencies`` and the ``server`` extra, the single source of truth;
the base alone is the light client/worker install), installed for the Lambda
platform (Linux, arm64, CPython 3.13) by ``pip install --platform ... --only-binary=:all:``, with
``requirements.lock`` as constraints so the asset holds the versions the tests ran with.

The AWS SDK (boto3, botocore, s3transfer) is left out: the Lambda runtime provides
it. A dependency that pulls botocore in gets it removed after the install, so that the
runtime's boto3 never meets a botocore of another version from the asset.

Every ``.py`` of the asset (the dependencies and runplane) is compiled to
``__pycache__/*.cpython-313.pyc`` by a real CPython 3.13 (a pyc is specific to its Python version;
pip's own compile step would use *this* interpreter), as ``unchecked-hash`` pycs: Python loads them
without comparing the source's mtime (the zip's timestamps do not matter) and ``/var/task`` is read-only,
so without them every cold start compiles every module from source. The 3.13 is found by
:func:`lambda_python` (``RUNPLANE_LAMBDA_PYTHON``, ``python3.13`` on PATH, ``py -3.13``, pyenv). Without
one, the compile step runs in the Lambda build image (``public.ecr.aws/sam/build-python3.13``) when a
Docker engine answers; else the asset ships sources only and the synth prints a warning.

Tests skip bundling with the standard context ``{"aws:cdk:bundling-stacks": []}``; CDK then points the
functions at the source directory without running the bundler.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from functools import lru_cache
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


# -- .pyc files for the Lambda runtime's Python ------------------------------------------------------
LAMBDA_PYTHON_ENV = "RUNPLANE_LAMBDA_PYTHON"  # path of a CPython 3.13 to compile the asset with
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the asset: the path tracebacks show
LAMBDA_BUILD_IMAGE = f"public.ecr.aws/sam/build-python{LAMBDA_PYTHON}"  # the Docker fallback's Python
PYC_TAG = f"cpython-{LAMBDA_PYTHON.replace('.', '')}"  # __pycache__/<module>.cpython-313.pyc


def _python_version(executable: str) -> str | None:
    try:
        proc = subprocess.run(
            [executable, "-c", "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _candidates() -> Iterable[str]:
    if sys.version_info[:2] == tuple(int(p) for p in LAMBDA_PYTHON.split(".")):
        yield sys.executable
    for name in (f"python{LAMBDA_PYTHON}", f"python{LAMBDA_PYTHON.replace('.', '')}"):
        found = shutil.which(name)
        if found:
            yield found
    py = shutil.which("py")  # the Windows (and python-launcher) launcher
    if py:
        yield from _py_launcher(py)
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        yield from (str(p) for p in sorted(Path(root).glob(f"versions/{LAMBDA_PYTHON}*/bin/python{LAMBDA_PYTHON}")))


def _py_launcher(py: str) -> Iterable[str]:
    try:
        proc = subprocess.run(
            [py, f"-{LAMBDA_PYTHON}", "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return
    if proc.returncode == 0 and proc.stdout.strip():
        yield proc.stdout.strip()


@lru_cache(maxsize=1)
def lambda_python() -> str | None:
    """A CPython of the Lambda runtime's version (3.13) on this machine, or None.

    ``$RUNPLANE_LAMBDA_PYTHON`` when set (it must be one); else the first that answers of: this
    interpreter, ``python3.13`` on PATH, ``py -3.13``, pyenv's versions (``$PYENV_ROOT`` or ``~/.pyenv``).
    pyenv's shims are tried like any other name and skipped
    when they refuse (a version that is installed but not selected)."""
    want = f"cpython {LAMBDA_PYTHON}"
    chosen = os.environ.get(LAMBDA_PYTHON_ENV)
    if chosen:  # the operator's choice is final: a wrong one fails the synth instead of being skipped
        if _python_version(chosen) != want:
            raise RuntimeError(f"{LAMBDA_PYTHON_ENV}={chosen} is not a CPython {LAMBDA_PYTHON}")
        return chosen
    seen: set[str] = set()
    for candidate in _candidates():
        if candidate in seen:
            continue
        seen.add(candidate)
        if _python_version(candidate) == want:
            return candidate
    return None


def compile_command(python: str, directory: str, *, strip: str | None = None) -> list[str]:
    """compileall over ``directory``: unchecked-hash pycs (no mtime check), tracebacks naming /var/task."""
    return [
        python,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        strip or directory,
        "-p",
        LAMBDA_TASK_ROOT,
        directory,
    ]


def docker_answers() -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_warned: list[bool] = []


def compile_mode() -> str:
    """How this machine compiles the asset's pycs: ``python``, ``docker`` or ``none``."""
    return "python" if lambda_python() else "docker" if docker_answers() else "none"


def compile_for_lambda(root: Path, subdir: str = "") -> str:
    """Compile every .py under ``root/subdir`` for the Lambda runtime's Python (paths in the pycs are
    relative to ``root``, under /var/task). Returns how: ``"python"`` (a local CPython 3.13),
    ``"docker"`` (the Lambda build image's) or ``"none"`` (sources only; a warning is printed)."""
    python = lambda_python()
    if python:
        subprocess.run(compile_command(python, str(root / subdir), strip=str(root)), check=True)
        return "python"
    if docker_answers():
        inner = f"/asset-output/{subdir}".rstrip("/")
        command = compile_command("python3", inner, strip="/asset-output")[1:]
        mount = f"{root.resolve()}:/asset-output"
        subprocess.run(
            ["docker", "run", "--rm", "-v", mount, "--entrypoint", "python3", LAMBDA_BUILD_IMAGE, *command], check=True
        )
        return "docker"
    if not _warned:
        _warned.append(True)
        print(
            f"WARNING runplane bundling: no CPython {LAMBDA_PYTHON} found ({LAMBDA_PYTHON_ENV}, python{LAMBDA_PYTHON} "
            f"on PATH, py -{LAMBDA_PYTHON}, pyenv) and no Docker engine answers: the Lambda asset ships sources "
            f"without .pyc files, so every cold start compiles what it imports (2-3x slower imports). Install "
            f"Python {LAMBDA_PYTHON} or set {LAMBDA_PYTHON_ENV} to one, then synthesize again.",
            file=sys.stderr,
            flush=True,
        )
    return "none"


def compiled_dependencies(requirements: Sequence[str], cache_dir: Path = DEPS_CACHE) -> Path:
    """The dependencies with their .pyc files (cached next to the plain install; compiled once)."""
    plain = install_dependencies(requirements, cache_dir)
    target = plain.with_name(f"{plain.name}-{PYC_TAG}")
    if target.is_dir():
        return target
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=cache_dir))
    try:
        shutil.copytree(plain, staging, dirs_exist_ok=True)
        if compile_for_lambda(staging) == "none":
            return plain  # not cached: a later synth with a 3.13 around compiles them
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def bundle_into(output_dir: str | Path, requirements: Sequence[str], cache_dir: Path = DEPS_CACHE) -> None:
    """What the asset contains: the runtime dependencies for Lambda, then the runplane package, each
    with .pyc files compiled for Lambda's Python (see :func:`compile_for_lambda`)."""
    out = Path(output_dir)
    if requirements:
        shutil.copytree(compiled_dependencies(requirements, cache_dir), out, dirs_exist_ok=True)
    shutil.copytree(FUNCTIONS_DIR / PACKAGE, out / PACKAGE, ignore=_IGNORE, dirs_exist_ok=True)
    compile_for_lambda(out, PACKAGE)


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
    h.update(b"\0pyc:" + compile_mode().encode())  # an asset without pycs is not reused once they can be made
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
