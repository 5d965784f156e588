import torch

from mllab.models import MLP


def test_mlp_shapes_and_residual_identity_at_zero_weights():
    model = MLP(10, 3, width=8, depth=4, residual=True)
    assert model(torch.randn(5, 10)).shape == (5, 3)
    for block in list(model.blocks)[1:]:
        torch.nn.init.zeros_(block.linear.weight)
        torch.nn.init.zeros_(block.linear.bias)
    x = torch.randn(5, 10)
    first = model.blocks[0](x)
    assert torch.allclose(model.blocks(x), first)  # relu(0) = 0: residual blocks pass h through


def test_mlp_norms_come_from_the_one_factory():
    from mllab.layers import BatchNorm1d

    assert isinstance(MLP(4, 2, width=8, norm="batch").blocks[0].norm, BatchNorm1d)
    assert isinstance(MLP(4, 2, width=8, norm="layer").blocks[0].norm, torch.nn.LayerNorm)
    group = MLP(4, 2, width=8, norm="group", groups=4).blocks[0].norm
    assert isinstance(group, torch.nn.GroupNorm) and group.num_groups == 4
    assert isinstance(MLP(4, 2, width=8).blocks[0].norm, torch.nn.Identity)
    assert isinstance(MLP(4, 2, width=8, norm="none").blocks[0].norm, torch.nn.Identity)


def test_deepnet_is_a_he_initialised_mlp():
    from mllab.models import DeepNet

    torch.manual_seed(0)
    model = DeepNet(256, 10, width=512, depth=3, norm="layer")
    assert isinstance(model, MLP) and len(model.blocks) == 3
    assert isinstance(model.blocks[1].norm, torch.nn.LayerNorm)
    first, second = model.blocks[0].linear, model.blocks[1].linear
    assert abs(float(first.weight.detach().std()) - (2 / 256) ** 0.5) < 0.05 * (2 / 256) ** 0.5  # W ~ N(0, 2 / fan_in)
    assert abs(float(second.weight.detach().std()) - (2 / 512) ** 0.5) < 0.05 * (2 / 512) ** 0.5
    assert float(first.bias.detach().abs().max()) == 0.0
    assert model(torch.randn(5, 256)).shape == (5, 10)
