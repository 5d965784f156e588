"""Many tiny networks trained as one: R copies of a 2 → H (tanh) → 1 regression net with stacked weights, so one
full-batch gradient-descent step of the stack is one step of every member (used to find where GD stops)."""

from __future__ import annotations

import torch
from torch import nn


def network(width: int) -> nn.Module:
    """2 → width (tanh) → 1 in float64; width 0 is the linear model 2 → 1 (convex squared error)."""
    layers = [nn.Linear(2, 1)] if width == 0 else [nn.Linear(2, width), nn.Tanh(), nn.Linear(width, 1)]
    return nn.Sequential(*layers).double()


class StackedNetworks(nn.Module):
    """R independent copies of `network(width)` in one module: x (N, 2) -> ŷ (R, N).

    Parameters are the members' stacked along a first dimension R (`0.weight` (R, width, 2), …), so
    the gradient of Σ_r L_r with respect to member r's block is ∇L_r: one full-batch GD step of this
    module is one GD step of every member, at the cost of about one (the networks are tiny, the time
    is per-op overhead)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.names = [name for name, _ in members[0].named_parameters()]
        self.width = members[0][0].out_features if len(members[0]) > 1 else 0
        self.stacked = nn.ParameterList(
            nn.Parameter(torch.stack([dict(m.named_parameters())[name].detach() for m in members]).clone())
            for name in self.names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.width == 0:
            weight, bias = self.stacked  # (R, 1, 2), (R, 1)
            return torch.einsum("nd,rod->rn", x, weight) + bias  # (R, N)
        w1, b1, w2, b2 = self.stacked  # (R, H, 2), (R, H), (R, 1, H), (R, 1)
        h = torch.tanh(torch.einsum("nd,rhd->rnh", x, w1) + b1[:, None, :])  # (R, N, H)
        return torch.einsum("rnh,roh->rn", h, w2) + b2  # (R, N)

    def member(self, r: int) -> nn.Module:
        """A copy of member r as a plain `network(width)`."""
        model = network(self.width)
        model.load_state_dict({name: p[r].detach().clone() for name, p in zip(self.names, self.stacked)})
        return model

    def gradient_norms(self) -> torch.Tensor:
        """‖∇L_r‖ of every member from .grad, (R,)."""
        return torch.sqrt(sum((p.grad.reshape(len(p), -1) ** 2).sum(1) for p in self.stacked))
