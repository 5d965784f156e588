"""The seq2seq Transformer: cached decoding equals recomputing, beam 1 is greedy, masks hide pads and the
future (gradients exactly zero), fit's token-weighted accumulation equals one big batch, bad input is one line."""

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.data import TensorLoader
from mllab.models.transformer import (
    BOS,
    EOS,
    PAD,
    Seq2SeqTransformer,
    count_target_tokens,
    load_weights,
    seq2seq_loss,
    strip,
)
from mllab.train import fit


def model(norm="pre", seed=0, **kw):
    torch.manual_seed(seed)
    return Seq2SeqTransformer(13, 17, width=16, heads=2, layers=2, mlp_ratio=2, norm=norm, **kw).double().eval()


def sources(seed=1, B=6, m=7):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, 13, (B, m), generator=g)
    lengths = torch.randint(2, m + 1, (B,), generator=g)
    src[torch.arange(m)[None, :] >= lengths[:, None]] = PAD  # ragged rows
    return src


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_cached_greedy_equals_recomputed_token_for_token_and_in_scores(norm):
    net, src = model(norm), sources()
    tokens, scores = net.greedy(src, 12, cache=True)
    ref_tokens, ref_scores = net.greedy(src, 12, cache=False)
    assert torch.equal(tokens, ref_tokens)
    torch.testing.assert_close(scores, ref_scores, rtol=0, atol=1e-10)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_cached_beam_equals_recomputed(norm):
    net, src = model(norm, seed=3), sources(4)
    tokens, scores = net.beam_search(src, 4, 10, cache=True)
    ref_tokens, ref_scores = net.beam_search(src, 4, 10, cache=False)
    assert torch.equal(tokens, ref_tokens)
    torch.testing.assert_close(scores, ref_scores, rtol=0, atol=1e-10)


def test_beam_one_is_greedy_and_wider_beams_score_no_worse():
    net, src = model(seed=5), sources(6)
    greedy_tokens, greedy_scores = net.greedy(src, 10)
    beam_tokens, beam_scores = net.beam_search(src, 1, 10)
    assert torch.equal(greedy_tokens, beam_tokens)
    torch.testing.assert_close(greedy_scores, beam_scores, rtol=0, atol=1e-12)
    _, wide = net.beam_search(src, 5, 10)
    finished = (greedy_tokens == EOS).any(1)  # a greedy hypothesis that ended competes in the beam
    assert (wide[finished] >= greedy_scores[finished] - 1e-9).all()


def test_greedy_scores_are_the_teacher_forced_log_likelihood():
    net, src = model(seed=7), sources(8)
    tokens, scores = net.greedy(src, 9)
    tgt_in = torch.cat([torch.full((len(src), 1), BOS), tokens], 1)[:, :-1]
    logp = torch.log_softmax(net(src, tgt_in), -1).gather(-1, tokens[..., None])[..., 0]
    torch.testing.assert_close((logp * (tokens != PAD)).sum(1), scores, rtol=0, atol=1e-10)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_no_attention_to_the_future_or_to_padding_gradients_exactly_zero(norm):
    net = model(norm, seed=2)
    kept = {}
    src = sources(9, B=3, m=6)
    src[:, -2:] = PAD
    tgt_in = torch.randint(3, 17, (3, 8))

    def keep(name):
        def hook(mod, inputs, out):
            out.retain_grad()
            kept[name] = out
        return hook
    net.src_embed.register_forward_hook(keep("src"))
    net.tgt_embed.register_forward_hook(keep("tgt"))
    i = 3
    net(src, tgt_in)[:, i].sum().backward()  # the outputs at position i
    assert kept["tgt"].grad[:, i + 1:].abs().max() == 0  # nothing from the future
    assert kept["tgt"].grad[:, : i + 1].abs().min() > 0  # the past does count
    assert kept["src"].grad[:, -2:].abs().max() == 0  # nothing from padded source tokens
    assert kept["src"].grad[:, :2].abs().sum() > 0


def test_fit_token_count_accumulation_equals_one_big_batch():
    torch.manual_seed(0)
    src = sources(11, B=24, m=6)
    tgt = torch.full((24, 9), PAD)
    lengths = torch.randint(1, 8, (24,), generator=torch.Generator().manual_seed(3))  # unequal token counts
    for r, n in enumerate(lengths.tolist()):
        tgt[r, 0], tgt[r, 1:n + 1], tgt[r, n + 1] = BOS, torch.randint(3, 17, (n,)), EOS
    weights = []
    for batch_size, accum in ((24, 1), (5, 5)):  # 5 + 5 + 5 + 5 + 4 rows: one group, unequal counts
        net = model(seed=4).train()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
        loader = TensorLoader((src, tgt), batch_size, shuffle=False)
        fit(net, seq2seq_loss, loader, optimizer, epochs=1, accum_steps=accum, count_items=count_target_tokens)
        weights.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=1e-12)


def test_label_smoothing_and_weight_tying():
    net = model(label_smoothing=0.1)
    assert net.out.weight is net.tgt_embed.weight
    assert model(tie_weights=False).out.weight is not model(tie_weights=False).tgt_embed.weight
    src, tgt = sources(), torch.tensor([[BOS, 5, 6, EOS, PAD]] * 6)
    smooth, n = seq2seq_loss(net, (src, tgt))
    net.label_smoothing = 0.0
    plain, _ = seq2seq_loss(net, (src, tgt))
    logp = torch.log_softmax(net(src, tgt[:, :-1]), -1)[:, :3]  # the 3 non-pad targets per row
    uniform = -logp.mean(-1).sum()  # Σ of the cross-entropy to the uniform distribution
    assert int(n) == 18
    torch.testing.assert_close(smooth, 0.9 * plain + 0.1 * uniform)


def test_strip_cuts_at_eos():
    assert strip(torch.tensor([[5, 6, EOS, 7], [BOS, 4, PAD, PAD]])) == [[5, 6], [4]]


@pytest.mark.parametrize("call, field", [
    (lambda net, src: net.greedy(src, 0), "max_len"),
    (lambda net, src: net.beam_search(src, 0, 5), "beam_size"),
    (lambda net, src: net.beam_search(src, 2, 0), "max_len"),
    (lambda net, src: net(src.float(), src), "int64"),
])
def test_bad_decoding_input_is_one_line(call, field):
    with pytest.raises(BadInput, match=field) as info:
        call(model(), sources())
    assert "\n" not in str(info.value)


def test_bad_model_options_and_checkpoint_vocabulary_mismatch():
    with pytest.raises(BadInput, match="norm"):
        Seq2SeqTransformer(5, 5, norm="mid")
    other = Seq2SeqTransformer(13, 18, width=16, heads=2, layers=2, mlp_ratio=2)
    with pytest.raises(BadInput, match="target vocabulary") as info:
        load_weights(model(), other.state_dict())
    assert "\n" not in str(info.value)
    net = model()
    load_weights(net, model(seed=9).state_dict())  # matching vocabularies load
