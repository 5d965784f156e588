"""catastrophic-forgetting and lifelong-strategies: bad input through the CLI (one line, exit 2, nothing left); smoke
runs on the user's MNIST / CIFAR-10 files (`--set dataset=… --data-dir`); the full profile's dataset."""

import pytest

from mllab.cli import main
from mllab.core.config import make_config
from mllab.core.registry import REGISTRY
from mllab.core.run import execute
from mllab.experiments import load_all
from mllab.experiments.lifelong.forgetting import CatastrophicForgettingConfig
from mllab.experiments.lifelong.strategies import LifelongStrategiesConfig
from tests.experiments.real_data import write_cifar_like, write_mnist_like

load_all()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Small user folders: 200 training + 100 test images (170 train / 30 val after the split)."""
    return {"mnist": write_mnist_like(tmp_path_factory.mktemp("mnist"), 200, 100),
            "cifar10": write_cifar_like(tmp_path_factory.mktemp("cifar"), 200, 100)}


@pytest.mark.parametrize("name, setting, fragment", [
    ("catastrophic-forgetting", "tasks=11", "without classes"),
    ("catastrophic-forgetting", "dataset=svhn", "--set dataset: unknown image dataset 'svhn'"),
    ("lifelong-strategies", "dataset=digits", "--set dataset: this experiment cannot take 'digits'"),
    ("lifelong-strategies", "dataset=mnist", "--data-dir"),  # the user's MNIST needs a folder
    ("catastrophic-forgetting", "tasks=0", "tasks: must be >= 1"),
    ("catastrophic-forgetting", "split_scenario=open-world", "unknown scenario"),
    ("lifelong-strategies", "memory_size=-1", "memory_size: must be >= 0"),
    ("lifelong-strategies", "ewc_strength=-1", "ewc_strength: must be >= 0"),
    ("lifelong-strategies", "si_strength=-0.1", "si_strength: must be >= 0"),
])
def test_bad_input_is_one_line_and_exit_2(name, setting, fragment, tmp_path, capsys):
    out = tmp_path / "record"
    code = main(["run", name, "--profile", "smoke", "--set", setting, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and len(err.splitlines()) == 1 and not out.exists()


def test_negative_controls_switch_the_remedies_off():
    assert REGISTRY["catastrophic-forgetting"].negative_control.overrides == ("tasks=1",)
    assert set(REGISTRY["lifelong-strategies"].negative_control.overrides) == {
        "ewc_strength=0", "si_strength=0", "memory_size=0"}


@pytest.mark.parametrize("name, dataset, values", [("catastrophic-forgetting", "cifar10", 3 * 32 * 32),
                                                    ("catastrophic-forgetting", "mnist", 28 * 28),
                                                    ("lifelong-strategies", "mnist", 28 * 28)])
def test_smoke_runs_on_the_users_files(name, dataset, values, folders, tmp_path):
    result, out = execute(REGISTRY[name], profile="smoke", overrides=[f"dataset={dataset}"], out=tmp_path / "rec",
                          device="cpu", data_dir=str(folders[dataset]))
    assert result["verdict"] == "not judged", result["error"]
    assert result["figure_problems"] == [] and result["config"]["dataset"] == dataset
    data = result["metrics"]["data"]
    assert data["dataset"] == dataset and data["values per image"] == values
    split = data.get("training images per task (split)", data.get("training images per task"))
    assert sum(split) == 170  # the files' 200 training images less the validation split
    assert f"--data-dir {folders[dataset]}" in result["command"]


@pytest.mark.parametrize("cls", [CatastrophicForgettingConfig, LifelongStrategiesConfig])
def test_full_profile_takes_the_users_mnist_when_a_folder_is_given(cls):
    assert make_config(cls, "quick").dataset == "mnist5k"
    assert make_config(cls, "full").dataset == "mnist5k"
    assert make_config(cls, "full", has_data_dir=True).dataset == "mnist"
    assert make_config(cls, "full", ["dataset=cifar10"], has_data_dir=True).dataset == "cifar10"
