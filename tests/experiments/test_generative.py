"""Section "generative": configs validate per field, bad input is one line and exit 2 through the CLI; the digit
experiments run on the user's MNIST / CIFAR-10 files (`--set dataset=… --data-dir`)."""

import dataclasses

import pytest

from mllab.cli import main
from mllab.core.config import make_config
from mllab.core.errors import BadInput
from mllab.core.registry import REGISTRY
from mllab.core.run import execute
from mllab.experiments.generative.js_vs_wasserstein import JsVsWassersteinConfig
from mllab.experiments.generative.autoencoder import AutoencoderConfig
from mllab.experiments.generative.gan_digits import GanDigitsConfig
from mllab.experiments.generative.mode_collapse import ModeCollapseConfig
from mllab.experiments.generative.wasserstein_tracks_quality import WassersteinTracksQualityConfig, tracking
from tests.experiments.real_data import write_cifar_like, write_mnist_like

CONFIGS = [JsVsWassersteinConfig, ModeCollapseConfig, AutoencoderConfig, GanDigitsConfig,
           WassersteinTracksQualityConfig]


@pytest.mark.parametrize("cls", CONFIGS)
def test_every_numeric_field_has_an_explicit_rule(cls):
    numeric = [f.name for f in dataclasses.fields(cls)
               if f.type in ("int", "float", "tuple[float, ...]", "tuple[int, ...]")]
    assert [n for n in numeric if n not in cls.rules] == []


@pytest.mark.parametrize("overrides, fragment", [
    (["n_critic=0"], "n_critic"), (["penalty_weight=-1"], "penalty_weight"), (["objectives=gan,dcgan"], "dcgan"),
    (["latent_dim=0"], "latent_dim"), (["mixtures=spiral"], "spiral"), (["objectives=lsgan,wgan"], "must include gan"),
])
def test_mode_collapse_bad_values(overrides, fragment):
    with pytest.raises(BadInput, match=fragment) as info:
        make_config(ModeCollapseConfig, "quick", overrides)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("argv, fragment", [
    (["run", "mode-collapse", "--set", "n_critic=0"], "n_critic"),
    (["run", "mode-collapse", "--set", "penalty_weight=-0.5"], "penalty_weight"),
    (["run", "mode-collapse", "--set", "objectives=gan,wgan-gq"], "wgan-gq"),
    (["run", "mode-collapse", "--set", "latent_dim=0"], "latent_dim"),
    (["run", "js-vs-wasserstein", "--set", "far=0,2"], "far"),
    (["run", "autoencoder", "--set", "code_sizes=2,64"], "code_sizes"),
    (["run", "autoencoder", "--set", "anomaly_class=10"], "anomaly_class"),
    (["run", "autoencoder", "--set", "activation=tanh"], "activation"),
    (["run", "gan-digits", "--set", "latent_dim=0"], "latent_dim"),
    (["run", "gan-digits", "--set", "generator_lr=-1"], "generator_lr"),
    (["run", "gan-digits", "--set", "objective=dcgan"], "objective"),
    (["run", "gan-digits", "--set", "dataset=cifar10"], "--set dataset: this experiment cannot take 'cifar10' (an "
                                                        "MLP judge reaches about 50 % test accuracy"),
    (["run", "gan-digits", "--set", "dataset=mnist"], "--data-dir"),  # the user's MNIST needs a folder
    (["run", "autoencoder", "--set", "dataset=svhn"], "--set dataset: unknown image dataset 'svhn'"),
    (["run", "autoencoder", "--set", "dataset=mnist", "--set", "code_sizes=784"], "must be < 784 values for mnist"),
    (["run", "wasserstein-tracks-quality", "--set", "penalty_weight=-1"], "penalty_weight"),
    (["run", "wasserstein-tracks-quality", "--set", "n_critic=0"], "n_critic"),
    (["run", "wasserstein-tracks-quality", "--set", "checkpoints=2"], "checkpoints"),
])
def test_cli_bad_input_is_one_line_exit_2(argv, fragment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(argv + ["--out", str(tmp_path / "rec")])
    _, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in err
    assert not (tmp_path / "rec").exists()


def test_tracking_is_minus_spearman_and_zero_when_constant():
    rows = [{"reading": r, "high_quality": q} for r, q in zip([3.0, 2.0, 2.5, 1.0], [0.1, 0.2, 0.15, 0.9])]
    assert tracking(rows) == pytest.approx(1.0)  # the reading falls exactly as quality rises (in rank)
    rows = [{"reading": r, "high_quality": q} for r, q in zip([1.0, 2.0, 3.0], [0.1, 0.2, 0.3])]
    assert tracking(rows) == pytest.approx(-1.0)
    assert tracking([{"reading": r, "high_quality": 0.0} for r in (1.0, 2.0, 3.0)]) == 0.0


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Small user folders: 200 training + 100 test images (170 train / 30 val after the split)."""
    return {"mnist": write_mnist_like(tmp_path_factory.mktemp("mnist"), 200, 100),
            "cifar10": write_cifar_like(tmp_path_factory.mktemp("cifar"), 200, 100)}


@pytest.mark.parametrize("name, dataset, overrides, values", [
    ("autoencoder", "mnist", (), 784),
    ("autoencoder", "cifar10", (), 3 * 32 * 32),
    # 170 training digits cannot give the judge its 90 % floor in a smoke run; the threshold is not the point here
    ("gan-digits", "mnist", ("min_judge_accuracy=0",), 784),
])
def test_smoke_runs_on_the_users_files(name, dataset, overrides, values, folders, tmp_path):
    result, _ = execute(REGISTRY[name], profile="smoke", overrides=[f"dataset={dataset}", *overrides],
                        out=tmp_path / "rec", device="cpu", data_dir=str(folders[dataset]))
    assert result["verdict"] == "not judged", result["error"]
    assert result["figure_problems"] == [] and result["config"]["dataset"] == dataset
    data = result["metrics"]["data"]
    assert data["dataset"] == dataset and data["images (train, val, test)"] == [170, 30, 100]
    assert values == data.get("values per image", data.get("pixels per image"))


@pytest.mark.parametrize("cls, quick, full", [(AutoencoderConfig, "digits", "mnist5k"), (GanDigitsConfig, "digits",
                                                                                           "digits")])
def test_full_profile_takes_the_users_mnist_when_a_folder_is_given(cls, quick, full):
    assert make_config(cls, "quick").dataset == quick and make_config(cls, "full").dataset == full
    assert make_config(cls, "full", has_data_dir=True).dataset == "mnist"
    assert make_config(cls, "full", ["dataset=mnist5k"], has_data_dir=True).dataset == "mnist5k"
