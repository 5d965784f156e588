"""Components of the normalization experiments (the smoke test runs the experiments themselves)."""

import pytest
import torch

from mllab.core.config import make_config
from mllab.core.errors import BadInput
from mllab.experiments.normalization import BatchNormConfig, FeatureNormalizationConfig, _batch_independence, _arms, \
    loss_hessian
from mllab.models import DeepNet
from mllab.train.losses import cross_entropy_sum
from tests.experiments.real_data import run_smoke, write_cifar_like, write_mnist_like


def test_loss_hessian_at_zero_is_the_closed_form():
    torch.manual_seed(0)
    x, y = torch.randn(50, 3) * torch.tensor([1.0, 10.0, 0.1]), torch.randint(0, 2, (50,))
    design = torch.cat([x, torch.ones(50, 1)], dim=1).double()  # (N, D+1): the bias is a column of ones
    expected = design.T @ design / (4 * 50)  # H = Xᵀ diag(p(1-p)) X / N with p = σ(0) = 1/2
    torch.testing.assert_close(loss_hessian(x, y), expected)


def test_standardised_arm_has_zero_mean_unit_variance_and_is_raw_when_off():
    inputs, y = _arms(0, standardise=True)
    x = inputs["standardised"]
    assert x.mean(dim=0).abs().max() < 1e-4 and (x.std(dim=0) - 1).abs().max() < 1e-4
    assert inputs["raw"].std(dim=0).max() / inputs["raw"].std(dim=0).min() > 1e3  # scales differ a lot
    off, _ = _arms(0, standardise=False)
    assert torch.equal(off["standardised"], off["raw"])  # the negative control: raw in both arms


@pytest.mark.parametrize("cls,override,field", [
    (BatchNormConfig, "micro_batch=3", "micro_batch"), (BatchNormConfig, "width=60", "width"),
    (BatchNormConfig, "tested_norm=weight", "tested_norm"), (BatchNormConfig, "seeds=1", "seeds"),
    (BatchNormConfig, "target_accuracy=1", "target_accuracy"), (FeatureNormalizationConfig, "lrs=0", "lrs"),
    (FeatureNormalizationConfig, "speedup=0.5", "speedup"), (FeatureNormalizationConfig, "max_steps=0", "max_steps"),
])
def test_bad_config_values_are_bad_input_naming_the_field(cls, override, field):
    with pytest.raises(BadInput, match=f"--set {field}"):
        make_config(cls, "quick", [override])


def _accumulated_gradient(model, x, y, micro):
    model.zero_grad()
    for lo in range(0, len(y), micro):
        loss_sum, _ = cross_entropy_sum(model, (x[lo:lo + micro], y[lo:lo + micro]))
        (loss_sum / len(y)).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize("norm,same", [("layer", True), ("group", True), ("batch", False)])
def test_micro_batches_change_the_gradient_only_for_batch_norm(norm, same):
    torch.manual_seed(0)
    x, y = torch.randn(16, 12), torch.randint(0, 10, (16,))
    model = DeepNet(12, 10, width=16, depth=2, norm=norm)
    whole, micro = _accumulated_gradient(model, x, y, 16), _accumulated_gradient(model, x, y, 2)
    assert torch.allclose(whole, micro, atol=1e-5) == same


def test_running_statistics_make_eval_outputs_independent_of_batch_mates():
    torch.manual_seed(0)
    model = DeepNet(12, 10, width=16, depth=2, norm="batch")
    model(torch.randn(64, 12))  # one training-mode pass moves the running statistics
    eval_change, train_change = _batch_independence(model, torch.randn(120, 12))
    assert eval_change <= 1e-6 and train_change > 1e-3
    assert model.training  # the probe works on a copy


# --- real data: --set dataset=mnist|cifar10 --data-dir (small folders of real mnist5k digits) ----------------------

@pytest.mark.parametrize("dataset,write", [("mnist", write_mnist_like), ("cifar10", write_cifar_like)])
def test_batch_norm_runs_on_a_users_folder(dataset, write, tmp_path):
    result = run_smoke("batch-norm", tmp_path / "rec", dataset, write(tmp_path / dataset))
    assert result["metrics"]["eval_output_change"] <= 1e-5  # running statistics at evaluation, on 784 / 3072 inputs


def test_batch_norm_full_profile_takes_mnist_and_all_its_training_images_when_a_folder_is_given():
    full = make_config(BatchNormConfig, "full", has_data_dir=True)
    assert full.dataset == "mnist" and full.train_samples >= 60000
    assert make_config(BatchNormConfig, "full").dataset == make_config(BatchNormConfig, "quick").dataset == "mnist5k"


def test_batch_norm_needs_120_test_images_for_its_batch_mates_probe(tmp_path):
    from mllab.core.registry import REGISTRY
    from mllab.core.run import execute

    folder = write_mnist_like(tmp_path / "mnist", n_train=300, n_test=100)
    with pytest.raises(BadInput, match="at least 120 test samples"):
        execute(REGISTRY["batch-norm"], profile="smoke", overrides=["dataset=mnist"], out=tmp_path / "rec",
                device="cpu", data_dir=str(folder))
    assert not (tmp_path / "rec").exists()


def test_feature_normalization_takes_no_dataset():  # features of different scales; pixels share one: not images
    with pytest.raises(BadInput, match="has no field 'dataset'"):
        make_config(FeatureNormalizationConfig, "quick", ["dataset=mnist"])
