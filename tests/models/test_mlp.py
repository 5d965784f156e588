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
