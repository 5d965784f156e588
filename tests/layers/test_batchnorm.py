"""BatchNorm1d/2d from the formula equal PyTorch's in training and eval, forward and backward."""

import pytest
import torch
from torch import nn

from mllab.layers import BatchNorm1d, BatchNorm2d

CASES = [  # (ours, PyTorch's, input shape)
    (BatchNorm1d, nn.BatchNorm1d, (8, 5)),
    (BatchNorm1d, nn.BatchNorm1d, (4, 5, 7)),
    (BatchNorm2d, nn.BatchNorm2d, (3, 5, 4, 6)),
]


def _pair(ours_cls, theirs_cls, **kwargs):
    torch.manual_seed(0)
    ours, theirs = ours_cls(5, **kwargs).double(), theirs_cls(5, **kwargs).double()
    if ours.affine:  # non-trivial γ, β so that the affine part is tested
        with torch.no_grad():
            ours.weight.uniform_(0.5, 2.0)
            ours.bias.normal_()
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def _forward_backward(module, x, upstream):
    x = x.clone().requires_grad_(True)
    y = module(x)
    (y * upstream).sum().backward()
    grads = [x.grad] + [p.grad for p in module.parameters()]
    return y.detach(), grads


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("ours_cls,theirs_cls,shape", CASES)
def test_training_mode_matches_pytorch(ours_cls, theirs_cls, shape, momentum):
    ours, theirs = _pair(ours_cls, theirs_cls, momentum=momentum)
    for step in range(3):  # several steps: the running statistics accumulate
        x = torch.randn(shape, dtype=torch.float64) * 3 + step
        upstream = torch.randn(shape, dtype=torch.float64)
        y_ours, g_ours = _forward_backward(ours, x, upstream)
        y_theirs, g_theirs = _forward_backward(theirs, x, upstream)
        torch.testing.assert_close(y_ours, y_theirs)
        for a, b in zip(g_ours, g_theirs):
            torch.testing.assert_close(a, b)
        ours.zero_grad()
        theirs.zero_grad()
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)
    torch.testing.assert_close(ours.running_var, theirs.running_var)  # the unbiased running variance
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 3


@pytest.mark.parametrize("ours_cls,theirs_cls,shape", CASES)
def test_eval_mode_matches_pytorch_and_uses_running_statistics(ours_cls, theirs_cls, shape):
    ours, theirs = _pair(ours_cls, theirs_cls)
    for _ in range(4):
        x = torch.randn(shape, dtype=torch.float64) * 2 - 1
        ours(x), theirs(x)
    ours.eval(), theirs.eval()
    x = torch.randn(shape, dtype=torch.float64)
    upstream = torch.randn(shape, dtype=torch.float64)
    y_ours, g_ours = _forward_backward(ours, x, upstream)
    y_theirs, g_theirs = _forward_backward(theirs, x, upstream)
    torch.testing.assert_close(y_ours, y_theirs)
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b)
    # Running statistics: one sample's output is the same alone as inside the batch, and eval does not update them.
    before = ours.running_mean.clone()
    torch.testing.assert_close(ours(x[:1]), y_ours[:1])
    torch.testing.assert_close(ours.running_mean, before)


@pytest.mark.parametrize("ours_cls,theirs_cls,shape", CASES)
def test_without_affine_or_running_stats_matches_pytorch(ours_cls, theirs_cls, shape):
    ours, theirs = _pair(ours_cls, theirs_cls, affine=False, track_running_stats=False)
    x = torch.randn(shape, dtype=torch.float64)
    for mode in (True, False):  # without running statistics eval also uses the batch's
        ours.train(mode), theirs.train(mode)
        torch.testing.assert_close(ours(x), theirs(x))
    assert list(ours.parameters()) == [] and ours.running_mean is None


def test_training_output_is_normalised_per_channel():
    bn = BatchNorm2d(3, affine=False)
    y = bn(torch.randn(4, 3, 5, 5) * 10 + 7)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3, rtol=0)


def test_bad_shapes_and_single_value_batches_are_refused():
    with pytest.raises(ValueError, match="rank 4"):
        BatchNorm2d(3)(torch.randn(2, 3))
    with pytest.raises(ValueError, match="3 channels"):
        BatchNorm1d(3)(torch.randn(2, 4))
    with pytest.raises(ValueError, match="more than 1 value"):
        BatchNorm1d(3)(torch.randn(1, 3))
    BatchNorm1d(3).eval()(torch.randn(1, 3))  # one sample is fine at evaluation
