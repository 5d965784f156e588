"""`make_norm`: one factory whose layers equal PyTorch's, parametrized over the registry."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput
from mllab.layers import NORMS, BatchNorm1d, BatchNorm2d, make_norm


def _randomise_affine(module: nn.Module) -> None:
    """Non-trivial γ, β so that the affine part is compared too."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.rand_like(p) + 0.5 if name == "weight" else torch.randn_like(p))


@pytest.mark.parametrize("kind,spatial_dims,shape,reference", [
    ("batch", 0, (8, 6), lambda: nn.BatchNorm1d(6)),
    ("batch", 1, (4, 6, 5), lambda: nn.BatchNorm1d(6)),
    ("batch", 2, (3, 6, 4, 5), lambda: nn.BatchNorm2d(6)),
    ("layer", 0, (8, 6), lambda: nn.LayerNorm(6)),
    ("group", 0, (8, 6), lambda: nn.GroupNorm(3, 6)),
    ("group", 2, (3, 6, 4, 5), lambda: nn.GroupNorm(3, 6)),
    ("instance", 2, (3, 6, 4, 5), lambda: nn.InstanceNorm2d(6, affine=True)),
    ("instance", 1, (3, 6, 7), lambda: nn.InstanceNorm1d(6, affine=True)),
])
def test_norm_equals_pytorch_forward_and_backward(kind, spatial_dims, shape, reference):
    torch.manual_seed(0)
    ours, theirs = make_norm(kind, 6, groups=3, spatial_dims=spatial_dims).double(), reference().double()
    _randomise_affine(ours)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(*shape, dtype=torch.float64) * 3 + 1
    x_ours, x_theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    upstream = torch.randn(*shape, dtype=torch.float64)
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    torch.testing.assert_close(y_ours, y_theirs)
    (y_ours * upstream).sum().backward()
    (y_theirs * upstream).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_layer_norm_with_positions_normalises_each_sample_over_channels_and_positions():
    x = torch.randn(3, 6, 4, 5) * 2 + 3
    expected = F.layer_norm(x, x.shape[1:])  # statistics over (C, H, W) of each sample
    torch.testing.assert_close(make_norm("layer", 6, spatial_dims=2)(x), expected)


def test_batch_norm_is_ours_and_depends_on_batch_mates_only_in_training():
    assert isinstance(make_norm("batch", 4), BatchNorm1d) and isinstance(make_norm("batch", 4, spatial_dims=2),
                                                                         BatchNorm2d)
    norm = make_norm("batch", 4)
    x, mates = torch.randn(2, 4), torch.randn(6, 4)
    assert not torch.allclose(norm(torch.cat([x, mates]))[:2], norm(torch.cat([x, mates * 5]))[:2])
    norm.eval()
    torch.testing.assert_close(norm(torch.cat([x, mates]))[:2], norm(torch.cat([x, mates * 5]))[:2])


@pytest.mark.parametrize("kind", sorted(NORMS))
def test_every_kind_keeps_the_shape_and_centres_its_statistics(kind):
    torch.manual_seed(0)
    x = torch.randn(8, 4, 5) * 4 + 2  # (B, C, L)
    y = make_norm(kind, 4, groups=2, spatial_dims=1)(x)
    assert y.shape == x.shape
    dims = {"none": None, "batch": (0, 2), "layer": (1, 2), "group": (2,), "instance": (2,)}[kind]
    if dims is None:
        torch.testing.assert_close(y, x)
    else:  # at initialisation γ = 1, β = 0: the normalised values have mean 0 over the statistics' set
        grouped = y.reshape(8, 2, 10) if kind == "group" else y  # (B, groups, channels of a group x L)
        assert grouped.mean(dim=dims).abs().max() < 1e-5


def test_unknown_kind_names_the_choices():
    with pytest.raises(BadInput, match="unknown kind 'weight'.*none, batch, layer, group, instance"):
        make_norm("weight", 8)


def test_bad_groups_and_flat_instance_norm_are_bad_input():
    with pytest.raises(BadInput, match="6 channels cannot be split into 4"):
        make_norm("group", 6, groups=4)
    with pytest.raises(BadInput, match="instance norm"):
        make_norm("instance", 6)
    with pytest.raises(BadInput, match="spatial_dims"):
        make_norm("layer", 6, spatial_dims=3)
