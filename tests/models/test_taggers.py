"""Taggers: shapes, what each can see, bad input."""

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.models.taggers import AttentionTagger, GRUTagger, WindowMLPTagger


@pytest.mark.parametrize("positional", ["none", "sinusoidal", "learned", "relative"])
def test_attention_tagger_shapes_and_banded_equals_full_with_a_covering_window(positional):
    torch.manual_seed(0)
    tokens = torch.randint(0, 9, (2, 10))
    full = AttentionTagger(9, 3, positional=positional, max_len=10).double()
    banded = AttentionTagger(9, 3, positional=positional, max_len=10, window=9).double()
    banded.load_state_dict(full.state_dict())
    assert full(tokens).shape == (2, 10, 3)
    assert (full(tokens) - banded(tokens)).abs().max() <= 1e-10


def test_window_mlp_sees_only_its_window():
    torch.manual_seed(0)
    model = WindowMLPTagger(9, 3, window=2)
    a = torch.randint(1, 9, (1, 12))
    b = a.clone()
    b[0, 9] = (a[0, 9] % 8) + 1  # change a token 4 positions right of position 5
    assert torch.equal(model(a)[0, :7], model(b)[0, :7])  # positions 0..6 are ≥ 3 away
    assert not torch.equal(model(a)[0, 7:], model(b)[0, 7:])


def test_gru_tagger_shapes_and_bad_input():
    assert GRUTagger(5, 2)(torch.randint(0, 5, (3, 7))).shape == (3, 7, 2)
    with pytest.raises(BadInput, match="window"):
        WindowMLPTagger(5, 2, window=-1)
    with pytest.raises(BadInput, match="positional"):
        AttentionTagger(5, 2, positional="rope")
    with pytest.raises(BadInput, match="exceeds its table"):
        AttentionTagger(5, 2, positional="learned", max_len=4)(torch.zeros(1, 6, dtype=torch.long))
