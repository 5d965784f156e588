"""Attention on images: a small ViT-style patch classifier, and a convolution written as self-attention.

- `ViT`: images (B, C, H, W) cut into P × P patches, each patch a token (a linear map of its C·P² pixels),
  a positional vector eⁱ added (learned or sinusoidal), a class token prepended (or the tokens mean-pooled),
  N pre-norm Transformer blocks of the library's `MultiHeadAttention`, a linear head -> logits (B, classes).
- `ConvAsAttention`: the construction of Cordonnier, Loukas & Jaggi (ICLR 2020, Theorem 1): a multi-head
  self-attention layer with K² heads and a relative positional score reproduces a K × K convolution. Head h
  is pinned to one shift Δ_h ∈ {−K//2 … K//2}² by its positional score α_{h,i,j} = −β ‖(p_j − p_i) − Δ_h‖²
  (content scores zero: W_q = W_k = 0), so as β → ∞, α'_{h,i,·} is one-hot on pixel p_i + Δ_h; each head's
  value is the input itself (W_v = identity on the channels), and W_o holds the kernel's slices:
      y_i = Σ_h W_o^{(h)} x_{p_i + Δ_h} = Σ_Δ W[:, :, Δ + K//2] x_{p_i + Δ}   (F.conv2d, cross-correlation)
  The image is zero-padded by K//2 first (the tokens are the padded pixels) and the output cropped back.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from mllab.core.errors import BadInput
from mllab.layers.attention import MultiHeadAttention
from mllab.layers.positional import LearnedEncoding, SinusoidalEncoding, quadratic_shift_bias
from mllab.models.taggers import Block

POSITIONS = ("learned", "sinusoidal")
POOLS = ("cls", "mean")


class ViT(nn.Module):
    """images (B, C, H, W) -> logits (B, classes). image_size: H = W; patch: P, must divide H;
    tokens n = (H / P)² (+1 class token with pool="cls"); width D, heads h, depth N blocks."""

    def __init__(self, image_size: int = 28, patch: int = 7, *, in_channels: int = 1, classes: int = 10,
                 width: int = 32, heads: int = 2, depth: int = 1, mlp_ratio: int = 2, positional: str = "learned",
                 pool: str = "cls"):
        super().__init__()
        if patch < 1 or image_size < 1 or image_size % patch:
            raise BadInput(f"ViT patch: image size {image_size} is not divisible by patch size {patch}; choose a "
                           f"patch in {[p for p in range(1, image_size + 1) if image_size % p == 0]}")
        if positional not in POSITIONS:
            raise BadInput(f"ViT positional: unknown {positional!r}; choose one of {', '.join(POSITIONS)}")
        if pool not in POOLS:
            raise BadInput(f"ViT pool: unknown {pool!r}; choose one of {', '.join(POOLS)}")
        self.image_size, self.patch, self.in_channels, self.pool = image_size, patch, in_channels, pool
        self.grid = image_size // patch
        tokens = self.grid ** 2 + (pool == "cls")
        # a patch's C·P² pixels -> one D-vector: a conv with kernel = stride = P is exactly that linear map per patch
        self.embed = nn.Conv2d(in_channels, width, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, width)) if pool == "cls" else None
        self.position = LearnedEncoding(tokens, width) if positional == "learned" else SinusoidalEncoding(width)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio=mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise BadInput(f"ViT input: expected images (batch, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        a = self.embed(x).flatten(2).transpose(1, 2)  # patches as tokens, (B, n, D), row-major patch order
        if self.cls is not None:
            a = torch.cat([self.cls.expand(len(a), -1, -1), a], dim=1)  # [cls; a¹ … aⁿ], (B, n + 1, D)
        a = self.position(a)  # aⁱ + eⁱ
        for block in self.blocks:
            a = block(a)  # (B, n(+1), D)
        a = self.norm(a)
        pooled = a[:, 0] if self.cls is not None else a.mean(1)  # (B, D)
        return self.head(pooled)  # (B, classes)


class ConvAsAttention(nn.Module):
    """A K × K convolution (stride 1, zero padding K//2, odd K) as one multi-head self-attention layer with K² heads.

    weight (C_out, C_in, K, K), bias (C_out,) or None: the convolution to reproduce; beta: β of the positional
    score. forward(x (B, C_in, H, W)) -> (B, C_out, H, W), equal to `F.conv2d(x, weight, bias, padding=K//2)` as
    β → ∞ (in practice: e^{−β} below the dtype's resolution). Head dimension d = max(C_in, ⌈C_out / K²⌉),
    width D = K²·d: the input's channels are zero-extended to D, the output's first C_out channels kept."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None, *, beta: float = 1e3):
        super().__init__()
        if weight.dim() != 4 or weight.shape[-1] != weight.shape[-2] or weight.shape[-1] % 2 == 0:
            raise BadInput(f"ConvAsAttention weight: expected (C_out, C_in, K, K) with odd K, got {tuple(weight.shape)}")
        if beta < 0:
            raise BadInput(f"ConvAsAttention beta: must be >= 0, got {beta}")
        c_out, c_in, k, _ = weight.shape
        heads = k * k
        d = max(c_in, -(-c_out // heads))
        width = heads * d
        self.c_in, self.c_out, self.k, self.beta, self.width = c_in, c_out, k, beta, width
        r = k // 2
        shifts = list(itertools.product(range(-r, r + 1), repeat=2))  # Δ_h = (row, column), h = 0 … K² − 1
        self.register_buffer("shifts", torch.tensor(shifts, dtype=weight.dtype))  # (K², 2)
        self.attention = MultiHeadAttention(width, heads).to(dtype=weight.dtype, device=weight.device)
        with torch.no_grad():
            for linear in (self.attention.w_q, self.attention.w_k):  # content scores q·k = 0
                linear.weight.zero_(), linear.bias.zero_()
            w_v = self.attention.w_v
            w_v.weight.zero_(), w_v.bias.zero_()
            w_o = self.attention.w_o
            w_o.weight.zero_(), w_o.bias.zero_()
            for h, (dr, dc) in enumerate(shifts):
                rows = slice(h * d, h * d + c_in)
                w_v.weight[rows, :c_in] = torch.eye(c_in, dtype=weight.dtype)  # v^{(h)} = x (channels 0 … C_in − 1)
                w_o.weight[:c_out, rows] = weight[:, :, dr + r, dc + r]  # W_o^{(h)} = W[:, :, Δ_h + K//2]
            if bias is not None:
                w_o.bias[:c_out] = bias

    def forward(self, x: torch.Tensor, impl: str = "fast") -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.c_in:
            raise BadInput(f"ConvAsAttention input: expected (batch, {self.c_in}, H, W), got {tuple(x.shape)}")
        B, _, H, W = x.shape
        r = self.k // 2
        padded = nn.functional.pad(x, (r, r, r, r))  # zero padding K//2, (B, C_in, H + 2r, W + 2r)
        Hp, Wp = H + 2 * r, W + 2 * r
        tokens = padded.flatten(2).transpose(1, 2)  # pixels as tokens, (B, N, C_in), N = Hp·Wp row-major
        tokens = nn.functional.pad(tokens, (0, self.width - self.c_in))  # channels zero-extended, (B, N, D)
        bias = quadratic_shift_bias(Hp, Wp, self.shifts, self.beta)  # α_{h,i,j} = −β‖(p_j − p_i) − Δ_h‖², (K², N, N)
        out = self.attention(tokens, bias=bias, impl=impl)  # (B, N, D)
        out = out[..., :self.c_out].transpose(1, 2).reshape(B, self.c_out, Hp, Wp)
        return out[:, :, r:r + H, r:r + W]  # crop to the input's grid, (B, C_out, H, W)

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """α' (B, K², N, N) of the layer on x (B, C_in, H, W), over the padded grid's pixels (for figures)."""
        r = self.k // 2
        padded = nn.functional.pad(x, (r, r, r, r))
        Hp, Wp = padded.shape[-2:]
        tokens = nn.functional.pad(padded.flatten(2).transpose(1, 2), (0, self.width - self.c_in))
        bias = quadratic_shift_bias(Hp, Wp, self.shifts, self.beta)
        return self.attention(tokens, bias=bias, return_weights=True)[1]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
