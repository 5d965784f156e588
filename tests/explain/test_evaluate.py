"""Deletion / insertion curves on a model whose answer depends on one known pixel; cascading randomisation
changes exactly the weights it claims to; Spearman rank correlation."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from mllab.core.errors import BadInput
from mllab.explain import saliency
from mllab.explain.evaluate import (
    area_under,
    cascading_randomisation,
    parametrised_layers,
    perturbation_curve,
    pixel_order,
    random_order,
    rank_correlation,
)
from mllab.models.cnn import CNN

PIXEL = (2, 5)  # the one pixel (row, column) of a 4 × 8 image the model reads


class OnePixel(nn.Module):
    """logits (10·x[PIXEL], 0): class 0 is confident exactly when the pixel is on."""

    def forward(self, x):
        v = x[:, 0, PIXEL[0], PIXEL[1]]  # (B,)
        return torch.stack([10 * v, torch.zeros_like(v)], 1)  # (B, 2)


def test_deletion_and_insertion_on_a_one_pixel_model():
    model, x = OnePixel(), torch.ones(2, 1, 4, 8)
    order = pixel_order(saliency(model, x, 0))  # (2, 32)
    assert order[:, 0].tolist() == [PIXEL[0] * 8 + PIXEL[1]] * 2  # the gradient finds the pixel
    frac, deletion = perturbation_curve(model, x, 0, order, mode="deletion", steps=32)
    on, off = torch.sigmoid(torch.tensor(10.0)), torch.tensor(0.5)
    assert torch.allclose(frac, torch.arange(33) / 32)
    assert torch.allclose(deletion[:, 0], on) and torch.allclose(deletion[:, 1:], off)  # gone after step 1
    _, insertion = perturbation_curve(model, x, 0, order, mode="insertion", steps=32)
    assert torch.allclose(insertion[:, 0], off) and torch.allclose(insertion[:, 1:], on)
    assert torch.allclose(area_under(frac, deletion), off + (on - off) / 64)  # the first step's trapezoid only
    # a random order reaches the pixel at its rank r: deletion AUC = 0.5 + (on − off)·(r + ½)/32
    rand = random_order(2, 32, torch.Generator().manual_seed(0))
    _, rand_del = perturbation_curve(model, x, 0, rand, mode="deletion", steps=32)
    r = (rand == PIXEL[0] * 8 + PIXEL[1]).float().argmax(1)
    assert torch.allclose(area_under(frac, rand_del), off + (on - off) * (r + 0.5) / 32, atol=1e-6)


def test_curve_steps_and_bad_order():
    model, x = OnePixel(), torch.ones(1, 1, 4, 8)
    frac, p = perturbation_curve(model, x, 0, torch.arange(32)[None], steps=4)
    assert frac.tolist() == [0, 0.25, 0.5, 0.75, 1.0] and p.shape == (1, 5)
    with pytest.raises(BadInput, match="order"):
        perturbation_curve(model, x, 0, torch.arange(31)[None])
    with pytest.raises(BadInput, match="target"):
        perturbation_curve(model, x, 2, torch.arange(32)[None])


def test_cascading_randomisation_changes_exactly_the_layers_it_names():
    torch.manual_seed(0)
    model = CNN(1, 10, channels=(4, 8), head="flatten")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layers = parametrised_layers(model)
    assert layers == ["features.0", "features.3", "head.1"]
    steps = list(cascading_randomisation(model, seed=1))
    assert [names for names, _ in steps] == [["head.1"], ["head.1", "features.3"], layers[::-1]]
    for names, randomised in steps:
        for key, value in randomised.state_dict().items():
            layer = key.rsplit(".", 1)[0]
            changed = not torch.equal(value, before[key])
            assert changed == (layer in names), key
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the original is untouched
    again = list(cascading_randomisation(model, seed=1))[-1][1]
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), steps[-1][1].state_dict().values()))


def test_rank_correlation_is_scipy_spearman_per_image():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 1, 5, 5, generator=g), torch.randn(3, 1, 5, 5, generator=g)
    rho = rank_correlation(a, b)
    expected = [spearmanr(a[i].abs().flatten(), b[i].abs().flatten()).statistic for i in range(3)]
    assert np.allclose(rho, expected)
    assert np.allclose(rank_correlation(a, -a, absolute=False), -1) and np.allclose(rank_correlation(a, -a), 1)
