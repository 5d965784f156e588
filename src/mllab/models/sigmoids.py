"""Sums of sigmoids: the notes' picture of how a one-hidden-layer network approximates a curve.

    y(x) = b + Σ_{i=1..N} c_i s(w_i x + b_i)

with s the logistic sigmoid σ(z) = 1 / (1 + e^{-z}), or the hard sigmoid built from two ReLUs

    hard_sigmoid(z) = relu(z) − relu(z − 1)      (= 0 for z ≤ 0, z for 0 < z < 1, 1 for z ≥ 1)

so a sum of N hard sigmoids is a piecewise-linear curve with up to 2N kinks: a ReLU network.
"""

from __future__ import annotations

import torch
from torch import nn

KINDS = ("sigmoid", "hard")


def hard_sigmoid(z: torch.Tensor) -> torch.Tensor:
    """relu(z) − relu(z − 1): a ramp from 0 (z ≤ 0) to 1 (z ≥ 1) made of two ReLUs."""
    return torch.relu(z) - torch.relu(z - 1)  # hard_sigmoid(z) = relu(z) − relu(z − 1)


class SigmoidSum(nn.Module):
    """x (B, 1) -> y (B, 1) = b + Σ_i c_i s(w_i x + b_i) with N = `n` terms, s = sigmoid or hard sigmoid.

    The steps start at centres spread evenly over `span` (x where w_i x + b_i is the middle of the step),
    with slopes of random sign and |w_i| = slope · N / width(span): with slope 1 each hard ramp spans
    exactly one spacing between centres (they tile the span) and each sigmoid step about four.
    """

    def __init__(self, n: int, kind: str = "sigmoid", *, span: tuple[float, float] = (-1.0, 1.0),
                 slope: float = 1.0, generator: torch.Generator | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"SigmoidSum: kind must be one of {KINDS}, got {kind!r}")
        if n < 1:
            raise ValueError(f"SigmoidSum: n must be >= 1, got {n}")
        self.n, self.kind = n, kind
        low, high = span
        centres = low + (high - low) * (torch.arange(n) + 0.5) / n  # (N,) middles of the steps
        sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        scale = slope * n / (high - low)  # ramp width 1 / |w_i| = spacing / slope
        self.w = nn.Parameter(sign * scale)  # (N,) w_i
        middle = 0.0 if kind == "sigmoid" else 0.5  # σ(0) = 1/2; hard_sigmoid(1/2) = 1/2
        self.b = nn.Parameter(middle - self.w.detach() * centres)  # (N,) b_i: w_i c_i + b_i = middle
        self.c = nn.Parameter(0.1 * torch.randn(n, generator=generator))  # (N,) heights c_i
        self.bias = nn.Parameter(torch.zeros(1))  # b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x * self.w + self.b  # (B, 1) * (N,) -> (B, N): z_i = w_i x + b_i
        s = torch.sigmoid(z) if self.kind == "sigmoid" else hard_sigmoid(z)  # (B, N)
        return self.bias + s @ self.c.unsqueeze(1)  # (B, 1) = b + Σ_i c_i s(z_i)
