"""Train a stream of tasks with a strategy through `fit` and fill the accuracy matrix R[i, j]."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from mllab.continual.scenarios import Scenario
from mllab.continual.strategies import SI, Strategy, Tensors
from mllab.continual.streams import Stream
from mllab.core.seeding import derive_seed
from mllab.data import Split
from mllab.train import fit


def task_tensors(split: Split, scenario: Scenario, t: int) -> Tensors:
    """(x (N, D), target (N,), task (N,)) of task t in the scenario's labelling."""
    task = torch.full_like(split.y, t)
    return split.x, scenario.targets(split.y, task), task


@torch.no_grad()
def accuracy(model: nn.Module, data: Tensors, scenario: Scenario, seen: int) -> float:
    """Accuracy on one task's tensors with the answers the scenario allows after `seen` tasks."""
    model.eval()
    x, target, task = data
    correct = (scenario.logits(model(x), task, seen).argmax(1) == target).float().mean()
    model.train()
    return float(correct)


def train_stream(model: nn.Module, stream: Stream, scenario: Scenario, strategy: Strategy, *, epochs: int,
                 lr: float, batch_size: int, seed: int,
                 on_task: Callable[[int], None] | None = None) -> np.ndarray:
    """Train tasks 0..T−1 in order (Adam, `epochs` passes over each task's training set, or over the union for
    joint) and return R (T, T): R[i, j] = test accuracy on task j after task i. Task i's batches are shuffled
    from `derive_seed(seed, "task", i)`."""
    train = [task_tensors(t.train, scenario, t.index) for t in stream.tasks]
    test = [task_tensors(t.test, scenario, t.index) for t in stream.tasks]
    T = len(stream)
    R = np.zeros((T, T))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for i in range(T):
        if isinstance(strategy, SI):
            strategy.begin(model)
        data = strategy.training_set(train, i)
        loader = strategy.loader(data, batch_size, derive_seed(seed, "task", i))
        fit(model, strategy.loss(seen=i + 1), loader, optimizer, epochs=epochs, callbacks=strategy.callbacks())
        strategy.after_task(model, train[i], seen=i + 1)
        R[i] = [accuracy(model, test[j], scenario, seen=i + 1) for j in range(T)]
        if on_task is not None:
            on_task(i)
    return R
