"""conv2d from the formula equals F.conv2d; the closed-form receptive field equals gradient probing."""

import random

import pytest
import torch
import torch.nn.functional as F

from mllab.core.errors import BadInput
from mllab.layers.conv import (LayerGeometry, conv2d, field_mask, gradient_support, output_size, probe_stack,
                               receptive_field)

OPTIONS = [dict(), dict(stride=2), dict(padding=1), dict(padding=(2, 0)), dict(dilation=2), dict(dilation=(1, 3)),
           dict(groups=2), dict(groups=4), dict(stride=(2, 3), padding=(1, 2), dilation=(2, 1), groups=2)]


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_conv2d_equals_torch_forward_and_backward(options, dtype, tol):
    g = torch.Generator().manual_seed(0)
    groups = options.get("groups", 1)
    x = torch.randn(2, 4, 9, 11, dtype=dtype, generator=g, requires_grad=True)
    w = torch.randn(8, 4 // groups, 3, 2, dtype=dtype, generator=g, requires_grad=True)
    b = torch.randn(8, dtype=dtype, generator=g, requires_grad=True)
    results = []
    for fn in (conv2d, F.conv2d):
        y = fn(x, w, b, **options)
        upstream = torch.randn(y.shape, dtype=dtype, generator=torch.Generator().manual_seed(1))
        results.append((y, *torch.autograd.grad((y * upstream).sum(), (x, w, b))))
    assert results[0][0].shape == results[1][0].shape
    for ours, theirs in zip(*results):  # tolerance relative to the tensor's largest entry (sums of ~200 terms)
        assert (ours - theirs).abs().max() <= tol * max(1.0, float(theirs.abs().max()))


def test_conv2d_without_bias():
    x, w = torch.randn(1, 2, 5, 5, dtype=torch.float64), torch.randn(3, 2, 3, 3, dtype=torch.float64)
    assert torch.allclose(conv2d(x, w), F.conv2d(x, w), atol=1e-12)


@pytest.mark.parametrize("call,fix", [
    (lambda: output_size(5, 7), "kernel"), (lambda: output_size(5, 3, stride=0), "stride"),
    (lambda: output_size(5, 3, padding=-1), "padding"),
    (lambda: conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 1, 3, 3), groups=2), "groups"),
])
def test_bad_geometry_is_one_clear_line(call, fix):
    with pytest.raises(BadInput, match=fix) as info:
        call()
    assert "\n" not in str(info.value)


def random_stack(rng: random.Random) -> list[LayerGeometry]:
    stack, channels = [], 1
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.3:
            k = rng.choice([2, 3])
            stack.append(LayerGeometry("pool", k, rng.choice([1, 2]), rng.choice([0, k // 2])))
        else:
            out = rng.choice([1, 2])
            stack.append(LayerGeometry("conv", rng.choice([1, 3, 5]), rng.choice([1, 2]), rng.choice([0, 1, 2]),
                                       rng.choice([1, 2]), channels, out))
            channels = out
    return stack


@pytest.mark.parametrize("trial", range(24))
def test_receptive_field_equals_gradient_support_on_random_stacks(trial):
    rng = random.Random(trial)
    stack, image = random_stack(rng), 24
    try:
        infos = receptive_field(stack, (1, image, image))
    except BadInput:
        pytest.skip("this random stack does not fit the image")
    net = probe_stack(stack)
    checked = []
    for depth, info in enumerate(infos, start=1):
        for i, j in ((0, 0), (info.size // 2, info.size - 1), (info.size - 1, info.size // 3)):
            measured = gradient_support(net, (1, image, image), depth, i, j)
            box = field_mask(info, i, j, image)
            assert not (measured & ~box).any(), (stack[:depth], i, j)  # always inside the box
            if info.exact:
                assert torch.equal(measured, box), (stack[:depth], i, j)
                checked.append(depth)
    assert checked or not infos[0].exact


def test_closed_form_numbers_and_parameter_count():
    stack = [LayerGeometry("conv", 3, 1, 1, 1, 1, 8), LayerGeometry("pool", 2, 2), LayerGeometry("conv", 3, 1, 1, 1, 8, 8)]
    infos = receptive_field(stack, (1, 28, 28))
    assert [(i.size, i.jump, i.field, i.start) for i in infos] == [(28, 1, 3, -1), (14, 2, 4, -1), (14, 2, 8, -3)]
    assert infos[0].params == 1 * 8 * 9 + 8 and infos[1].params == 0
    assert infos[0].dense_params == 784 * (8 * 784) + 8 * 784
    wrong = receptive_field(stack, (1, 28, 28), ignore_jump=True)
    assert wrong[-1].field == 6 != infos[-1].field  # the classic mistake differs once a stride appears


def test_receptive_field_reads_torch_modules():
    from torch import nn

    stack = nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, dilation=2))
    infos = receptive_field(stack, (1, 32, 32))
    assert [i.kind for i in infos] == ["conv", "pool", "conv"]
    assert infos[-1].field == 5 + 1 * 2 + 2 * 2 * 4 and infos[-1].jump == 4
