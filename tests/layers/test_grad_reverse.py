import pytest
import torch

from mllab.core.errors import BadInput
from mllab.layers.grad_reverse import GradReverse, grad_reverse


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, 2.5])
def test_forward_is_identity_and_backward_is_minus_lambda_times_the_incoming_gradient(lam):
    x = torch.randn(4, 5, requires_grad=True)
    incoming = torch.randn(4, 5)
    y = GradReverse(lam)(x)
    assert torch.equal(y, x)
    y.backward(incoming)
    assert torch.allclose(x.grad, -lam * incoming)


def test_layers_before_the_reversal_see_the_reversed_gradient_and_layers_after_do_not():
    torch.manual_seed(0)
    f, d = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)
    x = torch.randn(8, 3)
    d(f(x)).sum().backward()
    g_f, g_d = f.weight.grad.clone(), d.weight.grad.clone()
    f.zero_grad(), d.zero_grad()
    d(grad_reverse(f(x), 0.5)).sum().backward()
    assert torch.allclose(f.weight.grad, -0.5 * g_f) and torch.allclose(d.weight.grad, g_d)


@pytest.mark.parametrize("lam", [-0.1, float("nan")])
def test_negative_lambda_is_bad_input_with_one_line(lam):
    with pytest.raises(BadInput, match="lambda: must be >= 0") as exc:
        GradReverse(lam)
    assert "\n" not in str(exc.value)
    with pytest.raises(BadInput):
        grad_reverse(torch.zeros(1), lam)
    with pytest.raises(BadInput):
        GradReverse(1.0).set_lambda(lam)
