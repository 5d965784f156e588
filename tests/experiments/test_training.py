"""Components of the "training" section's experiments: sigmoid sums, random features, label noise, the
accumulation recipes, configs, and smoke runs with numbers."""


import pytest
import torch

from mllab.core.config import make_config
from mllab.core.errors import BadInput
from mllab.core.registry import REGISTRY
from mllab.core.run import execute
from mllab.data.noisy import with_label_noise
from mllab.experiments.training.accumulation import AccumulationConfig
from mllab.experiments.training.accumulation import compare as accumulation_compare
from mllab.experiments.training.approximation import SigmoidApproximationConfig, fit_together
from mllab.experiments.training.depth import DepthConfig
from mllab.experiments.training.double_descent import DoubleDescentConfig, sweep
from mllab.experiments.training.regularization import OverfittingConfig
from mllab.models.random_features import RandomReLUFeatures
from mllab.models.sigmoids import SigmoidSum, hard_sigmoid
from tests.experiments.real_data import run_smoke, write_cifar_like, write_mnist_like


@pytest.mark.parametrize("kind", ["sigmoid", "hard"])
def test_sigmoid_sum_shape_and_formula(kind):
    model = SigmoidSum(5, kind, generator=torch.Generator().manual_seed(0))
    x = torch.linspace(-1, 1, 7).unsqueeze(1)  # (7, 1)
    y = model(x)
    assert y.shape == (7, 1)
    z = x * model.w + model.b  # (7, 5)
    s = torch.sigmoid(z) if kind == "sigmoid" else torch.clamp(z, 0, 1)
    assert torch.allclose(y, model.bias + (s * model.c).sum(1, keepdim=True), atol=1e-6)


def test_hard_sigmoid_is_two_relus_and_saturates():
    z = torch.linspace(-3, 4, 701)
    assert torch.equal(hard_sigmoid(z), torch.relu(z) - torch.relu(z - 1))
    assert torch.all(hard_sigmoid(z[z <= 0]) == 0) and torch.all(hard_sigmoid(z[z >= 1]) == 1)
    inside = (z > 0) & (z < 1)
    assert torch.allclose(hard_sigmoid(z[inside]), z[inside])  # the ramp in between
    assert torch.allclose(hard_sigmoid(z), torch.nn.functional.hardtanh(z, 0.0, 1.0))


def test_sigmoid_sum_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SigmoidSum(3, "tanh")
    with pytest.raises(ValueError):
        SigmoidSum(0)


def test_fitting_together_equals_fitting_alone():
    cfg = SigmoidApproximationConfig(steps=20, restarts=1)
    x = torch.linspace(-1, 1, 16).unsqueeze(1)
    specs = [("sigmoid", 3, 1), ("hard", 4, 2)]
    together = fit_together(specs, x, cfg)
    for spec, model in zip(specs, together):
        alone = fit_together([spec], x, cfg)[0]
        for a, b in zip(model.parameters(), alone.parameters()):
            assert torch.allclose(a, b, atol=1e-6, rtol=0)
    assert not torch.allclose(together[0].c, SigmoidSum(3, generator=torch.Generator().manual_seed(1)).c)  # it trained


def test_overfitting_config_rejects_unknown_dataset():
    with pytest.raises(BadInput, match="dataset"):
        make_config(OverfittingConfig, "quick", ["dataset=imagenet"])
    with pytest.raises(BadInput, match="dropouts"):
        make_config(OverfittingConfig, "quick", ["dropouts=0.2,1.0"])
    with pytest.raises(BadInput, match="weight_decays"):
        make_config(OverfittingConfig, "quick", ["weight_decays=-0.1"])
    assert make_config(OverfittingConfig, "quick", ["dataset=mnist5k"]).dataset == "mnist5k"


def test_other_configs_reject_bad_values():
    with pytest.raises(BadInput, match="deep"):
        make_config(DepthConfig, "quick", ["deep=1"])  # shallower than shallow = 2
    assert make_config(DepthConfig, "quick", ["deep=2"]).deep == 2  # equal depths: the negative control
    with pytest.raises(BadInput, match="activation"):
        make_config(DepthConfig, "quick", ["activation=gelu"])
    with pytest.raises(BadInput, match="sizes"):
        make_config(SigmoidApproximationConfig, "quick", ["sizes=4,2"])
    with pytest.raises(BadInput, match="width_ratios"):
        make_config(DoubleDescentConfig, "quick", ["width_ratios=0.25,0.5,2"])  # no threshold ratio 1
    with pytest.raises(BadInput, match="narrow_ratio"):
        make_config(DoubleDescentConfig, "quick", ["narrow_ratio=0.3"])  # not in the grid
    with pytest.raises(BadInput, match="label_noise"):
        make_config(DoubleDescentConfig, "quick", ["label_noise=1.5"])
    with pytest.raises(BadInput, match="memory_share"):
        make_config(AccumulationConfig, "quick", ["memory_share=1"])


def test_overfitting_needs_data_dir_for_mnist(tmp_path):
    with pytest.raises(BadInput, match="data-dir"):
        execute(REGISTRY["overfitting"], profile="smoke", overrides=["dataset=mnist"], out=tmp_path / "rec",
                device="cpu")
    assert not (tmp_path / "rec").exists()


def test_label_noise_flips_exactly_the_fraction_to_other_classes():
    labels = torch.arange(1000) % 10
    noisy, flipped = with_label_noise(labels, 0.15, 10, generator=torch.Generator().manual_seed(0))
    assert int(flipped.sum()) == 150
    assert torch.all(noisy[flipped] != labels[flipped]) and torch.equal(noisy[~flipped], labels[~flipped])
    assert noisy.min() >= 0 and noisy.max() <= 9
    shifts = (noisy[flipped] - labels[flipped]) % 10  # uniform over the 9 wrong classes
    assert set(shifts.tolist()) == set(range(1, 10))
    with pytest.raises(BadInput, match="fraction"):
        with_label_noise(labels, 1.2, 10)


def test_random_features_min_norm_interpolates_and_ridge_matches_primal_form():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 5, generator=g, dtype=torch.float64), torch.randn(30, 3, generator=g, dtype=torch.float64)
    wide = RandomReLUFeatures(5, 80, generator=torch.Generator().manual_seed(1)).fit(x, y)
    phi = wide.features(x)  # (30, 80)
    assert torch.allclose(wide.predict(x), y, atol=1e-8)  # N > n: interpolates
    # minimum norm: β lies in the row space of Φ, β = Φᵀ (Φ Φᵀ)⁻¹ Y
    assert torch.allclose(wide.readout, phi.T @ torch.linalg.solve(phi @ phi.T, y), atol=1e-6)
    narrow = RandomReLUFeatures(5, 10, generator=torch.Generator().manual_seed(1)).fit(x, y)
    assert ((narrow.predict(x) - y) ** 2).mean() > 0.1  # N < n: cannot interpolate
    ridge = RandomReLUFeatures(5, 10, generator=torch.Generator().manual_seed(1)).fit(x, y, ridge=0.5)
    phi = ridge.features(x)
    primal = torch.linalg.solve(phi.T @ phi + 0.5 * torch.eye(10, dtype=phi.dtype), phi.T @ y)
    assert torch.allclose(ridge.readout, primal, atol=1e-8)


def test_double_descent_sweep_peaks_at_the_threshold_on_noisy_labels():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 10, generator=g, dtype=torch.float64) * 2
    labels, test_labels = torch.arange(80) % 4, torch.arange(400) % 4
    x = centres[labels] + torch.randn(80, 10, generator=g, dtype=torch.float64)
    x_test = centres[test_labels] + torch.randn(400, 10, generator=g, dtype=torch.float64)
    noisy, _ = with_label_noise(labels, 0.2, 4, generator=g)
    targets = torch.nn.functional.one_hot(noisy, 4).double()
    out = sweep(x, targets, x_test, test_labels, [20, 80, 1600], ridge=0.0, seed=0)
    assert out["train_mse"][0] > 0.1 and max(out["train_mse"][1:]) < 1e-12  # interpolates from N = n on
    assert out["test_mse"][1] > 5 * max(out["test_mse"][0], out["test_mse"][2])  # the peak at N = n


@pytest.mark.parametrize("recipe", ["exact", "naive"])
def test_accumulation_recipes_on_equal_and_unequal_micro_batches(recipe):
    cfg = make_config(AccumulationConfig, "smoke", [f"recipe={recipe}"])
    x, y = torch.rand(200, 64, dtype=torch.float64), torch.randint(0, 10, (200,))
    equal = accumulation_compare(x[:128], y[:128], cfg, seed=0, batch_size=cfg.micro_batch)
    unequal = accumulation_compare(x[:128], y[:128], cfg, seed=0, batch_sizes=cfg.unequal_sizes)
    assert max(equal.tested) < 1e-12  # with equal micro-batches both recipes give the big batch's gradient
    if recipe == "exact":
        assert max(unequal.tested) < 1e-12 and unequal.weight_difference < 1e-12
    else:  # mean loss / k weights a 5-item micro-batch like a 25-item one
        assert max(unequal.tested) > 1e-2 and unequal.weight_difference > 1e-6
    assert max(unequal.naive) > 1e-2  # the sanity probe sees the naive recipe's error either way


# --- real data: --set dataset=mnist|cifar10 --data-dir (small IDX / CIFAR folders of real mnist5k digits) ---------

@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    return write_mnist_like(tmp_path_factory.mktemp("mnist"))


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    return write_cifar_like(tmp_path_factory.mktemp("cifar"))


@pytest.mark.parametrize("name,overrides", [
    ("grad-accumulation", ("seeds=1",)),  # one seed: two memory probes instead of four (the slow part)
    ("model-bias-vs-optimization", ()), ("double-descent", ()), ("overfitting", ()),
])
def test_training_experiments_run_on_a_users_mnist_folder(name, overrides, mnist_dir, tmp_path):
    run_smoke(name, tmp_path / "rec", "mnist", mnist_dir, overrides)


def test_overfitting_runs_on_a_users_cifar_folder_as_flat_vectors(cifar_dir, tmp_path):
    result = run_smoke("overfitting", tmp_path / "rec", "cifar10", cifar_dir)
    assert result["metrics"]["test_loss_baseline"] > 0


@pytest.mark.parametrize("cls", [AccumulationConfig, DepthConfig, DoubleDescentConfig, OverfittingConfig])
def test_full_profile_takes_mnist_when_a_data_folder_is_given(cls):
    assert make_config(cls, "full", has_data_dir=True).dataset == "mnist"
    assert make_config(cls, "full", ["dataset=cifar10"], has_data_dir=True).dataset == "cifar10"
    assert make_config(cls, "full").dataset == make_config(cls, "full", has_data_dir=False).dataset != "mnist"
    assert make_config(cls, "quick", has_data_dir=True).dataset in ("digits", "mnist5k")  # quick keeps its data


@pytest.mark.parametrize("cls", [AccumulationConfig, DepthConfig, DoubleDescentConfig, OverfittingConfig])
def test_unknown_dataset_is_one_line_naming_the_field_and_choices(cls):
    with pytest.raises(BadInput, match=r"^--set dataset: unknown dataset 'imagenet'; choose one of digits, mnist5k, "
                                       r"mnist, cifar10$"):
        make_config(cls, "quick", ["dataset=imagenet"])


@pytest.mark.parametrize("name", ["model-bias-vs-optimization", "double-descent", "grad-accumulation"])
def test_a_user_dataset_without_data_dir_is_bad_input_and_leaves_nothing(name, tmp_path, capsys):
    from mllab.cli import main

    out = tmp_path / "rec"
    code = main(["run", name, "--profile", "smoke", "--set", "dataset=cifar10", "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "dataset=cifar10" in err and "--data-dir" in err, err
    assert not out.exists()


def test_sigmoid_approximation_takes_no_dataset():  # a 1-D function: not an image experiment
    with pytest.raises(BadInput, match="has no field 'dataset'"):
        make_config(SigmoidApproximationConfig, "quick", ["dataset=mnist"])
