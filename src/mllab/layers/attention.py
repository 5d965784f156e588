"""Self-attention from the notes' formulas: the library's one attention implementation.

Notation (the notes'): a sequence a¹ … aⁿ (B, n, D); per head
    q_i = W_q a_i,  k_j = W_k a_j,  v_j = W_v a_j
    α_{i,j} = q_i · k_j / √d                       (scaled dot product; `dot_product_scores`)
    α_{i,j} = wᵀ tanh(W_q q_i + W_k k_j)           (additive; `AdditiveScore`)
    α'_{i,j} = softmax_j(α_{i,j})                  (over the keys j a query may see)
    b_i = Σ_j α'_{i,j} v_j
Multi-head: split D into h heads of d = D / h, attend per head, concatenate, project with W_o.

Masks are boolean and say who may be seen: `allowed[..., i, j]` True ⇔ query i attends to key j, shaped
to broadcast against (B, h, n, m). Builders: `padding_allowed` (keys at padded positions are hidden: a padded
token receives no attention from anyone, so nothing flows back into it), `causal_allowed` (j ≤ i) and
`window_allowed` (|i − j| ≤ w, truncated attention). Padding masks follow PyTorch's `key_padding_mask`:
(B, m) bool, True where the position is padding.

Three paths compute the same b (tested equal to each other and to `nn.MultiheadAttention`):
- "explicit": the formulas above written out; builds α (B, h, n, m) and can return it;
- "fast": `F.scaled_dot_product_attention` (fused kernels, same numbers);
- "banded": truncated attention in O(n·w) time and memory (`banded_attention`): queries in blocks of c,
  each block scores only its c + 2w neighbouring keys, so no n × n matrix is ever built.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput

IMPLEMENTATIONS = ("explicit", "fast", "banded")


# ----------------------------------------------------------------------------------------------- masks

def padding_allowed(padding: torch.Tensor) -> torch.Tensor:
    """padding (B, m) bool, True at padded keys -> allowed (B, 1, 1, m): padded keys are never attended."""
    return ~padding[:, None, None, :]


def causal_allowed(n: int, m: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """(n, m) bool: query i sees keys j ≤ i (autoregressive decoding)."""
    m = n if m is None else m
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(m, device=device)[None, :]
    return j <= i


def window_allowed(n: int, window: int, m: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """(n, m) bool: query i sees keys with |i − j| ≤ window (truncated attention, as in speech)."""
    m = n if m is None else m
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(m, device=device)[None, :]
    return (i - j).abs() <= window


def combine_allowed(n: int, m: int, *, padding: torch.Tensor | None = None, causal: bool = False,
                    window: int | None = None, device: torch.device | str | None = None) -> torch.Tensor | None:
    """All masks ANDed into one boolean `allowed`, broadcastable to (B, h, n, m); None when nothing is masked."""
    allowed = None
    if causal:
        allowed = causal_allowed(n, m, device)
    if window is not None:
        w = window_allowed(n, window, m, device)
        allowed = w if allowed is None else allowed & w
    if padding is not None:
        p = padding_allowed(padding)  # (B, 1, 1, m)
        allowed = p if allowed is None else allowed & p
    return allowed


def check_masks(batch: int, n: int, m: int, padding: torch.Tensor | None, window: int | None) -> None:
    """BadInput (one line) for a window < 0 or a padding mask that is not (B, m) bool."""
    if window is not None and window < 0:
        raise BadInput(f"attention window: must be >= 0 positions (or None for full attention), got {window}")
    if padding is not None:
        if padding.dtype != torch.bool or tuple(padding.shape) != (batch, m):
            raise BadInput(f"attention padding mask: expected a bool tensor of shape (batch, keys) = ({batch}, {m}), "
                           f"got {str(padding.dtype).replace('torch.', '')} {tuple(padding.shape)}; True marks padding")


# ---------------------------------------------------------------------------------------------- scores

def dot_product_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """q (..., n, d), k (..., m, d) -> α (..., n, m), α_{i,j} = q_i·k_j / √d."""
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


class AdditiveScore(nn.Module):
    """α_{i,j} = wᵀ tanh(W_q q_i + W_k k_j) (Bahdanau): q (..., n, d), k (..., m, d) -> α (..., n, m).

    Memory O(n·m·hidden): meant for short sequences and for the notes' comparison of score functions."""

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or dim
        self.w_q = nn.Linear(dim, hidden, bias=False)
        self.w_k = nn.Linear(dim, hidden, bias=False)
        self.w = nn.Linear(hidden, 1, bias=False)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        s = torch.tanh(self.w_q(q).unsqueeze(-2) + self.w_k(k).unsqueeze(-3))  # (..., n, m, hidden)
        return self.w(s).squeeze(-1)  # α = wᵀ tanh(W_q q_i + W_k k_j), (..., n, m)


# ------------------------------------------------------------------------------------------- attention

def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None = None,
           bias: torch.Tensor | None = None, scores: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The written-out path. q (B, h, n, d), k (B, h, m, d), v (B, h, m, dv); allowed: bool broadcastable to
    (B, h, n, m); bias: float added to α (relative positions), broadcastable likewise; scores: α given
    directly (e.g. additive), replacing q·k/√d. Returns (b (B, h, n, dv), α' (B, h, n, m)).

    A query that may see no key at all (every key padded) gets b_i = 0 instead of NaN."""
    alpha = dot_product_scores(q, k) if scores is None else scores  # α (B, h, n, m)
    if bias is not None:
        alpha = alpha + bias
    if allowed is not None:
        empty = ~allowed.any(-1, keepdim=True)  # queries that may see no key
        alpha = alpha.masked_fill(~(allowed | empty), float("-inf"))  # an empty row stays finite: no NaN anywhere
    weights = torch.softmax(alpha, dim=-1)  # α' = softmax_j(α)
    if allowed is not None:
        weights = weights.masked_fill(empty, 0.0)  # ... and attends to nothing: b_i = 0
    return weights @ v, weights  # b_i = Σ_j α'_{i,j} v_j


def attend_fast(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
    """The fused path: `F.scaled_dot_product_attention` with the same masks and bias; b (B, h, n, dv)."""
    empty = None
    if allowed is not None:
        empty = ~allowed.any(-1, keepdim=True)  # queries that may see no key: computed finite, then zeroed
        allowed = allowed | empty
    mask = allowed
    if bias is not None:  # SDPA takes one float mask: the bias, with -inf where not allowed
        mask = bias if allowed is None else bias.masked_fill(~allowed, float("-inf"))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out if empty is None else out.masked_fill(empty, 0.0)  # as `attend`: b_i = 0


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, *,
                     padding: torch.Tensor | None = None, causal: bool = False,
                     band_bias: torch.Tensor | None = None, block: int | None = None) -> torch.Tensor:
    """Truncated attention, |i − j| ≤ window, in O(n·w) time and memory. q, k, v (B, h, n, d) (self-attention:
    the same n); padding (B, n) bool; band_bias (h, 2w + 1): a float added for offset j − i = −w … w.

    Queries are cut into blocks of c (default max(w, 32)); block t holds queries [tc, tc + c) and scores only
    the keys [tc − w, tc + c + w): (B, h, n/c, c, c + 2w) scores, ≈ 3·n·w numbers instead of n²."""
    B, h, n, d = q.shape
    w = window
    c = max(w, 32) if block is None else block
    c = max(1, min(c, n))
    blocks = math.ceil(n / c)
    right = blocks * c - n  # pad the queries to whole blocks
    q = F.pad(q, (0, 0, 0, right)).view(B, h, blocks, c, d)  # (B, h, nb, c, d)
    span = c + 2 * w

    def windows(x: torch.Tensor) -> torch.Tensor:  # (B, h, n, e) -> (B, h, nb, c + 2w, e), keys of each block
        x = F.pad(x, (0, 0, w, w + right))  # (B, h, w + n + w + right, e)
        return x.unfold(2, span, c).transpose(-1, -2)

    kb, vb = windows(k), windows(v)  # (B, h, nb, span, d)
    alpha = q @ kb.transpose(-1, -2) / math.sqrt(d)  # α (B, h, nb, c, span)
    r = torch.arange(c, device=q.device)[:, None]  # query offset in its block
    s = torch.arange(span, device=q.device)[None, :]  # key offset in the block's window
    offset = s - w - r  # j − i, (c, span)
    allowed = offset.abs() <= w
    if causal:
        allowed = allowed & (offset <= 0)
    key_index = torch.arange(blocks, device=q.device)[:, None, None] * c + s[None] - w  # j, (nb, 1, span)
    allowed = allowed & (key_index >= 0) & (key_index < n)  # (nb, c, span): the zero padding is no key
    if padding is not None:
        pad = windows(padding[:, None, :, None].to(q.dtype)).squeeze(-1) > 0  # (B, 1, nb, span)
        allowed = allowed & ~pad[:, :, :, None, :]  # (B, 1, nb, c, span)
    if band_bias is not None:
        alpha = alpha + band_bias[:, offset.clamp(-w, w) + w][:, None]  # (h, 1, c, span)
    empty = ~allowed.any(-1, keepdim=True)
    alpha = alpha.masked_fill(~(allowed | empty), float("-inf"))
    weights = torch.softmax(alpha, dim=-1)  # α' within the band
    weights = weights.masked_fill(empty, 0.0)
    out = weights @ vb  # b (B, h, nb, c, d)
    return out.reshape(B, h, blocks * c, -1)[:, :, :n]


# -------------------------------------------------------------------------------------------- module

class MultiHeadAttention(nn.Module):
    """Multi-head attention: x (B, n, D) [, context (B, m, D)] -> (B, n, D).

    Self-attention when `context` is None (q, k, v all from x), cross-attention otherwise (q from x,
    k and v from context: the decoder of a seq2seq Transformer). Weights W_q, W_k, W_v, W_o are
    D × D Linear layers with bias (copyable into `nn.MultiheadAttention`: `to_torch`).

    forward(..., padding=(B, m) bool True at padded keys, causal, window=w (|i − j| ≤ w),
    bias=(h, n, m) or broadcastable float added to α (e.g. `RelativePositionBias`), band_bias=(h, 2w+1)
    for the banded path, impl="fast" | "explicit" | "banded", return_weights=True -> (b, α') via the
    explicit path)."""

    def __init__(self, width: int, heads: int, *, impl: str = "fast"):
        super().__init__()
        if heads < 1 or width % heads:
            raise BadInput(f"attention heads: {heads} heads must divide the width {width}; choose heads in "
                           f"{[h for h in range(1, width + 1) if width % h == 0]}")
        if impl not in IMPLEMENTATIONS:
            raise BadInput(f"attention impl: unknown {impl!r}; choose one of {', '.join(IMPLEMENTATIONS)}")
        self.width, self.heads, self.head_dim, self.impl = width, heads, width // heads, impl
        self.w_q = nn.Linear(width, width)
        self.w_k = nn.Linear(width, width)
        self.w_v = nn.Linear(width, width)
        self.w_o = nn.Linear(width, width)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        B, n, _ = x.shape
        return x.view(B, n, self.heads, self.head_dim).transpose(1, 2)  # (B, h, n, d)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, *, padding: torch.Tensor | None = None,
                causal: bool = False, window: int | None = None, bias: torch.Tensor | None = None,
                band_bias: torch.Tensor | None = None, impl: str | None = None, return_weights: bool = False):
        impl = impl or self.impl
        if impl not in IMPLEMENTATIONS:
            raise BadInput(f"attention impl: unknown {impl!r}; choose one of {', '.join(IMPLEMENTATIONS)}")
        if x.dim() != 3 or x.shape[-1] != self.width:
            raise BadInput(f"attention input: expected (batch, length, {self.width}), got {tuple(x.shape)}")
        context = x if context is None else context
        B, n, _ = x.shape
        m = context.shape[1]
        check_masks(B, n, m, padding, window)
        q = self.split(self.w_q(x))  # q = W_q a, (B, h, n, d)
        k = self.split(self.w_k(context))  # k = W_k a, (B, h, m, d)
        v = self.split(self.w_v(context))  # v = W_v a, (B, h, m, d)
        weights = None
        if impl == "banded" and window is not None and not return_weights:
            if m != n or bias is not None:
                raise BadInput("attention impl 'banded': self-attention only, with band_bias instead of bias")
            out = banded_attention(q, k, v, window, padding=padding, causal=causal, band_bias=band_bias)
        else:
            if band_bias is not None and bias is None:  # the band's table as a full bias (short sequences)
                bias = band_to_full(band_bias, n, m)
            allowed = combine_allowed(n, m, padding=padding, causal=causal, window=window, device=x.device)
            if impl == "explicit" or return_weights:
                out, weights = attend(q, k, v, allowed, bias)
            else:
                out = attend_fast(q, k, v, allowed, bias)
        out = out.transpose(1, 2).reshape(B, n, self.width)  # concatenate heads, (B, n, D)
        out = self.w_o(out)  # W_o [b¹; …; b^h]
        return (out, weights) if return_weights else out

    @torch.no_grad()
    def to_torch(self) -> nn.MultiheadAttention:
        """An `nn.MultiheadAttention` (batch_first) with these weights copied in (the reference of the tests)."""
        p = next(self.parameters())
        ref = nn.MultiheadAttention(self.width, self.heads, batch_first=True, device=p.device, dtype=p.dtype)
        ref.in_proj_weight.copy_(torch.cat([self.w_q.weight, self.w_k.weight, self.w_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([self.w_q.bias, self.w_k.bias, self.w_v.bias]))
        ref.out_proj.weight.copy_(self.w_o.weight)
        ref.out_proj.bias.copy_(self.w_o.bias)
        return ref


def band_to_full(band_bias: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """(h, 2w + 1) table of offsets −w … w -> (h, n, m) bias; offsets beyond ±w get 0 (mask them)."""
    w = (band_bias.shape[-1] - 1) // 2
    offset = torch.arange(m, device=band_bias.device)[None, :] - torch.arange(n, device=band_bias.device)[:, None]
    full = band_bias[:, offset.clamp(-w, w) + w]  # (h, n, m)
    return full.masked_fill(offset.abs() > w, 0.0)
