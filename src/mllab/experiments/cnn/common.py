"""Glue the cnn experiments share: train a classifier with `fit` for a fixed number of steps, score it."""

from __future__ import annotations

import torch
from torch import nn

from mllab.data import Split, TensorLoader
from mllab.train import fit
from mllab.train.losses import cross_entropy_sum


def train_steps(model: nn.Module, train: Split, *, steps: int, lr: float, batch_size: int, seed: int,
                loss_fn=cross_entropy_sum) -> nn.Module:
    """Adam for exactly `steps` optimizer steps over seeded shuffles of `train` (the budget, equal for every arm)."""
    loader = TensorLoader((train.x, train.y), batch_size, seed=seed)
    epochs = -(-steps // len(loader))  # enough epochs to take `steps` steps
    fit(model, loss_fn, loader, torch.optim.Adam(model.parameters(), lr=lr), epochs=epochs, max_steps=steps)
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, batch: int = 1000) -> float:
    """Share of `split` whose arg-max logit is the label (eval mode, in chunks)."""
    model.eval()
    hits = sum(int((model(split.x[i:i + batch]).argmax(1) == split.y[i:i + batch]).sum())
               for i in range(0, len(split), batch))
    return hits / len(split)


def seeds(base: int, n: int) -> list[int]:
    """The judged seeds: base, base + 1, …; tuning seeds are 1000 + base + i, never judged."""
    return [base + i for i in range(n)]


def tuning_seed(base: int) -> int:
    return 1000 + base
