"""critical-points: where the gradient vanishes, the Hessian tells minimum from saddle.

(a) The two-weight network y = w1·w2·x with L = mean (ŷ − w1 w2 x)²: at the origin ∇L = 0 and
    H = [[0, −2c], [−2c, 0]] with c = mean(x ŷ), eigenvalues ±2c — a saddle, escaped along (1, 1)/√2.
(b) A small tanh network (float64) on a regression task, many times: first trained with `fit` (Adam,
    full batch) for a different number of epochs each time, to start from points of different loss;
    then driven towards a nearby point where ∇L = 0 by Newton / Levenberg–Marquardt steps on ‖∇L‖², as
    the notes drive training onto critical points by minimising the gradient norm. That phase is not
    `fit`: each step solves with the exact Hessian (the Jacobian of ∇L), which is per-step Hessian probing.
    Runs that start from the initialisation reach exact critical points (‖∇L‖ ~ 1e-12); runs that start
    from a trained network mostly creep (‖∇L‖ ~ 1e-4 after the step budget, the gradient decaying
    sublinearly, as towards a critical point at infinity of saturating tanh units). A point counts as
    reached when ‖∇L‖ ≤ gradient_tolerance (1e-3 by default, against ~1e-1 at initialisation).
    At every point reached, the exact Hessian gives the kind and the minimum ratio (share of
    eigenvalues > tolerance); from each saddle a step along the most negative curvature is taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from mllab.analysis import (
    HessianOperator,
    classify,
    critical_point_report,
    mean_loss,
    minimum_ratio,
)
from mllab.core.config import Config
from mllab.core.devices import torch_threads
from mllab.core.errors import BadInput
from mllab.core.registry import experiment
from mllab.core.run import Run
from mllab.data import TensorLoader
from mllab.train import fit
from mllab.train.optimizers import Adam


@dataclass
class CriticalPointsConfig(Config):
    runs: int = 20
    """Networks trained (different seeds and initialisations)."""
    width: int = 8
    """Hidden units of the 2-input tanh network."""
    samples: int = 64
    """Training points of the regression task."""
    pretrain_epochs: int = 300
    """Full-batch Adam epochs of the longest first phase (run i gets i/(runs−1) of it)."""
    pretrain_lr: float = 0.01
    """η of the first phase."""
    newton_steps: int = 40
    """Maximum Levenberg–Marquardt steps on ‖∇L‖²."""
    newton_target: float = 1e-10
    """The Newton / Levenberg–Marquardt phase stops once ‖∇L‖ ≤ this (or after newton_steps)."""
    gradient_tolerance: float = 1e-3
    """A point counts as reached (training stalled, gradient tiny) when ‖∇L‖ ≤ this."""
    eigen_tolerance: float = 1e-6
    """|λ| ≤ this counts as a zero eigenvalue."""
    tolerance_sweep: tuple[float, ...] = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2)
    """Eigenvalue tolerances over which the kinds and the ratio are re-counted (figure)."""
    escape_step: float = 1e-2
    """Length of the step along the negative-curvature eigenvector taken from each saddle."""
    far_more_factor: float = 2.0
    """'Far more often': saddles + flat ≥ this × local minima."""

    profiles: ClassVar[dict] = {
        "smoke": {"runs": 4, "pretrain_epochs": 30, "newton_steps": 10},
        "full": {"runs": 200, "width": 12, "samples": 128, "pretrain_epochs": 2000},
    }

    def validate(self) -> None:
        super().validate()
        if self.runs < 2:
            raise BadInput(f"--set runs: need at least 2 networks, got {self.runs}")
        for name in ("newton_target", "gradient_tolerance", "eigen_tolerance", "escape_step", "far_more_factor"):
            if getattr(self, name) <= 0:
                raise BadInput(f"--set {name}: must be > 0, got {getattr(self, name)}")


class TwoWeights(nn.Module):
    """y = w1 · w2 · x, the smallest network with a saddle."""

    def __init__(self, w1: float = 0.0, w2: float = 0.0):
        super().__init__()
        self.w1 = nn.Parameter(torch.tensor(w1, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.tensor(w2, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w1 * self.w2 * x


def squared_error(model: nn.Module, batch) -> tuple[torch.Tensor, int]:
    x, y = batch
    return ((model(x).reshape(-1) - y) ** 2).sum(), len(y)


def regression_task(samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, 2) uniform in [−1, 1]², y = sin(2 x1) + cos(3 x2) x1 (N,), float64."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(samples, 2, generator=generator, dtype=torch.float64) * 2 - 1
    return x, torch.sin(2 * x[:, 0]) + torch.cos(3 * x[:, 1]) * x[:, 0]


def to_critical_point(model: nn.Module, batches, steps: int, gradient_tolerance: float) -> float:
    """Drive ∇L to zero; returns the final ‖g‖. Each step first tries Newton's step δ = H⁺g (pseudo-inverse:
    it heads for the nearest critical point of any kind), else Levenberg–Marquardt on ‖g‖²,
    δ = (HᵀH + μI)⁻¹ Hᵀ g, with μ grown until ‖g‖ falls. θ ← θ − δ."""
    params = list(model.parameters())
    mu = 1e-3
    operator = HessianOperator(model, squared_error, batches)
    for _ in range(steps):
        g, hessian = operator.gradient, operator.matrix()
        if g.norm() <= gradient_tolerance:
            break
        theta = parameters_to_vector(params).detach()
        identity = torch.eye(len(g), dtype=g.dtype)
        candidates = [torch.linalg.pinv(hessian, rtol=1e-12, hermitian=True) @ g]  # Newton: H δ = g
        candidates += [torch.linalg.solve(hessian.T @ hessian + m * identity, hessian.T @ g)  # LM
                       for m in mu * 4.0 ** np.arange(12)]
        for k, delta in enumerate(candidates):
            vector_to_parameters(theta - delta, params)
            trial = HessianOperator(model, squared_error, batches)
            if trial.gradient.norm() < g.norm():
                operator = trial
                mu = mu / 3 if k <= 1 else mu * 4.0 ** (k - 1)
                break
        else:
            vector_to_parameters(theta, params)
            break
    return float(operator.gradient.norm())


@experiment("critical-points", section="optimization",
            claim="At the origin of y = w1·w2·x the Hessian has eigenvalues ±2c (a saddle). Where training stops "
                  "with a vanishing gradient, the points are saddles or flat far more often than local minima, and "
                  "from every saddle a step along the negative-curvature eigenvector lowers the loss.")
def critical_points(run: Run, cfg: CriticalPointsConfig) -> None:
    """Exact Hessians at the critical points of a two-weight network and of small tanh networks."""
    with torch_threads(1):  # tiny tensors: one thread is fastest (see core.devices.torch_threads)
        # (a) the two-weight network
        x = torch.tensor([1.0, 0.5, -2.0], dtype=torch.float64)
        y = torch.tensor([1.0, 0.8, -1.5], dtype=torch.float64)
        c = float((x * y).mean())
        origin = critical_point_report(TwoWeights(), squared_error, [(x, y)], tolerance=cfg.eigen_tolerance)
        analytic = torch.tensor([-2 * c, 2 * c], dtype=torch.float64)
        error = float((origin.eigenvalues - analytic).abs().max())
        run.check("two-weight network: origin eigenvalues equal ±2c and classify as a saddle",
                  error < 1e-9 and origin.kind == "saddle" and origin.gradient_norm < 1e-12,
                  observed=f"λ = {origin.eigenvalues.tolist()} vs analytic ±{2 * c:.6g} (max error {error:.1e}), "
                           f"‖g‖ = {origin.gradient_norm:.1e}, kind {origin.kind}",
                  expected="|λ − (±2c)| < 1e-9, kind saddle")

        # (b) many small networks, trained then driven onto critical points
        x_train, y_train = regression_task(cfg.samples, run.seed)
        batches = [(x_train, y_train)]
        points = []
        for i in range(cfg.runs):
            seed = run.seed * 1000 + i
            torch.manual_seed(seed)
            model = nn.Sequential(nn.Linear(2, cfg.width), nn.Tanh(), nn.Linear(cfg.width, 1)).double()
            epochs = round(cfg.pretrain_epochs * i / (cfg.runs - 1))
            if epochs:
                fit(model, squared_error, TensorLoader((x_train, y_train), cfg.samples, seed=seed),
                    Adam(model.parameters(), lr=cfg.pretrain_lr), epochs=epochs)
            gradient_norm = to_critical_point(model, batches, cfg.newton_steps, cfg.newton_target)
            if gradient_norm > cfg.gradient_tolerance:
                run.log(f"run {i}: stopped at ‖g‖ = {gradient_norm:.2e} > {cfg.gradient_tolerance:g}; not counted")
                continue
            report = critical_point_report(model, squared_error, batches, tolerance=cfg.eigen_tolerance)
            escape = _escape(model, report, batches, cfg.escape_step) if report.kind == "saddle" else None
            points.append({"run": i, "pretrain_epochs": epochs, "loss": report.loss, "gradient_norm": report.gradient_norm,
                           "kind": report.kind, "minimum_ratio": report.minimum_ratio,
                           "eigenvalues": report.eigenvalues.numpy(), "escape_decrease": escape,
                           "quadratic_model_decrease": 0.5 * abs(float(report.eigenvalues[0])) * cfg.escape_step ** 2})
            run.log(f"run {i}: {report.summary()}" + (f"; escape lowers L by {escape:.3g}" if escape is not None else ""))
            run.log_metrics(**{k: v for k, v in points[-1].items() if k != "eigenvalues"})

        counts = {kind: sum(p["kind"] == kind for p in points) for kind in ("local minimum", "saddle", "flat", "local maximum")}
        run.metric("kinds", counts)
        run.metric("critical_points_found", f"{len(points)} of {cfg.runs}")
        not_minimum = counts["saddle"] + counts["flat"]
        run.check("points reached are saddles or flat far more often than local minima",
                  len(points) >= 2 and not_minimum >= cfg.far_more_factor * counts["local minimum"],
                  observed=f"{len(points)} of {cfg.runs} runs reached ‖∇L‖ ≤ {cfg.gradient_tolerance:g} "
                           f"({sum(p['gradient_norm'] <= 1e-8 for p in points)} of them ≤ 1e-8; ‖∇L‖ "
                           f"{min((p['gradient_norm'] for p in points), default=float('nan')):.1e} .. "
                           f"{max((p['gradient_norm'] for p in points), default=float('nan')):.1e}): {counts} "
                           f"(eigenvalue tolerance {cfg.eigen_tolerance:g})",
                  expected=f"saddle + flat ≥ {cfg.far_more_factor:g} × local minimum")
        decreases = [p["escape_decrease"] for p in points if p["kind"] == "saddle"]
        predicted = [p["quadratic_model_decrease"] for p in points if p["kind"] == "saddle"]
        run.check("from every saddle a step along the negative-curvature eigenvector lowers the loss",
                  bool(decreases) and all(d > 0 for d in decreases),
                  observed=f"{sum(d > 0 for d in decreases)} of {len(decreases)} saddles; loss decrease "
                           f"{min(decreases, default=float('nan')):.3g} .. {max(decreases, default=float('nan')):.3g} "
                           f"for a step of {cfg.escape_step:g} (½|λ_min|s² predicts {min(predicted, default=float('nan')):.3g} .. "
                           f"{max(predicted, default=float('nan')):.3g})",
                  expected="every saddle (at least one found)")
        _figures(run, cfg, c, points)


def _escape(model: nn.Module, report, batches, step: float) -> float:
    """L(θ) − L(θ + s u): u the unit eigenvector of λ_min, s = ±step with the sign that also descends the
    (tiny) gradient, g·(s u) ≤ 0. The parameters are restored."""
    params = list(model.parameters())
    theta = parameters_to_vector(params).detach()
    direction = report.escape_direction.to(theta.dtype)
    gradient = HessianOperator(model, squared_error, batches).gradient
    sign = -1.0 if float(gradient @ direction) > 0 else 1.0
    vector_to_parameters(theta + sign * step * direction, params)
    with torch.no_grad():
        moved = float(mean_loss(model, squared_error, batches))
    vector_to_parameters(theta, params)
    return report.loss - moved


def _figures(run: Run, cfg: CriticalPointsConfig, c: float, points: list[dict]) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    w = np.linspace(-1.5, 1.5, 121)
    w1, w2 = np.meshgrid(w, w)
    x = np.array([1.0, 0.5, -2.0])
    y = np.array([1.0, 0.8, -1.5])
    loss = ((y[None, None, :] - (w1 * w2)[..., None] * x[None, None, :]) ** 2).mean(-1)
    axes[0].contour(w1, w2, loss, levels=30, cmap="viridis", linewidths=0.7)
    axes[0].plot([0], [0], "kx", markersize=10, label="saddle at the origin")
    axes[0].arrow(0, 0, 0.7, 0.7 * np.sign(c), width=0.02, color="r", label="escape: eigenvector of −2c")
    axes[0].set_xlabel("w1")
    axes[0].set_ylabel("w2")
    axes[0].set_title("y = w1·w2·x: L(w1, w2)")
    axes[0].legend(fontsize=8)
    colors = {"local minimum": "g", "saddle": "r", "flat": "b", "local maximum": "k"}
    for kind, color in colors.items():
        chosen = [p for p in points if p["kind"] == kind]
        axes[1].scatter([p["minimum_ratio"] for p in chosen], [p["loss"] for p in chosen], c=color,
                        label=f"{kind} ({len(chosen)})", s=20)
    axes[1].set_xlabel(f"minimum ratio (share of λ > {cfg.eigen_tolerance:g})")
    axes[1].set_ylabel("training loss at the critical point")
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=8)
    tolerances = cfg.tolerance_sweep
    for kind, color in colors.items():
        share = [np.mean([classify(torch.as_tensor(p["eigenvalues"]), t) == kind for p in points]) if points else 0
                 for t in tolerances]
        axes[2].semilogx(tolerances, share, "o-", color=color, label=f"share {kind}")
    ratio = [np.mean([minimum_ratio(torch.as_tensor(p["eigenvalues"]), t) for p in points]) if points else 0
             for t in tolerances]
    axes[2].semilogx(tolerances, ratio, "s--", color="gray", label="mean minimum ratio")
    axes[2].axvline(cfg.eigen_tolerance, color="gray", linestyle=":", label="tolerance used")
    axes[2].set_xlabel("eigenvalue tolerance")
    axes[2].set_ylim(-0.05, 1.05)
    axes[2].legend(fontsize=7)
    run.figure("critical_points", fig)
