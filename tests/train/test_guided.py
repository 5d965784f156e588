"""Guided attention: W on hand-made N, T; per-row W zero on padding; λ = 0 is the plain loss; the guide lowers the
off-diagonal mass; bad input."""

import math

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.models.transformer import BOS, EOS, PAD, Seq2SeqTransformer, seq2seq_loss
from mllab.train.guided import (
    GuidedLoss,
    batch_guide_weights,
    diagonal_score,
    guide_weights,
)


def test_weight_matrix_values_by_hand():
    W = guide_weights(2, 4, g=0.5)  # n/N ∈ {0, .5}, t/T ∈ {0, .25, .5, .75}; 2g² = 0.5
    expected = [[1 - math.exp(-((n / 2 - t / 4) ** 2) / 0.5) for t in range(4)] for n in range(2)]
    assert W.shape == (2, 4)
    assert torch.allclose(W, torch.tensor(expected), atol=1e-6)
    assert W[0, 0] == 0 and W[1, 2] == 0  # on the diagonal n/N = t/T
    assert W[0, 3] == pytest.approx(1 - math.exp(-0.5625 / 0.5))
    square = guide_weights(3, 3, g=0.2)
    assert torch.allclose(square.diagonal(), torch.zeros(3)) and torch.allclose(square, square.T)


def test_batch_weights_use_each_rows_lengths_and_vanish_on_padding():
    W = batch_guide_weights(torch.tensor([2, 3]), torch.tensor([4, 2]), m=3, n=4, g=0.3)  # (B, n, m)
    assert torch.allclose(W[0, :, :2], guide_weights(2, 4, 0.3).T)
    assert (W[0, :, 2] == 0).all() and (W[1, 2:] == 0).all()
    assert torch.allclose(W[1, :2, :], guide_weights(3, 2, 0.3).T)


def _batch():
    src = torch.tensor([[3, 4, 5], [5, 3, PAD]])
    tgt = torch.tensor([[BOS, 4, 5, 6, EOS], [BOS, 6, 4, EOS, PAD]])
    return src, tgt


def test_zero_weight_is_the_plain_loss():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(7, 8, width=16, heads=2, layers=1)
    (a, na), (b, nb) = GuidedLoss(0.0)(model, _batch()), seq2seq_loss(model, _batch())
    assert torch.allclose(a, b) and int(na) == int(nb)
    guided, _ = GuidedLoss(1.0)(model, _batch())
    assert guided > a  # the attention mass off the diagonal costs something


def test_the_guide_alone_moves_attention_to_the_diagonal():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(7, 8, width=16, heads=2, layers=1)
    src, tgt = _batch()
    expected = torch.tensor([[0, 1, 2, -1], [0, 1, -1, -1]])
    before = diagonal_score(model, src, tgt, expected)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss, _ = GuidedLoss(100.0, g=0.2)(model, (src, tgt))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert diagonal_score(model, src, tgt, expected) > max(before, 0.6)


@pytest.mark.parametrize("make", [lambda: GuidedLoss(-0.1), lambda: GuidedLoss(1.0, g=0.0),
                                  lambda: guide_weights(0, 3)])
def test_bad_input_is_one_line(make):
    with pytest.raises(BadInput) as info:
        make()
    assert "\n" not in str(info.value)
