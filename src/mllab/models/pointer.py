"""Pointer-generator (See, Liu & Manning 2017) on the seq2seq Transformer: copy source tokens, even unseen ones.

Extended vocabulary: the target vocabulary V plus, per sentence, one id V + j for the j-th distinct source token
outside V (`src_ext` (B, m) gives every source position its id there). The decoder mixes two distributions:

    P_vocab = softmax(W_out h_t)                               (B, n, V), the generator
    a_t     = cross-attention of the last decoder layer        (B, n, m), mean over heads
    p_gen   = σ(w_h·h_t + w_c·c_t + w_x·x_t),  c_t = Σ_i a_{t,i} memory_i
    P(w)    = p_gen P_vocab(w) + (1 − p_gen) Σ_{i: src_ext_i = w} a_{t,i}      over V + X ids

With copy=False the model is the plain Transformer (P = P_vocab, zero on the extended ids): it cannot emit a
token outside V. Decoder inputs that are extended ids are embedded as UNK.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput
from mllab.models.transformer import BOS, EOS, PAD, Seq2SeqTransformer, check_decoding

UNK = 3


class PointerGenerator(Seq2SeqTransformer):
    """forward(src (B, m), src_ext (B, m), tgt_in (B, n), extra X) -> (log P (B, n, V + X), p_gen (B, n))."""

    def __init__(self, src_vocab: int, tgt_vocab: int, *, copy: bool = True, **kwargs):
        super().__init__(src_vocab, tgt_vocab, **kwargs)
        self.copy = copy
        self.gate = nn.Linear(3 * self.width, 1)  # p_gen = σ(w·[h; c; x] + b)

    def forward(self, src: torch.Tensor, src_ext: torch.Tensor, tgt_in: torch.Tensor, extra: int):
        if src_ext.shape != src.shape:
            raise BadInput(f"pointer src_ext: expected the source's shape {tuple(src.shape)}, got {tuple(src_ext.shape)}")
        memory, src_padding = self.encode(src)
        tgt_in = tgt_in.masked_fill(tgt_in >= self.tgt_vocab, UNK)  # extended ids are UNK on the way in
        x_in = self.embed(self.tgt_embed, tgt_in)  # (B, n, D)
        x, kept = x_in, {}
        for i, layer in enumerate(self.decoder):
            last = i == len(self.decoder) - 1

            def cross(h, layer=layer, last=last):
                if not last:
                    return layer.cross_attention(h, memory, padding=src_padding)
                out, weights = layer.cross_attention(h, memory, padding=src_padding, return_weights=True)
                kept["a"] = weights.mean(1)  # a_t, (B, n, m)
                return out
            x = layer.sublayers(x, lambda h, layer=layer: layer.self_attention(h, padding=tgt_in == PAD, causal=True),
                                cross)
        h = self.dec_norm(x)  # (B, n, D)
        p_vocab = F.softmax(self.out(h), -1)  # (B, n, V)
        p_vocab = F.pad(p_vocab, (0, extra))  # zero on the extended ids, (B, n, V + X)
        if not self.copy:
            return torch.log(p_vocab.clamp_min(1e-12)), torch.ones(h.shape[:2], device=h.device)
        a = kept["a"]
        context = a @ memory  # c_t = Σ_i a_{t,i} memory_i, (B, n, D)
        p_gen = torch.sigmoid(self.gate(torch.cat([h, context, x_in], -1)))  # (B, n, 1)
        index = src_ext[:, None, :].expand(-1, a.shape[1], -1)  # (B, n, m)
        p_copy = torch.zeros_like(p_vocab).scatter_add(-1, index, a)  # Σ_{i: src_ext_i = w} a_{t,i}
        p = p_gen * p_vocab + (1 - p_gen) * p_copy  # P(w)
        return torch.log(p.clamp_min(1e-12)), p_gen[..., 0]

    @torch.no_grad()
    def greedy_copy(self, src: torch.Tensor, src_ext: torch.Tensor, extra: int, max_len: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding over the extended vocabulary (recomputing each step: short outputs).
        Returns tokens (B, ≤ max_len) in extended ids and p_gen at each step (B, ≤ max_len)."""
        check_decoding(max_len)
        B = len(src)
        prefix = torch.full((B, 1), BOS, dtype=torch.long, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        gates = []
        for _ in range(max_len):
            logp, p_gen = self(src, src_ext, prefix, extra)
            token = logp[:, -1].argmax(-1).masked_fill(done, PAD)
            gates.append(p_gen[:, -1])
            prefix = torch.cat([prefix, token[:, None]], 1)
            done = done | (token == EOS)
            if done.all():
                break
        return prefix[:, 1:], torch.stack(gates, 1)


def pointer_loss(model: PointerGenerator, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """fit's contract: (Σ −log P(y_t) over non-pad target tokens, their number).
    batch = (src (B, m), src_ext (B, m), tgt (B, n+1) in extended ids, BOS … EOS PAD…); X = the batch's largest id."""
    src, src_ext, tgt = batch
    extra = max(int(src_ext.max()) + 1 - model.tgt_vocab, 0)
    logp, _ = model(src, src_ext, tgt[:, :-1], extra)
    target = tgt[:, 1:]
    loss = F.nll_loss(logp.flatten(0, 1), target.flatten(), ignore_index=PAD, reduction="sum")
    return loss, (target != PAD).sum()


def count_pointer_tokens(batch) -> int:
    return int((batch[2][:, 1:] != PAD).sum())
