"""Ctrl-C in `mllab tour --jobs 2` (issue 18 §4): the workers stop, every finished record stays intact, no
half record (staging folder) is left, no experiment starts after the signal (the pool queues one ahead), no
report is half built, and no worker process outlives the tour. Two ways the signal comes: Ctrl-C in a
terminal (SIGINT to the tour's whole process group) and `kill -INT` of the tour alone (it passes it on).

The tour runs in a child process (so the signal is real) over four test-only experiments: one finishes at
once, two run until interrupted, the fourth is queued behind them. A small driver script registers them
before `cli.main` (and skips loading the real experiments); the workers are forked (Linux), so they see the
same registry.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the tour forks its workers on Linux only")

DRIVER = '''
import sys, time
from dataclasses import dataclass
from mllab import cli
from mllab.core import figures, registry
from mllab.core.config import Config
from mllab.core.registry import experiment
from mllab.core.run import Run
import mllab.experiments

mllab.experiments.load_all = lambda: None  # only the four experiments below
registry.REGISTRY.clear()


@dataclass
class WaitConfig(Config):
    seconds: float = 0.0
    """how long the experiment runs (seconds)"""


def body(run: Run, cfg: WaitConfig) -> None:
    run.log("started")
    for _ in run.progress(range(int(cfg.seconds * 10)), desc="waiting"):
        time.sleep(0.1)
    fig, (ax,) = figures.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set(title="a line", xlabel="x (units)", ylabel="y (units)")
    run.figure("line", fig)
    run.check("it ran", True, observed=f"{cfg.seconds} s")


@experiment("at-once", section="training", claim="It ends at once.")
def at_once(run: Run, cfg: WaitConfig) -> None:
    body(run, cfg)


@dataclass
class LongConfig(WaitConfig):
    seconds: float = 300.0
    """how long the experiment runs (seconds)"""


@experiment("long-a", section="training", claim="It runs long.")
def long_a(run: Run, cfg: LongConfig) -> None:
    body(run, cfg)


@experiment("long-b", section="training", claim="It runs long too.")
def long_b(run: Run, cfg: LongConfig) -> None:
    body(run, cfg)


@experiment("queued", section="training", claim="It would run long.")
def queued(run: Run, cfg: LongConfig) -> None:
    body(run, cfg)


sys.exit(cli.main(sys.argv[1:]))
'''


def _group_processes(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes in process group pgid (from /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            pids.append(int(stat.parent.name))
    return pids


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("whom", ["process group", "tour only"])
def test_ctrl_c_stops_the_workers_and_keeps_finished_records_whole(tmp_path, whom):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "tour"
    runs = out / "runs"
    tour = subprocess.Popen([sys.executable, str(driver), "tour", "--device", "cpu", "--jobs", "2", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        # at-once finishes; long-a and long-b are then both running (their staging folders hold a log)
        _wait_for(lambda: list(runs.glob("at-once/*/result.json")), 120, "the first record")
        _wait_for(lambda: all(any("started" in p.read_text() for p in runs.glob(f"{name}/.*partial-*/log.txt"))
                              for name in ("long-a", "long-b")), 120, "both long experiments to start")
        if whom == "process group":
            os.killpg(tour.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        else:
            os.kill(tour.pid, signal.SIGINT)
        _, stderr = tour.communicate(timeout=60)
    finally:
        if tour.poll() is None:
            os.killpg(tour.pid, signal.SIGKILL)
            tour.communicate()
    assert tour.returncode == 130, stderr[-2000:]
    assert "tour interrupted; finished records are kept" in stderr
    _wait_for(lambda: not _group_processes(tour.pid), 10, "the workers to exit")  # none outlives the tour
    (record,) = (runs / "at-once").iterdir()  # the finished record, whole
    result = json.loads((record / "result.json").read_text())
    assert result["verdict"] == "holds" and result["figures"] == ["line.png"]
    assert (record / "figures" / "line.png").stat().st_size > 0 and "verdict holds" in (record / "log.txt").read_text()
    leftovers = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.name.startswith("."))
    assert leftovers == []  # no staging folder (half record) of long-a / long-b, no half-built report
    assert sorted(p.name for p in runs.iterdir()) == ["at-once"]  # the interrupted runs' folders are gone
    assert "Traceback" not in stderr
    assert not (out / "report").exists()


def test_only_is_repeatable_and_keeps_the_notes_order(monkeypatch, tmp_path, capsys):
    """`--only rl --only training` runs those two sections (bench/tour.py benches a subset this way), in the
    notes' order, and nothing else."""
    from dataclasses import dataclass

    from mllab import cli
    from mllab.core import registry
    from mllab.core.config import Config
    from mllab.core.registry import Experiment

    @dataclass
    class NoConfig(Config):
        pass

    def holds(run, cfg: NoConfig) -> None:
        run.check("it ran", True, observed="yes")

    fakes = [Experiment(f"fake-{s}", s, "It runs.", holds, NoConfig) for s in ("rl", "cnn", "training")]
    monkeypatch.setattr(registry, "REGISTRY", {e.name: e for e in fakes})
    argv = ["tour", "--device", "cpu", "--jobs", "1", "--out", str(tmp_path), "--only", "rl", "--only", "training"]
    assert cli.main(argv) == cli.EXIT_OK
    table = capsys.readouterr().out
    assert table.index("fake-training") < table.index("fake-rl") and "fake-cnn" not in table
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["fake-rl", "fake-training"]
