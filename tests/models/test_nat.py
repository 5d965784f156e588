"""NAT: shapes, length prediction, mask-predict refinement keeps the tokens it does not re-mask, the loss's item
count, distillation targets, bad input."""

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.models.nat import (
    NATransformer,
    count_nat_tokens,
    distill_targets,
    nat_loss,
    nat_targets,
)
from mllab.models.transformer import BOS, EOS, PAD, Seq2SeqTransformer


def _model(**kw):
    torch.manual_seed(0)
    return NATransformer(7, 11, width=16, heads=2, layers=1, mlp_ratio=2, max_len=6, **kw).eval()


def test_shapes_and_predicted_lengths():
    model = _model()
    src = torch.tensor([[3, 4, 5], [6, 3, PAD]])
    logits, length_logits = model(src, torch.full((2, 4), model.mask_id))
    assert logits.shape == (2, 4, 11) and length_logits.shape == (2, 7)
    n = model.predict_length(src)
    assert n.shape == (2,) and ((n >= 1) & (n <= 6)).all()
    tokens = model.decode_parallel(src)
    assert tokens.shape == (2, int(n.max()))
    assert ((tokens != PAD).sum(1) == n).all()  # exactly n̂ tokens per row, PAD after
    assert (tokens < 11).all()  # MASK is never emitted


def test_length_head_learns_the_target_lengths():
    torch.manual_seed(0)
    src = torch.tensor([[3, PAD, PAD], [3, 4, PAD], [3, 4, 5]] * 4)
    lengths = (src != PAD).sum(1) + 1  # 2, 3, 4 target tokens
    tgt = torch.full((len(src), 6), PAD)
    for i, n in enumerate(lengths.tolist()):
        tgt[i, : n + 2] = torch.tensor([BOS] + [5] * n + [EOS])
    model = NATransformer(7, 11, width=16, heads=2, layers=1, mlp_ratio=2, max_len=6, length_weight=1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss, _ = nat_loss(model, (src, tgt))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert torch.equal(model.predict_length(src), lengths)


def test_refinement_keeps_the_tokens_it_does_not_remask():
    model = _model()
    src = torch.tensor([[3, 4, 5, 6]])
    memory, padding, _ = model.encode(src)
    tokens = torch.tensor([[4, 5, 6, 7, 8]])
    probs = torch.tensor([[0.9, 0.1, 0.8, 0.2, 0.95]])
    new, new_probs = model.refine_step(memory, padding, tokens, probs, torch.tensor([2]))
    kept = torch.tensor([[True, False, True, False, True]])  # the two least probable are re-masked
    assert torch.equal(new[kept], tokens[kept]) and torch.equal(new_probs[kept], probs[kept])
    assert not torch.equal(new_probs[~kept], probs[~kept])  # re-predicted
    none, _ = model.refine_step(memory, padding, tokens, probs, torch.tensor([0]))
    assert torch.equal(none, tokens)


def test_decoding_with_refinement_keeps_the_length():
    model = _model()
    src = torch.tensor([[3, 4, 5], [6, 3, PAD]])
    assert torch.equal(model.decode_parallel(src, 3) != PAD, model.decode_parallel(src, 0) != PAD)


def test_loss_counts_target_tokens_plus_one_length_per_sentence():
    model = _model(masking="all")
    tgt = torch.tensor([[BOS, 4, 5, EOS, PAD], [BOS, 6, EOS, PAD, PAD], [BOS, EOS, PAD, PAD, PAD]])
    assert nat_targets(tgt).tolist() == [[4, 5, PAD, PAD], [6, PAD, PAD, PAD], [PAD] * 4]
    loss, n = nat_loss(model.train(), (torch.tensor([[3], [4], [5]]), tgt))
    assert int(n) == count_nat_tokens((None, tgt)) == 3 + 3 and torch.isfinite(loss)


def test_distill_targets_are_the_teachers_greedy_outputs():
    torch.manual_seed(0)
    teacher = Seq2SeqTransformer(7, 11, width=16, heads=2, layers=1).eval()
    src = torch.tensor([[3, 4, 5], [6, 3, PAD]])
    out = distill_targets(teacher, src, 5)
    tokens, _ = teacher.greedy(src, 5)
    for row, gen in zip(out.tolist(), tokens.tolist()):
        gen = gen[: gen.index(EOS)] if EOS in gen else [t for t in gen if t != PAD]
        assert row[0] == BOS and row[1: len(gen) + 2] == [*gen, EOS]


@pytest.mark.parametrize("make", [lambda: _model().decode_parallel(torch.tensor([[3]]), -1),
                                  lambda: _model(masking="some"), lambda: _model(length_weight=-1.0)])
def test_bad_input_is_one_line(make):
    with pytest.raises(BadInput) as info:
        make()
    assert "\n" not in str(info.value)
