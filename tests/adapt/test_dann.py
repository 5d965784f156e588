import math

import pytest
import torch

from mllab.adapt import (
    DANN,
    DannLoss,
    DannSchedule,
    PairedLoader,
    adaptation_lambda,
    annealed_lr,
    domain_accuracy,
    lr_lambda,
)
from mllab.core.errors import BadInput
from mllab.data import Split
from mllab.train import fit


def test_lambda_schedule_values():
    assert adaptation_lambda(0.0) == 0.0
    assert adaptation_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)  # 0.99991
    assert adaptation_lambda(0.1) == pytest.approx(0.46211715726)  # 2/(1+e^-1) − 1 = tanh(1/2)
    assert adaptation_lambda(0.5) == pytest.approx(math.tanh(2.5))
    values = [adaptation_lambda(p / 10) for p in range(11)]
    assert values == sorted(values) and all(0 <= v < 1 for v in values)


def test_learning_rate_schedule_values():
    assert annealed_lr(0.0) == 0.01
    assert annealed_lr(1.0) == pytest.approx(0.01 / 11 ** 0.75)  # 0.00166
    assert lr_lambda(100)(50) == pytest.approx(1 / 6 ** 0.75)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_progress_outside_zero_one_is_bad_input(p):
    with pytest.raises(BadInput, match="progress"):
        adaptation_lambda(p)


def _toy(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Split(torch.rand(n, 3, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)), \
        torch.rand(n + 7, 3, 28, 28, generator=g)


def test_loss_is_label_plus_domain_loss_with_source_item_count():
    torch.manual_seed(0)
    model = DANN(channels=(4, 4), width=8)
    model.grl.set_lambda(1.0)
    source, target_x = _toy()
    xs, ys, xt = source.x[:6], source.y[:6], target_x[:6]
    loss, n = DannLoss()(model, (xs, ys, xt))
    label = torch.nn.functional.cross_entropy(model(xs), ys)
    f = model.features(torch.cat([xs, xt]))
    domain = torch.nn.functional.binary_cross_entropy_with_logits(model.domain_classifier(f),
                                                                  torch.cat([torch.zeros(6), torch.ones(6)]))
    assert n == 6 and torch.allclose(loss / n, label + domain, atol=1e-6)


def test_schedule_raises_lambda_through_fit_and_zero_weight_is_source_only():
    source, target_x = _toy()
    models = []
    for weight in (0.0, 1.0):
        torch.manual_seed(1)
        model = DANN(channels=(4, 4), width=8)
        loader = PairedLoader(source, target_x, 8, seed=0)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        fit(model, DannLoss(), loader, opt, epochs=2, callbacks=[DannSchedule(2 * len(loader), weight)])
        models.append(model)
    assert models[0].grl.lambda_ == 0.0 and models[1].grl.lambda_ == pytest.approx(adaptation_lambda(1.0))
    # λ = 0: the domain head learns but passes nothing back, so the label path equals source-only training
    torch.manual_seed(1)
    plain = DANN(channels=(4, 4), width=8)
    opt = torch.optim.SGD(plain.parameters(), lr=0.1)
    fit(plain, DannLoss(adapt=False), PairedLoader(source, target_x, 8, seed=0), opt, epochs=2)
    assert torch.allclose(plain.features.linear.weight, models[0].features.linear.weight, atol=1e-6)
    assert not torch.allclose(models[1].features.linear.weight, models[0].features.linear.weight)
    assert 0.0 <= domain_accuracy(models[1], source.x, target_x) <= 1.0


def test_paired_loader_is_deterministic_and_cycles_the_target():
    source, target_x = _toy(n=20)
    a = list(PairedLoader(source, target_x[:5], 8, seed=3))
    b = list(PairedLoader(source, target_x[:5], 8, seed=3))
    assert len(a) == 3 and [len(batch[2]) for batch in a] == [8, 8, 4]
    assert all(torch.equal(u, v) for x, y in zip(a, b) for u, v in zip(x, y))
    with pytest.raises(BadInput):
        DannSchedule(10, weight=-1.0)
