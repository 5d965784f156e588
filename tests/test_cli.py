"""The CLI as a user meets it: --version, `python -m mllab`, defaults in --help, one output folder,
what `mllab run` prints (verdicts, claim vs sanity checks, both arms of a comparison, the reproduce
command), bad input before any progress bar, and the tour's nested bars and time estimate."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import ClassVar

import pytest

from mllab import cli
from mllab.core import registry
from mllab.core.config import Config, at_least
from mllab.core.registry import SECTIONS, Experiment
from mllab.core.run import Run


@dataclass
class ArmsConfig(Config):
    margin: float = 0.0
    """the claim: arm a beats arm b by more than this"""
    steps: int = 3
    """steps of the progress bar"""
    rules: ClassVar[dict] = {"steps": at_least(1)}
    profiles: ClassVar[dict] = {"smoke": {"steps": 2}}


def arms(run: Run, cfg: ArmsConfig) -> None:
    """Two arms over three seeds; a progress bar; one sanity check."""
    for _ in run.progress(range(cfg.steps), desc="fake-arms steps"):
        pass
    run.check("three seeds ran", True, observed="n = 3", kind="sanity")
    run.compare("arm a beats arm b", [1 + 1 / 3, 1 + 2 / 3, 2.0], [1.0, 1 + 1 / 3, 1 + 2 / 3 + 0.01],
                margin=cfg.margin, labels=("wide", "narrow"))


FAKE = Experiment("fake-arms", "training", "Arm a beats arm b by more than {margin:.2f}.", arms, ArmsConfig)


@pytest.fixture
def fake(monkeypatch):
    """The registry holds only fake-arms during the test."""
    monkeypatch.setattr(registry, "REGISTRY", {FAKE.name: FAKE})
    return FAKE


def test_version_names_mllab_torch_and_the_default_device(capsys):
    import torch

    import mllab

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"mllab {mllab.__version__}", f"torch {torch.__version__}",
                     f"default device {cli.resolve_device('auto')}"]


def test_python_dash_m_mllab_is_mllab(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mllab", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("mllab ")
    bad = subprocess.run([sys.executable, "-m", "mllab", "run", "no-such-experiment"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == cli.EXIT_BAD_INPUT and bad.stderr.count("\n") == 1 and "unknown experiment" in bad.stderr


@pytest.mark.parametrize("command, defaults", [
    (["run", "x"], ["mllab-out/runs/NAME/<timestamp>", "default quick", "default 0", "default auto",
                    "more than 20x and the estimate exceeds 10 minutes (default off"]),
    (["tour"], ["default mllab-out)", "default quick", "default: every section"]),
    (["report"], ["default mllab-out/runs)", "default mllab-out/report)", "at any depth"]),
])
def test_every_help_shows_its_defaults_and_what_profiles_are_for(command, defaults, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([command[0], "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for fragment in defaults:
        assert fragment in text, fragment
    if command[0] != "report":
        assert "does not judge the claim" in text and "meant for a GPU" in text


def test_run_prints_verdict_checks_in_groups_both_arms_and_the_command(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "fake-arms", "--device", "cpu", "-q"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    records = list((tmp_path / "mllab-out" / "runs" / "fake-arms").iterdir())  # the one default folder
    assert len(records) == 1 and json.loads((records[0] / "result.json").read_text())["verdict"] == "holds"
    assert out.splitlines()[0].startswith("fake-arms: HOLDS (")
    claim_part, sanity_part = out.split("claim checks:")[1].split("sanity checks:")
    # a = (4/3, 5/3, 2), b = (1, 4/3, 5/3 + 0.01): both arms as mean ± SE, the difference and the margin
    assert "[x] arm a beats arm b: wide 1.667 ± 0.19 vs narrow 1.337 ± 0.2 (n=3, paired)" in claim_part
    assert "difference 0.33" in claim_part and "vs margin 0" in claim_part and "33333" not in out
    assert "[x] three seeds ran" in sanity_part
    assert "reproduce: mllab run fake-arms --profile quick --seed 0" in out
    assert "MODIFIED" not in out and "NOT JUDGED" not in out


def test_run_marks_a_modified_claim_and_a_smoke_run_not_judged(fake, tmp_path, capsys):
    assert cli.main(["run", "fake-arms", "--device", "cpu", "-q", "--set", "margin=-1",
                     "--out", str(tmp_path / "a")]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "HOLDS" in out.splitlines()[0] and "[MODIFIED CLAIM: margin changed]" in out.splitlines()[0]
    assert "by more than -1.00" in out and "--set margin=-1" in out
    assert cli.main(["run", "fake-arms", "--device", "cpu", "-q", "--profile", "smoke",
                     "--out", str(tmp_path / "b")]) == cli.EXIT_OK
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("fake-arms: NOT JUDGED (smoke run") and "HOLDS" not in first


def _one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1, err  # no progress bar was drawn before the error
    assert lines[0].startswith("error: ") and "tour:" not in err and "|" not in err
    return lines[0]


def test_bad_profile_fails_before_any_bar(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["tour", "--profile", "nosuch"]) == cli.EXIT_BAD_INPUT
    assert "unknown profile 'nosuch'" in _one_error_line(capsys)
    assert cli.main(["run", "fake-arms", "--profile", "nosuch"]) == cli.EXIT_BAD_INPUT
    assert "unknown profile 'nosuch'" in _one_error_line(capsys)
    assert not (tmp_path / "mllab-out").exists()


def test_only_a_section_without_experiments_is_one_line_exit_2(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    empty = next(s for s in SECTIONS if s != FAKE.section)
    assert cli.main(["tour", "--only", empty]) == cli.EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert f"section {empty!r} has no experiments yet" in line and "training" in line
    assert not (tmp_path / "mllab-out").exists()


def test_tour_and_report_share_the_default_folder_and_bars_nest(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    positions = []
    execute = cli.execute
    monkeypatch.setattr(cli, "execute",
                        lambda *a, **k: positions.append(k.get("progress_position")) or execute(*a, **k))
    assert cli.main(["tour", "--device", "cpu"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert positions == [1]  # the experiment's bars draw on the line under the tour's bar
    assert "fake-arms steps" in err and "tour" in err
    assert out.strip().splitlines()[-1] == f"report: {(tmp_path / 'mllab-out' / 'report' / 'index.html').resolve()}"
    assert len(list((tmp_path / "mllab-out" / "runs" / "fake-arms").iterdir())) == 1
    assert cli.main(["report"]) == cli.EXIT_OK  # reads mllab-out/runs, writes mllab-out/report
    assert capsys.readouterr().out.strip() == f"report: {(tmp_path / 'mllab-out' / 'report' / 'index.html').resolve()}"


def _record(seconds: float, profile: str = "quick", name: str = "a", verdict: str = "holds") -> tuple:
    return (None, {"experiment": name, "profile": profile, "seconds": seconds, "verdict": verdict})


def test_tour_estimate_comes_from_earlier_records_of_the_same_experiment_and_profile():
    records = [_record(100.0), _record(10.0), _record(12.0), _record(11.0), _record(5.0, profile="smoke"),
               _record(1.0, verdict="error"), _record(40.0, name="b", profile="smoke")]
    expected = cli.expected_seconds(records, ["a", "b", "c"], "quick")
    assert expected == {"a": 11.5, "b": cli.DEFAULT_SECONDS["quick"], "c": cli.DEFAULT_SECONDS["quick"]}
    assert cli.expected_seconds(records, ["a", "b"], "smoke") == {"a": 5.0, "b": 40.0}
    # nothing finished yet: the plain sum; the finished ones took twice their estimate: twice the rest
    assert cli.remaining_seconds({"a": 10.0, "b": 20.0, "c": 30.0}, ["b", "c"], []) == 50.0
    assert cli.remaining_seconds({"a": 10.0, "b": 20.0, "c": 30.0}, ["b", "c"], [("a", 20.0)]) == 100.0


def test_tour_shows_the_estimate_from_records(fake, tmp_path, capsys):
    runs = tmp_path / "runs" / "fake-arms" / "old"
    runs.mkdir(parents=True)
    (runs / "result.json").write_text(json.dumps({"experiment": "fake-arms", "profile": "quick", "seconds": 754.0,
                                                  "verdict": "holds", "started": "2020-01-01T00:00:00+00:00"}))
    assert cli.main(["tour", "--device", "cpu", "--out", str(tmp_path)]) == cli.EXIT_OK
    assert "≈12:34 left" in capsys.readouterr().err


def test_tour_runs_experiments_side_by_side_and_keeps_the_notes_order(monkeypatch, tmp_path, capsys):
    """--jobs 2: two worker processes (forked, so run-time registrations are seen), one record each, the
    table in registry order; --jobs 0 is bad input."""
    import os

    pids = []

    def record_pid(run: Run, cfg: ArmsConfig) -> None:
        run.metric("pid", os.getpid())
        arms(run, cfg)

    second = Experiment("fake-arms-2", "training", "Arm a beats arm b by more than {margin:.2f}.", record_pid,
                        ArmsConfig)
    first = Experiment("fake-arms", "training", FAKE.claim, record_pid, ArmsConfig)
    monkeypatch.setattr(registry, "REGISTRY", {first.name: first, second.name: second})
    assert cli.main(["tour", "--device", "cpu", "--out", str(tmp_path), "--jobs", "2"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert out.index("fake-arms ") < out.index("fake-arms-2")
    for name in ("fake-arms", "fake-arms-2"):
        (record,) = (tmp_path / "runs" / name).iterdir()
        result = json.loads((record / "result.json").read_text())
        assert result["verdict"] == "holds"
        pids.append(result["metrics"]["pid"])
    assert os.getpid() not in pids  # ran in workers, not in the tour's process
    assert cli.main(["tour", "--device", "cpu", "--out", str(tmp_path / "x"), "--jobs", "0"]) == cli.EXIT_BAD_INPUT


def test_first_tour_estimates_from_the_shipped_reference_times():
    """Before any record exists, the quick tour's estimate and longest-first order come from the times
    measured on a 2-core CPU (experiments/quick_seconds.json); unknown names get the default."""
    reference = cli.reference_seconds()
    assert reference["dqn"] > reference["momentum"] > 0
    expected = cli.expected_seconds([], ["dqn", "momentum", "not-measured"], "quick")
    assert expected == {"dqn": reference["dqn"], "momentum": reference["momentum"],
                        "not-measured": cli.DEFAULT_SECONDS["quick"]}
    assert cli.expected_seconds([], ["dqn"], "smoke") == {"dqn": cli.DEFAULT_SECONDS["smoke"]}
