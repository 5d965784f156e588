"""Fake experiments (one per verdict) and their run records, for the report's tests.

The fakes replace the registry only inside a test (`fake_registry`), so the real experiments and
tests/experiments/test_smoke.py never see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import matplotlib.pyplot as plt
import pytest

from mllab.core import registry
from mllab.core.config import Config
from mllab.core.registry import Experiment
from mllab.core.run import Run, execute


@dataclass
class FakeConfig(Config):
    points: int = 4
    """How many points the line has."""
    margin: float = 0.0
    """the claim of fake-compares: arm a beats arm b by more than this"""
    profiles: ClassVar[dict] = {"smoke": {"points": 3}}


def _line(points: int):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(range(points), [i * i for i in range(points)])
    return fig


def rises(run: Run, cfg: FakeConfig) -> None:
    """Draws y = x² and checks that it rises.

    A second paragraph, so that the page shows the whole docstring.
    """
    run.figure("parabola", _line(cfg.points))
    run.figure("second figure & more", _line(cfg.points + 1))  # a name that needs URL quoting
    run.metric("slope_at_end", 2.0 * (cfg.points - 1))
    run.metric("offset", -44 / 15)  # -2.9333333333333336 as a float repr
    run.metric("curve", [float(i * i) for i in range(cfg.points)])
    run.check("y rises", True, observed=f"y(end) = {(cfg.points - 1) ** 2}", expected="> 0")


def falls(run: Run, cfg: FakeConfig) -> None:
    """Claims the parabola falls; the check fails."""
    run.figure("parabola", _line(cfg.points))
    run.check("y falls", False, observed="y(end) = 9 > y(0) = 0", expected="y(end) < y(0)")


def compares(run: Run, cfg: FakeConfig) -> None:
    """Compares two arms over four seeds with `run.compare`, and checks the apparatus.

    The arms are `a` and `b`; the difference is about **1/3**."""
    run.check("arms have four seeds", True, observed="n = 4", kind="sanity")
    run.compare("arm a beats arm b", [1 / 3 + 1.0, 2 / 3 + 1.0, 1.0 + 1.0, 4 / 3 + 1.0],
                [1.0, 1 / 3 + 1.0, 2 / 3 + 1.0, 1.0 + 1.0 + 0.01], margin=cfg.margin, better="higher",
                labels=("wide arm", "narrow arm"))


def breaks(run: Run, cfg: FakeConfig) -> None:
    """Raises inside the run."""
    raise RuntimeError("the fake experiment broke <on purpose>")


def never(run: Run, cfg: FakeConfig) -> None:
    """Registered but never run by the fixtures."""
    run.check("unreachable", True, observed="")


# Registered out of section order: the report must sort them by the notes' sections.
FAKES = {
    e.name: e for e in [
        Experiment("fake-falls", "optimization", "A parabola falls.", falls, FakeConfig),
        Experiment("fake-compares", "classification", "Arm a beats arm b by more than {margin:.2f}.", compares,
                   FakeConfig),
        Experiment("fake-rises", "training", "A parabola rises.", rises, FakeConfig),
        Experiment("fake-never", "rl", "Nobody runs this.", never, FakeConfig),
        Experiment("fake-breaks", "training", "Breaking is an error, not a verdict.", breaks, FakeConfig),
    ]
}
RUN_BY_FIXTURE = ("fake-rises", "fake-falls", "fake-breaks", "fake-compares")
# Where the fixture puts each record under the runs folder: records are found at any depth.
RECORD_PATHS = {"fake-rises": "fake-rises/20260101-000000-000000", "fake-falls": "deeper/still/falls-record",
                "fake-breaks": "fake-breaks/20260101-000000-000000", "fake-compares": "fake-compares-record"}
MODIFIED = {"fake-compares": ["margin=-1"]}  # a changed threshold: the record is a "modified claim"


@pytest.fixture
def fake_registry(monkeypatch):
    """The registry holds only FAKES during the test."""
    monkeypatch.setattr(registry, "REGISTRY", dict(FAKES))
    return FAKES


@pytest.fixture(scope="session")
def fake_runs(tmp_path_factory):
    """A runs folder with one judged (quick) record of each fake in RUN_BY_FIXTURE (not of fake-never),
    at the depths of RECORD_PATHS; fake-compares with a changed threshold."""
    runs = tmp_path_factory.mktemp("fake-runs")
    for name in RUN_BY_FIXTURE:
        execute(FAKES[name], profile="quick", overrides=MODIFIED.get(name, ()), out=runs / RECORD_PATHS[name],
                device="cpu")
    return runs
