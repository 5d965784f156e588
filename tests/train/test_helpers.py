"""`train.helpers`: mean_cross_entropy, fit_until, linear_schedule."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mllab.data import TensorLoader
from mllab.train.callbacks import StepsToTarget
from mllab.train.helpers import fit_until, linear_schedule, mean_cross_entropy
from mllab.train.losses import cross_entropy_sum


def test_mean_cross_entropy_is_the_eval_mode_loss_and_restores_the_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))
    x, y = torch.randn(20, 3), torch.randint(0, 4, (20,))
    model.train()
    loss = mean_cross_entropy(model, x, y)
    assert model.training
    model.eval()
    with torch.no_grad():
        assert loss == pytest.approx(float(F.cross_entropy(model(x), y)))  # dropout off: eval mode


def test_fit_until_stops_when_the_target_is_reached():
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(2, 2)
    tracker = StepsToTarget(lambda m: float((m(x).argmax(1) == y).float().mean()), 0.95)
    fit_until(model, tracker, loss_fn=cross_entropy_sum, loader=TensorLoader((x, y), 16, seed=0),
              optimizer=torch.optim.SGD(model.parameters(), lr=0.5), epochs=50)
    assert tracker.steps is not None and tracker.curve[-1][0] == tracker.steps
    assert tracker.curve[-1][1] >= 0.95 and all(v < 0.95 for _, v in tracker.curve[:-1])
    never = StepsToTarget(lambda m: 0.0, 1.0, every=2)
    fit_until(nn.Linear(2, 2), never, loss_fn=cross_entropy_sum, loader=TensorLoader((x, y), 16, seed=0),
              optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=2)
    assert never.steps is None and [s for s, _ in never.curve] == [2, 4, 6, 8]


def test_fit_until_turns_a_diverged_run_into_never_reached():
    x, y = torch.randn(16, 2), torch.randint(0, 2, (16,))
    model = nn.Linear(2, 2)
    tracker = StepsToTarget(lambda m: 0.0, 1.0)

    def exploding(m, batch):
        return (m(batch[0]) * float("inf")).sum(), len(batch[1])

    fit_until(model, tracker, loss_fn=exploding, loader=TensorLoader((x, y), 16, shuffle=False),
              optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=3)
    assert tracker.steps is None and math.isnan(tracker.curve[-1][1])


@pytest.mark.parametrize("t,expected", [(0, 1.0), (50, 0.55), (100, 0.1), (500, 0.1), (-5, 1.0)])
def test_linear_schedule(t, expected):
    assert linear_schedule(1.0, 0.1, 100)(t) == pytest.approx(expected)


def test_linear_schedule_in_progress_units_and_zero_duration():
    schedule = linear_schedule(1.0, 0.05, 0.5)  # over the first half of training
    assert schedule(0.25) == pytest.approx(0.525) and schedule(0.9) == pytest.approx(0.05)
    assert linear_schedule(1.0, 0.05, 0)(0.0) == 0.05
