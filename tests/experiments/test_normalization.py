"""Components of the normalization experiments (the smoke test runs the experiments themselves)."""

import pytest
import torch
from torch import nn

from mllab.data import TensorLoader
from mllab.experiments.normalization import (DeepNet, StepsToTarget, _batch_independence, cross_entropy_sum,
                                             fit_until, loss_hessian)


def test_loss_hessian_at_zero_is_the_closed_form():
    torch.manual_seed(0)
    x, y = torch.randn(50, 3) * torch.tensor([1.0, 10.0, 0.1]), torch.randint(0, 2, (50,))
    design = torch.cat([x, torch.ones(50, 1)], dim=1).double()  # (N, D+1): the bias is a column of ones
    expected = design.T @ design / (4 * 50)  # H = Xᵀ diag(p(1-p)) X / N with p = σ(0) = 1/2
    torch.testing.assert_close(loss_hessian(x, y), expected)


def test_steps_to_target_stops_fit_when_the_target_is_reached():
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(2, 2)
    tracker = StepsToTarget(lambda m: float((m(x).argmax(1) == y).float().mean()), 0.95)
    fit_until(model, tracker, loss_fn=cross_entropy_sum, loader=TensorLoader((x, y), 16, seed=0),
              optimizer=torch.optim.SGD(model.parameters(), lr=0.5), epochs=50)
    assert tracker.steps is not None and tracker.curve[-1] == (tracker.steps, tracker.curve[-1][1])
    assert tracker.curve[-1][1] >= 0.95 and all(v < 0.95 for _, v in tracker.curve[:-1])
    never = StepsToTarget(lambda m: 0.0, 1.0, every=2)
    fit_until(nn.Linear(2, 2), never, loss_fn=cross_entropy_sum, loader=TensorLoader((x, y), 16, seed=0),
              optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=2)
    assert never.steps is None and [s for s, _ in never.curve] == [2, 4, 6, 8]


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
