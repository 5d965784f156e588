"""Glue the cnn experiments share: train a classifier with `fit` for a fixed number of steps, score it."""

from __future__ import annotations

import torch
from torch import nn

from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed
from mllab.data import Split, TensorLoader
from mllab.train import fit
from mllab.train.losses import cross_entropy_sum


def train_steps(model: nn.Module, train: Split, *, steps: int, lr: float, batch_size: int, seed: int,
                loss_fn=cross_entropy_sum, rank: int = 0, world_size: int = 1) -> nn.Module:
    """Adam for exactly `steps` optimizer steps over seeded shuffles of `train` (the budget, equal for every arm).

    Under DDP (`model` wrapped by `run.distribute`; rank, world_size from `run`) each rank takes every
    world_size-th sample of the same shuffle and batch_size / world_size of each step's batch of `batch_size`:
    the step's gradient is the one-process gradient of that batch (to float rounding)."""
    if batch_size % world_size:
        raise BadInput(f"--set batch_size: {batch_size} does not split over {world_size} ranks; give a multiple of "
                       f"{world_size}")
    loader = TensorLoader((train.x, train.y), batch_size // world_size, seed=seed % 2**32,  # it multiplies seed
                          rank=rank, world_size=world_size)
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
    """The judged seeds: derive_seed(base, "judge", i), i < n; never a tuning seed."""
    return [derive_seed(base, "judge", i) for i in range(n)]


def tuning_seed(base: int) -> int:
    """The tuning seed: derive_seed(base, "tune"), never judged."""
    return derive_seed(base, "tune")
