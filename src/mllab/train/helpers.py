"""Small helpers around `fit` that several experiments share (one copy each).

- `mean_cross_entropy(model, x, y)`: the mean cross-entropy of a model on a split (eval mode, no grad);
- `fit_until(model, tracker, **fit_kwargs)`: `fit` that ends when a `StepsToTarget` callback reaches its target;
- `linear_schedule(start, end, duration)`: a value going linearly from start to end (ε-greedy, step sizes).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import TrainingError
from mllab.train.callbacks import StepsToTarget
from mllab.train.loop import fit


def mean_cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """(1/N) Σ_i −log p(y_i | x_i) in nats, x (N, ...), y (N,) class indices; eval mode, no grad, the model's
    training mode restored afterwards."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        loss = float(F.cross_entropy(model(x), y))
    model.train(was_training)
    return loss


def fit_until(model: nn.Module, tracker: StepsToTarget, **fit_kwargs) -> StepsToTarget:
    """`fit(model, callbacks=[tracker], ...)` that ends early when `tracker` reaches its target.

    A run whose loss diverges (TrainingError) ends there: `tracker.steps` stays None and a NaN point is
    appended to `tracker.curve`, so a diverged learning rate counts as "never reached"."""
    try:
        fit(model, callbacks=[tracker], **fit_kwargs)
    except TrainingError:
        tracker.curve.append((tracker.curve[-1][0] + 1 if tracker.curve else 1, float("nan")))
    return tracker


def linear_schedule(start: float, end: float, duration: float) -> Callable[[float], float]:
    """t -> start + (end - start) · min(t / duration, 1): linear from `start` at t = 0 to `end` at t = duration,
    then `end`. t in any unit (steps, or the fraction of training done); duration <= 0 gives `end` throughout."""
    if duration <= 0:
        return lambda t: end
    return lambda t: end if t >= duration else start + (end - start) * max(t, 0.0) / duration  # exactly end after
