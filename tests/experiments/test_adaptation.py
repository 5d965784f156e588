"""domain-adaptation: bad input through the CLI (one line, exit 2, nothing left); the claim's pieces; a smoke run on
the user's MNIST files (`--set dataset=mnist --data-dir`), and the full profile's dataset."""

import pytest

from mllab.cli import main
from mllab.core.config import make_config
from mllab.core.registry import REGISTRY
from mllab.core.run import execute
from mllab.experiments import load_all
from mllab.experiments.adaptation import DomainAdaptationConfig
from tests.experiments.real_data import write_mnist_like

load_all()


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    return write_mnist_like(tmp_path_factory.mktemp("mnist"))  # 500 train (425 after the validation split), 200 test


@pytest.mark.parametrize("setting, fragment", [
    ("adaptation_weight=-0.5", "adaptation_weight: must be >= 0"),
    ("n_train=5000", "n_train"),
    ("epochs=0", "epochs"),
    ("dataset=cifar10", "--set dataset: this experiment cannot take 'cifar10' (both shifts need grey digit strokes"),
    ("dataset=svhn", "--set dataset: unknown image dataset 'svhn'; choose one of mnist5k, mnist"),
])
def test_bad_input_is_one_line_and_exit_2(setting, fragment, tmp_path, capsys):
    out = tmp_path / "record"
    code = main(["run", "domain-adaptation", "--profile", "smoke", "--set", setting, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and len(err.splitlines()) == 1 and not out.exists()


def test_claim_names_its_thresholds_and_the_control_turns_adaptation_off():
    e = REGISTRY["domain-adaptation"]
    assert {"margin", "gap_fraction", "max_domain_accuracy"} <= set(e.threshold_fields)
    assert e.negative_control.overrides == ("adaptation_weight=0",)


def test_smoke_run_on_the_users_mnist(mnist_dir, tmp_path):
    result, _ = execute(REGISTRY["domain-adaptation"], profile="smoke", overrides=["dataset=mnist", "n_train=100"],
                        out=tmp_path / "rec", device="cpu", data_dir=str(mnist_dir))
    assert result["verdict"] == "not judged", result["error"]
    assert result["figure_problems"] == [] and result["config"]["dataset"] == "mnist"
    assert result["metrics"]["data"] == {"dataset": "mnist", "images per domain (train, test)": [100, 200],
                                         "image shape (C, H, W)": [3, 28, 28]}  # n_train; the files' test set


def test_more_training_images_than_the_users_files_hold_is_bad_input(mnist_dir, tmp_path, capsys):
    out = tmp_path / "record"
    code = main(["run", "domain-adaptation", "--profile", "smoke", "--set", "dataset=mnist", "--set", "n_train=1000",
                 "--data-dir", str(mnist_dir), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "n_train: must be in 1..425" in err and len(err.splitlines()) == 1 and not out.exists()


def test_full_profile_takes_the_users_mnist_when_a_folder_is_given():
    assert make_config(DomainAdaptationConfig, "quick").dataset == "mnist5k"
    assert make_config(DomainAdaptationConfig, "full").dataset == "mnist5k"
    assert make_config(DomainAdaptationConfig, "full", has_data_dir=True).dataset == "mnist"
