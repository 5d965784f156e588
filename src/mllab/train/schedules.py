"""Learning-rate schedules as multipliers `factor(step)` of the base learning rate, for LambdaLR.

`step` counts optimizer steps already taken (0 before the first step, as LambdaLR passes it), so the
learning rate of update number step+1 is base_lr · factor(step). `scheduler(optimizer, factor)` wraps
one in torch.optim.lr_scheduler.LambdaLR; fit calls scheduler.step() once per optimizer step.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from mllab.core.errors import BadInput

Factor = Callable[[int], float]


def _require_steps(name: str, value: int, minimum: int = 1) -> None:
    if int(value) != value or value < minimum:
        raise BadInput(f"{name}: must be an integer >= {minimum}, got {value}")


def linear_warmup(warmup_steps: int) -> Factor:
    """η_t = η · min(1, (t + 1) / T_w): rises linearly to η over the first T_w updates, then stays."""
    _require_steps("warmup_steps", warmup_steps)
    return lambda step: min(1.0, (step + 1) / warmup_steps)


def warmup_cosine(warmup_steps: int, total_steps: int, min_factor: float = 0.0) -> Factor:
    """Linear warm-up over T_w updates, then cosine decay to min_factor·η at update T:

    η_t = η · (m + (1 − m) · ½ (1 + cos(π (t − T_w) / (T − T_w))))  for T_w ≤ t ≤ T; m afterwards.
    """
    _require_steps("warmup_steps", warmup_steps, 0)
    _require_steps("total_steps", total_steps, warmup_steps + 1)
    if not 0.0 <= min_factor <= 1.0:
        raise BadInput(f"min_factor: must lie in [0, 1], got {min_factor}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def inverse_sqrt(warmup_steps: int, d_model: int | None = None) -> Factor:
    """Vaswani et al. (2017), eq. (3): lrate = d_model^-0.5 · min(n^-0.5, n · T_w^-1.5), n = step + 1.

    With d_model=None the factor is normalised to peak at 1 at n = T_w: min(n/T_w, √(T_w/n)).
    With d_model given it is the paper's absolute rate (use base lr = 1).
    """
    _require_steps("warmup_steps", warmup_steps)

    def factor(step: int) -> float:
        n = step + 1
        if d_model is None:
            return min(n / warmup_steps, math.sqrt(warmup_steps / n))
        return d_model ** -0.5 * min(n ** -0.5, n * warmup_steps ** -1.5)

    return factor


def step_decay(step_size: int, gamma: float = 0.1) -> Factor:
    """η_t = η · γ^⌊t / step_size⌋ (torch.optim.lr_scheduler.StepLR counted in updates)."""
    _require_steps("step_size", step_size)
    if not 0.0 < gamma <= 1.0:
        raise BadInput(f"gamma: must lie in (0, 1], got {gamma}")
    return lambda step: gamma ** (step // step_size)


def scheduler(optimizer: torch.optim.Optimizer, factor: Factor) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR over `factor`; pass it to fit(..., scheduler=...)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


SCHEDULES = {"linear-warmup": linear_warmup, "warmup-cosine": warmup_cosine, "inverse-sqrt": inverse_sqrt,
             "step-decay": step_decay}
