"""`execute` and the run record: result.json keys, verdicts, bad input leaves nothing, errors exit 1 via the CLI."""

import dataclasses
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mllab.cli import main  # noqa: E402
from mllab.core.config import Config  # noqa: E402
from mllab.core.errors import BadInput  # noqa: E402
from mllab.core.registry import REGISTRY, experiment  # noqa: E402
from mllab.core.run import Run, execute  # noqa: E402

# result.json keys that DESIGN.md names
DESIGN_KEYS = {"experiment", "claim", "section", "verdict", "checks", "metrics", "seconds", "profile", "seed",
               "config", "versions"}


@dataclasses.dataclass
class ProbeConfig(Config):
    threshold: float = 0.5
    """the check passes when a uniform draw is below this"""
    mode: str = "measure"
    """measure | crash | bad-input | silent | broken-sanity | compare"""

    profiles = {"smoke": {"threshold": 2.0}, "full": {"threshold": 0.9}}


def probe(run: Run, cfg: ProbeConfig) -> None:
    """Draws one number from the seeded RNG, logs, draws a figure and checks it against the threshold."""
    value = float(torch.rand(()))
    run.log(f"drew {value}")
    run.metric("value", value)
    run.log_metrics(step=0, value=value)
    run.log_metrics(step=1, value=value / 2)
    if cfg.mode == "silent":
        return
    run.check("the draw lies in [0, 1)", 0 <= value < (1 if cfg.mode != "broken-sanity" else 0), observed=f"{value}",
              kind="sanity")
    if cfg.mode == "compare":  # arm a = arm b + 0.1 on every seed: beats margin 0.05, not margin 0.2
        b = [value, value / 2, value / 3]
        run.compare("a beats b", [v + 0.1 for v in b], b, margin=cfg.threshold - 0.45, labels=("a", "b"))
    run.check("draw below threshold", value < cfg.threshold, observed=f"{value:.4f}", expected=f"< {cfg.threshold}")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, value])
    run.figure("draw", fig)
    if cfg.mode == "crash":
        raise RuntimeError("the experiment broke")
    if cfg.mode == "bad-input":
        raise BadInput("--set mode: bad-input asked for; choose measure")


NAME = "probe-experiment"


@pytest.fixture
def probe_experiment():
    """Registers a throwaway experiment and removes it from the registry afterwards."""
    experiment(NAME, section="training", claim="a uniform draw falls below {threshold:g}")(probe)
    yield REGISTRY[NAME]
    del REGISTRY[NAME]


def test_record_has_every_key_of_the_design(tmp_path, probe_experiment):
    result, out = execute(probe_experiment, profile="smoke", seed=3, out=tmp_path / "rec", device="cpu",
                          overrides=["mode=measure"])
    on_disk = json.loads((out / "result.json").read_text())
    assert DESIGN_KEYS <= set(on_disk)
    assert on_disk == json.loads(json.dumps(result))
    assert (on_disk["experiment"], on_disk["section"], on_disk["profile"], on_disk["seed"]) == (
        NAME, "training", "smoke", 3)
    assert on_disk["claim"] == "a uniform draw falls below 2"  # formatted from the config
    assert on_disk["verdict"] == "not judged" and on_disk["modified_claim"] == []  # smoke proves nothing
    assert on_disk["command"] == f"mllab run {NAME} --profile smoke --seed 3 --set mode=measure"
    assert on_disk["config"] == {"threshold": 2.0, "mode": "measure"}
    check = on_disk["checks"][1]
    assert set(check) == {"name", "passed", "observed", "expected", "kind", "comparison"}
    assert check["expected"] == "< 2.0" and check["kind"] == "claim" and on_disk["checks"][0]["kind"] == "sanity"
    assert on_disk["metrics"]["value"] == pytest.approx(float(check["observed"]), abs=1e-4)
    assert on_disk["seconds"] >= 0 and on_disk["versions"]["torch"] == torch.__version__
    assert on_disk["error"] is None and on_disk["figures"] == ["draw.png"]
    assert (out / "figures" / "draw.png").read_bytes()[:4] == b"\x89PNG"
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [0, 1]
    log = (out / "log.txt").read_text()
    assert "drew" in log and "verdict not judged" in log
    assert [p.name for p in tmp_path.iterdir()] == ["rec"]  # no staging folder left beside it


def test_same_seed_same_record_numbers(tmp_path, probe_experiment):
    values = [execute(probe_experiment, seed=s, out=tmp_path / f"rec{i}", device="cpu")[0]["metrics"]["value"]
              for i, s in enumerate((7, 7, 8))]
    assert values[0] == values[1] != values[2]


@pytest.mark.parametrize("overrides,verdict", [
    (["threshold=2"], "holds"),  # every check passes
    (["threshold=-1"], "fails"),  # a check fails
    (["mode=silent"], "error"),  # no claim check at all: nothing was tested
    (["threshold=2", "mode=broken-sanity"], "error"),  # the apparatus is broken: the claim check means nothing
    (["threshold=0.5", "mode=compare"], "holds"),  # difference 0.1 on every seed beats margin 0.05
    (["threshold=0.65", "mode=compare"], "fails"),  # ... and not margin 0.2
    (["threshold=2", "mode=crash"], "error"),  # an exception, even after passing checks
])
def test_verdict_is_derived_from_checks_and_errors(tmp_path, probe_experiment, overrides, verdict):
    result, out = execute(probe_experiment, out=tmp_path / "rec", device="cpu", overrides=overrides)
    assert result["verdict"] == verdict
    assert json.loads((out / "result.json").read_text())["verdict"] == verdict
    if verdict == "error" and "mode=crash" in overrides:
        assert result["error"]["type"] == "RuntimeError" and result["error"]["message"] == "the experiment broke"
        assert "Traceback" in result["error"]["traceback"]
        assert "error: RuntimeError: the experiment broke" in (out / "log.txt").read_text()
    elif verdict == "error":
        assert result["error"]["type"] == {"mode=silent": "NoClaimCheck"}.get(overrides[-1], "SanityCheckFailed")
    else:
        assert result["error"] is None


def test_comparison_is_recorded_with_both_arms(tmp_path, probe_experiment):
    result, _ = execute(probe_experiment, out=tmp_path / "rec", device="cpu", overrides=["mode=compare"])
    check = next(c for c in result["checks"] if c["name"] == "a beats b")
    comparison = check["comparison"]
    assert comparison["n"] == 3 and comparison["paired"] and comparison["a"]["label"] == "a"
    assert comparison["difference"] == pytest.approx(0.1) and comparison["a"]["mean"] > comparison["b"]["mean"]
    assert "±" in check["observed"] and check["kind"] == "claim"


def test_changed_threshold_marks_the_claim_modified(tmp_path, probe_experiment):
    result, _ = execute(probe_experiment, out=tmp_path / "rec", device="cpu", overrides=["threshold=2"])
    assert result["modified_claim"] == ["threshold"] and result["claim"] == "a uniform draw falls below 2"
    result, _ = execute(probe_experiment, out=tmp_path / "rec2", device="cpu", overrides=["mode=measure"])
    assert result["modified_claim"] == [] and result["claim"] == "a uniform draw falls below 0.5"


def test_experiment_runs_with_one_torch_thread_and_restores_it(tmp_path):
    seen = []
    before = torch.get_num_threads()

    def spy(run: Run, cfg: ProbeConfig) -> None:
        seen.append(torch.get_num_threads())
        probe(run, cfg)

    experiment("thread-probe", section="training", claim="x")(spy)
    try:
        execute(REGISTRY["thread-probe"], out=tmp_path / "rec", device="cpu")
    finally:
        del REGISTRY["thread-probe"]
    assert seen == [1] and torch.get_num_threads() == before


def test_bad_input_inside_a_run_leaves_no_folder_behind(tmp_path, probe_experiment):
    out = tmp_path / "runs" / NAME / "rec"
    with pytest.raises(BadInput, match="bad-input asked for"):
        execute(probe_experiment, out=out, device="cpu", overrides=["threshold=2", "mode=bad-input"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs,message", [
    (dict(overrides=["nope=1"]), "no field 'nope'"),
    (dict(overrides=["threshold=x"]), "--set threshold"),
    (dict(profile="medium"), "--profile"),
    (dict(device="tpu"), "--device"),
    (dict(data_dir="does-not-exist"), "--data-dir"),
])
def test_bad_input_before_a_run_leaves_nothing(tmp_path, probe_experiment, kwargs, message):
    with pytest.raises(BadInput, match=message):
        execute(probe_experiment, out=tmp_path / "runs" / "rec", **{"device": "cpu", **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_out_folder_that_is_not_empty_is_bad_input(tmp_path, probe_experiment):
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "keep.txt").write_text("mine")
    with pytest.raises(BadInput, match="--out"):
        execute(probe_experiment, out=tmp_path / "rec", device="cpu")
    assert [p.name for p in (tmp_path / "rec").iterdir()] == ["keep.txt"]


# --- through the CLI: exit codes --------------------------------------------------------------------------------

def _cli(*args: str) -> int:
    return main(["run", NAME, "--device", "cpu", *args])


@pytest.mark.parametrize("overrides,code", [("threshold=2", 0), ("threshold=-1", 0), ("mode=crash", 1)])
def test_cli_exit_code_follows_the_run(tmp_path, probe_experiment, capsys, overrides, code):
    assert _cli("--out", str(tmp_path / "rec"), "--set", overrides) == code
    captured = capsys.readouterr()
    result = json.loads((tmp_path / "rec" / "result.json").read_text())
    assert result["verdict"] == {0: "holds" if "2" in overrides else "fails", 1: "error"}[code]
    if code == 1:
        assert "RuntimeError: the experiment broke" in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize("args", [("--set", "mode=bad-input", "--set", "threshold=2"), ("--set", "lr=1"),
                                  ("--profile", "medium")])
def test_cli_bad_input_exits_2_with_one_line_and_no_folder(tmp_path, probe_experiment, capsys, args):
    assert _cli("--out", str(tmp_path / "runs" / "rec"), *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_experiment_exits_2(capsys):
    assert main(["run", "no-such-experiment"]) == 2
    assert "unknown experiment 'no-such-experiment'" in capsys.readouterr().err
