"""A smoke run of every registered experiment: it completes, writes a full run record, is not judged,
and every figure passes the package's figure check."""

import json
import re

import pytest

from mllab.core.registry import REGISTRY, all_experiments
from mllab.core.run import execute
from mllab.experiments import load_all

load_all()


@pytest.mark.parametrize("name", [e.name for e in all_experiments()])
def test_smoke_run_writes_record(name, tmp_path):
    result, out = execute(REGISTRY[name], profile="smoke", out=tmp_path / "rec", device="cpu")
    assert result["verdict"] == "not judged", result.get("error")
    assert any(c["kind"] == "claim" for c in result["checks"]), "an experiment must check its claim"
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["experiment"] == name and on_disk["verdict"] == result["verdict"]
    assert (out / "log.txt").is_file() and (out / "metrics.jsonl").is_file()
    assert all((out / "figures" / f).is_file() for f in result["figures"])
    assert result["figures"], "an experiment draws at least one figure"
    assert result["figure_problems"] == []
    for check in result["checks"]:  # every claim check carries a measured number, not just words
        assert check["kind"] == "sanity" or re.search(r"\d", check["observed"]), check
