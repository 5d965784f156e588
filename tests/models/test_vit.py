"""ViT patch classifier: shapes, what positions and pooling do, bad input; ConvAsAttention against F.conv2d."""

import pytest
import torch
import torch.nn.functional as F

from mllab.core.errors import BadInput
from mllab.models.vit import ConvAsAttention, ViT


@pytest.mark.parametrize("patch,positional,pool", [(7, "learned", "cls"), (4, "sinusoidal", "mean"),
                                                   (14, "learned", "mean")])
def test_vit_shapes_and_gradients(patch, positional, pool):
    torch.manual_seed(0)
    model = ViT(28, patch, in_channels=2, classes=5, width=16, heads=4, depth=2, positional=positional, pool=pool)
    x = torch.randn(3, 2, 28, 28)
    logits = model(x)
    assert logits.shape == (3, 5)
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_vit_images_are_independent_and_positions_matter():
    torch.manual_seed(0)
    model = ViT(8, 4, width=8, heads=2).double().eval()
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    assert torch.allclose(model(x)[1:], model(x[1:]), atol=1e-12)  # no mixing across the batch
    swapped = x.clone()  # swap two patches: a model with positions tells them apart
    swapped[:, :, :4, :4], swapped[:, :, 4:, 4:] = x[:, :, 4:, 4:], x[:, :, :4, :4]
    assert (model(x) - model(swapped)).abs().max() > 1e-6


def test_vit_bad_input_is_one_line():
    with pytest.raises(BadInput, match="not divisible by patch size 5") as err:
        ViT(28, 5)
    assert "\n" not in str(err.value)
    with pytest.raises(BadInput, match="heads must divide"):
        ViT(28, 7, width=10, heads=3)
    with pytest.raises(BadInput, match="positional"):
        ViT(28, 7, positional="rope")
    with pytest.raises(BadInput, match="pool"):
        ViT(28, 7, pool="max")
    with pytest.raises(BadInput, match="expected images"):
        ViT(28, 7)(torch.zeros(2, 1, 27, 27))


@pytest.mark.parametrize("k,c_in,c_out", [(1, 2, 3), (3, 1, 4), (3, 3, 40), (5, 2, 3)])
@pytest.mark.parametrize("impl", ["fast", "explicit"])
def test_conv_as_attention_equals_conv2d(k, c_in, c_out, impl):
    g = torch.Generator().manual_seed(k * 100 + c_out)
    for dtype, tolerance in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        w = torch.randn(c_out, c_in, k, k, generator=g, dtype=torch.float64).to(dtype)
        b = torch.randn(c_out, generator=g, dtype=torch.float64).to(dtype)
        x = torch.randn(2, c_in, 7, 9, generator=g, dtype=torch.float64).to(dtype)
        out = ConvAsAttention(w, b, beta=1e3)(x, impl=impl)
        assert out.shape == (2, c_out, 7, 9)
        assert (out - F.conv2d(x, w, b, padding=k // 2)).abs().max() <= tolerance


def test_conv_as_attention_needs_a_large_beta_and_attends_to_one_pixel_per_head():
    g = torch.Generator().manual_seed(0)
    w, x = torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64), torch.randn(1, 1, 6, 6, generator=g, dtype=torch.float64)
    reference = F.conv2d(x, w, padding=1)
    assert (ConvAsAttention(w, beta=0.0)(x) - reference).abs().max() > 0.1  # flat scores: every head averages
    maps = ConvAsAttention(w, beta=1e3).attention_maps(x)[0]  # (9, 64, 64) on the padded 8 × 8 grid
    i = 3 * 8 + 4  # an interior pixel (row 3, column 4)
    hit = maps[:, i].argmax(-1)  # the pixel each head attends to
    assert torch.equal(maps[:, i].max(-1).values, torch.ones(9, dtype=torch.float64))
    assert sorted(hit.tolist()) == [r * 8 + c for r in (2, 3, 4) for c in (3, 4, 5)]  # the 3 × 3 neighbourhood


def test_conv_as_attention_bad_input():
    with pytest.raises(BadInput, match="odd K"):
        ConvAsAttention(torch.zeros(1, 1, 2, 2))
    with pytest.raises(BadInput, match="beta"):
        ConvAsAttention(torch.zeros(1, 1, 3, 3), beta=-1.0)
    with pytest.raises(BadInput, match="expected"):
        ConvAsAttention(torch.zeros(1, 2, 3, 3))(torch.zeros(1, 1, 5, 5))
