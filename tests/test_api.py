"""mllab from Python / a notebook (mllab.api): `import mllab` stays cheap, `mllab.run` takes config fields as
typed keyword arguments checked like `--set`, writes the record where the CLI would, and returns a Result
whose HTML shows the claim, the verdict, both arms of each comparison and the figures inline;
`mllab.list` / `describe` / `load` alike."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import ClassVar

import pytest

import mllab
from mllab import api
from mllab.core import figures, registry
from mllab.core.config import Config, at_least, positive
from mllab.core.errors import BadInput
from mllab.core.registry import Experiment, NegativeControl
from mllab.core.run import Run


@dataclass
class GridConfig(Config):
    margin: float = 0.0
    """the claim: arm a beats arm b by more than this"""
    lrs: tuple[float, ...] = (0.01, 0.1)
    """a grid (a tuple field)"""
    names: tuple[str, ...] = ("a", "b")
    """labels (a tuple of strings)"""
    steps: int = 3
    """steps of the progress bar"""
    rules: ClassVar[dict] = {"steps": at_least(1), "lrs": positive}
    profiles: ClassVar[dict] = {"smoke": {"steps": 2}}


def grid(run: Run, cfg: GridConfig) -> None:
    """Two arms over three seeds, one sanity check, one figure; the config seen is kept as a metric."""
    for _ in run.progress(range(cfg.steps), desc="fake-grid steps"):
        pass
    run.metric("lrs_seen", list(cfg.lrs))
    run.check("three seeds ran", True, observed="n = 3", kind="sanity")
    run.compare("arm a beats arm b", [1 + 1 / 3, 1 + 2 / 3, 2.0], [1.0, 1 + 1 / 3, 1 + 2 / 3 + 0.01],
                margin=cfg.margin, labels=("wide", "narrow"))
    fig, (ax,) = figures.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set(title="a line", xlabel="x (units)", ylabel="y (units)")
    run.figure("line", fig)


FAKE = Experiment("fake-grid", "training", "Arm a beats arm b by more than {margin:.2f}.", grid, GridConfig,
                  NegativeControl(("margin=5",), ("arm a beats arm b",), "the margin exceeds the gap"))


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """The registry holds only fake-grid; the current folder is tmp_path (records land under it)."""
    monkeypatch.setattr(registry, "REGISTRY", {FAKE.name: FAKE})
    monkeypatch.chdir(tmp_path)
    return FAKE


def test_import_mllab_stays_cheap_and_loads_the_api_on_first_use():
    code = ("import sys, mllab; before = sorted(m for m in ('torch', 'mllab.api', 'mllab.experiments') "
            "if m in sys.modules); run = mllab.run; print(before, 'mllab.api' in sys.modules, "
            "run is sys.modules['mllab.api'].run, 'run' in dir(mllab))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True", "True", "True"]
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        mllab.no_such_thing  # noqa: B018


def test_run_takes_typed_config_fields_and_writes_where_the_cli_does(fake, tmp_path):
    result = mllab.run("fake-grid", profile="quick", seed=3, lrs=(0.1, 0.3), names=["x", "y"], margin=0)
    assert isinstance(result, api.Result)
    assert result.verdict == "holds" and result.result["verdict"] == "holds"
    assert result.config["lrs"] == [0.1, 0.3] and result.metrics["lrs_seen"] == [0.1, 0.3]  # as in result.json
    assert result.config["names"] == ["x", "y"]
    # the CLI's default folder, relative to the current folder: mllab-out/runs/NAME/<timestamp>
    assert result.path.parent == tmp_path.joinpath("mllab-out", "runs", "fake-grid").relative_to(tmp_path)
    on_disk = json.loads((result.path / "result.json").read_text())
    assert on_disk["seed"] == 3 and on_disk["config"]["lrs"] == [0.1, 0.3]
    assert result.result == api.load(result.path).result
    # the record's command reproduces the run from a shell: the --set texts of the keyword arguments
    assert "--set lrs=0.1,0.3 --set names=x,y --set margin=0" in result.result["command"]
    assert [p.name for p in result.figures] == ["line.png"] and result.figures[0].is_file()
    assert [c["name"] for c in result.checks] == ["three seeds ran", "arm a beats arm b"]
    assert result.seconds >= 0 and result.error is None and result.modified_claim == []


def test_strings_are_set_texts_and_out_chooses_the_folder(fake, tmp_path):
    result = mllab.run("fake-grid", profile="smoke", out=tmp_path / "mine", lrs="0.2,0.4", steps="5")
    assert result.path == tmp_path / "mine" and (tmp_path / "mine" / "result.json").is_file()
    assert result.verdict == "not judged" and result.config["lrs"] == [0.2, 0.4] and result.config["steps"] == 5
    assert mllab.run("fake-grid", lrs=0.5, progress=False).config["lrs"] == [0.5]  # one value for a tuple field


@pytest.mark.parametrize("fields, message", [
    ({"lr": 0.1}, r"--set lr: GridConfig has no field 'lr'; fields are: lrs, margin, names, steps"),
    ({"steps": 2.5}, r"--set steps=2.5: expected int"),
    ({"steps": True}, r"--set steps=True: expected int"),
    ({"steps": 0}, r"--set steps: must be >= 1, got 0"),
    ({"lrs": (0.1, -1.0)}, r"--set lrs: must be > 0, got -1.0"),
    ({"names": ("a,b", "c")}, r"names=\('a,b', 'c'\): reads back as \('a', 'b', 'c'\)"),
])
def test_bad_fields_are_bad_input_naming_the_field_and_write_nothing(fake, tmp_path, fields, message):
    with pytest.raises(BadInput, match=message):
        mllab.run("fake-grid", **fields)
    assert not (tmp_path / "mllab-out").exists()


def test_unknown_experiment_and_profile_are_bad_input(fake, tmp_path):
    with pytest.raises(BadInput, match="unknown experiment 'fake-gird'; did you mean fake-grid"):
        mllab.run("fake-gird")
    with pytest.raises(BadInput, match="--profile: unknown profile 'fast'"):
        mllab.run("fake-grid", profile="fast")
    with pytest.raises(BadInput, match="no run record"):
        mllab.load(tmp_path)
    assert not (tmp_path / "mllab-out").exists()


def test_result_html_shows_claim_badge_both_arms_difference_margin_and_inline_figures(fake):
    result = mllab.run("fake-grid", margin=1)  # the arms differ by about 1/3: the claim fails
    page = result._repr_html_()
    assert "Arm a beats arm b by more than 1.00." in page
    assert re.search(r"<span style=\"[^\"]*background:#c4432b[^\"]*\">fails</span>", page)  # the verdict badge
    assert "modified claim" in page and "margin" in page  # a changed threshold is said
    comparison = next(c["comparison"] for c in result.checks if c.get("comparison"))
    cells = api.check_view({"comparison": comparison, "name": "x", "passed": False})["comparison"]
    for text in (f"wide: {cells['a']}", f"narrow: {cells['b']}", cells["difference"], cells["lower_bound"],
                 cells["margin"], "sanity checks", "claim checks", "three seeds ran", "n = 3"):
        assert text in page, text
    assert "±" in cells["a"] and "±" in cells["difference"] and cells["margin"] == "1"
    (data,) = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert base64.b64decode(data) == result.figures[0].read_bytes()  # the PNG itself, inline
    assert str(result.path) in page and "mllab run fake-grid" in page
    text = str(result)
    assert "FAILS" in text and f"wide {cells['a']} vs narrow {cells['b']}" in text and str(result.path) in text


def test_an_error_inside_the_run_is_a_result_with_its_message(monkeypatch, tmp_path):
    def broken(run: Run, cfg: GridConfig) -> None:
        raise RuntimeError("the apparatus broke")

    monkeypatch.setattr(registry, "REGISTRY", {"broken": Experiment("broken", "training", "x", broken, GridConfig)})
    result = mllab.run("broken", out=tmp_path / "r")
    assert result.verdict == "error" and result.error["message"] == "the apparatus broke"
    assert "RuntimeError: the apparatus broke" in result._repr_html_() and ">error</span>" in result._repr_html_()


def test_list_and_describe_show_as_tables(fake):
    listing = mllab.list()
    assert [tuple(e) for e in listing] == [("fake-grid", "training", "Arm a beats arm b by more than 0.00.")]
    assert mllab.list("training") == listing
    assert "fake-grid" in repr(listing) and "<code>fake-grid</code>" in listing._repr_html_()
    with pytest.raises(BadInput, match="--only: unknown section 'nope'"):
        mllab.list("nope")
    described = mllab.describe("fake-grid")
    assert described.fields[1] == ("lrs", (0.01, 0.1), "a grid (a tuple field)")
    assert described.profiles == {"smoke": {"steps": 2}}
    page = described._repr_html_()
    for text in ("fake-grid", "Arm a beats arm b by more than 0.00.", "<code>lrs</code>", "a grid (a tuple field)",
                 "steps=2", "margin=5", "the margin exceeds the gap", "<p>Two arms over three seeds"):
        assert text in page, text
    assert "lrs = (0.01, 0.1)" in repr(described)


def test_run_progress_bars_are_tqdm_auto(tmp_path):
    """In a terminal tqdm.auto is the text bar; in Jupyter it is the widget bar (ipywidgets) or text."""
    import tqdm.auto

    from mllab.core.run import Run

    run = Run(tmp_path, GridConfig(), progress_bars=True)
    try:
        bar = run.progress(range(2), desc="x")
        assert type(bar) is tqdm.auto.tqdm and not bar.disable
        bar.close()
    finally:
        run.close()


def test_the_batch_size_example_of_the_readme(tmp_path, monkeypatch):
    """The real experiment with a tuple-valued grid (smoke profile: seconds, not judged)."""
    monkeypatch.chdir(tmp_path)
    result = mllab.run("batch-size", profile="smoke", seed=0, lrs=(0.1, 0.3), progress=False)
    assert result.verdict == "not judged", result.error
    assert result.config["lrs"] == [0.1, 0.3] and "--set lrs=0.1,0.3" in result.result["command"]
    assert result.path.parts[:3] == ("mllab-out", "runs", "batch-size") and result.figures
    assert "data:image/png;base64," in result._repr_html_()
