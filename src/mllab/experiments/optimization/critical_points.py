"""critical-points: where gradient descent stops, what does the Hessian say — minimum, saddle or flat?

(a) Sanity (a closed form): the two-weight network ŷ = w1·w2·x with L = mean (y − w1 w2 x)² has at the
    origin ∇L = 0 and H = [[0, −2c], [−2c, 0]], c = mean(x y): eigenvalues ±2c, a saddle.
(b) The claim. A small tanh network (2 → width → 1, float64) is trained on a fixed regression task by
    plain full-batch gradient descent (`fit`, SGD without momentum, step η = lr), from `runs`
    initialisations (seed derive_seed(S, "judge", i) each), and stopped by the rule practitioners use: as soon as
    ‖∇L‖ ≤ gradient_tolerance (checked every `check_every` steps; at most `max_steps` steps — a run still
    moving then is not counted). Nothing but GD moves the weights: the points classified are where GD
    itself stops, not where a Newton-type step (drawn to saddles as much as to minima) would land. At
    each stopping point the exact Hessian's eigenvalues λ_1 ≤ … ≤ λ_P (mllab.analysis.hessian) classify
    it, with |λ| ≤ tol = eigen_tolerance · max|λ| counted as zero curvature:
      local minimum  all λ > tol                          (minimum ratio 1)
      saddle         some λ > tol and some λ < −tol
      flat           some |λ| ≤ tol, none of the other sign: the second-order test cannot decide
    minimum ratio = share of λ > tol. The claim (the notes: "saddle points are common, local minima
    rare") is judged on the share of stopping points that are not strict minima, by the one-sided 95 %
    Clopper–Pearson lower bound of that share. The thresholds (1e-3, 1e-3·max|λ|, 50 %) are those fixed
    before the first run.
    All runs descend at once: `StackedNetworks` stacks the R networks' weights, so one GD step of the
    stack is one GD step of each network (a sanity check compares 20 steps with each network alone), and
    a run that has stopped is frozen while the others go on. The networks are tiny, so a step costs
    per-op overhead, and R runs cost about one.
History. The first design used η = 0.3: with a 4,000-step cap no run stopped (0 of 12; ‖∇L‖ 1.6e-3 to
9e-3 at the cap); with 12,000 steps ‖∇L‖ grew to ≈ 0.2 — the sharpness had risen to 2/η ≈ 6.7 and GD
bounced at the edge of stability. At η = 0.1 (2/η = 20, above the λ_max ≈ 8–15 at the stops) every run
stopped within 30,000 steps in a trial on 12 seeds, hence the cap of 40,000.
Negative control: the linear model (width 0) is convex with a positive-definite Hessian, so gradient
descent can only stop at its strict minimum.
Not an image experiment: the claim needs the exact Hessian (P × P) at every stopping point, which a network
small enough for that (2 → 8 → 1, P = 33) gets on a synthetic 2-D regression task; an image model has far too many
parameters for an exact Hessian, so it takes no `dataset` and no --data-dir.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from scipy.stats import binomtest
from torch import nn

from mllab.analysis import classify, critical_point_report, minimum_ratio
from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, positive
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.models.stacked import StackedNetworks, network
from mllab.train import fit
from mllab.train.optimizers import SGDMomentum

KIND_COLORS = {"local minimum": figures.SERIES[0], "saddle": figures.SERIES[1], "flat": figures.SERIES[2],
               "local maximum": figures.SERIES[4]}


@dataclass
class CriticalPointsConfig(Config):
    min_share: float = 0.5
    """the claim: the share of stopping points that are not strict minima exceeds this (95% lower bound)"""
    gradient_tolerance: float = 1e-3
    """gradient descent stops once ‖∇L‖ ≤ this"""
    eigen_tolerance: float = 1e-3
    """|λ| ≤ this × max|λ| counts as zero curvature"""
    runs: int = 10
    """initialisations (one seed each), all on the same data"""
    width: int = 8
    """hidden tanh units (0: the linear model, convex)"""
    samples: int = 64
    """training points of the regression task"""
    lr: float = 0.1
    """η of gradient descent (below 2/λ_max at the stopping points, λ_max ≈ 8–15: no edge-of-stability bounce)"""
    max_steps: int = 40000
    """steps after which a run that has not stopped counts as still moving (not a stopping point)"""
    check_every: int = 20
    """steps between two gradient-norm checks"""

    rules: ClassVar[dict] = {
        "min_share": in_range(0, 1), "gradient_tolerance": positive, "eigen_tolerance": in_range(0, 1, closed=False),
        "runs": at_least(1), "width": at_least(0), "samples": at_least(2), "lr": positive, "max_steps": at_least(1),
        "check_every": at_least(1),
    }
    profiles: ClassVar[dict] = {
        "smoke": {"runs": 3, "max_steps": 300, "gradient_tolerance": 5e-2},
        "full": {"runs": 100, "max_steps": 200000, "width": 12, "samples": 128},
    }


class TwoWeights(nn.Module):
    """ŷ = w1 · w2 · x, the smallest network with a saddle."""

    def __init__(self, w1: float = 0.0, w2: float = 0.0):
        super().__init__()
        self.w1 = nn.Parameter(torch.tensor(w1, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.tensor(w2, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w1 * self.w2 * x


def squared_error(model: nn.Module, batch) -> tuple[torch.Tensor, int]:
    """Σ (ŷ − y)² over the batch and its item count; x (N, ...), y (N,)."""
    x, y = batch
    return ((model(x).reshape(-1) - y) ** 2).sum(), len(y)


def regression_task(samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, 2) uniform in [−1, 1]², y = sin(2 x1) + cos(3 x2) x1 (N,), float64."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(samples, 2, generator=generator, dtype=torch.float64) * 2 - 1
    return x, torch.sin(2 * x[:, 0]) + torch.cos(3 * x[:, 1]) * x[:, 0]


def classify_point(eigenvalues: torch.Tensor, relative_tolerance: float) -> tuple[str, float]:
    """(kind, minimum ratio) of a stopping point from its Hessian eigenvalues (P,), |λ| ≤ tol·max|λ| as zero."""
    tolerance = relative_tolerance * float(eigenvalues.abs().max())
    return classify(eigenvalues, tolerance), minimum_ratio(eigenvalues, tolerance)


def stacked_squared_error(model: StackedNetworks, batch) -> tuple[torch.Tensor, int]:
    """Σ_r Σ_n (ŷ_rn − y_n)² and N: fit divides by N, so member r's gradient is that of its own mean
    squared error L_r."""
    x, y = batch
    return ((model(x) - y) ** 2).sum(), len(y)


class StopAtSmallGradient:
    """fit callback for StackedNetworks: every `every` steps, each member's ‖∇L_r‖ (the full-batch gradient
    fit just computed, at the parameters before this step); the first time it is ≤ `tolerance` the member
    stops: its parameters are kept (`points[r]`) and it is frozen (gradient zeroed from then on). fit ends
    once every member has stopped."""

    def __init__(self, members: int, tolerance: float, every: int, bar=None):
        self.tolerance, self.every, self.bar = tolerance, every, bar
        self.stopped_at: dict[int, int] = {}  # member -> step at which ‖∇L‖ ≤ tolerance
        self.points: dict[int, nn.Module] = {}  # member -> its parameters there, as a network
        self.frozen = torch.ones(members, dtype=torch.float64)  # 1 while moving, 0 once stopped
        self.checked_steps: list[int] = []
        self.gradient_norms: list[list[float]] = []  # at each checked step, (R,)

    def on_after_backward(self, state, model: StackedNetworks) -> None:
        if state.global_step % self.every == 0:
            norms = model.gradient_norms().tolist()  # the one host read per check
            self.checked_steps.append(state.global_step)
            self.gradient_norms.append(norms)
            if self.bar is not None and state.global_step:
                self.bar.update(self.every)
            for r, norm in enumerate(norms):
                if r not in self.stopped_at and norm <= self.tolerance:
                    self.stopped_at[r], self.points[r] = state.global_step, model.member(r)
                    self.frozen[r] = 0.0
            if len(self.stopped_at) == len(norms):
                state.stop_requested = True
        if self.stopped_at:
            for p in model.stacked:  # stopped members take no more steps
                p.grad.mul_(self.frozen.reshape(-1, *([1] * (p.dim() - 1))))


def descend_until_stopped(members: list[nn.Module], x: torch.Tensor, y: torch.Tensor, lr: float, max_steps: int,
                          tolerance: float, every: int, bar=None) -> StopAtSmallGradient:
    """Full-batch GD (fit, SGD without momentum, step lr) on every member at once, each stopped as soon as
    its ‖∇L‖ ≤ tolerance, at most max_steps steps. x (N, 2), y (N,)."""
    model = StackedNetworks(members)
    stopper = StopAtSmallGradient(len(members), tolerance, every, bar)
    loader = [(x, y)] * every  # each item is the whole training set: one "epoch" of fit is `every` GD steps
    fit(model, stacked_squared_error, loader, SGDMomentum(model.parameters(), lr=lr, momentum=0.0),
        epochs=math.ceil(max_steps / every), max_steps=max_steps, callbacks=[stopper])
    return stopper


@experiment("critical-points", section="optimization",
            claim="Where full-batch gradient descent on a small tanh network stops (‖∇L‖ ≤ {gradient_tolerance:g}), "
                  "the point is not a strict local minimum — a saddle, or flat (some Hessian eigenvalue ≤ "
                  "{eigen_tolerance:g}·max|λ|; minimum ratio < 1) — in more than {min_share:.0%} of the runs "
                  "(one-sided 95% lower bound of the share).",
            negative_control=NegativeControl(
                overrides=("width=0",), fails=("stopping points are rarely strict minima",),
                why="the linear model is convex with a positive-definite Hessian: gradient descent stops at its minimum"))
def critical_points(run: Run, cfg: CriticalPointsConfig) -> None:
    """Exact Hessians at a closed-form saddle, then at the points where gradient descent stops."""
    # (a) the two-weight network: a saddle in closed form
    x = torch.tensor([1.0, 0.5, -2.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.8, -1.5], dtype=torch.float64)
    c = float((x * y).mean())
    origin = critical_point_report(TwoWeights(), squared_error, [(x, y)], tolerance=1e-9)
    analytic = torch.tensor([-2 * c, 2 * c], dtype=torch.float64)  # λ = ±2c
    error = float((origin.eigenvalues - analytic).abs().max())
    run.check("two-weight network: origin eigenvalues equal ±2c and classify as a saddle",
              error < 1e-9 and origin.kind == "saddle" and origin.gradient_norm < 1e-12,
              observed=f"λ = {origin.eigenvalues.tolist()} vs ±{2 * c:.6g} (max error {error:.1e}), "
                       f"‖g‖ = {origin.gradient_norm:.1e}, kind {origin.kind}",
              expected="|λ − (±2c)| < 1e-9, kind saddle", kind="sanity")

    # (b) gradient descent from many initialisations (one seed each), all on the same data
    x_train, y_train = regression_task(cfg.samples, run.seed)
    seeds = [derive_seed(run.seed, "judge", i) for i in range(cfg.runs)]
    members = []
    for seed in seeds:
        torch.manual_seed(seed)
        members.append(network(cfg.width))
    gap = _stacking_gap(members[:2], x_train, y_train, cfg.lr)
    run.check("GD on the stacked networks equals GD on each network alone", gap < 1e-12,
              observed=f"max |Δθ| after 20 steps = {gap:.1e}", expected="< 1e-12", kind="sanity")
    with run.progress(total=cfg.max_steps, desc=f"critical-points: GD steps, {cfg.runs} runs at once") as bar:
        stopper = descend_until_stopped(members, x_train, y_train, cfg.lr, cfg.max_steps, cfg.gradient_tolerance,
                                        cfg.check_every, bar)
    batches = [(x_train, y_train)]
    points, moving = [], []
    for r, seed in enumerate(seeds):
        if r not in stopper.stopped_at:
            moving.append({"seed": seed, "gradient_norm": stopper.gradient_norms[-1][r]})
            run.log(f"run {r}: still moving after {cfg.max_steps} steps "
                    f"(‖∇L‖ = {moving[-1]['gradient_norm']:.2e})")
            continue
        report = critical_point_report(stopper.points[r], squared_error, batches, tolerance=0.0)
        kind, ratio = classify_point(report.eigenvalues, cfg.eigen_tolerance)
        points.append({"run": r, "seed": seed, "step": stopper.stopped_at[r], "loss": report.loss,
                       "gradient_norm": report.gradient_norm, "kind": kind, "minimum_ratio": ratio,
                       "negative_eigenvalues": int((report.eigenvalues < 0).sum()),
                       "eigenvalues": report.eigenvalues.tolist()})
        run.log_metrics(**{k: v for k, v in points[-1].items() if k != "eigenvalues"})
        run.log(f"run {r}: stopped at step {stopper.stopped_at[r]}: {kind}, minimum ratio {ratio:.2f}, "
                f"λ in [{float(report.eigenvalues[0]):.2e}, {float(report.eigenvalues[-1]):.2e}]")

    shares = {kind: sum(p["kind"] == kind for p in points) / max(len(points), 1) for kind in KIND_COLORS}
    run.metric("stopping_points", points)
    run.metric("still_moving", moving)
    run.metric("shares", shares)
    run.metric("mean_minimum_ratio", float(np.mean([p["minimum_ratio"] for p in points])) if points else None)
    run.metric("steps_to_stop", sorted(p["step"] for p in points))
    run.check("most runs stopped within the step budget", len(points) >= cfg.runs / 2,
              observed=f"{len(points)} of {cfg.runs} runs reached ‖∇L‖ ≤ {cfg.gradient_tolerance:g} within "
                       f"{cfg.max_steps} steps at η = {cfg.lr:g} (still moving: ‖∇L‖ "
                       + ", ".join(f"{m['gradient_norm']:.1e}" for m in moving) + ")",
              expected="at least half: otherwise there are too few stopping points to judge; raise max_steps",
              kind="sanity")
    not_minimum = sum(p["kind"] != "local minimum" for p in points)
    low = binomtest(not_minimum, len(points), alternative="greater").proportion_ci(0.95).low if points else 0.0
    with_negative = sum(p["negative_eigenvalues"] > 0 for p in points)
    run.check("stopping points are rarely strict minima", low > cfg.min_share,
              observed=f"{not_minimum} of {len(points)} stopping points are not strict minima "
                       f"(share {not_minimum / max(len(points), 1):.2f}, 95% lower bound {low:.2f}); "
                       + ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
                       + f"; {with_negative} have some λ < 0 (of any size); {len(moving)} of {cfg.runs} runs "
                       f"still moving after {cfg.max_steps} steps",
              expected=f"lower bound of the share > {cfg.min_share:.0%}")
    _figure(run, cfg, c, points, stopper)


def _stacking_gap(members: list[nn.Module], x: torch.Tensor, y: torch.Tensor, lr: float, steps: int = 20) -> float:
    """max |Δθ| between 20 GD steps of the stacked module and 20 of each member alone (fit, same η)."""
    stacked = StackedNetworks(members)
    fit(stacked, stacked_squared_error, [(x, y)], SGDMomentum(stacked.parameters(), lr=lr, momentum=0.0),
        epochs=steps)
    gap = 0.0
    for r, member in enumerate(members):
        alone = copy.deepcopy(member)
        fit(alone, squared_error, [(x, y)], SGDMomentum(alone.parameters(), lr=lr, momentum=0.0), epochs=steps)
        for a, b in zip(alone.parameters(), stacked.member(r).parameters()):
            gap = max(gap, float((a - b).detach().abs().max()))
    return gap


def _figure(run: Run, cfg: CriticalPointsConfig, c: float, points: list[dict], stopper: StopAtSmallGradient) -> None:
    """The closed-form saddle; ‖∇L‖ of every run until it stops; the kinds of the stops; their spectra."""
    fig, axes = figures.subplots(2, 2, panel=(5.0, 3.6))
    ax = axes[0]
    w = np.linspace(-1.5, 1.5, 121)
    w1, w2 = np.meshgrid(w, w)
    x, y = np.array([1.0, 0.5, -2.0]), np.array([1.0, 0.8, -1.5])
    loss = ((y[None, None, :] - (w1 * w2)[..., None] * x[None, None, :]) ** 2).mean(-1)  # L(w1, w2)
    ax.contour(w1, w2, loss, levels=30, cmap="viridis", linewidths=0.7)
    ax.plot([0], [0], "x", color="k", markersize=10)
    ax.annotate("saddle", (0, 0), (0.15, -0.35), fontsize=9)
    ax.set(title=r"$\hat y = w_1 w_2 x$: saddle at 0", xlabel=r"$w_1$", ylabel=r"$w_2$")

    ax = axes[1]  # ‖∇L‖ per run until it stops (frozen afterwards: cut there)
    steps, norms = np.array(stopper.checked_steps), np.array(stopper.gradient_norms)  # (C,), (C, R)
    kinds = {p["run"]: p["kind"] for p in points}
    for r in range(norms.shape[1]):
        end = np.searchsorted(steps, stopper.stopped_at.get(r, steps[-1])) + 1
        ax.plot(steps[:end], norms[:end, r], linewidth=0.8, alpha=0.7,
                color=KIND_COLORS[kinds[r]] if r in kinds else figures.BASELINE)
    ax.axhline(cfg.gradient_tolerance, color="k", linestyle="--", linewidth=0.8, label="stopping tolerance")
    ax.set(yscale="log", title=rf"full-batch GD, $\eta$={cfg.lr:g}: runs until they stop", xlabel="GD step",
           ylabel=r"$\|\nabla L\|$ (loss units per weight)")
    figures.legend_outside(ax)

    ax = axes[2]
    for kind, color in KIND_COLORS.items():
        chosen = [p for p in points if p["kind"] == kind]
        if chosen:
            ax.scatter([p["minimum_ratio"] for p in chosen], [p["loss"] for p in chosen], color=color, s=22,
                       label=f"{kind} ({len(chosen)})")
    ax.set(yscale="log", title=f"where GD stops ({len(points)} of {cfg.runs} runs)",
           xlabel="minimum ratio (share of λ > tol)", ylabel="training loss (squared error)")
    if points:
        figures.legend_outside(ax)

    ax = axes[3]
    for p in points:
        values = np.array(p["eigenvalues"])
        scaled = values / np.abs(values).max()  # λ / max|λ|
        ax.plot(np.arange(1, len(values) + 1), np.sign(scaled) * np.log10(1 + np.abs(scaled) / cfg.eigen_tolerance),
                color=KIND_COLORS[p["kind"]], alpha=0.6, linewidth=0.9)
    ax.axhline(0, color=figures.BASELINE, linewidth=0.8)
    ax.set(title="Hessian spectra at the stops", xlabel="eigenvalue index (ascending)",
           ylabel=r"sign$\cdot\log_{10}(1 + |\lambda|/(\mathrm{tol}\cdot\max|\lambda|))$")
    run.figure("critical_points", fig)
