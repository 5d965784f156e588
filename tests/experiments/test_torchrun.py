"""`mllab run` under torchrun, 2 gloo ranks on the CPU at the smoke profile.

What the maths says must be equal to the one-process record: the same global batch split over the ranks gives the
same gradient (to float rounding: the ranks' sums are added in another order), so the same weights to float32
rounding (`test_training_on_two_ranks_gives_the_one_process_weights`: < 1e-5), so the same predictions unless an
example lies within that rounding of a decision boundary (none does at these seeds: the records' accuracies, BLEU
and exposure rates are asserted exactly equal; evaluation counts summed over the ranks' shards are exact integers).
What cannot be equal: wall-clock numbers (seconds, train_seconds, the throughputs), the record's `world_size`,
`backend` and `command`. Where the training set is not a multiple of the ranks, the loaders pad (as
DistributedSampler does), a few samples count twice and the records differ: the tests use even sizes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from mllab.cli import main
from mllab.core.config import Config
from mllab.core.registry import REGISTRY, experiment, get_experiment
from mllab.core.run import Run
from mllab.train.distributed import launch
from tests.experiments.real_data import write_mnist_like

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TIMING = {"train_seconds", "train_samples_per_second", "train_tokens_per_second", "seconds_wall", "seconds_cpu"}


def same_record(distributed: dict, single: dict) -> None:
    """Everything but the wall clock and the launch equal; the distributed record says how it ran."""
    assert distributed["world_size"] == 2 and distributed["backend"] == "gloo"
    assert single["world_size"] == 1 and single["backend"] is None
    assert distributed["command"] == "torchrun --nproc_per_node 2 -m " + single["command"]
    assert set(distributed["metrics"]) == set(single["metrics"])
    for name in set(single["metrics"]) - TIMING:
        assert distributed["metrics"][name] == single["metrics"][name], name
    assert distributed["checks"] == single["checks"]  # observed numbers and comparisons alike
    for key in ("verdict", "config", "profile", "seed", "claim", "figures", "error", "modified_claim"):
        assert distributed[key] == single[key], key
    assert distributed["metrics"]["train_samples"] == single["metrics"]["train_samples"] > 0
    assert distributed["metrics"]["train_samples_per_second"] > 0


def test_torchrun_records_equal_the_one_process_records(tmp_path):
    """bench/gpu_torchrun.sh (the GPU check's script) on the CPU: DEVICE=cpu PROFILE=smoke NPROC=2, real torchrun
    with 2 gloo ranks, both experiments; then the same runs in one process."""
    data = write_mnist_like(tmp_path / "mnist", n_train=500, n_test=200)  # small IDX digits: fast in every rank
    ps_sets, tr_sets = ["dataset=mnist", "sizes=100,300"], ["epochs=3"]
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "DEVICE": "cpu", "PROFILE": "smoke", "NPROC": "2", "PYTHON": sys.executable,
           "OMP_NUM_THREADS": "1", "PS_SET": " ".join(ps_sets), "TR_SET": " ".join(tr_sets), "DATA_DIR": str(data),
           "TMPDIR": str(tmp_path / "tmp")}
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_torchrun.sh"), str(tmp_path / "two")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert not list((tmp_path / "tmp").glob("mllab-rank*"))  # rank 1's scratch folders are gone (torch's stay)
    for name, sets, extra in (("parameter-sharing", ps_sets, ["--data-dir", str(data)]),
                              ("seq2seq-translation", tr_sets, [])):
        assert done.stdout.count(f"{name}: NOT JUDGED") == 1  # rank 0 alone prints
        assert f"{name}: not judged, world_size 2 (gloo), cpu" in done.stdout  # the script's summary
        assert sorted(p.name for p in (tmp_path / "two" / name).iterdir()) == ["figures", "log.txt", "metrics.jsonl",
                                                                               "result.json"]  # one record, not two
        argv = ["run", name, "--profile", "smoke", "--device", "cpu", *extra, "--out", str(tmp_path / "one" / name),
                "-q"]
        assert main([*argv, *[a for s in sets for a in ("--set", s)]]) == 0
        two, one = (json.loads((tmp_path / n / name / "result.json").read_text()) for n in ("two", "one"))
        same_record(two, one)
        assert sorted(p.name for p in (tmp_path / "two" / name / "figures").iterdir()) == one["figures"]
    assert 0.0 < one_metric(tmp_path, "parameter-sharing", "test accuracy per size (small): mean")["300"] < 1.0
    assert sum(one_metric(tmp_path, "seq2seq-translation", "bleu_en")) > 0  # decoding produced words to compare


def one_metric(folder: Path, name: str, metric: str):
    return json.loads((folder / "one" / name / "result.json").read_text())["metrics"][metric]


def run_worker(rank: int, world_size: int, argv: list[str]) -> int:
    return main(argv)


def test_training_on_two_ranks_gives_the_one_process_weights(tmp_path):
    """parameter-sharing's training of both arms: the 2-rank weights equal one process's to float rounding."""
    single = ps_weights_worker(0, 1, tmp_path)  # first: the forked ranks inherit mnist5k, parsed once
    ranks = launch(ps_weights_worker, 2, tmp_path)
    for kind in ("cnn", "mlp"):
        assert torch.equal(ranks[0][kind], ranks[1][kind])  # the replicas agree bit for bit
        moved = (single[kind] - single[f"{kind} initial"]).abs().max()
        assert moved > 1e-2, kind  # 20 Adam steps at 3e-3 moved the weights
        assert (ranks[0][kind] - single[kind]).abs().max() < 1e-5, kind  # float32 rounding, 3 orders below


def ps_weights_worker(rank: int, world_size: int, folder: Path) -> dict:
    from mllab.core.config import make_config
    from mllab.data.images import load_images, subset
    from mllab.experiments.cnn.parameter_sharing import (
        ParameterSharingConfig,
        _train,
        make_model,
    )
    from mllab.train.distributed import TrainClock, join_torchrun

    cfg = make_config(ParameterSharingConfig, "smoke", ["steps=20"])
    run = Run(folder / f"run{world_size}-{rank}", cfg, "smoke", group=join_torchrun("cpu") if world_size > 1 else None)
    data = load_images(seed=3)
    train = subset(data.train, 200, 3)
    def flat(model: torch.nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    out = {}
    for kind in ("cnn", "mlp"):
        torch.manual_seed(3)
        out[f"{kind} initial"] = flat(make_model(kind, cfg))
        out[kind] = flat(_train(run, kind, cfg, train, 3, 3e-3, TrainClock(torch.device("cpu"))))
    run.close()
    return out


@dataclass
class FailingConfig(Config):
    failing_rank: int = 1
    """the rank that raises after the first collective"""


def failing(run: Run, cfg: FailingConfig) -> None:
    """Both ranks sum once; then one raises and the other waits for it in a second sum."""
    run.all_reduce_sum([1.0])
    if run.rank == cfg.failing_rank:
        raise ValueError(f"rank {run.rank} cannot go on")
    run.all_reduce_sum([1.0])
    run.check("finished", True, "yes")


@pytest.fixture
def failing_experiment():
    experiment("test-torchrun-failing", section="training", claim="A rank may fail.", distributed=True)(failing)
    yield get_experiment("test-torchrun-failing")
    REGISTRY.pop("test-torchrun-failing", None)


@pytest.mark.parametrize("failing_rank", [1, 0])
def test_a_failing_rank_does_not_hang_the_job_and_rank_0_records_it(failing_rank, failing_experiment, tmp_path):
    start = time.perf_counter()
    codes = launch(run_worker, 2, ["run", "test-torchrun-failing", "--profile", "smoke", "--device", "cpu", "--set",
                                   f"failing_rank={failing_rank}", "--out", str(tmp_path / "rec"), "-q"])
    assert time.perf_counter() - start < 60  # seconds, not the 600 s collective timeout
    assert codes == [1, 1]  # every rank exits with the run's error
    result = json.loads((tmp_path / "rec" / "result.json").read_text())
    assert result["verdict"] == "error" and result["error"]["type"] == "ValueError"
    prefix = "rank 1: " if failing_rank == 1 else ""
    assert result["error"]["message"] == f"{prefix}rank {failing_rank} cannot go on"
    assert "cannot go on" in result["error"]["traceback"]


def test_an_experiment_without_ddp_refuses_torchrun_with_one_line(tmp_path, capfd):
    assert not get_experiment("batch-size").distributed
    assert get_experiment("parameter-sharing").distributed and get_experiment("seq2seq-translation").distributed
    codes = launch(run_worker, 2, ["run", "batch-size", "--profile", "smoke", "--out", str(tmp_path / "rec")])
    assert codes == [2, 2]
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch-size runs on one process" in err[0] and "parameter-sharing" in err[0], err
    assert not (tmp_path / "rec").exists()


def test_bad_input_under_torchrun_is_one_line_from_rank_0(tmp_path, capfd):
    codes = launch(run_worker, 2, ["run", "parameter-sharing", "--profile", "smoke", "--device", "cpu", "--set",
                                   "batch_size=63", "--out", str(tmp_path / "rec")])
    assert codes == [2, 2]
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch_size" in err[0] and "2 ranks" in err[0], err
    assert not (tmp_path / "rec").exists()


def test_describe_says_whether_an_experiment_runs_under_torchrun(capsys):
    assert main(["describe", "parameter-sharing"]) == 0
    assert "torchrun --nproc_per_node N -m mllab run parameter-sharing" in capsys.readouterr().out
    assert main(["describe", "batch-size"]) == 0
    assert "torchrun: no, runs on one process" in capsys.readouterr().out


def test_one_process_under_torchrun_joins_a_group_of_one(tmp_path, monkeypatch):
    """`torchrun --nproc_per_node 1` (the GPU check's launch): the experiment still trains through DDP, in a group
    of one (NCCL on a GPU; here gloo), and the record says so."""
    import socket

    from mllab.train.distributed import cleanup

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    torchrun_env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
                    "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    for key, value in torchrun_env.items():
        monkeypatch.setenv(key, value)
    try:
        assert main(["run", "parameter-sharing", "--profile", "smoke", "--device", "cpu", "--set", "sizes=100,200",
                     "--set", "seeds=2", "--set", "steps=4", "--out", str(tmp_path / "rec"), "-q"]) == 0
    finally:
        cleanup()
    result = json.loads((tmp_path / "rec" / "result.json").read_text())
    assert result["world_size"] == 1 and result["backend"] == "gloo" and result["command"].startswith("mllab run")
    assert result["error"] is None and result["metrics"]["train_samples_per_second"] > 0


# --- parameter-sharing on the user's images: --set dataset=mnist|cifar10 --data-dir (small folders the tests write) --

def test_parameter_sharing_fits_its_models_to_cifar_images(tmp_path):
    from tests.experiments.real_data import write_cifar_like

    folder = write_cifar_like(tmp_path / "cifar", n_train=400, n_test=100)
    assert main(["run", "parameter-sharing", "--profile", "smoke", "--device", "cpu", "--set", "dataset=cifar10",
                 "--data-dir", str(folder), "--set", "sizes=100,200", "--out", str(tmp_path / "rec"), "-q"]) == 0
    result = json.loads((tmp_path / "rec" / "result.json").read_text())
    assert result["error"] is None and result["figure_problems"] == []
    # 3 × 32 × 32 in: CNN conv 3·8·3·3 + 8, conv 8·16·3·3 + 16, read-out (16·8·8)·10 + 10;
    # MLP 3072·256 + 256, 256·10 + 10
    assert result["metrics"]["parameters"] == {"small": 224 + 1168 + 10250, "mlp": 786688 + 2570}
    assert "--data-dir" in result["command"] and "dataset=cifar10" in result["command"]


def test_parameter_sharing_full_profile_takes_mnist_when_a_data_folder_is_given():
    from mllab.core.config import make_config
    from mllab.core.errors import BadInput
    from mllab.experiments.cnn.parameter_sharing import ParameterSharingConfig

    assert make_config(ParameterSharingConfig, "full", has_data_dir=True).dataset == "mnist"
    assert make_config(ParameterSharingConfig, "full").dataset == "mnist5k"
    assert make_config(ParameterSharingConfig, "quick", ["dataset=mnist", "sizes=250,20000"]).sizes[-1] == 20000
    with pytest.raises(BadInput, match="^--set dataset: "):
        make_config(ParameterSharingConfig, "quick", ["dataset=digits"])


@pytest.mark.parametrize("args, field", [
    (["--set", "dataset=mnist"], "--data-dir"),  # a user dataset without its folder
    (["--set", "dataset=mnist", "--set", "sizes=100,5000", "--data-dir", "DATA"], "sizes"),  # more than the folder has
])
def test_parameter_sharing_bad_data_input_is_one_line_and_exit_2(args, field, tmp_path, capsys):
    folder = write_mnist_like(tmp_path / "mnist", n_train=500, n_test=200)
    args = [str(folder) if a == "DATA" else a for a in args]
    out = tmp_path / "rec"
    assert main(["run", "parameter-sharing", "--profile", "smoke", "--device", "cpu", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err, err
    assert not out.exists() and not list(tmp_path.glob(".rec.partial-*"))
