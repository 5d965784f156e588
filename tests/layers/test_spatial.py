"""Random affine augmentation is seeded and the identity at zero range; the STN starts as the identity."""

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.data.images import warp as data_warp
from mllab.layers.spatial import RandomAffine, SpatialTransformer, affine_theta, random_affine, theta_angle, warp


def batch():
    return torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_zero_range_returns_the_input():
    x = batch()
    out, params = random_affine(x, max_angle=0, scale=(1, 1), max_shift=0, seed=3)
    assert (out - x).abs().max() <= 1e-6
    assert params["angle"].abs().max() == 0 and (params["scale"] == 1).all()


def test_seeded_and_different_per_seed():
    x = batch()
    a, _ = random_affine(x, max_angle=30, scale=(0.8, 1.2), max_shift=3, seed=1)
    b, _ = random_affine(x, max_angle=30, scale=(0.8, 1.2), max_shift=3, seed=1)
    c, _ = random_affine(x, max_angle=30, scale=(0.8, 1.2), max_shift=3, seed=2)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_shift_by_whole_pixels_moves_the_image():
    x = batch()
    moved = warp(x, affine_theta(torch.zeros(5), torch.ones(5), torch.tensor([[2.0, 0.0]] * 5), 28))
    assert torch.allclose(moved[..., 2:], x[..., :-2], atol=1e-5)  # content moved 2 px right


def test_rotation_by_90_degrees_is_rot90_and_angle_is_read_back():
    x = batch()
    theta = affine_theta(torch.full((5,), 90.0), torch.ones(5), torch.zeros(5, 2), 28)
    out = warp(x, theta)
    candidates = [torch.rot90(x, k, dims=(-2, -1)) for k in (1, 3)]
    assert min(float((out - c).abs().max()) for c in candidates) < 1e-4
    assert torch.allclose(theta_angle(theta), torch.full((5,), 90.0), atol=1e-4)


def test_data_warp_agrees_with_layer_warp():
    x = batch()
    angle, scale, shift = torch.tensor([10.0, -20, 0, 30, 45]), torch.tensor([1.0, 0.8, 1.2, 1, 0.7]), torch.randn(5, 2)
    ours = warp(x, affine_theta(angle, scale, shift, 28))
    assert torch.allclose(ours, data_warp(x, angle, scale, shift), atol=1e-6)


def test_stn_is_identity_at_initialisation_and_trains():
    torch.manual_seed(0)
    stn = SpatialTransformer(1, 28)
    x = batch()
    assert (stn(x) - x).abs().max() <= 1e-6
    stn(x).sum().backward()
    assert stn.localisation[-1].bias.grad.abs().sum() > 0


def test_random_affine_module_is_off_in_eval():
    x = batch()
    module = RandomAffine(30, (0.8, 1.2), 2, seed=0)
    assert not torch.allclose(module.train()(x), x)
    assert torch.equal(module.eval()(x), x)


def test_bad_ranges():
    with pytest.raises(BadInput, match="scale"):
        random_affine(batch(), scale=(1.2, 0.8))
    with pytest.raises(BadInput, match="max_angle"):
        random_affine(batch(), max_angle=-1)
