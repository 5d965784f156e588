"""Positional encodings: the sinusoid formula, the learned table's bound, the relative bias's offsets."""

import math

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.layers.positional import (
    LearnedEncoding,
    RelativePositionBias,
    SinusoidalEncoding,
    quadratic_shift_bias,
    sinusoidal_table,
)


def test_sinusoidal_is_the_formula():
    table = sinusoidal_table(10, 6, dtype=torch.float64)
    i, k = 7, 1
    assert math.isclose(table[i, 2 * k].item(), math.sin(i / 10000 ** (2 * k / 6)), abs_tol=1e-12)
    assert math.isclose(table[i, 2 * k + 1].item(), math.cos(i / 10000 ** (2 * k / 6)), abs_tol=1e-12)
    x = torch.zeros(2, 10, 6)
    assert torch.allclose(SinusoidalEncoding(6)(x)[1], table.float())


def test_learned_encoding_rejects_too_long_sequences():
    enc = LearnedEncoding(8, 4)
    assert enc(torch.zeros(1, 8, 4)).shape == (1, 8, 4)
    with pytest.raises(BadInput, match="exceeds its table of 8"):
        enc(torch.zeros(1, 9, 4))


def test_relative_bias_depends_on_the_offset_only_and_band_matches():
    rel = RelativePositionBias(2, 3)
    with torch.no_grad():
        rel.table.copy_(torch.randn(2, 7))
    full = rel(6)
    assert full[1, 2, 4] == full[1, 3, 5] == rel.table[1, 3 + 2]  # offset j − i = 2
    assert full[0, 5, 0] == rel.table[0, 0]  # offset −5 clipped to −3
    band = rel.band(2)
    assert torch.equal(band[:, 0], full[:, 4, 2])  # offset −2


def test_quadratic_shift_bias_peaks_at_the_shift():
    bias = quadratic_shift_bias(4, 4, torch.tensor([[1.0, -1.0]], dtype=torch.float64), beta=1.0)
    i = 1 * 4 + 2  # pixel (1, 2)
    assert int(bias[0, i].argmax()) == 2 * 4 + 1  # pixel (2, 1)
