"""The package's layers (DESIGN.md), enforced by import-linter's contract in pyproject.toml:
core <- data, layers <- models <- train <- analysis, rl, ... <- experiments <- report <- cli; nothing
imports upward. The second test shows that the same contract breaks on an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")


def _lint(cwd: Path, config: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    if LINT is None:
        pytest.fail("lint-imports not found: pip install -c requirements.txt -e '.[test]'")
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([LINT, "--config", str(config), "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_mllab_keeps_its_layers():
    done = _lint(ROOT, ROOT / "pyproject.toml", ROOT / "src")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_contract_breaks_on_an_upward_import(tmp_path):
    """A package laid out like mllab whose models import experiments: lint-imports must say BROKEN."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = config["contracts"][0]["layers"]
    package = tmp_path / "src" / "mllab"
    for layer in layers:
        for name in layer.replace("|", ":").split(":"):
            name = name.strip().strip("()")
            (package / name).mkdir(parents=True, exist_ok=True)
            (package / name / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "models" / "__init__.py").write_text("from mllab.experiments import something  # upward\n")
    (package / "experiments" / "__init__.py").write_text("something = 1\n")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((ROOT / "pyproject.toml").read_text())
    done = _lint(tmp_path, pyproject, tmp_path / "src")
    assert done.returncode != 0 and "BROKEN" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    assert "mllab.models -> mllab.experiments" in done.stdout
