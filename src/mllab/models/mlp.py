"""A multi-layer perceptron with the knobs the experiments turn: depth, width, dropout, norm, residual."""

from __future__ import annotations

import torch
from torch import nn

from mllab.layers.norms import make_norm


class Block(nn.Module):
    """h -> act(norm(W h + b)) then dropout; with `residual`, h + that (same width in and out)."""

    def __init__(self, width_in: int, width_out: int, activation: type[nn.Module], dropout: float,
                 norm: str | None, residual: bool, groups: int = 8):
        super().__init__()
        self.linear = nn.Linear(width_in, width_out)
        self.norm = make_norm(norm or "none", width_out, groups=groups)
        self.activation = activation()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.residual = residual and width_in == width_out

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, width_in) -> (B, width_out)
        out = self.dropout(self.activation(self.norm(self.linear(h))))
        return h + out if self.residual else out


class MLP(nn.Module):
    """x (B, in_features) -> logits (B, out_features) through `depth` hidden layers of `width` units.

    residual: every hidden layer after the first adds its input (h_{l+1} = h_l + f(h_l)).
    norm: None (= "none") | "batch" | "layer" | "group" (`groups` groups), from `layers.norms.make_norm`,
    applied before the activation.
    """

    def __init__(self, in_features: int, out_features: int, *, width: int = 64, depth: int = 2,
                 activation: type[nn.Module] = nn.ReLU, dropout: float = 0.0, norm: str | None = None,
                 residual: bool = False, groups: int = 8):
        super().__init__()
        widths = [in_features] + [width] * depth
        self.blocks = nn.Sequential(*[Block(a, b, activation, dropout, norm, residual and i > 0, groups)
                                      for i, (a, b) in enumerate(zip(widths, widths[1:]))])
        self.head = nn.Linear(widths[-1], out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x.flatten(1)))
