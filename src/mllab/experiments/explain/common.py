"""Glue the explain experiments share: one small CNN trained on mnist5k per seed (cached, so several experiments
in one process train it once), the test images it classifies correctly, and image-grid drawing."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from mllab.data.images import load_images
from mllab.experiments.cnn.common import accuracy, train_steps
from mllab.models.cnn import CNN


@lru_cache(maxsize=8)
def trained_cnn(seed: int, steps: int = 150, lr: float = 3e-3, batch_size: int = 64,
                channels: tuple[int, ...] = (8, 16)) -> tuple[nn.Module, float]:
    """(CNN in eval mode, test accuracy): two 3×3 conv blocks with 2×2 max-pooling and a linear read-out, Adam for
    `steps` steps on mnist5k's training split drawn by `seed`. Cached: callers must not change the model."""
    data = load_images(seed=seed)
    torch.manual_seed(seed)
    model = train_steps(CNN(1, 10, channels=channels, kernels=3, head="flatten"), data.train, steps=steps, lr=lr,
                        batch_size=batch_size, seed=seed)
    for p in model.parameters():
        p.requires_grad_(False)  # attribution needs ∂/∂x only
    return model.eval(), accuracy(model, data.test)


def correct_test_images(model: nn.Module, seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n` test images (of seed's split) the model classifies correctly: x (n, 1, 28, 28), y (n,)."""
    test = load_images(seed=seed).test
    with torch.no_grad():
        hit = model(test.x).argmax(1) == test.y
    return test.x[hit][:n], test.y[hit][:n]


def show_map(ax, image: torch.Tensor, title: str, cmap: str = "gray", signed: bool = False) -> None:
    """One image panel (H, W): no axes, a title; signed maps on a symmetric red-blue scale."""
    a = image.detach().cpu().numpy()
    if signed:
        v = float(np.abs(a).max()) or 1.0
        ax.imshow(a, cmap="bwr", vmin=-v, vmax=v)
    else:
        ax.imshow(a, cmap=cmap)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])


def seeds(base: int, n: int) -> list[int]:
    """Judged seeds: base, base + 1, …; tuning seeds (1000 + …) are never judged."""
    return [base + i for i in range(n)]
