"""adaptive-lr: one learning rate cannot suit an elongated error surface; per-parameter ones can.

Surface: L(w) = ½ (a w1² + b w2²) with a ≪ b (condition number b/a), minimum at w = 0.
- Gradient descent: η > 2/b diverges along w2; η < 2/b crawls along w1 (rate 1 − ηa per step), so
  after N steps it has either oscillated away or stalled with a gradient that is not small.
- Adagrad as the notes write it, σ^t = √(1/(t+1) Σ_{i≤t} (g^i)²) with a constant η, which is our
  (= torch's) Adagrad under the learning-rate multiplier √(t+1). Once w2 has converged its σ shrinks
  like 1/√t, η/σ grows past 2/b and w2 blows up. RMSProp's σ follows recent gradients: no step can
  exceed η/√(1−α); Adam's is bounded alike.
- Adam with noisy gradients (standing in for mini-batch noise) hovers around the minimum at a
  distance set by η; warm-up + cosine decay brings η, and the hovering, down at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import matplotlib.pyplot as plt
import numpy as np
import torch

from mllab.core.config import Config
from mllab.core.devices import torch_threads
from mllab.core.errors import BadInput
from mllab.core.registry import experiment
from mllab.core.run import Run
from mllab.experiments.optimization.surfaces import contour, descend, values_on
from mllab.train.optimizers import Adagrad, Adam, RMSProp, SGDMomentum
from mllab.train.schedules import warmup_cosine


@dataclass
class AdaptiveLRConfig(Config):
    curvature_flat: float = 1.0
    """a: curvature of L along w1 (the flat direction)."""
    curvature_steep: float = 100.0
    """b: curvature of L along w2 (the steep direction)."""
    start: tuple[float, ...] = (-4.0, 1.0)
    """Starting point w^0 = (w1, w2)."""
    steps: int = 100
    """N: steps given to gradient descent and Adagrad to reach the minimum."""
    gd_lrs: tuple[float, ...] = (0.001, 0.003, 0.01, 0.015, 0.019, 0.021, 0.03)
    """Learning-rate grid of plain gradient descent."""
    reach_distance: float = 1e-3
    """‖w‖ at or below this counts as having reached the minimum."""
    small_gradient: float = 1e-3
    """‖∇L‖ at or below this counts as a small gradient."""
    adagrad_lr: float = 0.3
    """η of Adagrad (notes' form, constant η)."""
    long_steps: int = 2000
    """Length of the long run in which the flat stretch and the blow-up are looked for."""
    rmsprop_alpha: float = 0.9
    """α of RMSProp (the blow-up threshold is its largest possible step, η/√(1−α))."""
    adaptive_lr: float = 0.1
    """η of RMSProp and Adam."""
    gradient_noise: float = 1.0
    """Std of the Gaussian noise added to each gradient component in the Adam schedule comparison."""
    schedule_steps: int = 1000
    """Steps of the Adam constant-η vs warm-up + cosine comparison."""
    warmup_steps: int = 50
    """Warm-up steps of the scheduled Adam."""
    seeds: int = 5
    """Noise seeds of the Adam comparison (judged on the mean)."""

    profiles: ClassVar[dict] = {
        "smoke": {"long_steps": 400, "schedule_steps": 200, "warmup_steps": 20, "seeds": 2},
        "full": {"long_steps": 5000, "schedule_steps": 3000, "seeds": 20},
    }

    def validate(self) -> None:
        super().validate()
        if len(self.start) != 2:
            raise BadInput(f"--set start: give two numbers w1,w2, got {self.start}")
        if not 0 < self.curvature_flat < self.curvature_steep:
            raise BadInput("--set curvature_flat/curvature_steep: need 0 < curvature_flat < curvature_steep")
        if not 0 <= self.rmsprop_alpha < 1:
            raise BadInput(f"--set rmsprop_alpha: must lie in [0, 1), got {self.rmsprop_alpha}")
        if self.long_steps <= self.steps or self.schedule_steps <= self.warmup_steps:
            raise BadInput("--set long_steps/schedule_steps: must exceed steps / warmup_steps")


def _gd_outcome(path: np.ndarray, surface_values: np.ndarray, cfg: AdaptiveLRConfig) -> dict:
    """Distance, gradient norm, and whether the steep coordinate zig-zags or the loss grew."""
    curvatures = np.array([cfg.curvature_flat, cfg.curvature_steep])
    w = path[-1]
    tail = path[-11:, 1]
    flips = int((np.sign(tail[1:]) != np.sign(tail[:-1])).sum())
    diverged = not np.isfinite(surface_values[-1]) or surface_values[-1] > surface_values[0]
    return {"distance": float(np.linalg.norm(w)), "gradient_norm": float(np.linalg.norm(curvatures * w)),
            "oscillates": bool(diverged or flips >= 5), "diverged": bool(diverged)}


@experiment("adaptive-lr", section="optimization",
            claim="On an elongated error surface no single learning rate of gradient descent reaches the minimum "
                  "in N steps (it oscillates, or stalls with a gradient that is not small); Adagrad reaches it, "
                  "but after a long flat stretch its step blows up while RMSProp's and Adam's do not; with "
                  "warm-up + decay Adam ends closer to the minimum with less oscillation.")
def adaptive_lr(run: Run, cfg: AdaptiveLRConfig) -> None:
    """Gradient descent, Adagrad, RMSProp and Adam on L(w) = ½(a w1² + b w2²)."""
    with torch_threads(1):  # tiny tensors: one thread is fastest (see core.devices.torch_threads)
        curvatures = torch.tensor([cfg.curvature_flat, cfg.curvature_steep], dtype=torch.float64)

        def surface(w: torch.Tensor) -> torch.Tensor:  # L(w) = ½ Σ c_i w_i², w (2, ...)
            return 0.5 * (curvatures.reshape(2, *([1] * (w.dim() - 1))) * w ** 2).sum(0)

        start = tuple(cfg.start)
        # 1. plain gradient descent over the learning-rate grid
        gd_paths, outcomes = {}, {}
        for lr in cfg.gd_lrs:
            with np.errstate(over="ignore", invalid="ignore"):
                path = descend(surface, lambda p, lr=lr: SGDMomentum(p, lr=lr, momentum=0.0), start, cfg.steps)
                outcomes[lr] = _gd_outcome(path, values_on(surface, path), cfg)
            gd_paths[lr] = path
            run.log_metrics(optimizer="gd", lr=lr, **outcomes[lr])
        none_reached = all(o["distance"] > cfg.reach_distance and (o["oscillates"] or o["gradient_norm"] > cfg.small_gradient)
                           for o in outcomes.values())
        described = "; ".join(f"η={lr:g}: " + ("diverged" if o["diverged"] else
                                              f"‖w‖={o['distance']:.2g}, ‖g‖={o['gradient_norm']:.2g}"
                                              + (", zig-zag" if o["oscillates"] else ""))
                              for lr, o in outcomes.items())
        run.check("gradient descent: every η oscillates or stalls", none_reached, observed=described,
                  expected=f"no η reaches ‖w‖ ≤ {cfg.reach_distance:g} in {cfg.steps} steps; each either zig-zags/diverges "
                           f"or has ‖∇L‖ > {cfg.small_gradient:g}")

        # 2. Adagrad (notes' form: constant η, σ = root-mean-square of all past gradients), long run
        notes_factor = lambda t: math.sqrt(t + 1)  # noqa: E731  η/σ_notes = η√(t+1)/√Σg² : torch Adagrad × √(t+1)
        long_runs = {
            "Adagrad": (cfg.adagrad_lr, descend(surface, lambda p: Adagrad(p, lr=cfg.adagrad_lr), start, cfg.long_steps,
                                                factor=notes_factor)),
            "RMSProp": (cfg.adaptive_lr, descend(surface, lambda p: RMSProp(p, lr=cfg.adaptive_lr, alpha=cfg.rmsprop_alpha),
                                                 start, cfg.long_steps)),
            "Adam": (cfg.adaptive_lr, descend(surface, lambda p: Adam(p, lr=cfg.adaptive_lr), start, cfg.long_steps)),
        }
        adagrad_distance = float(np.linalg.norm(long_runs["Adagrad"][1][cfg.steps]))
        run.check("Adagrad reaches the minimum in N steps", adagrad_distance <= cfg.reach_distance,
                  observed=f"‖w‖ = {adagrad_distance:.2e} after {cfg.steps} steps (η={cfg.adagrad_lr:g})",
                  expected=f"‖w‖ ≤ {cfg.reach_distance:g}")
        bound = 1 / math.sqrt(1 - cfg.rmsprop_alpha)  # RMSProp: |Δw_i| ≤ η |g| / √((1−α) g²) = η/√(1−α)
        spikes = {}
        for name, (lr, path) in long_runs.items():
            steps = np.abs(np.diff(path, axis=0)).max(axis=1)  # max_i |w_i^{t+1} − w_i^t|, (long_steps,)
            spikes[name] = float(steps[cfg.steps:].max() / lr)  # largest late step, in units of η
            run.metric(f"spike_{name.lower()}", spikes[name])
        run.check("after the flat stretch Adagrad's step blows up, RMSProp's and Adam's do not",
                  spikes["Adagrad"] > bound and spikes["RMSProp"] <= bound and spikes["Adam"] <= bound,
                  observed=", ".join(f"{k} max step {v:.3g}η" for k, v in spikes.items()) + f" (steps {cfg.steps}..{cfg.long_steps})",
                  expected=f"largest per-coordinate step: Adagrad > {bound:.3g}η ≥ RMSProp, Adam (η/√(1−α), the largest RMSProp can take)")

        # 3. Adam with noisy gradients: constant η against warm-up + cosine decay, several noise seeds
        last = max(1, cfg.schedule_steps // 10)
        ends = {"constant η": [], "warm-up + cosine": []}
        wiggle = {"constant η": [], "warm-up + cosine": []}
        example = {}
        for seed in range(cfg.seeds):
            for name, factor in (("constant η", None), ("warm-up + cosine", warmup_cosine(cfg.warmup_steps, cfg.schedule_steps))):
                generator = torch.Generator().manual_seed(run.seed * 1000 + seed)
                path = descend(surface, lambda p: Adam(p, lr=cfg.adaptive_lr), start, cfg.schedule_steps, factor=factor,
                               noise=cfg.gradient_noise, generator=generator)
                ends[name].append(float(np.linalg.norm(path[-last:], axis=1).mean()))  # mean ‖w‖ over the last 10%
                wiggle[name].append(float(np.linalg.norm(np.diff(path[-last:], axis=0), axis=1).mean()))  # mean step
                example.setdefault(name, path)
        mean = {k: float(np.mean(v)) for k, v in ends.items()}
        mean_wiggle = {k: float(np.mean(v)) for k, v in wiggle.items()}
        run.metric("adam_end_distance", mean)
        run.metric("adam_end_step", mean_wiggle)
        run.check("with warm-up + decay Adam ends closer, with less oscillation",
                  mean["warm-up + cosine"] < mean["constant η"] and mean_wiggle["warm-up + cosine"] < mean_wiggle["constant η"],
                  observed=f"mean ‖w‖ over the last {last} steps {mean['warm-up + cosine']:.3g} vs {mean['constant η']:.3g} "
                           f"(spread ±{np.std(ends['warm-up + cosine']):.2g} / ±{np.std(ends['constant η']):.2g}); "
                           f"mean step {mean_wiggle['warm-up + cosine']:.3g} vs {mean_wiggle['constant η']:.3g}, "
                           f"{cfg.seeds} seeds",
                  expected="both smaller with the schedule")

        _figures(run, cfg, surface, gd_paths, outcomes, long_runs, example)


def _figures(run: Run, cfg: AdaptiveLRConfig, surface, gd_paths, outcomes, long_runs, example) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    contour(axes[0], surface, (-4.5, 1), (-1.2, 1.2), levels=np.geomspace(1e-3, 60, 25))
    for lr, path in gd_paths.items():
        if not outcomes[lr]["diverged"]:
            axes[0].plot(path[:, 0], path[:, 1], ".-", markersize=2, linewidth=0.8, label=f"GD η={lr:g}")
    ada = long_runs["Adagrad"][1][: cfg.steps + 1]
    axes[0].plot(ada[:, 0], ada[:, 1], "k.-", markersize=3, label=f"Adagrad η={cfg.adagrad_lr:g}")
    axes[0].set_title(f"first {cfg.steps} steps")
    axes[0].legend(fontsize=7)
    for name, (lr, path) in long_runs.items():
        axes[1].semilogy(np.abs(np.diff(path, axis=0)).max(axis=1) / lr + 1e-20, label=name, linewidth=0.8)
    axes[1].axhline(1 / math.sqrt(1 - cfg.rmsprop_alpha), color="gray", linestyle="--", label="η/√(1−α)")
    axes[1].set_ylim(1e-8, 1e3)
    axes[1].set_xlabel("step t")
    axes[1].set_ylabel("max_i |w_i^{t+1} − w_i^t| / η")
    axes[1].set_title("step length: Adagrad (notes' form) blows up after the flat stretch")
    axes[1].legend(fontsize=8)
    run.figure("trajectories_and_steps", fig)

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    contour(axes[0], surface, (-4.5, 1), (-1.2, 1.2), levels=np.geomspace(1e-3, 60, 25))
    for name, path in example.items():
        axes[0].plot(path[:, 0], path[:, 1], linewidth=0.6, label=f"Adam, {name}")
        axes[1].semilogy(np.linalg.norm(path, axis=1), linewidth=0.8, label=f"Adam, {name}")
    axes[0].legend(fontsize=8)
    axes[0].set_title(f"Adam with gradient noise σ={cfg.gradient_noise:g}")
    axes[1].set_xlabel("step t")
    axes[1].set_ylabel("distance to the minimum ‖w‖")
    axes[1].legend(fontsize=8)
    run.figure("adam_schedule", fig)
