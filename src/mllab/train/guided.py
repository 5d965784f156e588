"""Guided attention (Tachibana et al., ICASSP 2018): a loss that pulls the cross-attention toward the diagonal, for
tasks whose alignment is monotonic (left to right), added to the seq2seq loss with a weight λ.

    W_{n,t} = 1 − exp(−(n/N − t/T)² / (2g²))          n = 0 … N−1 source positions, t = 0 … T−1 target positions
    L_guide = Σ_t mean_{layers, heads} Σ_n α_{t,n} W_{n,t}      (per non-pad target token; α: cross-attention)
    L       = Σ_t CE_t + λ · L_guide                            (token-weighted, fit's contract)

W is 0 on the diagonal n/N = t/T and grows toward 1 away from it (g sets the width of the allowed band), so the
penalty is the attention mass that lies off the diagonal. N and T are each row's own lengths (source tokens;
decoder positions BOS y¹ … yⁿ, i.e. target tokens + 1), so rows of different lengths get their own diagonal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mllab.core.errors import BadInput
from mllab.models.transformer import PAD, Seq2SeqTransformer


def check_guide(weight: float, g: float) -> None:
    if weight < 0:
        raise BadInput(f"guided attention weight: must be >= 0 (0: no guide), got {weight}")
    if g <= 0:
        raise BadInput(f"guided attention width g: must be > 0 (e.g. 0.2), got {g}")


def guide_weights(N: int, T: int, g: float = 0.2) -> torch.Tensor:
    """W (N, T): W_{n,t} = 1 − exp(−(n/N − t/T)² / (2g²)) for n = 0 … N−1, t = 0 … T−1."""
    if N < 1 or T < 1:
        raise BadInput(f"guide_weights: lengths must be >= 1, got N={N}, T={T}")
    check_guide(0.0, g)
    n = torch.arange(N, dtype=torch.float32)[:, None] / N  # (N, 1)
    t = torch.arange(T, dtype=torch.float32)[None, :] / T  # (1, T)
    return 1 - torch.exp(-((n - t) ** 2) / (2 * g ** 2))


def batch_guide_weights(src_lengths: torch.Tensor, tgt_lengths: torch.Tensor, m: int, n: int, g: float
                        ) -> torch.Tensor:
    """Per-row W laid out as attention is, (B, n, m) = W_{source j, target i} of each row's own N, T; 0 on padding."""
    j = torch.arange(m, device=src_lengths.device, dtype=torch.float32)[None, None, :]  # source position
    i = torch.arange(n, device=src_lengths.device, dtype=torch.float32)[None, :, None]  # target position
    N = src_lengths.float()[:, None, None].clamp(min=1)
    T = tgt_lengths.float()[:, None, None].clamp(min=1)
    W = 1 - torch.exp(-((j / N - i / T) ** 2) / (2 * g ** 2))  # (B, n, m)
    valid = (j < N) & (i < T)
    return W * valid


def forward_with_attention(model: Seq2SeqTransformer, src: torch.Tensor, tgt_in: torch.Tensor
                           ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Teacher-forced logits (B, n, V) and every decoder layer's cross-attention α (B, h, n, m), with gradients."""
    memory, src_padding = model.encode(src)
    tgt_padding = tgt_in == PAD
    x = model.embed(model.tgt_embed, tgt_in)
    maps: list[torch.Tensor] = []
    for layer in model.decoder:
        def cross(h, layer=layer):
            out, weights = layer.cross_attention(h, memory, padding=src_padding, return_weights=True)
            maps.append(weights)
            return out
        x = layer.sublayers(x, lambda h, layer=layer: layer.self_attention(h, padding=tgt_padding, causal=True), cross)
    return model.out(model.dec_norm(x)), maps


class GuidedLoss:
    """fit's loss: (Σ_t CE_t + λ Σ_t mean_{layers, heads} Σ_n α_{t,n} W_{n,t}, non-pad target tokens).
    batch = (src (B, m), tgt (B, n+1) = BOS y … EOS PAD…), as `seq2seq_loss`. weight λ ≥ 0 (0: plain CE)."""

    def __init__(self, weight: float, g: float = 0.2):
        check_guide(weight, g)
        self.weight, self.g = weight, g

    def __call__(self, model: Seq2SeqTransformer, batch) -> tuple[torch.Tensor, torch.Tensor]:
        src, tgt = batch
        tgt_in, target = tgt[:, :-1], tgt[:, 1:]  # BOS y … | y … EOS
        logits, maps = forward_with_attention(model, src, tgt_in)
        ce = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=PAD, reduction="sum")
        if self.weight == 0:
            return ce, (target != PAD).sum()
        W = batch_guide_weights((src != PAD).sum(1), (tgt_in != PAD).sum(1), src.shape[1], tgt_in.shape[1], self.g)
        alpha = torch.stack(maps).mean((0, 2))  # mean over layers and heads, (B, n, m)
        guide = (alpha * W).sum()  # Σ over rows, target tokens (W is 0 on padding), source positions
        return ce + self.weight * guide, (target != PAD).sum()


@torch.no_grad()
def diagonal_score(model: Seq2SeqTransformer, src: torch.Tensor, tgt: torch.Tensor, expected: torch.Tensor
                   ) -> float:
    """Alignment score: the mean over target tokens of the cross-attention mass (mean over layers and heads) on the
    source position each token comes from. expected (B, n): that position per decoder position, −1 to skip (EOS,
    padding). 1.0: every token attends only to its own source token."""
    mode = model.training
    model.eval()
    _, maps = forward_with_attention(model, src, tgt[:, :-1])
    model.train(mode)
    alpha = torch.stack(maps).mean((0, 2))  # (B, n, m)
    keep = expected >= 0
    mass = alpha.gather(-1, expected.clamp(min=0)[..., None])[..., 0]  # α_{t, expected(t)}, (B, n)
    return float(mass[keep].mean())
