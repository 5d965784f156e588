"""sigmoid-approximation: a sum of N sigmoids (or N hard sigmoids, two ReLUs each) fits a curve better as N grows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from mllab.core.config import Config
from mllab.core.errors import BadInput
from mllab.core.registry import experiment
from mllab.core.run import Run
from mllab.data import TensorLoader
from mllab.models.sigmoids import KINDS, SigmoidSum
from mllab.train import fit


@dataclass
class SigmoidApproximationConfig(Config):
    sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    """numbers of terms N, increasing"""
    steps: int = 1500
    """full-batch Adam steps per fit (cosine-decayed learning rate)"""
    lr: float = 0.03
    """Adam learning rate at the start"""
    restarts: int = 3
    """random initialisations per (kind, N); the best final training error counts"""
    n_points: int = 200
    """training points on an even grid over [-1, 1]"""
    tolerance: float = 0.1
    """'falls' allows err(N) <= (1 + tolerance) * err(previous N) + floor"""
    floor: float = 1e-4
    """absolute error floor (relative MSE) below which differences count as optimisation noise"""
    reduction: float = 100.0
    """required ratio err(N_min) / err(N_max)"""

    profiles: ClassVar[dict] = {
        "smoke": {"sizes": (1, 4, 16), "steps": 150, "restarts": 1, "n_points": 64},
        "full": {"sizes": (1, 2, 4, 8, 16, 32, 64), "steps": 5000, "restarts": 5},
    }

    def validate(self) -> None:
        super().validate()
        if not self.sizes or any(n < 1 for n in self.sizes) or list(self.sizes) != sorted(set(self.sizes)):
            raise BadInput(f"--set sizes: give increasing positive integers, got {self.sizes}; "
                           "e.g. --set sizes=1,2,4,8")
        if self.restarts < 1 or self.n_points < 2:
            raise BadInput("--set restarts/n_points: need restarts >= 1 and n_points >= 2")
        if self.tolerance < 0 or self.floor < 0 or self.reduction < 1:
            raise BadInput("--set tolerance/floor/reduction: need tolerance >= 0, floor >= 0, reduction >= 1")


def target(x: torch.Tensor) -> torch.Tensor:
    """The curve to fit on [-1, 1]: f(x) = sin(2πx) + x²/2 (four bends)."""
    return torch.sin(2 * math.pi * x) + 0.5 * x**2


def relative_error(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Relative MSE on x: mean (ŷ − f)² / var f  (0 = perfect, 1 = as bad as the mean)."""
    with torch.no_grad():
        y = target(x)
        return float(((model(x) - y) ** 2).mean() / y.var())


def fit_together(specs: list[tuple[str, int, int]], x: torch.Tensor,
                 cfg: SigmoidApproximationConfig) -> list[SigmoidSum]:
    """Fit one SigmoidSum(n, kind) per (kind, n, init_seed) in `specs` to f on the points x (P, 1), full batch.

    All models train in one `fit` call: the loss is the sum of their separate losses, so each model's
    gradient is its own, and Adam's update is elementwise, so each follows exactly the trajectory it would
    follow alone (only cheaper: one loop instead of one per model; tested).
    """
    models = nn.ModuleList([SigmoidSum(n, kind, generator=torch.Generator().manual_seed(init_seed))
                            for kind, n, init_seed in specs]).to(x.device)
    # Every batch is the whole grid: an "epoch" of `steps_per_epoch` copies is that many full-batch steps.
    steps_per_epoch = math.gcd(cfg.steps, 100)
    copies = x.repeat(steps_per_epoch, 1)  # (steps_per_epoch * P, 1)
    loader = TensorLoader([copies, target(copies)], batch_size=len(x), shuffle=False)
    optimizer = torch.optim.Adam(models.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)

    def loss_fn(models: nn.ModuleList, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        xb, yb = batch
        return sum(((model(xb) - yb) ** 2).sum() for model in models), len(xb)  # Σ_models Σ_points (ŷ − y)²

    fit(models, loss_fn, loader, optimizer, epochs=cfg.steps // steps_per_epoch, scheduler=scheduler)
    return list(models)


@experiment("sigmoid-approximation", section="training",
            claim="A sum of N sigmoids (or of N hard sigmoids, two ReLUs each) fits a curved 1-D target, "
                  "and the fit error falls as N grows over 1, 2, 4, ..., 32.")
def sigmoid_approximation(run: Run, cfg: SigmoidApproximationConfig) -> None:
    """For each kind and N: best of `restarts` fits; error = relative MSE on a dense grid of 1,000 points.

    "Falls" means: err(N) <= (1 + tolerance) err(N_prev) + floor at every step of the size list (a larger
    sum contains every smaller one, so the best fit can only improve; the slack absorbs optimiser noise),
    and err(N_min) >= reduction x err(N_max).
    """
    x_train = torch.linspace(-1, 1, cfg.n_points, device=run.device).unsqueeze(1)  # (P, 1)
    x_dense = torch.linspace(-1, 1, 1000, device=run.device).unsqueeze(1)  # (1000, 1)
    specs = [(kind, n, run.seed * 1000 + 10 * n + r) for kind in KINDS for n in cfg.sizes for r in range(cfg.restarts)]
    fitted = dict(zip(specs, fit_together(specs, x_train, cfg)))
    errors: dict[str, list[float]] = {kind: [] for kind in KINDS}
    best_models: dict[tuple[str, int], SigmoidSum] = {}
    for kind in KINDS:
        for n in cfg.sizes:
            fits = [model for (k, size, _), model in fitted.items() if (k, size) == (kind, n)]
            train_errors = [relative_error(m, x_train) for m in fits]
            best = fits[min(range(len(fits)), key=train_errors.__getitem__)]  # best restart on the training grid
            best_models[kind, n] = best
            errors[kind].append(relative_error(best, x_dense))
            run.log_metrics(kind=kind, n=n, error=errors[kind][-1], restart_errors=train_errors)
            run.log(f"{kind} N={n}: relative MSE {errors[kind][-1]:.2e} "
                    f"(restarts {['%.1e' % e for e in train_errors]})")
    for kind in KINDS:
        run.metric(f"{kind}_errors", dict(zip(map(str, cfg.sizes), errors[kind])))
        _check_falls(run, kind, cfg, errors[kind])
    _figures(run, cfg, best_models, errors, x_dense)


def _check_falls(run: Run, kind: str, cfg: SigmoidApproximationConfig, errs: list[float]) -> None:
    series = ", ".join(f"N={n}: {e:.2e}" for n, e in zip(cfg.sizes, errs))
    rises = [(a, b) for (a, ea), (b, eb) in zip(zip(cfg.sizes, errs), zip(cfg.sizes[1:], errs[1:]))
             if eb > (1 + cfg.tolerance) * ea + cfg.floor]
    run.check(f"{kind}: error does not rise with N", not rises,
              observed=series + (f"; rises at {rises}" if rises else ""),
              expected=f"err(N) <= {1 + cfg.tolerance:g} x err(previous N) + {cfg.floor:g} at each step")
    ratio = errs[0] / max(errs[-1], 1e-12)
    run.check(f"{kind}: N={cfg.sizes[-1]} is far better than N={cfg.sizes[0]}", ratio >= cfg.reduction,
              observed=f"err({cfg.sizes[0]}) / err({cfg.sizes[-1]}) = {errs[0]:.2e} / {errs[-1]:.2e} = {ratio:.0f}",
              expected=f">= {cfg.reduction:g}")


def _figures(run: Run, cfg: SigmoidApproximationConfig, models: dict, errors: dict, x: torch.Tensor) -> None:
    import matplotlib.pyplot as plt

    xs, ys = x.squeeze(1).cpu(), target(x).squeeze(1).cpu()
    fig, axes = plt.subplots(len(KINDS), len(cfg.sizes), figsize=(2.6 * len(cfg.sizes), 2.4 * len(KINDS)),
                             sharex=True, sharey=True, squeeze=False)
    for row, kind in enumerate(KINDS):
        for col, n in enumerate(cfg.sizes):
            ax = axes[row][col]
            with torch.no_grad():
                ax.plot(xs, ys, color="0.6", lw=3, label="target")
                ax.plot(xs, models[kind, n](x).squeeze(1).cpu(), color="C0" if kind == "sigmoid" else "C3", label="fit")
            ax.set_title(f"{kind}, N={n}", fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("best fit of a sum of N (hard) sigmoids to f(x) = sin(2πx) + x²/2")
    run.figure("fits", fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for kind, marker in zip(KINDS, "os"):
        ax.loglog(cfg.sizes, errors[kind], marker=marker, label=kind)
    ax.set_xlabel("number of terms N")
    ax.set_ylabel("relative MSE on 1,000 points")
    ax.set_title("fit error vs N (best of restarts)")
    ax.legend()
    run.figure("error_vs_n", fig)
