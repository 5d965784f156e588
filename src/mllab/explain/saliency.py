"""Gradient saliency (Simonyan et al. 2014): how much a small change of each input pixel moves the class score.

    gradient          ∂y_c/∂x                (B, C, H, W)
    saliency          |∂y_c/∂x|
    gradient_x_input  x ⊙ ∂y_c/∂x            (Shrikumar et al. 2016)

`model` maps x (B, ...) to scores (B, classes); y_c is the score of class `target` (one class for the whole
batch, or one per row). Put the model in eval mode first: these functions do not change its mode.
"""

from __future__ import annotations

import torch
from torch import nn

from mllab.core.errors import BadInput


def targets(target: int | torch.Tensor | list[int], batch: int, classes: int, device: torch.device) -> torch.Tensor:
    """`target` as one class index per row (B,); BadInput when a class is outside 0..classes−1."""
    t = torch.as_tensor(target, dtype=torch.long, device=device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(batch)
    if t.numel() != batch:
        raise BadInput(f"target: give one class or one per input ({batch}), got {t.numel()}")
    if len(t) and (int(t.min()) < 0 or int(t.max()) >= classes):
        bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
        raise BadInput(f"target: class {bad} is out of range for a model with {classes} outputs; give 0..{classes - 1}")
    return t


def class_scores(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor) -> torch.Tensor:
    """y_c for each row: model(x)[b, target_b]  (B,)."""
    out = model(x)  # (B, classes)
    return out.gather(1, targets(target, len(x), out.shape[1], x.device)[:, None]).squeeze(1)


def gradient(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor) -> torch.Tensor:
    """∂y_c/∂x  (B, C, H, W), rows independent (Σ_b y_{c_b} has row b's gradient in row b)."""
    x = x.detach().requires_grad_(True)
    score = class_scores(model, x, target)  # (B,)
    return torch.autograd.grad(score.sum(), x)[0]


def saliency(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor) -> torch.Tensor:
    """|∂y_c/∂x|  (B, C, H, W): the vanilla saliency map (Captum's `Saliency(abs=True)`)."""
    return gradient(model, x, target).abs()


def gradient_x_input(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor) -> torch.Tensor:
    """x ⊙ ∂y_c/∂x  (B, C, H, W) (Captum's `InputXGradient`)."""
    return x.detach() * gradient(model, x, target)
