"""The optimization section's apparatus: learning rates are picked on tuning seeds only, the
equal-epochs / equal-updates views count updates right, and the critical-point classifier labels
closed-form saddles, minima and flat valleys correctly."""

import math
from types import SimpleNamespace

import pytest
import torch

from mllab.analysis import critical_point_report
from mllab.data import TensorLoader
from mllab.core.config import make_config
from mllab.core.errors import BadInput
from mllab.experiments.optimization.adaptive_lr import AdaptiveLRConfig
from mllab.experiments.optimization.batch_size import BatchSizeConfig, Curve, _views, at
from mllab.experiments.optimization.momentum import MomentumConfig
from mllab.models.stacked import StackedNetworks, network
from mllab.experiments.optimization.critical_points import (
    CriticalPointsConfig,
    StopAtSmallGradient,
    TwoWeights,
    classify_point,
    descend_until_stopped,
    squared_error,
    stacked_squared_error,
)
from mllab.experiments.optimization.tuning import best_setting, judged_seeds, tail_steps, train_digits_mlp, tuning_seeds
from mllab.models import MLP
from mllab.train import fit
from mllab.train.losses import cross_entropy_sum
from mllab.train.optimizers import SGDMomentum
from tests.experiments.real_data import run_smoke, write_mnist_like


def test_best_setting_scores_only_tuning_seeds_and_never_picks_a_diverged_value():
    seen = []

    def score(lr, seed):
        seen.append(seed)
        return math.inf if lr == 1.0 else (lr - 0.1) ** 2 + seed * 1e-6  # 1.0 "diverges"; best is 0.1

    tuning, judged = tuning_seeds(3, 4), judged_seeds(3, 4)
    best, table = best_setting((0.01, 0.1, 1.0), score, tuning)
    assert best == 0.1 and table[1.0] == math.inf
    assert set(seen) == set(tuning) and not set(seen) & set(judged)
    assert best_setting((0.01, 0.1), lambda lr, s: lr, tuning, better="higher")[0] == 0.1


def test_tuning_and_judged_seeds_never_overlap_across_run_seeds():
    for run_seed in range(3):
        assert not set(tuning_seeds(run_seed, 500)) & set(judged_seeds(run_seed, 500))
        assert not set(tuning_seeds(run_seed, 500)) & set(judged_seeds(run_seed + 1, 500))


def test_curve_counts_updates_per_epoch_and_views_compare_at_equal_budgets():
    torch.manual_seed(0)
    x, y = torch.randn(100, 64), torch.randint(0, 10, (100,))
    curves = {}
    for batch in (32, 100):
        model = MLP(64, 10, width=8, depth=1)
        loader = TensorLoader((x, y), batch, seed=0)
        curve = Curve((x, y), len(loader), target=-1.0, test=(x, y))  # target never reached: run all epochs
        curve.record(model, 0)
        fit(model, cross_entropy_sum, loader, SGDMomentum(model.parameters(), lr=0.01), epochs=3, callbacks=[curve])
        curves[batch] = curve
    small, full = curves[32].records, curves[100].records
    assert [r["updates"] for r in small] == [0, 4, 8, 12]  # ⌈100/32⌉ = 4 updates per epoch
    assert [r["epoch"] for r in small] == [0, 1, 2, 3]
    assert [r["updates"] for r in full] == [0, 1, 2, 3]
    assert at(small, "updates", 7) is small[1] and at(small, "epoch", 2) is small[2]
    runs = {"small": [{"records": small}], "full": [{"records": full}]}
    views = _views(runs, "small", "full")
    assert views["equal_epochs"]["at"] == [3]  # both ran 3 epochs
    assert views["equal_epochs"]["small"] == [small[3]["test_accuracy"]]
    assert views["equal_updates"]["at"] == [3]  # the full batch took 3 updates; the small batch at 3 is epoch 0
    assert views["equal_updates"]["small"] == [small[0]["test_accuracy"]]
    assert views["equal_updates"]["full"] == [full[3]["test_accuracy"]]


def test_classifier_labels_closed_form_saddle_minimum_and_flat_valley():
    x = torch.tensor([1.0, 0.5, -2.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.8, -1.5], dtype=torch.float64)
    origin = critical_point_report(TwoWeights(), squared_error, [(x, y)], tolerance=0.0)
    assert classify_point(origin.eigenvalues, 1e-3) == ("saddle", 0.5)
    # ŷ = w1 w2 x is minimal on the hyperbola w1 w2 = Σxy/Σx²: zero curvature along it -> flat, ratio 1/2
    product = float((x * y).sum() / (x * x).sum())
    valley = TwoWeights(math.sqrt(product), math.sqrt(product))
    report = critical_point_report(valley, squared_error, [(x, y)], tolerance=0.0)
    assert report.gradient_norm < 1e-12
    assert classify_point(report.eigenvalues, 1e-3) == ("flat", 0.5)
    # the linear model's least-squares solution: a strict minimum, ratio 1
    torch.manual_seed(0)
    inputs = torch.randn(20, 2, dtype=torch.float64)
    targets = inputs @ torch.tensor([1.0, -2.0], dtype=torch.float64) + 0.5
    linear = network(0)
    with torch.no_grad():
        design = torch.cat([inputs, torch.ones(20, 1, dtype=torch.float64)], dim=1)
        solution = torch.linalg.lstsq(design, targets.unsqueeze(1)).solution.reshape(-1)
        linear[0].weight.copy_(solution[:2].reshape(1, 2))
        linear[0].bias.copy_(solution[2:])
    report = critical_point_report(linear, squared_error, [(inputs, targets)], tolerance=0.0)
    assert classify_point(report.eigenvalues, 1e-3) == ("local minimum", 1.0)


def _members(width: int, n: int) -> list[torch.nn.Module]:
    members = []
    for seed in range(n):
        torch.manual_seed(seed)
        members.append(network(width))
    return members


def test_stacked_networks_give_each_member_its_own_gradient():
    torch.manual_seed(0)
    x, y = torch.rand(16, 2, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    for width in (0, 3):
        members = _members(width, 3)
        stacked = StackedNetworks(members)
        loss_sum, n = stacked_squared_error(stacked, (x, y))
        (loss_sum / n).backward()
        for r, member in enumerate(members):
            assert torch.allclose(stacked(x)[r], member(x).reshape(-1), atol=1e-14)
            loss_sum, n = squared_error(member, (x, y))
            grads = torch.autograd.grad(loss_sum / n, list(member.parameters()))
            for g, p in zip(grads, stacked.stacked):
                assert torch.allclose(p.grad[r], g, atol=1e-14)
            norm = float(torch.cat([g.reshape(-1) for g in grads]).norm())
            assert float(stacked.gradient_norms()[r]) == pytest.approx(norm)
            assert all(torch.equal(a, b) for a, b in zip(stacked.member(r).parameters(), member.parameters()))


def test_gradient_descent_stops_each_run_when_its_gradient_is_small():
    torch.manual_seed(0)
    inputs = torch.randn(20, 2, dtype=torch.float64)
    targets = inputs @ torch.tensor([1.0, -2.0], dtype=torch.float64)
    stopper = descend_until_stopped(_members(0, 3), inputs, targets, lr=0.1, max_steps=5000, tolerance=1e-4, every=5)
    assert sorted(stopper.stopped_at) == [0, 1, 2]
    for r, step in stopper.stopped_at.items():
        assert step % 5 == 0 and step < 5000
        report = critical_point_report(stopper.points[r], squared_error, [(inputs, targets)], tolerance=0.0)
        norm_then = stopper.gradient_norms[stopper.checked_steps.index(step)][r]
        assert report.gradient_norm <= 1e-4 and report.gradient_norm == pytest.approx(norm_then, rel=1e-9)
        earlier = stopper.checked_steps.index(step) - 1  # the check before: still above the tolerance
        assert earlier < 0 or stopper.gradient_norms[earlier][r] > 1e-4


def test_a_stopped_run_is_frozen_while_the_others_descend():
    torch.manual_seed(0)
    inputs = torch.randn(20, 2, dtype=torch.float64)
    targets = torch.sin(inputs[:, 0])
    stacked = StackedNetworks(_members(0, 1) + _members(0, 1))  # two copies of the same linear model
    stopper = StopAtSmallGradient(2, tolerance=1e-4, every=5)
    stopper.stopped_at[0], stopper.frozen[0] = 0, 0.0  # member 0 counts as stopped from the start
    before = [p[0].detach().clone() for p in stacked.stacked]
    fit(stacked, stacked_squared_error, [(inputs, targets)], SGDMomentum(stacked.parameters(), lr=0.1, momentum=0.0),
        epochs=50, callbacks=[stopper])
    assert all(torch.equal(p[0], b) for p, b in zip(stacked.stacked, before))
    assert max(float((p[1] - b).detach().abs().max()) for p, b in zip(stacked.stacked, before)) > 1e-2


def test_judged_loss_averages_the_last_tenth_of_updates():
    assert tail_steps(300) == list(range(273, 301, 3))
    assert tail_steps(30) == [28, 29, 30] and tail_steps(5) == [5]
    torch.manual_seed(0)
    x, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    data = SimpleNamespace(train=SimpleNamespace(x=x, y=y), n_classes=10)
    make = lambda p, lr: SGDMomentum(p, lr=lr, momentum=0.0)  # noqa: E731
    curve = train_digits_mlp(data, make, 0.1, 0, updates=40, batch_size=8, width=8, depth=1, log_every=1)
    assert curve.steps == list(range(1, 41))
    window = [curve.losses[s - 1] for s in tail_steps(40)]  # updates 37..40
    assert curve.tail_losses == window and curve.final == pytest.approx(sum(window) / 4)
    assert curve.final != curve.losses[-1]
    diverged = train_digits_mlp(data, make, 1e6, 0, updates=40, batch_size=8, width=8, depth=1)
    assert diverged.final == math.inf


# --- real data: --set dataset=mnist --data-dir (a small IDX folder of real mnist5k digits) --------------------------

@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    return write_mnist_like(tmp_path_factory.mktemp("mnist"))


@pytest.mark.parametrize("name", ["adaptive-lr", "batch-size", "momentum"])
def test_optimizer_experiments_run_on_a_users_mnist_folder(name, mnist_dir, tmp_path):
    run_smoke(name, tmp_path / "rec", "mnist", mnist_dir)


def test_the_optimizer_claims_mlp_learns_real_digits_from_idx_files(mnist_dir):
    from mllab.data.datasets import load_flat

    data = load_flat("mnist", data_dir=mnist_dir, seed=0)
    assert data.train.x.shape[1:] == (784,)  # the MLP's input size follows the data (64 on digits)
    curve = train_digits_mlp(data, lambda p, lr: SGDMomentum(p, lr=lr, momentum=0.9), 0.05, seed=0, updates=150,
                             batch_size=64, width=32, depth=2)
    assert curve.final < 0.3  # chance is ln 10 = 2.3 nats: real digits are learned


@pytest.mark.parametrize("cls", [AdaptiveLRConfig, BatchSizeConfig, MomentumConfig])
def test_full_profile_takes_mnist_when_a_data_folder_is_given(cls):
    assert make_config(cls, "full", has_data_dir=True).dataset == "mnist"
    assert make_config(cls, "full").dataset == make_config(cls, "quick", has_data_dir=True).dataset == "digits"
    with pytest.raises(BadInput, match=r"^--set dataset: unknown dataset 'svhn'; choose one of digits, mnist5k, "
                                       r"mnist, cifar10$"):
        make_config(cls, "quick", ["dataset=svhn"])


def test_seed_counts_beyond_500_are_allowed_now_that_seeds_are_derived():
    assert make_config(MomentumConfig, "quick", ["seeds=600"]).seeds == 600
    assert not set(tuning_seeds(0, 600)) & set(judged_seeds(0, 600))


def test_a_user_dataset_without_data_dir_is_bad_input_and_leaves_nothing(tmp_path, capsys):
    from mllab.cli import main

    out = tmp_path / "rec"
    code = main(["run", "momentum", "--profile", "smoke", "--set", "dataset=mnist", "--out", str(out),
                 "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "dataset=mnist" in err and "--data-dir" in err, err
    assert not out.exists()


def test_critical_points_takes_no_dataset():  # an exact Hessian needs a tiny network: not an image experiment
    with pytest.raises(BadInput, match="has no field 'dataset'"):
        make_config(CriticalPointsConfig, "quick", ["dataset=mnist"])
