"""2-D surfaces: trajectories match a closed form, the Point module works with the Hessian tools."""

import numpy as np
import pytest
import torch

from mllab.analysis import critical_point_report
from mllab.analysis.surfaces import Point, descend, surface_loss, values_on


def bowl(w: torch.Tensor) -> torch.Tensor:  # L = ½ (w1² + 10 w2²), w (2, ...) -> (...)
    scale = torch.tensor([1.0, 10.0], dtype=torch.float64).reshape(2, *([1] * (w.dim() - 1)))
    return 0.5 * (scale * w ** 2).sum(0)


def test_gradient_descent_path_is_the_closed_form():
    eta, steps = 0.05, 20
    path = descend(bowl, lambda p: torch.optim.SGD(p, lr=eta), (1.0, 1.0), steps)
    t = np.arange(steps + 1)
    expected = np.stack([(1 - eta * 1.0) ** t, (1 - eta * 10.0) ** t], axis=1)  # w^t = (1 − ηc)^t w^0
    assert path.shape == (steps + 1, 2)
    np.testing.assert_allclose(path, expected, rtol=1e-12)
    np.testing.assert_allclose(values_on(bowl, path), 0.5 * (expected[:, 0] ** 2 + 10 * expected[:, 1] ** 2), rtol=1e-12)


def test_learning_rate_factor_and_noise_change_the_path():
    plain = descend(bowl, lambda p: torch.optim.SGD(p, lr=0.05), (1.0, 1.0), 5)
    halved = descend(bowl, lambda p: torch.optim.SGD(p, lr=0.1), (1.0, 1.0), 5, factor=lambda t: 0.5)
    np.testing.assert_allclose(plain, halved, rtol=1e-12)
    noisy = descend(bowl, lambda p: torch.optim.SGD(p, lr=0.05), (1.0, 1.0), 5, noise=1.0,
                    generator=torch.Generator().manual_seed(0))
    assert np.abs(noisy - plain).max() > 1e-3


def test_point_at_the_bowl_minimum_is_a_local_minimum():
    report = critical_point_report(Point(bowl, (0.0, 0.0)), surface_loss, [None], tolerance=1e-9)
    assert report.kind == "local minimum"
    assert report.eigenvalues.tolist() == pytest.approx([1.0, 10.0])
