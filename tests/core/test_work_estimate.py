"""`--set` values that multiply a run's work: the work fields (declared or inferred), the work factor, and
`mllab run` asking for --yes before a run far longer than its profile's (`--set seeds=100000`)."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import ClassVar

import pytest

from mllab import cli
from mllab.core import registry
from mllab.core.config import Config, make_config, work_factor, work_fields
from mllab.core.registry import Experiment, all_experiments, get_experiment
from mllab.core.run import Run


@dataclass
class ToyConfig(Config):
    seeds: int = 4
    """judged seeds"""
    tuning_seeds: int = 2
    """seeds the lr is picked on"""
    steps: int = 100
    """optimizer steps per run"""
    max_epochs: int = 10
    """a cap on the epochs of one run"""
    restarts: int = 0
    """extra random restarts"""
    warmup_steps: int = 10
    """steps of linear warm-up (part of `steps`)"""
    eval_every: int = 10
    """steps between evaluations"""
    width: int = 16
    """hidden units"""
    lr: float = 0.1
    """learning rate"""
    use_bias: bool = True
    """a bias in each layer"""
    lrs: tuple[float, ...] = (0.01, 0.1, 1.0)
    """learning-rate grid: one run per value"""
    channels: tuple[int, int] = (8, 16)
    """channels of the two conv layers"""
    profiles: ClassVar[dict] = {"smoke": {"seeds": 2, "steps": 10}}


@dataclass
class DeclaredConfig(ToyConfig):
    work_fields: ClassVar[tuple[str, ...]] = ("width",)  # explicit: only the width counts here


def test_work_fields_are_inferred_from_counts_of_repeats_and_steps_and_from_grids():
    assert work_fields(ToyConfig) == ("seeds", "tuning_seeds", "steps", "max_epochs", "restarts", "lrs")
    # not warmup_steps / eval_every (larger is no more work), width, lr, use_bias, or a fixed-length pair


def test_declared_work_fields_replace_the_inferred_ones():
    assert work_fields(DeclaredConfig) == ("width",)

    @dataclass
    class Misspelled(ToyConfig):
        work_fields: ClassVar[tuple[str, ...]] = ("widht",)

    with pytest.raises(TypeError, match="widht"):
        work_fields(Misspelled)


def test_work_factor_is_the_product_of_the_changed_counts():
    quick = make_config(ToyConfig)
    assert work_factor(quick, quick) == (1.0, {})
    bigger = make_config(ToyConfig, overrides=["seeds=100", "lrs=0.1,0.3,1,3,10,30", "width=512", "lr=3"])
    assert work_factor(bigger, quick) == (25 * 2, {"seeds": (4, 100), "lrs": (3, 6)})  # width, lr: not work fields
    fewer = make_config(ToyConfig, overrides=["seeds=2", "steps=1000"])
    assert work_factor(fewer, quick) == (5.0, {"seeds": (4, 2), "steps": (100, 1000)})
    assert work_factor(make_config(ToyConfig, overrides=["restarts=3"]), quick)[0] == 3.0  # 0 restarts: one run
    smoke = make_config(ToyConfig, "smoke")
    assert work_factor(make_config(ToyConfig, "smoke", ["seeds=20"]), smoke)[0] == 10.0  # against its own profile
    declared = make_config(DeclaredConfig)
    assert work_factor(make_config(DeclaredConfig, overrides=["seeds=100", "width=64"]), declared)[0] == 4.0


@pytest.mark.parametrize("name, field", [("momentum", "seeds"), ("batch-size", "max_updates"),
                                         ("dqn", "total_timesteps"), ("overfitting", "epochs"), ("q-table", "runs")])
def test_real_experiments_count_their_repeats(name, field):
    cls = get_experiment(name).config_cls
    assert field in work_fields(cls)
    quick = make_config(cls)
    value = getattr(quick, field)
    factor, changed = work_factor(make_config(cls, overrides=[f"{field}={value * 30}"]), quick)
    assert factor == 30 and changed == {field: (value, value * 30)}


def test_every_experiments_int_seeds_field_is_a_work_field():
    for e in all_experiments():
        if typing.get_type_hints(e.config_cls).get("seeds") is int:
            assert "seeds" in work_fields(e.config_cls), e.name


# --- mllab run: --yes before a run far beyond its profile ------------------------------------------------------

def toy(run: Run, cfg: ToyConfig) -> None:
    """Checks nothing but that it ran."""
    run.metric("seeds", cfg.seeds)
    run.check("ran", True, observed=f"seeds={cfg.seeds}")


FAKE = Experiment("fake-toy", "training", "It runs.", toy, ToyConfig)


@pytest.fixture
def fake(monkeypatch):
    """fake-toy registered, with a reference quick run of 60 s."""
    monkeypatch.setattr(registry, "REGISTRY", {FAKE.name: FAKE})
    monkeypatch.setattr(cli, "reference_seconds", lambda: {FAKE.name: 60.0})
    return FAKE


def run_toy(tmp_path, *extra: str) -> int:
    return cli.main(["run", "fake-toy", "--device", "cpu", "--out", str(tmp_path / "record"), "-q", *extra])


def test_a_run_far_beyond_its_profile_needs_yes_and_leaves_nothing(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_toy(tmp_path, "--set", "seeds=100000") == cli.EXIT_BAD_INPUT
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    # 25,000x of 60 s: 1.5e6 s = 17.4 days
    assert err.startswith("error: --set: this run may take up to about 17.4 days (seeds 4 → 100000: 25,000x the work "
                          "of a quick run, which takes about 60 s); add --yes to run it anyway")
    assert list(tmp_path.iterdir()) == []


def test_yes_runs_it_and_says_the_estimate(fake, tmp_path, capsys):
    assert run_toy(tmp_path, "--set", "seeds=100", "--yes") == cli.EXIT_OK  # 25x of 60 s: 25 minutes
    err = capsys.readouterr().err
    assert "estimated run time: up to about 25 minutes (seeds 4 → 100: 25x" in err and "(--yes)" in err
    assert json.loads((tmp_path / "record" / "result.json").read_text())["metrics"]["seeds"] == 100


def test_up_to_20x_the_profile_needs_no_yes_however_long(fake, tmp_path, capsys):
    assert run_toy(tmp_path, "--set", "seeds=80") == cli.EXIT_OK  # 20x of 60 s = 20 minutes: the limit is > 20x
    assert "estimated" not in capsys.readouterr().err


def test_a_short_profile_may_grow_past_20x_while_it_stays_under_10_minutes(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "reference_seconds", lambda: {FAKE.name: 3.0})
    assert run_toy(tmp_path, "--set", "seeds=400") == cli.EXIT_OK  # 100x of 3 s: 5 minutes
    assert "estimated" not in capsys.readouterr().err


def test_the_issues_command_stops_before_running(tmp_path, monkeypatch, capsys):
    """`mllab run momentum --set seeds=100000` on the real experiment and its shipped reference time."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "momentum", "--set", "seeds=100000"]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "→ 100000" in err and "add --yes to run it anyway" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
