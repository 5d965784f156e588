"""Positional encodings: self-attention alone ignores order, so a position vector eⁱ is added to aⁱ
(or a bias b(j − i) to the scores α_{i,j}).

- `SinusoidalEncoding`: eⁱ_{2k} = sin(i / 10000^{2k/D}), eⁱ_{2k+1} = cos(i / 10000^{2k/D}) (hand-crafted, any n);
- `LearnedEncoding`: eⁱ is a learned row of a (max_len, D) table (n ≤ max_len);
- `RelativePositionBias`: a learned scalar per head and clipped offset, α_{i,j} += b_h(clip(j − i, ±max_distance))
  (Shaw et al. 2018 / T5), added to the scores, not to the tokens;
- `quadratic_shift_bias`: the fixed relative encoding of Cordonnier, Loukas & Jaggi (ICLR 2020),
  α_{h,i,j} = −β ‖(p_j − p_i) − Δ_h‖², which makes head h attend to the pixel at shift Δ_h.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mllab.core.errors import BadInput

ENCODINGS = ("none", "sinusoidal", "learned", "relative")


def sinusoidal_table(n: int, width: int, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n, width): eⁱ_{2k} = sin(i·ω_k), eⁱ_{2k+1} = cos(i·ω_k), ω_k = 10000^{−2k/width}."""
    position = torch.arange(n, device=device, dtype=torch.float64)[:, None]  # i, (n, 1)
    omega = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float64) * (-math.log(10000.0) / width))
    table = torch.zeros(n, width, device=device, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * omega)
    table[:, 1::2] = torch.cos(position * omega)[:, : width // 2]
    return table.to(dtype)


class SinusoidalEncoding(nn.Module):
    """x (B, n, D) -> x + e (n, D), the fixed sinusoids (no parameters, any length)."""

    def __init__(self, width: int):
        super().__init__()
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + sinusoidal_table(x.shape[1], self.width, x.device, x.dtype)  # aⁱ + eⁱ


class LearnedEncoding(nn.Module):
    """x (B, n, D) -> x + E[:n], E a learned (max_len, D) table; n > max_len is a BadInput."""

    def __init__(self, max_len: int, width: int):
        super().__init__()
        self.max_len = max_len
        self.table = nn.Parameter(torch.randn(max_len, width) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        if n > self.max_len:
            raise BadInput(f"learned positional encoding: sequence length {n} exceeds its table of {self.max_len} "
                           f"positions; build it with max_len >= {n} or use sinusoidal encoding")
        return x + self.table[:n]  # aⁱ + eⁱ


class RelativePositionBias(nn.Module):
    """A learned bias per head and offset: forward(n, m) -> (h, n, m) with entry b_h(clip(j − i, ±max_distance));
    `band(w)` -> (h, 2w + 1), the same table for offsets −w … w (the banded path's `band_bias`)."""

    def __init__(self, heads: int, max_distance: int):
        super().__init__()
        if max_distance < 0:
            raise BadInput(f"relative position bias: max_distance must be >= 0, got {max_distance}")
        self.heads, self.max_distance = heads, max_distance
        self.table = nn.Parameter(torch.zeros(heads, 2 * max_distance + 1))

    def forward(self, n: int, m: int | None = None) -> torch.Tensor:
        m = n if m is None else m
        offset = torch.arange(m, device=self.table.device)[None, :] - torch.arange(n, device=self.table.device)[:, None]
        return self.table[:, offset.clamp(-self.max_distance, self.max_distance) + self.max_distance]  # (h, n, m)

    def band(self, window: int) -> torch.Tensor:
        offset = torch.arange(-window, window + 1, device=self.table.device)
        return self.table[:, offset.clamp(-self.max_distance, self.max_distance) + self.max_distance]  # (h, 2w+1)


def grid_positions(height: int, width: int, device: torch.device | str | None = None,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(H·W, 2) pixel coordinates (row, column) in row-major token order."""
    rows, cols = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    return torch.stack([rows.flatten(), cols.flatten()], dim=-1).to(dtype)


def quadratic_shift_bias(height: int, width: int, shifts: torch.Tensor, beta: float) -> torch.Tensor:
    """Cordonnier et al.'s relative encoding: (h, N, N) with α_{h,i,j} = −β ‖(p_j − p_i) − Δ_h‖², N = H·W,
    shifts Δ (h, 2). As β grows, softmax_j puts all of head h's weight on the pixel p_i + Δ_h."""
    p = grid_positions(height, width, shifts.device, shifts.dtype)  # (N, 2)
    delta = p[None, :, :] - p[:, None, :]  # p_j − p_i, (N, N, 2)
    return -beta * ((delta[None] - shifts[:, None, None, :]) ** 2).sum(-1)  # (h, N, N)
