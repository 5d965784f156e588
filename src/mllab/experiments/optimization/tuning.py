"""The protocol's fair arms for this section: each arm at its best setting from one grid, picked on
tuning seeds the verdict never sees, and the MLP training run the optimizer claims share (digits by default).

The optimizer claims' metric (tuning and judging alike) is `LossCurve.final`: the full-training-set loss
averaged over the last 10 % of updates (10 evenly spaced evaluations), not the loss at the last update,
whose value moves with the last mini-batch.

Seeds. With `--seed S`, the judged seeds are derive_seed(S, "judge", i) (i < seeds) and the tuning seeds
derive_seed(S, "tune", j) (j < tuning_seeds): different keys, so the two never coincide (to within the hash's
birthday bound). One seed draws the data split, the initialisation and the batch order, for every arm alike
(paired comparisons).

Data. The optimizer claims train on `dataset` (digits by default; mnist5k, or your MNIST / CIFAR-10 files with
--data-dir) as flat vectors; the MLP's input size follows the data (`train_digits_mlp`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from mllab.core.errors import TrainingError
from mllab.core.seeding import derive_seed
from mllab.data import TensorLoader
from mllab.data.datasets import Dataset
from mllab.models import MLP
from mllab.train import fit
from mllab.train.losses import cross_entropy_sum

def judged_seeds(run_seed: int, n: int) -> list[int]:
    """Seeds the verdict is computed on: derive_seed(run_seed, "judge", i), i < n."""
    return [derive_seed(run_seed, "judge", i) for i in range(n)]


def tuning_seeds(run_seed: int, n: int) -> list[int]:
    """Seeds the grid search uses: derive_seed(run_seed, "tune", j), j < n; disjoint from `judged_seeds`."""
    return [derive_seed(run_seed, "tune", j) for j in range(n)]


def best_setting(grid: Sequence[float], score: Callable[[float, int], float], seeds: Sequence[int],
                 better: str = "lower") -> tuple[float, dict[float, float]]:
    """The grid value with the best mean score over `seeds`, and every value's mean score.

    score(value, seed) -> a number; a non-finite score (a diverged run) makes that value the worst."""
    worst = math.inf if better == "lower" else -math.inf
    table = {}
    for value in grid:
        scores = [score(value, seed) for seed in seeds]
        table[value] = float(np.mean(scores)) if all(math.isfinite(s) for s in scores) else worst
    pick = min if better == "lower" else max
    return pick(grid, key=lambda v: table[v]), table


TAIL_SHARE = 0.1  # the judged loss averages the last 10 % of updates
TAIL_POINTS = 10  # ... measured at (up to) this many evenly spaced updates of that window


def tail_steps(updates: int) -> list[int]:
    """The updates at which the judged loss is measured: evenly spaced over the last 10 % of `updates`,
    ending at `updates` (300 -> 273, 276, …, 300; 30 -> 28, 29, 30)."""
    window = max(1, round(TAIL_SHARE * updates))
    stride = max(1, window // TAIL_POINTS)
    return list(range(updates, updates - window, -stride))[::-1]


@dataclass
class LossCurve:
    """fit callback: the full-training-set loss (nats per sample) every `every` optimizer steps (the curve
    drawn) and at each of `tail` (the judged value, `final`)."""

    x: torch.Tensor  # (N, D) flat inputs
    y: torch.Tensor  # (N,)
    every: int
    tail: tuple[int, ...] = ()
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    tail_losses: list[float] = field(default_factory=list)

    def measure(self, model: torch.nn.Module) -> float:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            loss = float(cross_entropy_sum(model, (self.x, self.y))[0]) / len(self.y)
        model.train(was_training)
        return loss

    def on_step_end(self, state, model: torch.nn.Module) -> None:
        on_curve, in_tail = state.global_step % self.every == 0, state.global_step in self.tail
        if not (on_curve or in_tail):
            return
        loss = self.measure(model)
        if on_curve:
            self.steps.append(state.global_step)
            self.losses.append(loss)
        if in_tail:
            self.tail_losses.append(loss)

    @property
    def final(self) -> float:
        """The training loss after the budget, averaged over the last 10 % of updates (inf if any is
        non-finite: a diverged run). One update's value measures the last mini-batch's noise, not the
        optimizer."""
        if len(self.tail_losses) < len(self.tail) or not all(math.isfinite(v) for v in self.tail_losses):
            return math.inf
        return float(np.mean(self.tail_losses))


def train_digits_mlp(data: Dataset, make_optimizer: Callable, lr: float, seed: int, *, updates: int,
                     batch_size: int, width: int, depth: int, log_every: int = 0) -> LossCurve:
    """An MLP (D → width ×depth → classes, ReLU; D = 64 on digits, the data's flat size otherwise) on the training
    split of `data` (x (N, D)), `updates` optimizer steps of mini-batches of `batch_size` with
    `make_optimizer(params, lr)`. Returns the loss curve; its `final` is the full-training-set loss averaged over
    the last 10 % of updates (inf when the loss went non-finite: a diverged run)."""
    torch.manual_seed(seed)
    model = MLP(data.train.x.shape[1], data.n_classes, width=width, depth=depth).to(data.train.x.device)
    loader = TensorLoader((data.train.x, data.train.y), batch_size, seed=seed % 2**32)
    curve = LossCurve(data.train.x, data.train.y, every=log_every or updates, tail=tuple(tail_steps(updates)))
    try:
        fit(model, cross_entropy_sum, loader, make_optimizer(model.parameters(), lr),
            epochs=math.ceil(updates / len(loader)), max_steps=updates, callbacks=[curve])
    except TrainingError:  # non-finite loss: this learning rate diverges
        curve.steps.append(updates)
        curve.losses.append(math.inf)
        curve.tail_losses.append(math.inf)
        return curve
    if not curve.steps or curve.steps[-1] != updates:  # the drawn curve ends at the budget
        curve.steps.append(updates)
        curve.losses.append(curve.tail_losses[-1])
    curve.losses = [v if math.isfinite(v) else math.inf for v in curve.losses]
    return curve
