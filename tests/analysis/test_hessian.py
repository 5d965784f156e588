"""HVP equals the exact Hessian times v; Lanczos equals eigvalsh; analytic critical points are classified."""

import pytest
import torch
from torch import nn

from mllab.analysis import (HessianOperator, classify, critical_point_report, exact_hessian, extreme_eigenvalues,
                            hessian_vector_product, lanczos, minimum_ratio)
from mllab.core.errors import BadInput


def cross_entropy(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y, reduction="sum"), len(y)


@pytest.fixture
def small():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()  # P = 51
    x, y = torch.randn(40, 4, dtype=torch.float64), torch.randint(0, 3, (40,))
    return model, [(x[:25], y[:25]), (x[25:], y[25:])]  # two unequal batches


def test_exact_hessian_equals_torch_func(small):
    model, batches = small
    names = [n for n, _ in model.named_parameters()]
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    shapes = [p.shape for p in model.parameters()]

    def loss_of(flat):
        params, start = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = flat[start:start + shape.numel()].reshape(shape)
            start += shape.numel()
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
        return nn.functional.cross_entropy(torch.func.functional_call(model, params, (x,)), y)

    reference = torch.func.hessian(loss_of)(theta)
    ours = exact_hessian(model, cross_entropy, batches)
    assert ours.shape == (51, 51)
    assert torch.allclose(ours, reference, atol=1e-10)


def test_hvp_equals_hessian_times_vector(small):
    model, batches = small
    hessian = exact_hessian(model, cross_entropy, batches)
    v = torch.randn(51, dtype=torch.float64)
    assert torch.allclose(hessian_vector_product(model, cross_entropy, batches, v), hessian @ v, atol=1e-10)
    operator = HessianOperator(model, cross_entropy, batches)
    many = torch.randn(5, 51, dtype=torch.float64)
    assert torch.allclose(operator.matmat(many), many @ hessian, atol=1e-10)


def test_lanczos_equals_eigvalsh(small):
    model, batches = small
    reference = torch.linalg.eigvalsh(exact_hessian(model, cross_entropy, batches))  # ascending
    top = extreme_eigenvalues(model, cross_entropy, batches, k=3, which="largest", tol=1e-10)
    bottom = extreme_eigenvalues(model, cross_entropy, batches, k=2, which="smallest", tol=1e-10)
    assert torch.allclose(top.values, reference.flip(0)[:3], rtol=1e-6, atol=1e-9)
    assert torch.allclose(bottom.values, reference[:2], rtol=1e-6, atol=1e-9)
    assert top.iterations <= 51
    operator = HessianOperator(model, cross_entropy, batches)
    residual = operator.matvec(top.vectors[0]) - top.values[0] * top.vectors[0]
    assert residual.norm() < 1e-6


def test_lanczos_on_a_known_spectrum():
    eigenvalues = torch.linspace(-3.0, 10.0, 300, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(300, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    matrix = q @ torch.diag(eigenvalues) @ q.T
    result = lanczos(lambda v: matrix @ v, 300, k=2, which="largest", tol=1e-8, max_iter=300)
    assert result.values.tolist() == pytest.approx([10.0, eigenvalues[-2].item()], rel=1e-6)
    assert lanczos(lambda v: matrix @ v, 300, k=1, which="smallest", tol=1e-8, max_iter=300).values[0] == \
        pytest.approx(-3.0, rel=1e-6)


class TwoWeights(nn.Module):
    """y = w1 · w2 · x."""

    def __init__(self, w1=0.0, w2=0.0):
        super().__init__()
        self.w1 = nn.Parameter(torch.tensor(w1, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.tensor(w2, dtype=torch.float64))

    def forward(self, x):
        return self.w1 * self.w2 * x


def squared_error(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).sum(), len(y)


def test_two_weight_network_origin_is_a_saddle():
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.5], dtype=torch.float64)
    report = critical_point_report(TwoWeights(), squared_error, [(x, y)], tolerance=1e-8)
    c = float((x * y).mean())  # H = [[0, -2c], [-2c, 0]] at the origin: λ = ±2c
    assert report.gradient_norm == pytest.approx(0.0, abs=1e-12)
    assert report.eigenvalues.tolist() == pytest.approx([-2 * c, 2 * c])
    assert report.kind == "saddle" and report.minimum_ratio == 0.5
    assert abs(float(report.escape_direction @ torch.tensor([1.0, 1.0], dtype=torch.float64))) == pytest.approx(2 ** 0.5)


class Quadratic(nn.Module):
    def __init__(self, curvatures):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(len(curvatures), dtype=torch.float64))
        self.curvatures = torch.tensor(curvatures, dtype=torch.float64)

    def forward(self, x):
        return 0.5 * (self.curvatures * self.theta ** 2).sum() * x


def quadratic_loss(model, batch):
    return model(batch).sum(), len(batch)


@pytest.mark.parametrize("curvatures, kind, ratio", [
    ([1.0, 2.0, 3.0], "local minimum", 1.0),
    ([-1.0, -2.0], "local maximum", 0.0),
    ([1.0, -1.0, 2.0, 5.0], "saddle", 0.75),
    ([1.0, 0.0, 2.0], "flat", 2 / 3),
])
def test_classification_of_analytic_points(curvatures, kind, ratio):
    report = critical_point_report(Quadratic(curvatures), quadratic_loss, [torch.ones(1, dtype=torch.float64)],
                                   tolerance=1e-6)
    assert report.eigenvalues.tolist() == pytest.approx(sorted(curvatures))
    assert report.kind == kind and report.minimum_ratio == pytest.approx(ratio)
    assert (report.escape_direction is not None) == (min(curvatures) < 0)


def test_tolerance_moves_the_verdict():
    values = torch.tensor([-1e-3, 0.5, 2.0], dtype=torch.float64)
    assert classify(values, 1e-4) == "saddle" and minimum_ratio(values, 1e-4) == pytest.approx(2 / 3)
    assert classify(values, 1e-2) == "flat"
    assert classify(values, 1.0) == "flat" and minimum_ratio(values, 1.0) == pytest.approx(1 / 3)


def test_exact_hessian_refuses_big_models(small):
    model, batches = small
    with pytest.raises(BadInput, match="max_params"):
        exact_hessian(model, cross_entropy, batches, max_params=10)
