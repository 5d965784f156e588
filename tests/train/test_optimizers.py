"""Each optimizer written from the notes' formulas takes the same 100 steps as torch.optim's."""

import pytest
import torch
from torch import nn

from mllab.core.errors import BadInput
from mllab.train.optimizers import Adagrad, Adam, RMSProp, SGDMomentum

CASES = [
    (SGDMomentum, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (SGDMomentum, torch.optim.SGD, dict(lr=0.05, momentum=0.0)),
    (SGDMomentum, torch.optim.SGD, dict(lr=0.05, momentum=0.5, weight_decay=0.01)),
    (Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (Adagrad, torch.optim.Adagrad, dict(lr=0.1, weight_decay=0.01, initial_accumulator_value=0.1)),
    (RMSProp, torch.optim.RMSprop, dict(lr=0.01)),
    (RMSProp, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01)),
    (Adam, torch.optim.Adam, dict(lr=0.01)),
    (Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)),
]


def _train(optimizer_cls, options, steps=100):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    optimizer = optimizer_cls(model.parameters(), **options)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1.0 / (1 + 0.01 * t))  # a changing η
    losses = []
    for step in range(steps):
        batch = slice((step * 16) % 64, (step * 16) % 64 + 16)
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]), losses


@pytest.mark.parametrize("ours, theirs, options", CASES, ids=lambda c: getattr(c, "__name__", None) or str(c))
def test_equals_torch_over_100_steps(ours, theirs, options):
    mine, my_losses = _train(ours, options)
    reference, reference_losses = _train(theirs, options)
    moved = (mine - _train(ours, dict(options, lr=1e-12))[0]).abs().max()
    assert moved > 1e-2, "the optimizer must actually move the parameters"
    assert torch.allclose(mine, reference, atol=1e-6, rtol=0), (mine - reference).abs().max()
    assert my_losses == pytest.approx(reference_losses, abs=1e-6)


def test_closure_and_bad_hyperparameters():
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = Adam([p], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss.detach()

    assert float(optimizer.step(closure)) == pytest.approx(5.0)
    assert p.detach().abs().tolist() == pytest.approx([0.9, 1.9], abs=1e-6)  # first Adam step is ±η
    with pytest.raises(BadInput, match="betas"):
        Adam([p], betas=(0.9, 1.0))
    with pytest.raises(BadInput, match="lr"):
        SGDMomentum([p], lr=-1.0)
