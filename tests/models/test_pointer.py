"""Pointer-generator: P is a distribution over the extended vocabulary; an unseen source token can be emitted
only through the copy path; with p_gen → 0 the output is the cross-attention's copy distribution."""

import torch

from mllab.models.pointer import PointerGenerator, count_pointer_tokens, pointer_loss
from mllab.models.transformer import BOS, EOS


def batch():
    src = torch.tensor([[5, 3, 6], [3, 7, 3]])  # 3 = UNK: a name outside the vocabulary
    src_ext = torch.tensor([[5, 10, 6], [10, 7, 11]])  # V = 10: the names get extended ids 10, 11
    tgt = torch.tensor([[BOS, 5, 10, EOS], [BOS, 11, 10, EOS]])
    return src, src_ext, tgt


def model(copy=True):
    torch.manual_seed(0)
    return PointerGenerator(9, 10, copy=copy, width=16, heads=2, layers=2, mlp_ratio=2).double()


def test_extended_distribution_sums_to_one_and_copies_an_unseen_token():
    net = model()
    src, src_ext, tgt = batch()
    logp, p_gen = net(src, src_ext, tgt[:, :-1], 2)
    assert logp.shape == (2, 3, 12)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(2, 3, dtype=torch.float64))
    assert (logp[0, :, 10].exp() > 1e-4).all() and (logp[1, :, 10:].exp() > 1e-4).all()  # names: via copying
    assert (logp[0, :, 11].exp() < 1e-10).all()  # id 11 is not in row 0's source
    assert ((p_gen > 0) & (p_gen < 1)).all()


def test_gate_closed_gives_the_attention_copy_distribution():
    net = model()
    with torch.no_grad():
        net.gate.weight.zero_()
        net.gate.bias.fill_(-60.0)  # p_gen = σ(−60) ≈ 0: copy only
    src, src_ext, tgt = batch()
    kept = {}
    layer = net.decoder[-1].cross_attention
    original = layer.forward

    def spy(*args, **kw):
        out = original(*args, **kw)
        if kw.get("return_weights"):
            kept["a"] = out[1].mean(1)
        return out
    layer.forward = spy
    logp, _ = net(src, src_ext, tgt[:, :-1], 2)
    a = kept["a"]  # (B, n, m)
    torch.testing.assert_close(logp[1, :, 10].exp(), a[1, :, 0], atol=1e-12, rtol=0)  # name 10 sits at position 0
    torch.testing.assert_close(logp[1, :, 11].exp(), a[1, :, 2], atol=1e-12, rtol=0)


def test_without_copy_an_unseen_token_cannot_be_emitted():
    net = model(copy=False)
    src, src_ext, tgt = batch()
    logp, p_gen = net(src, src_ext, tgt[:, :-1], 2)
    assert (logp[..., 10:].exp() < 1e-10).all() and (p_gen == 1).all()


def test_loss_is_token_weighted_and_training_learns_to_copy():
    src, src_ext, tgt = batch()
    net = model()
    _, n = pointer_loss(net, (src, src_ext, tgt))
    assert int(n) == count_pointer_tokens((src, src_ext, tgt)) == 6
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        (pointer_loss(net, (src, src_ext, tgt))[0] / 6).backward()
        optimizer.step()
    tokens, _ = net.greedy_copy(src, src_ext, 2, 5)
    assert tokens[1, :3].tolist() == [11, 10, EOS]  # both names copied from the source
