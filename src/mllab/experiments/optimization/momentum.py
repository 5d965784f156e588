"""momentum: the heavy ball rolls over plateaus and saddles where gradient descent creeps or stops.

Surface L(w) = h(w1) + ½ w2² with h(x) = 0.3 σ(−2x) − 0.5 e^{−(x−1)²/0.5} − 1.5 e^{−(x−4)²/1.28}:
a plateau for x < −1, a local minimum near x = 1, a saddle (maximum of h, minimum in w2) near
x = 2, and the global minimum near x = 4. Both optimizers get the same η and N steps; momentum
m^t = λ m^{t-1} − η g^t accumulates the plateau's small gradient (at the same η its effective step
is up to η/(1−λ), which is the point of it).
On a real network (an MLP on digits, trained with `fit`) the same comparison: SGD with and without
momentum, equal η and epochs, mean over seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import matplotlib.pyplot as plt
import numpy as np
import torch

from mllab.analysis import critical_point_report
from mllab.core.config import Config
from mllab.core.devices import torch_threads
from mllab.core.errors import BadInput
from mllab.core.registry import experiment
from mllab.core.run import Run
from mllab.data import TensorLoader, load_dataset
from mllab.experiments.optimization.surfaces import (
    Point,
    contour,
    descend,
    surface_loss,
    values_on,
)
from mllab.models import MLP
from mllab.train import fit
from mllab.train.losses import cross_entropy_sum
from mllab.train.optimizers import SGDMomentum


@dataclass
class MomentumConfig(Config):
    lr: float = 0.2
    """η on the 2-D surface (same for both optimizers)."""
    momentum: float = 0.9
    """λ of the heavy ball."""
    steps: int = 150
    """N: steps on the 2-D surface."""
    start: tuple[float, ...] = (-2.0, 1.0)
    """Starting point (w1, w2) on the plateau."""
    network_lr: float = 0.05
    """η of SGD on the network (same with and without momentum)."""
    network_epochs: int = 5
    """Epochs on the network."""
    batch_size: int = 64
    """Mini-batch size on the network."""
    width: int = 32
    """Hidden width of the MLP."""
    seeds: int = 3
    """Seeds of the network comparison (judged on the mean)."""

    profiles: ClassVar[dict] = {
        "smoke": {"steps": 60, "network_epochs": 1, "seeds": 1},
        "full": {"network_epochs": 20, "seeds": 10, "width": 256},
    }

    def validate(self) -> None:
        super().validate()
        if not 0 < self.momentum < 1:
            raise BadInput(f"--set momentum: must lie in (0, 1), got {self.momentum}")
        if len(self.start) != 2:
            raise BadInput(f"--set start: give two numbers w1,w2, got {self.start}")


def surface(w: torch.Tensor) -> torch.Tensor:
    """L(w) = h(w1) + ½ w2², w (2, ...) -> (...)."""
    x, y = w[0], w[1]
    h = (0.3 * torch.sigmoid(-2 * x) - 0.5 * torch.exp(-(x - 1) ** 2 / (2 * 0.5 ** 2))
         - 1.5 * torch.exp(-(x - 4) ** 2 / (2 * 0.8 ** 2)))
    return h + 0.5 * y ** 2


def critical_xs(lo: float = -1.0, hi: float = 6.0) -> list[float]:
    """Zeros of h'(x) on [lo, hi] (w2 = 0): a grid scan for sign changes, then bisection."""
    def slope(x: np.ndarray) -> np.ndarray:
        xs = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        values = surface(torch.stack([xs, torch.zeros_like(xs)]))
        return torch.autograd.grad(values.sum(), xs)[0].numpy()

    grid = np.linspace(lo, hi, 701)
    s = slope(grid)
    zeros = []
    for i in np.flatnonzero(np.sign(s[1:]) != np.sign(s[:-1])):
        a, b = grid[i], grid[i + 1]
        for _ in range(60):  # bisection on h'
            mid = 0.5 * (a + b)
            a, b = (mid, b) if np.sign(slope(np.array([mid]))[0]) == np.sign(slope(np.array([a]))[0]) else (a, mid)
        zeros.append(0.5 * (a + b))
    return zeros


@experiment("momentum", section="optimization",
            claim="With momentum the loss after N steps is lower than without, on a 2-D surface with a plateau, "
                  "a local minimum and a saddle (whose trajectory passes the saddle) and on a real network.")
def momentum(run: Run, cfg: MomentumConfig) -> None:
    """Heavy-ball momentum against plain gradient descent, same η, same steps."""
    with torch_threads(1):  # tiny tensors: one thread is fastest (see core.devices.torch_threads)
        # 2-D surface: stepped by hand (no data, we record every point of the trajectory)
        points = critical_xs()
        reports = [critical_point_report(Point(surface, (x, 0.0)), surface_loss, [None], tolerance=1e-8) for x in points]
        saddles = [x for x, r in zip(points, reports) if r.kind == "saddle"]
        run.log("critical points on w2 = 0: " + "; ".join(f"x={x:.3f} {r.summary()}" for x, r in zip(points, reports)))
        start = tuple(cfg.start)
        plain = descend(surface, lambda p: SGDMomentum(p, lr=cfg.lr, momentum=0.0), start, cfg.steps)
        heavy = descend(surface, lambda p: SGDMomentum(p, lr=cfg.lr, momentum=cfg.momentum), start, cfg.steps)
        loss_plain, loss_heavy = values_on(surface, plain), values_on(surface, heavy)
        run.check("2-D surface: lower loss after N steps with momentum", loss_heavy[-1] < loss_plain[-1],
                  observed=f"L = {loss_heavy[-1]:.4f} with λ={cfg.momentum:g} vs {loss_plain[-1]:.4f} without "
                           f"(η={cfg.lr:g}, N={cfg.steps})", expected="lower with momentum")
        saddle = saddles[0] if saddles else float("nan")
        passed = bool(saddles) and heavy[:, 0].max() > saddle
        run.check("2-D surface: the momentum trajectory passes the saddle", passed,
                  observed=f"saddle at w1={saddle:.3f} ({len(saddles)} found, Hessian eigenvalues of opposite sign); "
                           f"max w1 reached {heavy[:, 0].max():.3f} with momentum, {plain[:, 0].max():.3f} without",
                  expected="max w1 with momentum > saddle's w1")

        # real network: fit with SGD, with and without momentum
        data = load_dataset("digits", seed=run.seed, device=run.device)
        curves = {0.0: [], cfg.momentum: []}
        for seed in range(cfg.seeds):
            for lam in curves:
                curves[lam].append(_train_network(run, cfg, data, lam, run.seed * 100 + seed))
        final = {lam: np.array([c[-1] for c in cs]) for lam, cs in curves.items()}
        run.metric("network_final_loss", {str(k): v.tolist() for k, v in final.items()})
        run.check("network: lower training loss after N epochs with momentum",
                  final[cfg.momentum].mean() < final[0.0].mean(),
                  observed=f"mean final training loss {final[cfg.momentum].mean():.4f} ± {final[cfg.momentum].std():.4f} "
                           f"with λ={cfg.momentum:g} vs {final[0.0].mean():.4f} ± {final[0.0].std():.4f} without "
                           f"({cfg.seeds} seeds, η={cfg.network_lr:g}, {cfg.network_epochs} epochs)",
                  expected="lower mean with momentum")
        _figures(run, cfg, plain, heavy, loss_plain, loss_heavy, points, reports, curves)


def _train_network(run: Run, cfg: MomentumConfig, data, lam: float, seed: int) -> list[float]:
    torch.manual_seed(seed)
    model = MLP(64, 10, width=cfg.width, depth=2).to(run.device)
    loader = TensorLoader((data.train.x, data.train.y), cfg.batch_size, seed=seed)
    optimizer = SGDMomentum(model.parameters(), lr=cfg.network_lr, momentum=lam)

    loss_fn = cross_entropy_sum

    state = fit(model, loss_fn, loader, optimizer, epochs=cfg.network_epochs)
    for record in state.history:
        run.log_metrics(momentum=lam, seed=seed, **record)
    return [r["train_loss"] for r in state.history]


def _figures(run, cfg, plain, heavy, loss_plain, loss_heavy, points, reports, curves) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    contour(axes[0], surface, (-2.5, 6), (-1.3, 1.3), levels=40)
    axes[0].plot(plain[:, 0], plain[:, 1], "r.-", markersize=3, linewidth=0.8, label="gradient descent")
    axes[0].plot(heavy[:, 0], heavy[:, 1], "b.-", markersize=3, linewidth=0.8, label=f"momentum λ={cfg.momentum:g}")
    markers = {"saddle": "kx", "local minimum": "k*", "local maximum": "k^", "flat": "ko"}
    for x, r in zip(points, reports):
        axes[0].plot([x], [0], markers[r.kind], markersize=10, label=f"{r.kind} w1={x:.2f}")
    axes[0].set_title(f"η={cfg.lr:g}, {cfg.steps} steps from the plateau")
    axes[0].legend(fontsize=7)
    axes[1].plot(loss_plain, "r", label="gradient descent")
    axes[1].plot(loss_heavy, "b", label=f"momentum λ={cfg.momentum:g}")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("L(w)")
    axes[1].legend()
    for lam, color in zip(curves, ("r", "b")):
        for i, c in enumerate(curves[lam]):
            axes[2].plot(range(1, len(c) + 1), c, color, alpha=0.6,
                         label=(f"SGD λ={lam:g}" if i == 0 else None))
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("training loss (digits MLP)")
    axes[2].set_yscale("log")
    axes[2].legend()
    run.figure("momentum", fig)
