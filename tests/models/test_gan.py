"""GAN networks: shapes, ranges, and a latent size of 0 refused."""

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.models.gan import ConvCritic, ConvGenerator, MLPCritic, MLPGenerator


def test_mlp_pair_shapes():
    generator, critic = MLPGenerator(3, 2, width=8, depth=2), MLPCritic(2, width=8, depth=2)
    x = generator(torch.randn(5, 3))
    assert x.shape == (5, 2) and critic(x).shape == (5,)


def test_conv_pair_shapes_and_pixel_range():
    generator, critic = ConvGenerator(8, channels=4), ConvCritic(channels=4)
    images = generator(torch.randn(3, 8))
    assert images.shape == (3, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert critic(images).shape == (3,) and critic(images.flatten(1)).shape == (3,)


@pytest.mark.parametrize("make", [lambda: MLPGenerator(0, 2), lambda: ConvGenerator(0)])
def test_latent_size_zero_is_bad_input(make):
    with pytest.raises(BadInput, match="latent_dim"):
        make()


def test_sigmoid_generator_output_in_unit_interval_and_unknown_output_refused():
    images = MLPGenerator(4, 64, width=8, depth=2, output="sigmoid")(10 * torch.randn(7, 4))
    assert images.shape == (7, 64) and images.min() >= 0 and images.max() <= 1
    with pytest.raises(BadInput, match="output"):
        MLPGenerator(4, 64, output="tanh2")
