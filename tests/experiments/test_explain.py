"""The explain section's experiments: bad input through the CLI (one line, exit 2, no record), the planted task's
evidence (on photos and on given backgrounds), smoke runs on the user's MNIST / CIFAR-10 files (`--set dataset=…
--data-dir`), and the full profile's dataset."""

import pytest
import torch

from mllab.cli import main
from mllab.core.config import make_config
from mllab.core.registry import REGISTRY
from mllab.core.run import execute
from mllab.experiments.explain.explanation_sanity import ExplanationSanityConfig
from mllab.experiments.explain.lime import LimeConfig
from mllab.experiments.explain.saliency_maps import SaliencyMapsConfig
from mllab.experiments.explain.smoothgrad import SmoothGradConfig, stroke_share, total_variation
from mllab.explain import block_segments
from mllab.explain.planted import evidence_features, planted_patch_task
from tests.experiments.real_data import write_cifar_like, write_mnist_like


@pytest.mark.parametrize("name,override,field", [
    ("saliency-maps", "images=0", "images"),
    ("saliency-maps", "attribution=gradcam", "attribution"),
    ("smoothgrad", "noise=-0.1", "noise"),
    ("smoothgrad", "ns=0,5", "ns"),
    ("lime", "n_samples=0", "n_samples"),
    ("lime", "kernel_width=0", "kernel_width"),
    ("explanation-sanity", "ig_steps=0", "ig_steps"),
    ("explanation-sanity", "margin=-1", "margin"),
    ("saliency-maps", "dataset=svhn", "--set dataset: unknown image dataset 'svhn'"),
    ("smoothgrad", "dataset=digits", "--set dataset: this experiment cannot take 'digits'"),
    ("explanation-sanity", "dataset=mnist", "--data-dir"),  # the user's MNIST needs a folder
    ("lime", "dataset=svhn", "choose one of photos, mnist5k, mnist, cifar10"),
])
def test_bad_input_is_one_line_and_exit_2(name, override, field, tmp_path, capsys):
    out = tmp_path / "rec"
    code = main(["run", name, "--profile", "smoke", "--set", override, "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and field in err, err
    assert not out.exists()


def test_planted_task_evidence_is_the_checkerboard_block():
    task = planted_patch_task(40, seed=3)
    assert task.y.sum() == 20  # balanced
    seg = block_segments(28, 28, 4)
    for i in range(40):
        features = evidence_features(seg, task.evidence[i])
        assert int(features.sum()) == int(task.y[i])  # one block for class 1, none for class 0
        if task.y[i] == 1:
            patch = task.x[i, 0][task.evidence[i]]
            assert sorted(patch.unique().tolist()) == [0.0, 1.0]  # a checkerboard


def test_visual_noise_measures():
    flat = torch.ones(1, 1, 4, 4)
    speckle = (torch.arange(16).view(1, 1, 4, 4) % 2).float()
    assert total_variation(flat) == 0 and total_variation(speckle) > 0.9
    x = torch.zeros(1, 1, 4, 4)
    x[..., :2] = 1
    assert torch.allclose(stroke_share(flat, x), torch.tensor([0.5]))


def test_planted_task_on_given_colour_backgrounds_plants_the_patch_in_every_channel():
    backgrounds = torch.rand(5, 3, 32, 32) * 0.5
    task = planted_patch_task(40, seed=1, backgrounds=backgrounds)
    assert task.x.shape == (40, 3, 32, 32) and task.evidence.shape == (40, 32, 32) and task.y.sum() == 20
    seg = block_segments(32, 32, 4)
    for i in range(40):
        assert int(evidence_features(seg, task.evidence[i]).sum()) == int(task.y[i])
        if task.y[i] == 1:
            patch = task.x[i][:, task.evidence[i]]  # (3, 16)
            assert sorted(patch.unique().tolist()) == [0.0, 1.0] and torch.equal(patch[0], patch[2])
        outside = ~task.evidence[i] & (task.x[i] != 0.5).any(0)  # away from any patch: a background, × contrast
        assert any(torch.allclose(task.x[i][:, outside], 0.6 * b[:, outside]) for b in backgrounds)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Small user folders: 200 training + 100 test images (170 train / 30 val after the split)."""
    return {"mnist": write_mnist_like(tmp_path_factory.mktemp("mnist"), 200, 100),
            "cifar10": write_cifar_like(tmp_path_factory.mktemp("cifar"), 200, 100)}


@pytest.mark.parametrize("name, dataset", [("saliency-maps", "cifar10"), ("smoothgrad", "mnist"),
                                           ("explanation-sanity", "cifar10"), ("lime", "cifar10"), ("lime", "mnist")])
def test_smoke_runs_on_the_users_files(name, dataset, folders, tmp_path):
    result, _ = execute(REGISTRY[name], profile="smoke", overrides=[f"dataset={dataset}"], out=tmp_path / "rec",
                        device="cpu", data_dir=str(folders[dataset]))
    assert result["verdict"] == "not judged", result["error"]
    assert result["figure_problems"] == [] and result["config"]["dataset"] == dataset
    data = result["metrics"]["data"]
    shape = [3, 32, 32] if dataset == "cifar10" else [1, 28, 28]
    assert data["image shape (C, H, W)"] == shape
    if name == "lime":  # the patch is planted on the user's images: its train / test images are the backgrounds
        assert data["backgrounds"] == dataset and data["background images (train, test)"] == [170, 100]
    else:
        assert data["dataset"] == dataset and data["images (train, val, test)"] == [170, 30, 100]


@pytest.mark.parametrize("cls, quick", [(SaliencyMapsConfig, "mnist5k"), (SmoothGradConfig, "mnist5k"),
                                        (ExplanationSanityConfig, "mnist5k"), (LimeConfig, "photos")])
def test_full_profile_takes_the_users_mnist_when_a_folder_is_given(cls, quick):
    assert make_config(cls, "quick").dataset == quick and make_config(cls, "full").dataset == quick
    assert make_config(cls, "full", has_data_dir=True).dataset == "mnist"
    assert make_config(cls, "full", ["dataset=cifar10"], has_data_dir=True).dataset == "cifar10"
