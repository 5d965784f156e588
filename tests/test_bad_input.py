"""Bad input to the CLI: one line on stderr naming the problem and the fix, exit code 2, no traceback,
and no run record (nor half of one) left behind.

Most cases call `mllab.cli.main` in this process; two go through a real `python -m mllab.cli`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from mllab.cli import main
from mllab.core.config import Config
from mllab.core.registry import REGISTRY, SECTIONS, experiment
from mllab.core.run import Run
from mllab.data import make_dataset

EXIT_BAD_INPUT = 2


def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file: magic 0x00000800 + ndim, big-endian int32 sizes, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def mnist_folder(folder: Path, *, train_labels: np.ndarray | None = None) -> Path:
    """Four tiny MNIST IDX files (60 training, 20 test images of 28x28)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 10 if train_labels is None else train_labels
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (60, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte", labels)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (20, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(20) % 10)
    return folder


def _labels_out_of_range(tmp: Path) -> None:
    labels = np.arange(60) % 10
    labels[7] = 12
    mnist_folder(tmp / "data", train_labels=labels)


def _missing_file(tmp: Path) -> None:
    (mnist_folder(tmp / "data") / "t10k-labels-idx1-ubyte").unlink()


def _truncated_file(tmp: Path) -> None:
    images = mnist_folder(tmp / "data") / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])


def _bad_magic(tmp: Path) -> None:
    (mnist_folder(tmp / "data") / "train-labels-idx1-ubyte").write_bytes(b"<html>not found</html>")


def _a_file(tmp: Path) -> None:
    (tmp / "a_file").write_text("not a folder")


def _empty_folder(tmp: Path) -> None:
    (tmp / "no_records" / "deeper").mkdir(parents=True)
    (tmp / "no_records" / "deeper" / "result.json").write_text("[]")  # not a run record


def _non_empty_out(tmp: Path) -> None:
    (tmp / "previous").mkdir()
    (tmp / "previous" / "result.json").write_text("{}")


@dataclass
class NanConfig(Config):
    n_samples: int = 40
    """samples of the generated task"""


def nan_features(run: Run, cfg: NanConfig) -> None:
    """A task whose features hold one NaN, handed to make_dataset as a user's data would be."""
    x = np.random.default_rng(0).normal(size=(cfg.n_samples, 3))
    x[9, 1] = np.nan
    make_dataset("nan-task", x, np.arange(cfg.n_samples) % 2, n_classes=2)


@pytest.fixture
def nan_experiment():
    """Register a test-only experiment that feeds NaN features to make_dataset; removed afterwards."""
    experiment("test-nan-features", section="training", claim="(test only) NaN features are refused")(nan_features)
    yield
    REGISTRY.pop("test-nan-features", None)


MNIST = ["--set", "dataset=mnist", "--set", "n_train=10", "--data-dir", "{tmp}/data"]

# (id, argv with {tmp} for the test's folder, set-up, fragments the message must contain: problem, fix)
CASES = [
    ("unknown experiment", ["run", "no-such-experiment"], None, ["unknown experiment", "mllab list"]),
    ("misspelled experiment", ["run", "overfiting"], None, ["unknown experiment", "did you mean overfitting"]),
    ("unknown --set key", ["run", "overfitting", "--set", "learning_rat=0.1"], None,
     ["no field 'learning_rat'", "fields are", "lr"]),
    ("mistyped --set value", ["run", "overfitting", "--set", "epochs=abc"], None,
     ["epochs=abc", "expected int", "e.g. --set epochs="]),
    ("--set without =", ["run", "overfitting", "--set", "epochs"], None,
     ["'epochs'", "field=value", "e.g. --set epochs="]),
    ("negative lr", ["run", "overfitting", "--set", "lr=-0.1"], None, ["lr", "> 0", "got -0.1", "e.g. --set lr="]),
    ("nan lr", ["run", "overfitting", "--set", "lr=nan"], None, ["lr", "not a finite number", "finite value"]),
    ("zero epochs", ["run", "overfitting", "--set", "epochs=0"], None,
     ["epochs", ">= 1", "got 0", "e.g. --set epochs="]),
    ("zero accum_steps", ["run", "grad-accumulation", "--set", "accum_steps=0"], None,
     ["accum_steps", ">= 1", "got 0", "e.g. --set accum_steps="]),
    ("zero batch size", ["run", "overfitting", "--set", "batch_size=0"], None,
     ["batch_size", ">= 1", "got 0", "e.g. --set batch_size="]),
    ("dropout out of range", ["run", "overfitting", "--set", "dropouts=0.2,1.5"], None,
     ["dropouts", "[0, 1]", "1.5", "e.g. --set dropouts="]),
    ("unknown dataset", ["run", "overfitting", "--set", "dataset=imagenet"], None,
     ["unknown dataset 'imagenet'", "choose one of"]),
    ("subset larger than the data", ["run", "overfitting", "--set", "n_train=100000", "--profile", "smoke"], None,
     ["n_train", "exceeds", "smaller subset"]),
    ("labels out of range", ["run", "overfitting", *MNIST], _labels_out_of_range,
     ["label", "12", "0..9"]),
    ("NaN features", ["run", "test-nan-features"], "nan_experiment",
     ["NaN", "sample 9", "clean or impute"]),
    ("dataset needs --data-dir", ["run", "overfitting", "--set", "dataset=mnist"], None,
     ["needs your own files", "--data-dir"]),
    ("--data-dir missing", ["run", "overfitting", "--data-dir", "{tmp}/nowhere"], None,
     ["nowhere is not a folder", "give the folder"]),
    ("missing data file", ["run", "overfitting", *MNIST], _missing_file,
     ["no t10k-labels-idx1-ubyte", "put the four MNIST IDX files there"]),
    ("truncated data file", ["run", "overfitting", *MNIST], _truncated_file,
     ["train-images-idx3-ubyte", "truncated or corrupt", "replace it"]),
    ("corrupt data file", ["run", "overfitting", *MNIST], _bad_magic,
     ["train-labels-idx1-ubyte", "bad magic number", "replace it"]),
    ("unknown device", ["run", "overfitting", "--device", "tpu"], None, ["unknown device 'tpu'", "use auto, cpu"]),
    ("malformed device", ["run", "overfitting", "--device", "cuda:x"], None, ["device 'cuda:x'", "use auto, cpu"]),
    ("--out under a file", ["run", "overfitting", "--out", "{tmp}/a_file/record"], _a_file,
     ["--out", "a_file", "choose a writable path"]),
    ("--out non-empty folder", ["run", "overfitting", "--out", "{tmp}/previous"], _non_empty_out,
     ["--out", "previous already exists", "choose a new path"]),
    ("unknown profile", ["run", "overfitting", "--profile", "huge"], None,
     ["unknown profile 'huge'", "smoke, quick, full"]),
    ("unknown option", ["run", "overfitting", "--epochs", "3"], None, ["unrecognized arguments: --epochs", "--help"]),
    ("--seed not an integer", ["run", "overfitting", "--seed", "abc"], None, ["--seed", "invalid int value", "--help"]),
    ("negative --seed", ["run", "momentum", "--seed", "-1"], None,
     ["--seed: -1 is out of range", "0 <= seed < 2**32"]),
    ("--seed beyond 64 bits", ["run", "momentum", "--seed", "99999999999999999999"], None,
     ["--seed: 99999999999999999999 is out of range", "0 <= seed < 2**32"]),
    ("tour with a negative --seed", ["tour", "--seed", "-1"], None, ["--seed: -1 is out of range", "0 <= seed"]),
    ("--set multiplying the work far beyond the profile", ["run", "momentum", "--set", "seeds=100000"], None,
     ["--set", "may take up to about", "seeds", "→ 100000", "the work of a quick run", "add --yes to run it anyway"]),
    ("unknown tour section", ["tour", "--only", "poetry"], None, ["--only", "invalid choice: 'poetry'", "training"]),
    ("report of a missing folder", ["report", "--runs", "{tmp}/missing_dir"], None,
     ["--runs", "missing_dir is not a folder", "mllab tour"]),
    ("tour of a section without experiments", ["tour", "--only", "{empty_section}"], None,
     ["--only", "has no experiments yet", "sections with experiments"]),
    ("tour with an unknown profile", ["tour", "--profile", "huge"], None,
     ["unknown profile 'huge'", "smoke, quick, full"]),
    ("report of a folder without records", ["report", "--runs", "{tmp}/no_records"], _empty_folder,
     ["--runs", "no run records", "mllab run NAME"]),
    ("describe unknown experiment", ["describe", "overfit"], None, ["unknown experiment 'overfit'", "overfitting"]),
    ("no command", [], None, ["required", "--help"]),
]
if not torch.cuda.is_available():
    CASES.append(("cuda without a GPU", ["run", "overfitting", "--device", "cuda"], None,
                  ["CUDA is not available", "--device cpu"]))


def _empty_section() -> str:
    """A section of the notes with no experiment registered yet."""
    empty = [s for s in SECTIONS if not any(e.section == s for e in REGISTRY.values())]
    if not empty:
        pytest.skip("every section has experiments")
    return empty[0]


def assert_nothing_left(tmp: Path, before: set[Path]) -> None:
    """No run record, staging folder or report appeared (empty folders aside)."""
    after = {p for p in tmp.rglob("*") if p.is_file()}
    new_files = sorted(str(p.relative_to(tmp)) for p in after - before)
    assert new_files == [], f"bad input left files behind: {new_files}"
    runs = tmp / "runs"
    records = [p for p in runs.rglob("*") if len(p.relative_to(runs).parts) >= 2] if runs.exists() else []
    assert records == [], f"bad input left a run folder: {records}"
    for name in ("tour", "mllab-out", "missing_dir", "nowhere"):
        assert not (tmp / name).exists()


def check_one_line(err: str, fragments: list[str]) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


@pytest.mark.parametrize("argv, setup, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_left(argv, setup, fragments, tmp_path, monkeypatch, capsys, request):
    monkeypatch.chdir(tmp_path)
    if isinstance(setup, str):
        request.getfixturevalue(setup)
    elif setup is not None:
        setup(tmp_path)
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    if "{empty_section}" in argv:
        argv = [a.replace("{empty_section}", _empty_section()) for a in argv]
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    out, err = capsys.readouterr()
    assert code == EXIT_BAD_INPUT, f"exit {code}; stderr: {err}"
    check_one_line(err, fragments)
    assert out == ""
    assert_nothing_left(tmp_path, before)


def test_unwritable_out_folder(tmp_path, monkeypatch, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes through chmod 0o500; the '--out under a file' case covers this")
    monkeypatch.chdir(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        code = main(["run", "overfitting", "--out", str(locked / "record")])
    finally:
        locked.chmod(0o700)
    assert code == EXIT_BAD_INPUT
    check_one_line(capsys.readouterr().err, ["--out", "cannot write under", "choose a writable path"])
    assert list(locked.iterdir()) == []


def test_bad_input_through_a_real_process(tmp_path):
    """`python -m mllab.cli` itself: exit status 2, one stderr line, no traceback (two cases, run side by side)."""
    cases = [(["run", "no-such-experiment"], ["unknown experiment", "mllab list"]),
             (["run", "overfitting", "--set", "epochs=abc"], ["epochs=abc", "expected int"])]
    procs = [subprocess.Popen([sys.executable, "-m", "mllab.cli", *argv], cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for argv, _ in cases]
    for proc, (_, fragments) in zip(procs, cases):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == EXIT_BAD_INPUT, err
        check_one_line(err, fragments)
        assert out == ""
    assert list(tmp_path.iterdir()) == []
