"""Callbacks for `fit` that observe training (the hooks are listed in `mllab.train.loop`'s docstring).

fit reads no tensor on the host per step; a callback that needs a float reads it itself, when it must.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from mllab.core.errors import TrainingError


class StepsToTarget:
    """Every `every` optimizer steps measure `measure(model)` (eval mode, no grad); when it reaches
    `target`, record the step in `steps` and ask fit to stop.

    below=True: lower is better (a loss); False: higher is better (an accuracy).
    `curve` keeps the (step, value) pairs measured; `steps` stays None if the target is never reached.
    Each measurement reads floats on the host (a sync on a GPU; fit itself reads the loss at epoch ends only),
    so it also checks fit's running loss there: a run whose loss turned non-finite raises TrainingError within
    `every` steps instead of training on NaN weights to the epoch's end.
    """

    def __init__(self, measure: Callable[[nn.Module], float], target: float, every: int = 1, below: bool = False):
        self.measure, self.target, self.every, self.below = measure, target, every, below
        self.curve: list[tuple[int, float]] = []
        self.steps: int | None = None

    def on_step_end(self, state, model: nn.Module) -> None:
        if state.global_step % self.every:
            return
        if not math.isfinite(float(state.loss_sum())):  # Σ loss_sum of the epoch so far, on the device
            raise TrainingError(f"StepsToTarget: non-finite training loss by step {state.global_step}; the run "
                                "diverged before reaching the target")
        was_training = model.training
        model.eval()
        with torch.no_grad():
            value = float(self.measure(model))
        model.train(was_training)
        self.curve.append((state.global_step, value))
        if (value <= self.target) if self.below else (value >= self.target):
            self.steps = state.global_step
            state.stop_requested = True
