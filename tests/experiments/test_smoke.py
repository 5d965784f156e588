"""A smoke run of every registered experiment: it completes and writes a full run record."""

import json

import pytest

from mllab.core.registry import REGISTRY, all_experiments
from mllab.core.run import execute
from mllab.experiments import load_all

load_all()


@pytest.mark.parametrize("name", [e.name for e in all_experiments()])
def test_smoke_run_writes_record(name, tmp_path):
    result, out = execute(REGISTRY[name], profile="smoke", out=tmp_path / "rec", device="cpu")
    assert result["verdict"] in ("holds", "fails"), result.get("error")
    assert result["checks"], "an experiment must check something"
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["experiment"] == name and on_disk["verdict"] == result["verdict"]
    assert (out / "log.txt").is_file() and (out / "metrics.jsonl").is_file()
    assert all((out / "figures" / f).is_file() for f in result["figures"])
    assert result["figures"], "an experiment draws at least one figure"
