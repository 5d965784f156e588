"""Loss callables in fit's contract: `loss_fn(model, batch) -> (loss_sum, n_items)`."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy_sum(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Σ_i −log p(y_i | x_i) over the batch, and its item count. batch: x (B, ...), y (B,) class indices."""
    x, y = batch
    return F.cross_entropy(model(x), y, reduction="sum"), len(y)
