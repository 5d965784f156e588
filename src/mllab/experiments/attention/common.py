"""Glue shared by the attention experiments: train a tagger on a `Sequences` task with `fit`, then score it."""

from __future__ import annotations

import time

import torch
from torch import nn

from mllab.data import TensorLoader
from mllab.data.sequences import Sequences
from mllab.models.taggers import count_labelled, tagging_loss, token_accuracy
from mllab.train import fit


def train_tagger(model: nn.Module, train: Sequences, *, epochs: int, lr: float, batch_size: int, seed: int,
                 device: torch.device) -> float:
    """Adam at `lr` for `epochs` on `train` (loader order from `seed`); returns the wall seconds of training."""
    model.to(device)
    loader = TensorLoader((train.tokens.to(device), train.labels.to(device)), batch_size, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    fit(model, tagging_loss, loader, optimizer, epochs=epochs, count_items=count_labelled)
    return time.perf_counter() - start


def accuracy(model: nn.Module, test: Sequences, device: torch.device) -> torch.Tensor:
    """(N, n) per labelled position: 1 correct, 0 wrong, NaN unlabelled."""
    return token_accuracy(model, test.tokens.to(device), test.labels.to(device)).cpu()
