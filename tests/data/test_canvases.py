"""Multi-label canvases: deterministic from the seed, label sets match the digits drawn, bad digit counts."""

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.data.canvases import BOS, EOS, LABEL_OFFSET, PAD, make_canvases
from mllab.data.datasets import Split


def _split():
    """Ten 28 × 28 'digits': class c is a solid square of brightness (c + 1) / 10, two of each."""
    y = torch.arange(10).repeat(2)
    x = ((y[:, None].float() + 1) / 10).expand(-1, 784).clone()
    return Split(x, y)


def test_canvases_are_deterministic_per_seed():
    a, b = make_canvases(_split(), 20, seed=3), make_canvases(_split(), 20, seed=3)
    assert torch.equal(a.images, b.images) and a.digits == b.digits
    assert make_canvases(_split(), 20, seed=4).digits != a.digits


def test_label_sets_match_the_digits_on_the_canvas():
    cell = 14
    data = make_canvases(_split(), 50, seed=0, min_digits=1, max_digits=4, cell=cell)
    assert data.images.shape == (50, 1, 28, 28)
    for i, digits in enumerate(data.digits):
        assert 1 <= len(digits) <= 4 and digits == sorted(set(digits))
        assert data.labels[i].nonzero().flatten().tolist() == digits
        cells = [data.images[i, 0, r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] for r in (0, 1) for c in (0, 1)]
        seen = sorted(round(float(p.mean()) * 10) - 1 for p in cells if p.abs().sum() > 0)  # class from brightness
        assert seen == digits
    tokens = data.label_tokens()
    assert tokens[0].tolist()[: len(data.digits[0]) + 2] == [BOS, *(LABEL_OFFSET + c for c in data.digits[0]), EOS]
    assert (tokens[0, len(data.digits[0]) + 2:] == PAD).all()
    assert torch.equal(data.counts(), torch.tensor([len(d) for d in data.digits]))


def test_fixed_digit_count():
    data = make_canvases(_split(), 10, seed=1, min_digits=3, max_digits=3)
    assert all(len(d) == 3 for d in data.digits)


@pytest.mark.parametrize("low, high", [(0, 2), (1, 5), (3, 2)])
def test_digits_outside_one_to_four_are_bad_input(low, high):
    with pytest.raises(BadInput) as info:
        make_canvases(_split(), 5, seed=0, min_digits=low, max_digits=high)
    assert "\n" not in str(info.value)
