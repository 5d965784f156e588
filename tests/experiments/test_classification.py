"""Components of the classification experiments (the smoke test runs the experiments themselves)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mllab.core.config import make_config
from mllab.core.errors import BadInput
from mllab.data import load_dataset
from mllab.experiments.classification import (CeVsMseConfig, ClassImbalanceConfig, TwoLogitClassifier, binary_task,
                                              gradient_norm_at, loss_surface, softmax_loss, two_logit_task,
                                              wrong_start_mlp)
from tests.experiments.real_data import run_smoke, write_cifar_like, write_mnist_like


def test_softmax_losses_match_their_formulas():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    y = torch.tensor([0, 2])
    torch.testing.assert_close(softmax_loss(logits, y, "ce"), F.cross_entropy(logits, y, reduction="none"))
    p = logits.softmax(dim=1)
    expected = torch.stack([(p[0, 0] - 1) ** 2 + p[0, 1] ** 2 + p[0, 2] ** 2, torch.tensor(2 * (1 / 3) ** 2 + (1 / 3 - 1) ** 2)])
    torch.testing.assert_close(softmax_loss(logits, y, "mse"), expected)


def test_mse_gradient_vanishes_when_confidently_wrong_but_ce_does_not():
    logits = torch.tensor([[-10.0, 0.0]], requires_grad=True)  # class 0 is the answer, p_0 ≈ 4.5e-5
    y = torch.tensor([0])
    (grad_ce,) = torch.autograd.grad(softmax_loss(logits, y, "ce").sum(), logits)
    (grad_mse,) = torch.autograd.grad(softmax_loss(logits, y, "mse").sum(), logits)
    assert grad_ce.norm() > 1.0  # ∂CE/∂z = p - ŷ ≈ (-1, 1)
    assert grad_mse.norm() < 1e-3  # every term carries p_0 (1 - p_0)


def test_loss_surface_equals_the_model_loss_at_each_grid_point():
    x, y = two_logit_task(20, torch.Generator().manual_seed(0))
    w1, w2 = torch.meshgrid(torch.tensor([-3.0, 1.0]), torch.tensor([0.5, 2.0]), indexing="ij")
    for kind in ("ce", "mse"):
        surface = loss_surface(x, y, w1, w2, kind)
        for i in range(2):
            for j in range(2):
                model = TwoLogitClassifier((float(w1[i, j]), float(w2[i, j])))
                torch.testing.assert_close(surface[i, j], softmax_loss(model(x), y, kind).mean())


def test_binary_task_has_the_requested_imbalance_and_a_balanced_variant():
    rng = np.random.default_rng(0)
    x, y = rng.random((2000, 4)), rng.integers(0, 10, 2000)
    imbalanced = binary_task(x, y, 3, 20, seed=0, device="cpu")
    labels = torch.cat([imbalanced.train.y, imbalanced.val.y, imbalanced.test.y])
    negatives, positives = int((labels == 0).sum()), int((labels == 1).sum())
    assert negatives == int((y != 3).sum()) and positives == negatives // 20
    balanced = binary_task(x, y, 3, 20, seed=0, device="cpu", balanced=True)
    labels = torch.cat([balanced.train.y, balanced.val.y, balanced.test.y])
    assert int((labels == 0).sum()) == int((labels == 1).sum()) == positives


def test_gradient_norm_at_the_wrong_start_is_small_for_mse_only():
    x, y = two_logit_task(200, torch.Generator().manual_seed(0))
    ce, mse = gradient_norm_at(x, y, (-5.0, -5.0), "ce"), gradient_norm_at(x, y, (-5.0, -5.0), "mse")
    assert ce > 10 * mse > 0
    right = gradient_norm_at(x, y, (5.0, 5.0), "ce")  # confidently right: CE's gradient is small too
    assert right < 0.1 * ce


def test_wrong_start_mlp_calls_every_digit_class_zero():
    data = load_dataset("digits", seed=0)
    model = wrong_start_mlp(data, wrong_logit=10.0, seed=0)
    with torch.no_grad():
        p = model(data.val.x).softmax(dim=1)
    assert bool((p.argmax(1) == 0).all()) and float(p[:, 0].min()) > 0.99


@pytest.mark.parametrize("cls,override,field", [
    (CeVsMseConfig, "compared_loss=hinge", "compared_loss"), (CeVsMseConfig, "seeds=1", "seeds"),
    (CeVsMseConfig, "start=2", "start"), (CeVsMseConfig, "surface_range=4", "surface_range"),
    (CeVsMseConfig, "lrs=0.1,-1", "lrs"), (ClassImbalanceConfig, "pos_weight=0", "pos_weight"),
    (ClassImbalanceConfig, "positive_digit=10", "positive_digit"), (ClassImbalanceConfig, "useful_recall=0", "useful_recall"),
])
def test_bad_config_values_are_bad_input_naming_the_field(cls, override, field):
    with pytest.raises(BadInput, match=f"--set {field}"):
        make_config(cls, "quick", [override])


def test_pos_weight_none_means_neg_over_pos_and_parses_from_the_command_line():
    assert make_config(ClassImbalanceConfig, "quick").pos_weight is None
    assert make_config(ClassImbalanceConfig, "quick", ["pos_weight=1"]).pos_weight == 1.0
    assert make_config(ClassImbalanceConfig, "quick", ["pos_weight=none"]).pos_weight is None


# --- real data: --set dataset=mnist|cifar10 --data-dir (small folders of real mnist5k digits) ----------------------

@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    return write_mnist_like(tmp_path_factory.mktemp("mnist"))


@pytest.mark.parametrize("name", ["ce-vs-mse", "class-imbalance"])
def test_classification_experiments_run_on_a_users_mnist_folder(name, mnist_dir, tmp_path):
    run_smoke(name, tmp_path / "rec", "mnist", mnist_dir)


def test_class_imbalance_runs_on_a_users_cifar_folder_as_flat_vectors(tmp_path):
    folder = write_cifar_like(tmp_path / "cifar")
    result = run_smoke("class-imbalance", tmp_path / "rec", "cifar10", folder)
    assert 0 <= result["metrics"]["unweighted"]["auc"] <= 1


@pytest.mark.parametrize("cls", [CeVsMseConfig, ClassImbalanceConfig])
def test_full_profile_takes_mnist_when_a_data_folder_is_given(cls):
    assert make_config(cls, "full", has_data_dir=True).dataset == "mnist"
    assert make_config(cls, "full").dataset == make_config(cls, "quick", has_data_dir=True).dataset != "mnist"
    with pytest.raises(BadInput, match=r"^--set dataset: unknown dataset 'svhn'; choose one of digits, mnist5k, "
                                       r"mnist, cifar10$"):
        make_config(cls, "quick", ["dataset=svhn"])


def test_wrong_start_mlp_takes_the_datas_input_size(mnist_dir):
    from mllab.data.datasets import load_flat

    data = load_flat("mnist", data_dir=mnist_dir, seed=0)
    model = wrong_start_mlp(data, 10.0, seed=0)
    with torch.no_grad():
        assert (model(data.val.x).argmax(1) == 0).all()  # 784 inputs, every image called class 0


def test_a_user_dataset_without_data_dir_is_bad_input_and_leaves_nothing(tmp_path, capsys):
    from mllab.cli import main

    out = tmp_path / "rec"
    code = main(["run", "class-imbalance", "--profile", "smoke", "--set", "dataset=cifar10", "--out", str(out),
                 "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "dataset=cifar10" in err and "--data-dir" in err, err
    assert not out.exists()
