"""The run seed is checked where it enters: `mllab run`, `mllab tour` and `core.run.execute` (the Python API).

0 <= seed < 2**32; anything else is one line of bad input (exit 2) before anything is written, instead of a
misleading error from deep inside an experiment ("cannot split ... random_state ... Got -1") or a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from mllab import cli
from mllab.core import registry
from mllab.core.config import Config
from mllab.core.errors import BadInput
from mllab.core.registry import Experiment
from mllab.core.run import Run, execute

BAD_SEEDS = ["-1", str(2**32), "99999999999999999999"]


@dataclass
class SeedConfig(Config):
    draws: int = 3
    """numbers drawn from the run's seeded RNG"""


def draws(run: Run, cfg: SeedConfig) -> None:
    """Draws from NumPy's global RNG, which `execute` seeds with the run seed."""
    run.metric("draws", np.random.rand(cfg.draws))
    run.check("drew", True, observed=f"{cfg.draws} numbers")


FAKE = Experiment("fake-seeded", "training", "Draws numbers.", draws, SeedConfig)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", {FAKE.name: FAKE})
    return FAKE


def files_under(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("command", [["run", "fake-seeded"], ["tour"]], ids=["run", "tour"])
@pytest.mark.parametrize("seed", BAD_SEEDS)
def test_a_seed_out_of_range_is_one_line_exit_2_and_nothing_on_disk(fake, command, seed, tmp_path, monkeypatch,
                                                                   capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main([*command, "--seed", seed, "--device", "cpu"]) == cli.EXIT_BAD_INPUT
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: --seed: {seed} is out of range") and "0 <= seed < 2**32" in err
    assert list(tmp_path.iterdir()) == []


def test_the_largest_seed_runs_and_is_recorded(fake, tmp_path, capsys):
    out = tmp_path / "record"
    assert cli.main(["run", "fake-seeded", "--seed", str(2**32 - 1), "--device", "cpu", "--out", str(out), "-q"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["seed"] == 2**32 - 1 and "--seed 4294967295" in result["command"]
    np.random.seed(2**32 - 1)
    assert result["metrics"]["draws"] == np.random.rand(3).tolist()  # the seed reached the RNG, not a wrapped one
    capsys.readouterr()


@pytest.mark.parametrize("seed", [-1, 2**32, 10**20, 1.5])
def test_execute_refuses_a_bad_seed_before_writing(seed, tmp_path):
    with pytest.raises(BadInput, match="seed"):
        execute(FAKE, seed=seed, out=tmp_path / "deep" / "record", device="cpu")
    assert list(tmp_path.iterdir()) == []


def test_execute_takes_a_numpy_integer_seed_and_records_a_plain_int(tmp_path):
    result, out = execute(FAKE, seed=np.int64(7), out=tmp_path / "record", device="cpu")
    assert type(result["seed"]) is int and json.loads((out / "result.json").read_text())["seed"] == 7
