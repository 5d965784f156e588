"""Sharpness (top eigenvalue, ε-box) and filter-normalised loss slices on models with known answers."""

import numpy as np
import pytest
import torch
from torch import nn

from mllab.analysis import epsilon_sharpness, filter_normalized_direction, loss_slice, top_eigenvalue
from tests.analysis.test_hessian import Quadratic, quadratic_loss  # the same known-curvature model


def test_top_eigenvalue_and_epsilon_sharpness_of_a_quadratic():
    batches = [torch.ones(1, dtype=torch.float64)]
    sharp, flat = Quadratic([100.0, 1.0]), Quadratic([1.0, 1.0])
    assert top_eigenvalue(sharp, quadratic_loss, batches) == pytest.approx(100.0, rel=1e-6)
    eps = 1e-2  # box |z_i| ≤ ε (|θ_i| + 1) = ε at θ = 0: max L = ½ Σ c_i ε²
    assert epsilon_sharpness(sharp, quadratic_loss, batches, eps) == pytest.approx(100 * 0.5 * 101 * eps ** 2, rel=1e-6)
    assert epsilon_sharpness(flat, quadratic_loss, batches, eps) < epsilon_sharpness(sharp, quadratic_loss, batches, eps)
    assert sharp.theta.detach().abs().max() == 0  # parameters restored


def test_filter_normalized_direction_and_slices():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    x, y = torch.randn(30, 3), torch.randint(0, 2, (30,))

    def loss_fn(m, batch):
        return nn.functional.cross_entropy(m(batch[0]), batch[1], reduction="sum"), len(batch[1])

    d = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    for p, direction in zip(model.parameters(), d):
        if p.dim() == 1:
            assert direction.abs().max() == 0
        else:
            assert torch.allclose(direction.norm(dim=1), p.detach().norm(dim=1), rtol=1e-5)
    before = [p.detach().clone() for p in model.parameters()]
    alphas = np.linspace(-1, 1, 5)
    one = loss_slice(model, loss_fn, [(x, y)], [d], [alphas])
    e = filter_normalized_direction(model, torch.Generator().manual_seed(2))
    two = loss_slice(model, loss_fn, [(x, y)], [d, e], [alphas, alphas[:3]])
    assert one.shape == (5,) and two.shape == (5, 3)
    centre = nn.functional.cross_entropy(model(x), y).item()
    assert one[2] == pytest.approx(centre, rel=1e-6)
    assert two[:, 2] == pytest.approx(one, rel=1e-6)  # β = 0 column is the 1-D slice
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
