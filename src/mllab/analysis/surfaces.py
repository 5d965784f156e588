"""2-D analytic error surfaces L(w), w = (w1, w2): optimizer trajectories and contour plots.

The illustrations of the optimization section step an optimizer by hand instead of calling `fit`:
there is no data set and no batches, only a function of two numbers, and we record the trajectory
w^0, w^1, ... at every step. `Point` wraps w as a module so the Hessian tools apply to it.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

Surface = Callable[[torch.Tensor], torch.Tensor]  # w (2,) -> L(w) scalar; also w (2, ...) -> (...)


class Point(nn.Module):
    """The parameters w (2,) of a 2-D surface as a module, so analysis tools apply (loss_fn below)."""

    def __init__(self, surface: Surface, start: tuple[float, float]):
        super().__init__()
        self.surface = surface
        self.w = nn.Parameter(torch.tensor(start, dtype=torch.float64))

    def forward(self) -> torch.Tensor:
        return self.surface(self.w)


def surface_loss(model: Point, batch: Any) -> tuple[torch.Tensor, int]:
    """fit-style loss of a Point: (L(w), 1 item); `batch` is ignored."""
    return model(), 1


def descend(surface: Surface, make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
            start: tuple[float, float], steps: int, *, factor: Callable[[int], float] | None = None,
            noise: float = 0.0, generator: torch.Generator | None = None) -> np.ndarray:
    """Trajectory (steps + 1, 2) of the optimizer on `surface` from `start`.

    factor: learning-rate multiplier factor(t) (LambdaLR). noise: std of Gaussian noise added to each
    gradient component, standing in for mini-batch noise.
    """
    point = Point(surface, start)
    optimizer = make_optimizer([point.w])
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor) if factor is not None else None
    path = [point.w.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad()
        point().backward()
        if noise > 0:
            point.w.grad += noise * torch.randn(2, generator=generator, dtype=torch.float64)
        optimizer.step()
        if schedule is not None:
            schedule.step()
        path.append(point.w.detach().clone())
    return torch.stack(path).numpy()


def values_on(surface: Surface, path: np.ndarray) -> np.ndarray:
    """L at each point of a trajectory (N, 2) -> (N,)."""
    with torch.no_grad():
        return surface(torch.as_tensor(path.T, dtype=torch.float64)).numpy()


def contour(ax: Any, surface: Surface, xlim: tuple[float, float], ylim: tuple[float, float], levels: Any = 30) -> None:
    """Contour lines of the surface on the box xlim × ylim, axes labelled in mathtext."""
    xs, ys = np.linspace(*xlim, 200), np.linspace(*ylim, 200)
    grid = torch.as_tensor(np.stack(np.meshgrid(xs, ys)), dtype=torch.float64)  # (2, 200, 200)
    with torch.no_grad():
        z = surface(grid).numpy()
    ax.contour(xs, ys, z, levels=levels, cmap="viridis", linewidths=0.7)
    ax.set_xlabel(r"$w_1$")
    ax.set_ylabel(r"$w_2$")
