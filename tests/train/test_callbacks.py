import pytest
import torch
import torch.nn.functional as F

from mllab.core.errors import TrainingError
from mllab.data import TensorLoader
from mllab.train import fit
from mllab.train.callbacks import StepsToTarget


def _loss(model, batch):
    x, y = batch
    return F.cross_entropy(model(x), y, reduction="sum"), len(y)


def test_steps_to_target_stops_fit_at_the_first_step_that_reaches_it():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 4, generator=g)
    y = (x[:, 0] > 0).long()
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    accuracy = lambda m: (m(x).argmax(1) == y).float().mean().item()  # noqa: E731
    tracker = StepsToTarget(accuracy, target=0.95, every=2)
    state = fit(model, _loss, TensorLoader((x, y), 16, seed=0), torch.optim.SGD(model.parameters(), lr=0.5),
                epochs=20, callbacks=[tracker])
    assert tracker.steps is not None and state.global_step == tracker.steps  # stopped right there
    assert tracker.curve[-1][1] >= 0.95 > max(v for _, v in tracker.curve[:-1])  # and not before
    assert all(step % 2 == 0 for step, _ in tracker.curve)
    assert state.global_step < 20 * 32


def test_steps_to_target_never_reached_trains_every_epoch():
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    model = torch.nn.Linear(4, 2)
    tracker = StepsToTarget(lambda m: 1.0, target=0.0, below=True)
    state = fit(model, _loss, TensorLoader((x, y), 16, seed=0), torch.optim.SGD(model.parameters(), lr=0.1),
                epochs=2, callbacks=[tracker])
    assert tracker.steps is None and state.global_step == 8 and len(state.history) == 2


def test_steps_to_target_raises_at_its_next_look_when_the_training_loss_is_not_finite():
    """fit reads the loss at epoch ends only; StepsToTarget reads floats when it measures anyway, so it checks the
    running loss there: a diverged run stops within `every` steps (helpers.fit_until counts it as never reached)."""
    x, y = torch.randn(800, 4), torch.randint(0, 2, (800,))
    calls = []

    def nan_from_step_7(model, batch):
        calls.append(1)
        loss_sum, n = _loss(model, batch)
        return (loss_sum * float("nan") if len(calls) >= 7 else loss_sum), n

    model = torch.nn.Linear(4, 2)
    tracker = StepsToTarget(lambda m: 1.0, target=0.0, every=5, below=True)
    with pytest.raises(TrainingError, match=r"StepsToTarget: non-finite training loss by step 10\b"):
        fit(model, nan_from_step_7, TensorLoader((x, y), 16, seed=0), torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=2, callbacks=[tracker])  # 50 steps an epoch: fit alone would notice at step 50
    assert [step for step, _ in tracker.curve] == [5]
