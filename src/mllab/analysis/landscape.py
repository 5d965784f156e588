"""Loss-landscape slices along filter-normalised random directions (Li et al., 2018,
"Visualizing the Loss Landscape of Neural Nets").

A direction d has one tensor per parameter. For a weight tensor each filter (a slice along dim 0: a
row of a Linear weight, an output channel of a convolution) is rescaled to the norm of the same
filter of θ,  d_i ← d_i / ‖d_i‖ · ‖θ_i‖,  so that slices of networks with different weight scales
are comparable; 1-D parameters (biases, norm scales) get d = 0, as in the paper.

    1-D slice: f(α)    = L(θ + α d)
    2-D slice: f(α, β) = L(θ + α d + β e)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from mllab.analysis.hessian import LossFn, mean_loss, trainable


def filter_normalized_direction(model: nn.Module, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """A random direction with the shapes of the trainable parameters, filter-normalised."""
    direction = []
    for p in trainable(model):
        if p.dim() <= 1:
            direction.append(torch.zeros_like(p))
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)  # (filters,)
        p_norm = p.detach().flatten(1).norm(dim=1)  # (filters,)
        scale = (p_norm / d_norm).reshape(-1, *([1] * (p.dim() - 1)))  # broadcast over each filter
        direction.append(d * scale)
    return direction


@torch.no_grad()
def loss_slice(model: nn.Module, loss_fn: LossFn, batches: Sequence[Any], directions: Sequence[list[torch.Tensor]],
               coordinates: Sequence[Sequence[float]]) -> np.ndarray:
    """L(θ + Σ_k c_k d_k) on the grid of `coordinates` (one 1-D array per direction).

    One direction gives an array (len(c_1),); two give (len(c_1), len(c_2)). θ is restored afterwards.
    """
    params = trainable(model)
    theta = [p.detach().clone() for p in params]
    grids = np.meshgrid(*[np.asarray(c, dtype=float) for c in coordinates], indexing="ij")
    losses = np.zeros(grids[0].shape)
    try:
        for index in np.ndindex(losses.shape):
            for j, p in enumerate(params):
                p.copy_(theta[j] + sum(float(g[index]) * d[j] for g, d in zip(grids, directions)))
            losses[index] = float(mean_loss(model, loss_fn, batches))
    finally:
        for p, t in zip(params, theta):
            p.copy_(t)
    return losses


def plot_slice_1d(ax: Any, alphas: Sequence[float], losses: np.ndarray, label: str = "") -> None:
    """Loss against α along one direction; α = 0 is θ."""
    ax.plot(alphas, losses, label=label)
    ax.set_xlabel("α (filter-normalised direction)")
    ax.set_ylabel("loss L(θ + α d)")


def plot_slice_2d(ax: Any, alphas: Sequence[float], betas: Sequence[float], losses: np.ndarray, levels: int = 30) -> Any:
    """Contour plot of L(θ + α d + β e); returns the contour set (for a colour bar)."""
    contour = ax.contour(np.asarray(alphas), np.asarray(betas), losses.T, levels=levels)
    ax.plot([0], [0], "k*", markersize=10)
    ax.set_xlabel("α")
    ax.set_ylabel("β")
    return contour
