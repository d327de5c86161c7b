"""The Docker-free Lambda asset: what goes in, how pip is called (no network: pip is not run here)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import aws_cdk as cdk
import pytest

from infra import bundling
from infra.functions import ARCHITECTURE, RUNTIME
from tests.infra import helpers  # noqa: F401  (jsii environment)

ROOT = Path(__file__).resolve().parents[2]


def test_runtime_dependencies_are_pyproject_minus_the_aws_sdk() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["server"]]
    deps = bundling.runtime_dependencies()
    assert deps == [d for d in declared if not d.startswith(("boto3", "botocore", "s3transfer"))]
    assert any(d.startswith("boto3") for d in declared) and not any(d.startswith("boto3") for d in deps)
    # What the handlers import is in the asset, though the base install (client and worker SDKs) is light.
    names = {bundling._dist_name(d) for d in deps}
    assert {"aws-lambda-powertools", "anthropic", "jsonschema", "pydantic", "httpx", "standardwebhooks"} <= names
    assert {bundling._dist_name(d) for d in project["dependencies"]} == {"httpx", "pydantic"}


def test_pip_targets_lambda_arm64_python_313() -> None:
    cmd = bundling.pip_command("/out", ["pydantic==2.14.3"])
    joined = " ".join(cmd)
    assert "--platform manylinux2014_aarch64" in joined
    assert "--python-version 3.13" in joined
    assert "--implementation cp" in joined
    assert "--only-binary=:all:" in cmd and "--no-compile" in cmd
    assert f"--constraint {ROOT / 'requirements.lock'}" in joined  # the versions the tests ran with
    assert cmd[-3:] == ["--target", "/out", "pydantic==2.14.3"]
    # ...and it matches the functions' runtime and architecture.
    assert ARCHITECTURE.name == "arm64" and bundling.LAMBDA_PLATFORM.endswith("aarch64")
    assert RUNTIME.name == f"python{bundling.LAMBDA_PYTHON}"


def test_runtime_provided_distributions_are_removed(tmp_path: Path) -> None:
    def install(name: str, dist: str, files: list[str]) -> None:
        info = tmp_path / f"{dist}.dist-info"
        info.mkdir()
        for rel in files:
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text("x")
        (info / "RECORD").write_text("".join(f"{f},," + "\n" for f in [*files, f"{dist}.dist-info/RECORD"]))

    install("botocore", "botocore-1.44.5", ["botocore/__init__.py", "botocore/data/x.json"])
    install("anthropic", "anthropic-2.12.0", ["anthropic/__init__.py"])
    removed = bundling._remove_distributions(tmp_path, bundling.RUNTIME_PROVIDED)
    assert removed == ["botocore"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anthropic", "anthropic-2.12.0.dist-info"]


def test_local_bundler_copies_the_package(tmp_path: Path) -> None:
    bundler = bundling.LocalPipBundler(requirements=[])  # no pip run
    assert bundler.try_bundle(str(tmp_path), image=cdk.DockerImage.from_registry("unused")) is True
    for spec_module in ("handlers/api.py", "handlers/agent_step.py", "handlers/stream.py", "resources.py"):
        assert (tmp_path / "runplane" / spec_module).is_file()
    # No pyc of the source tree's interpreter is copied; the asset's own are compiled for Lambda's 3.13.
    tags = {p.name.split(".")[-2] for p in tmp_path.rglob("*.pyc")}
    assert tags == ({bundling.PYC_TAG} if bundling.lambda_python() else set())


def test_pip_runs_once_per_requirement_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    real_run = bundling.subprocess.run

    def fake_pip(cmd: list[str], check: bool) -> None:
        if "pip" not in cmd:  # the compile step runs for real
            real_run(cmd, check=check)
            return
        calls.append(cmd)
        target = Path(cmd[cmd.index("--target") + 1])
        (target / "dep").mkdir()
        (target / "dep" / "__init__.py").write_text("")

    monkeypatch.setattr(bundling.subprocess, "run", fake_pip)
    for n in range(2):
        out = tmp_path / f"out{n}"
        out.mkdir()
        bundling.bundle_into(out, ["dep==1"], cache_dir=tmp_path / "cache")
        assert (out / "dep" / "__init__.py").is_file() and (out / "runplane" / "__init__.py").is_file()
    assert len(calls) == 1
    bundling.bundle_into(tmp_path / "out2", ["dep==2"], cache_dir=tmp_path / "cache")
    assert len(calls) == 2


def test_asset_hash_follows_sources_and_requirements() -> None:
    a = bundling.asset_fingerprint(["x==1"])
    assert a == bundling.asset_fingerprint(["x==1"])
    assert a != bundling.asset_fingerprint(["x==2"])


@pytest.mark.parametrize(
    "req,name",
    [
        ("aws-lambda-powertools[tracer]==3.37.0", "aws-lambda-powertools"),
        ("Boto3==1", "boto3"),
        ("zope.interface>=1", "zope-interface"),
    ],
)
def test_dist_name(req: str, name: str) -> None:
    assert bundling._dist_name(req) == name
