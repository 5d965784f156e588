"""Learning-rate schedules: values at chosen steps, and as LambdaLR inside an optimizer."""

import math

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.train.schedules import inverse_sqrt, linear_warmup, scheduler, step_decay, warmup_cosine


def test_linear_warmup_values():
    f = linear_warmup(4)
    assert [f(t) for t in (0, 1, 3, 4, 100)] == pytest.approx([0.25, 0.5, 1.0, 1.0, 1.0])


def test_warmup_cosine_values():
    f = warmup_cosine(10, 110, min_factor=0.1)
    assert f(0) == pytest.approx(0.1)
    assert f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the decay
    assert f(110) == pytest.approx(0.1)
    assert f(500) == pytest.approx(0.1)
    values = [f(t) for t in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_inverse_sqrt_is_vaswani_eq3():
    d_model, warmup = 512, 4000
    f = inverse_sqrt(warmup, d_model)
    for n in (1, 100, 4000, 16000):
        assert f(n - 1) == pytest.approx(d_model ** -0.5 * min(n ** -0.5, n * warmup ** -1.5))
    g = inverse_sqrt(100)  # normalised: peak 1 at n = warm-up
    assert g(99) == pytest.approx(1.0)
    assert g(49) == pytest.approx(0.5)
    assert g(399) == pytest.approx(0.5)
    assert max(g(t) for t in range(1000)) == pytest.approx(1.0)


def test_step_decay_matches_steplr():
    f = step_decay(3, gamma=0.5)
    assert [f(t) for t in (0, 2, 3, 5, 6, 9)] == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.125])
    p = torch.nn.Parameter(torch.zeros(1))
    ours_opt, torch_opt = torch.optim.SGD([p], lr=0.2), torch.optim.SGD([p], lr=0.2)
    ours, theirs = scheduler(ours_opt, f), torch.optim.lr_scheduler.StepLR(torch_opt, 3, 0.5)
    for _ in range(10):
        assert ours_opt.param_groups[0]["lr"] == pytest.approx(torch_opt.param_groups[0]["lr"])
        ours_opt.step(), torch_opt.step(), ours.step(), theirs.step()


def test_scheduler_sets_lr_per_update():
    p = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([p], lr=2.0)
    schedule = scheduler(optimizer, warmup_cosine(2, 6))
    seen = []
    for _ in range(7):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert seen[:3] == pytest.approx([1.0, 2.0, 2.0])
    assert seen[4] == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi * 2 / 4)))
    assert seen[6] == pytest.approx(0.0, abs=1e-12)


def test_bad_arguments():
    with pytest.raises(BadInput, match="warmup_steps"):
        linear_warmup(0)
    with pytest.raises(BadInput, match="total_steps"):
        warmup_cosine(10, 5)
    with pytest.raises(BadInput, match="gamma"):
        step_decay(3, gamma=0.0)
