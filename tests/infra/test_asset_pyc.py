"""The bundled Lambda asset carries .pyc files compiled by a CPython 3.13 (Lambda's runtime): for
runplane and for its dependencies, unchecked-hash (no mtime check), naming /var/task in tracebacks.

This synthesizes the real app with bundling (pip downloads the Linux arm64 wheels from PyPI once;
build/lambda-deps/ caches them), so it needs PyPI the first time, as `cdk synth` does.
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra import bundling
from tests.infra import helpers  # noqa: F401  (jsii environment)

PY313 = bundling.lambda_python()
needs_313 = pytest.mark.skipif(PY313 is None, reason="no CPython 3.13 on this machine (see infra/bundling.py)")


def _magic(python: str) -> bytes:
    out = subprocess.run(
        [python, "-c", "import importlib.util,sys; sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER)"],
        capture_output=True,
        check=True,
    )
    return out.stdout


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from infra import build_app

    outdir = tmp_path_factory.mktemp("cdkout")
    build_app(outdir=str(outdir)).synth()
    assets = [p for p in outdir.glob("asset.*") if (p / "runplane" / "handlers" / "api.py").is_file()]
    assert len(assets) == 1, f"expected one Lambda code asset, found {assets}"
    return assets[0]


def _header(pyc: Path) -> tuple[bytes, int]:
    data = pyc.read_bytes()[:16]
    return data[:4], struct.unpack("<I", data[4:8])[0]


@needs_313
def test_every_runplane_module_has_a_313_pyc(asset: Path) -> None:
    assert PY313 is not None
    magic = _magic(PY313)
    sources = sorted((asset / "runplane").rglob("*.py"))
    assert len(sources) > 50
    for src in sources:
        pyc = src.parent / "__pycache__" / f"{src.stem}.{bundling.PYC_TAG}.pyc"
        assert pyc.is_file(), f"no {pyc.relative_to(asset)}"
        got_magic, flags = _header(pyc)
        assert got_magic == magic, f"{pyc.name}: magic {got_magic!r} is not CPython 3.13's {magic!r}"
        assert flags == 0b01, f"{pyc.name}: flags {flags:#b}; want unchecked-hash (0b01)"
    # Only 3.13 pycs: nothing compiled by the synthesizing interpreter (or any other).
    tags = {p.name.split(".")[-2] for p in asset.rglob("*.pyc")}
    assert tags == {bundling.PYC_TAG}


@needs_313
def test_dependencies_have_313_pycs(asset: Path) -> None:
    assert PY313 is not None
    magic = _magic(PY313)
    for module in (
        "pydantic/main.py",
        "anthropic/_client.py",
        "aws_lambda_powertools/logging/logger.py",
        "httpx/_client.py",
    ):
        src = asset / module
        assert src.is_file(), module
        pyc = src.parent / "__pycache__" / f"{src.stem}.{bundling.PYC_TAG}.pyc"
        assert pyc.is_file(), f"no pyc for {module}"
        assert _header(pyc) == (magic, 0b01)
    assert not (asset / "boto3").exists() and not (asset / "botocore").exists()  # the runtime's


@needs_313
def test_pycs_load_in_313_and_name_var_task(asset: Path) -> None:
    """3.13 reads the pycs as they are (it writes none: the asset is read-only on Lambda) and their
    code names /var/task, where Lambda unpacks the asset."""
    assert PY313 is not None
    probe = "import marshal, sys\ndata = open(sys.argv[1], 'rb').read()\nprint(marshal.loads(data[16:]).co_filename)\n"
    pyc = asset / "runplane" / "handlers" / "__pycache__" / f"api.{bundling.PYC_TAG}.pyc"
    out = subprocess.run([PY313, "-c", probe, str(pyc)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "/var/task/runplane/handlers/api.py"
    env: dict[str, Any] = {**os.environ, "PYTHONPATH": str(asset), "PYTHONDONTWRITEBYTECODE": "1"}
    check = (
        "import importlib.util, sys\n"
        "import runplane.status as m\n"
        "print(m.__cached__, importlib.util.cache_from_source(m.__file__))\n"
    )
    out = subprocess.run(
        [PY313, "-I", "-c", f"import sys; sys.path.insert(0, {str(asset)!r})\n" + check],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    cached, expected = out.stdout.split()
    assert cached == expected and Path(cached).is_file()


def test_no_313_means_sources_and_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a 3.13 and without Docker the asset still builds, with sources only, and says so."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    monkeypatch.setattr(bundling, "lambda_python", lambda: None)
    monkeypatch.setattr(bundling, "docker_answers", lambda: False)
    monkeypatch.setattr(bundling, "_warned", [])
    assert bundling.compile_for_lambda(tmp_path, "pkg") == "none"
    assert not list(tmp_path.rglob("*.pyc"))
    err = capsys.readouterr().err
    assert "no CPython 3.13 found" in err and bundling.LAMBDA_PYTHON_ENV in err


def test_env_override_must_be_313(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setenv(bundling.LAMBDA_PYTHON_ENV, sys.executable)
    bundling.lambda_python.cache_clear()
    try:
        if sys.version_info[:2] == (3, 13):
            assert bundling.lambda_python() == sys.executable
        else:
            with pytest.raises(RuntimeError, match=r"is not a CPython 3\.13"):
                bundling.lambda_python()
    finally:
        bundling.lambda_python.cache_clear()


def test_compile_command_is_unchecked_hash_under_var_task() -> None:
    cmd = bundling.compile_command("python3.13", "/out/runplane", strip="/out")
    joined = " ".join(cmd)
    assert "--invalidation-mode unchecked-hash" in joined and "-s /out -p /var/task" in joined
