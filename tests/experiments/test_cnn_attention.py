"""cnn-is-restricted-attention: part 1's construction is exact for several K (and fails with flat scores);
bad input through the CLI is one line and exit 2; smoke runs on the user's MNIST / CIFAR-10 files (`--set
dataset=… --data-dir`), the models for 3 × 32 × 32 images, and the full profile's dataset."""

import pytest
import torch

from mllab.cli import main
from mllab.core.config import make_config
from mllab.core.errors import BadInput
from mllab.core.registry import REGISTRY
from mllab.core.run import execute
from mllab.experiments.attention.cnn_attention import CnnAttentionConfig, _part_one, make_model
from mllab.models.vit import parameter_count
from tests.experiments.real_data import write_cifar_like, write_mnist_like


class _Run:  # the part of `Run` that `_part_one` reads
    seed = 0
    data_dir = None


def test_part_one_reproduces_random_convolutions_for_several_kernel_sizes():
    cfg = make_config(CnnAttentionConfig, "quick", ["kernels=1,3,5", "conv_images=2"])
    errors = _part_one(_Run(), cfg)["errors"]
    assert set(errors) == {"1", "3", "5"}
    assert max(e["float32"] for e in errors.values()) <= 1e-5
    assert max(e["float64"] for e in errors.values()) <= 1e-10


def test_part_one_fails_with_flat_positional_scores():
    cfg = make_config(CnnAttentionConfig, "quick", ["kernels=3", "conv_images=1", "beta=0"])
    assert _part_one(_Run(), cfg)["errors"]["3"]["float32"] > 1e-2


@pytest.mark.parametrize("dataset, shape, patch", [("mnist5k", (1, 28, 28), 7), ("cifar10", (3, 32, 32), 8)])
def test_arms_fit_the_images_and_have_similar_parameter_counts(dataset, shape, patch):
    cfg = make_config(CnnAttentionConfig, "quick", [f"dataset={dataset}"])
    assert cfg.patch_side == patch  # patch=0: a quarter of the side
    models = [make_model(kind, cfg) for kind in ("cnn", "vit")]
    assert all(m(torch.zeros(2, *shape)).shape == (2, 10) for m in models)
    counts = [parameter_count(m) for m in models]
    assert max(counts) / min(counts) <= cfg.param_tolerance


def test_patch_must_divide_the_datasets_side():
    with pytest.raises(BadInput, match=r"--set patch: image size 32 \(cifar10\) is not divisible by patch size 7; "
                                       r"use 1, 2, 4, 8, 16, 32, or 0 for 8"):
        make_config(CnnAttentionConfig, "quick", ["dataset=cifar10", "patch=7"])
    assert make_config(CnnAttentionConfig, "quick", ["dataset=cifar10", "patch=4"]).patch_side == 4


@pytest.mark.parametrize("override,field", [("patch=5", "patch"), ("kernels=2", "kernels"),
                                            ("sizes=100,5000", "sizes"), ("width=7", "width"), ("beta=-1", "beta"),
                                            ("dataset=digits", "dataset"), ("dataset=cifar10", "--data-dir")])
def test_bad_input_exits_2_with_one_line(override, field, tmp_path, capsys):
    code = main(["run", "cnn-is-restricted-attention", "--profile", "smoke", "--set", override,
                 "--out", str(tmp_path / "rec")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and field in err, err
    assert not (tmp_path / "rec").exists()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """User folders of 500 training + 200 test images (425 / 75 / 200 after the split; smoke's sizes go to 300)."""
    return {"mnist": write_mnist_like(tmp_path_factory.mktemp("mnist")),
            "cifar10": write_cifar_like(tmp_path_factory.mktemp("cifar"))}


@pytest.mark.parametrize("dataset, shape", [("cifar10", [3, 32, 32]), ("mnist", [1, 28, 28])])
def test_smoke_runs_on_the_users_files(dataset, shape, folders, tmp_path):
    result, _ = execute(REGISTRY["cnn-is-restricted-attention"], profile="smoke", overrides=[f"dataset={dataset}"],
                        out=tmp_path / "rec", device="cpu", data_dir=str(folders[dataset]))
    assert result["verdict"] == "not judged", result["error"]
    assert result["figure_problems"] == [] and result["config"]["dataset"] == dataset
    assert result["metrics"]["data"] == {"dataset": dataset, "images (train, val, test)": [425, 75, 200],
                                         "image shape (C, H, W)": shape}
    cfg = make_config(CnnAttentionConfig, "smoke", [f"dataset={dataset}"])
    assert result["metrics"]["parameters"] == {"cnn": parameter_count(make_model("cnn", cfg)),
                                               "contender": parameter_count(make_model("vit", cfg))}
    assert result["checks"][0]["passed"]  # part 1: the construction is exact on the user's images too


def test_sizes_beyond_the_users_files_are_bad_input(folders, tmp_path, capsys):
    out = tmp_path / "rec"
    code = main(["run", "cnn-is-restricted-attention", "--profile", "smoke", "--set", "dataset=mnist", "--set",
                 "sizes=100,1000", "--data-dir", str(folders["mnist"]), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--set sizes: mnist has 425 training images" in err, err
    assert not out.exists()


def test_full_profile_takes_the_users_mnist_when_a_folder_is_given():
    assert make_config(CnnAttentionConfig, "quick").dataset == "mnist5k"
    assert make_config(CnnAttentionConfig, "full").dataset == "mnist5k"
    assert make_config(CnnAttentionConfig, "full", has_data_dir=True).dataset == "mnist"
