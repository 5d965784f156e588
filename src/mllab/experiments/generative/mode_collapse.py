"""mode-collapse: GANs are hard to train; the Wasserstein objective is more stable — on VEEGAN's ring of 8 and
grid of 25 Gaussians (PacGAN's settings: ring radius 1, σ = 0.01; grid {−4,…,4}², σ = 0.05), WGAN-GP covers
more modes than the standard GAN, and reaches PacGAN4's published grid row.

Arms: GAN (non-saturating), LSGAN, WGAN (weight clipping 0.01) and WGAN-GP (λ = 10), each with its paper's
n_critic (1, 1, 5, 5) and optimizer (Adam β = (0.5, 0.999); Adam β = (0, 0.9) for WGAN-GP; RMSProp for WGAN).
Budget: equal generator updates (`steps`, batch `batch_size`); the critic-based objectives get their n_critic
critic updates each. G and D: 3×`width` ReLU MLPs, z ∈ ℝ². Metrics (VEEGAN's, `generative.metrics.mode_stats`) on
2,500 samples per run, over `seeds` judged seeds (`derive_seed(--seed, "judge", seed_offset, i)`; paired: a seed
draws the data and every arm's initialisation).

Protocol for the learning rates: each arm's lr is its best from one stated grid — Adam {2e-4, 1e-3} (GAN,
LSGAN), {1e-4, 1e-3} (WGAN-GP), RMSProp {5e-5, 5e-4} (WGAN) — picked on tuning seed 9200 (never judged) on the
grid mixture by the final high-quality share, then modes covered, after 2,000 updates (batch 256, width 64):
GAN 2e-4: 3 modes, 0 % / 1e-3: 19 modes, 3 %; LSGAN 2e-4: 14, 1 % / 1e-3: 14, 13 %; WGAN 5e-5: 11, 2 % /
5e-4: 24, 2 %; WGAN-GP 1e-4: 16, 2 % / 1e-3: 15, 2 % (`lr_*` fields hold the picks).
Quick budget: the claim's two arms (GAN and the challenger) on both mixtures, `steps` updates — a quick run must
fit ~90 s of CPU on an idle 2-core machine, and one WGAN-GP update (5 critic steps with the penalty's double
backward) costs ~5× a GAN update; LSGAN and WGAN join in `full` (and with `--set objectives=...`).
Thresholds (margin, target_modes, target_high_quality) are PacGAN4's row, fixed before the first run.

Published rows (VEEGAN Table 1; PacGAN Table 1, 10 trials): shown beside ours in the metrics and the figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from mllab.core import figures
from mllab.core.config import Config, at_least, nonempty, positive
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.generative.data import make_mixture
from mllab.generative.metrics import mode_stats
from mllab.generative.objectives import OBJECTIVES, make_objective
from mllab.models.gan import MLPCritic, MLPGenerator
from mllab.train.adversarial import fit_adversarial

# (modes covered, high-quality %, reverse KL) as published; None where the table has no number
PUBLISHED = {
    "ring": {"GAN (VEEGAN T1)": (1, 99.3, None), "VEEGAN": (8, 52.9, None),
             "GAN (PacGAN T1)": (6.3, 98.2, 0.45), "PacGAN4": (7.8, 95.9, 0.07)},
    "grid": {"GAN (VEEGAN T1)": (3.3, 0.5, None), "VEEGAN": (24.6, 40.0, None),
             "GAN (PacGAN T1)": (17.3, 94.8, 0.70), "PacGAN4": (24.8, 93.6, 0.04)},
}
NAMES = {"gan": "GAN", "lsgan": "LSGAN", "wgan": "WGAN (clip)", "wgan-gp": "WGAN-GP"}


@dataclass
class ModeCollapseConfig(Config):
    seeds: int = 3
    """judged seeds (paired: one seed draws the data and every arm's initialisation)"""
    steps: int = 800
    """generator updates per run (the equal budget)"""
    batch_size: int = 256
    """samples per critic and generator update"""
    width: int = 64
    """hidden units of each of the 3 layers of G and D"""
    lr_gan: float = 1e-3
    """GAN's Adam learning rate (picked on tuning seed 9200 from {2e-4, 1e-3})"""
    lr_lsgan: float = 1e-3
    """LSGAN's Adam learning rate (picked on tuning seed 9200 from {2e-4, 1e-3})"""
    lr_wgan: float = 5e-4
    """WGAN's RMSProp learning rate (picked on tuning seed 9200 from {5e-5, 5e-4})"""
    lr_wgan_gp: float = 1e-4
    """WGAN-GP's Adam learning rate (picked on tuning seed 9200 from {1e-4, 1e-3})"""
    mixtures: tuple[str, ...] = ("ring", "grid")
    """the mixtures run: ring (8 modes) and/or grid (25 modes)"""
    objectives: tuple[str, ...] = ("gan", "wgan-gp")
    """the objectives compared in the table (quick: the claim's two; full: all four)"""
    challenger: Literal["gan", "lsgan", "wgan", "wgan-gp"] = "wgan-gp"
    """the objective claimed more stable (the negative control sets gan: GAN against itself)"""
    margin: float = 0.0
    """the claim: the challenger covers more modes than GAN by more than this (per seed, paired)"""
    target_modes: float = 24.8
    """the claim: the challenger's mean grid modes reach PacGAN4's 24.8 of 25"""
    target_high_quality: float = 0.936
    """the claim: the challenger's mean grid high-quality share reaches PacGAN4's 93.6 %"""
    n_critic: int = 5
    """critic updates per generator update of WGAN and WGAN-GP (their papers' 5; GAN and LSGAN: 1)"""
    penalty_weight: float = 10.0
    """WGAN-GP's gradient-penalty weight λ (the paper's 10)"""
    latent_dim: int = 2
    """size of the generator's input z ~ N(0, I)"""
    eval_samples: int = 2500
    """generated samples scored per run (VEEGAN/PacGAN: 2,500)"""
    seed_offset: int = 2000
    """names the judged seeds' stream: derive_seed(--seed, "judge", seed_offset, i) (63-bit; never the tuning seed)"""

    rules: ClassVar[dict] = {
        "seeds": at_least(1), "steps": at_least(1), "batch_size": at_least(1), "width": at_least(1), "lr_gan": positive,
        "lr_lsgan": positive, "lr_wgan": positive, "lr_wgan_gp": positive,
        "mixtures": nonempty, "objectives": nonempty, "margin": at_least(0), "target_modes": positive,
        "target_high_quality": positive, "n_critic": at_least(1), "penalty_weight": at_least(0),
        "latent_dim": at_least(1), "eval_samples": at_least(10), "seed_offset": at_least(0),
    }
    thresholds: ClassVar[tuple[str, ...]] = ("target_high_quality",)
    profiles: ClassVar[dict] = {"smoke": {"seeds": 2, "steps": 4, "width": 16, "eval_samples": 200,
                                          "objectives": ("gan", "wgan-gp")},
                                "full": {"seeds": 10, "steps": 20000, "width": 256,
                                         "objectives": ("gan", "lsgan", "wgan", "wgan-gp")}}

    def validate(self) -> None:
        super().validate()
        from mllab.core.errors import BadInput
        from mllab.generative.data import MIXTURES

        for name in self.objectives:
            if name not in OBJECTIVES:
                raise BadInput(f"--set objectives: unknown objective {name!r}; choose from {', '.join(OBJECTIVES)}")
        for name in self.mixtures:
            if name not in MIXTURES:
                raise BadInput(f"--set mixtures: unknown mixture {name!r}; choose from {', '.join(MIXTURES)}")
        if "gan" not in self.objectives or self.challenger not in self.objectives:
            raise BadInput(f"--set objectives: must include gan and the challenger {self.challenger}")


def mean_se(values: list[float]) -> tuple[float, float]:
    """(mean, standard error) over seeds; inf when any value is (a reverse KL with no high-quality sample)."""
    if not np.all(np.isfinite(values)):
        return float("inf"), 0.0
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(np.mean(values)), se


def train_one(objective_name: str, mixture, seed: int, cfg: ModeCollapseConfig, keep: list | None) -> dict:
    """One run: G and D from `seed`, trained `steps` updates; VEEGAN's metrics at 4 points (samples kept in `keep`)."""
    torch.manual_seed(seed)
    generator = MLPGenerator(cfg.latent_dim, 2, width=cfg.width, depth=3)
    critic = MLPCritic(2, width=cfg.width, depth=3)
    objective = make_objective(objective_name, **({"penalty_weight": cfg.penalty_weight}
                                                  if objective_name == "wgan-gp" else {}))
    n_critic = cfg.n_critic if objective_name in ("wgan", "wgan-gp") else 1
    lr = {"gan": cfg.lr_gan, "lsgan": cfg.lr_lsgan, "wgan": cfg.lr_wgan, "wgan-gp": cfg.lr_wgan_gp}[objective_name]
    data = mixture.sample(max(20000, cfg.batch_size), torch.Generator().manual_seed(seed))  # (N, 2)
    z_generator = torch.Generator().manual_seed(derive_seed(seed, "z"))  # the readings' z, apart from training's
    z_eval = torch.randn(cfg.eval_samples, cfg.latent_dim, generator=z_generator)

    def evaluate(g, d):
        samples = g(z_eval)  # (eval_samples, 2)
        if keep is not None:
            keep.append(samples.numpy())
        return mode_stats(samples, mixture.means, mixture.sigma).as_dict()

    state = fit_adversarial(generator, critic, objective, data, steps=cfg.steps, batch_size=cfg.batch_size, seed=seed,
                            n_critic=n_critic,
                            generator_optimizer=objective.make_optimizer(generator.parameters(), lr),
                            critic_optimizer=objective.make_optimizer(critic.parameters(), lr),
                            evaluate=evaluate, log_every=max(cfg.steps // 4, 1))
    return state.history[-1] | {"history": state.history}


@experiment("mode-collapse", section="generative",
            claim="On VEEGAN's ring of 8 and grid of 25 Gaussians, {challenger} covers more modes than the standard "
                  "GAN (by more than {margin}, paired over seeds) and reaches PacGAN4's published grid row "
                  "({target_modes} of 25 modes, {target_high_quality:.1%} high-quality samples).",
            negative_control=NegativeControl(
                overrides=("challenger=gan",), fails=("ring: challenger covers more modes than GAN",
                                                      "grid: challenger covers more modes than GAN"),
                why="GAN against itself: every per-seed difference is zero"))
def mode_collapse(run: Run, cfg: ModeCollapseConfig) -> None:
    """Every objective on each mixture over judged seeds; one table beside VEEGAN's and PacGAN's rows."""
    start, cpu = time.perf_counter(), time.process_time()
    seeds = [derive_seed(run.seed, "judge", cfg.seed_offset, i) for i in range(cfg.seeds)]
    results = {m: {o: [] for o in cfg.objectives} for m in cfg.mixtures}
    snapshots = {o: [] for o in cfg.objectives}  # grid (or the last mixture), first seed: samples at each log point
    shown = "grid" if "grid" in cfg.mixtures else cfg.mixtures[-1]
    bar = run.progress(total=len(cfg.mixtures) * len(seeds) * len(cfg.objectives), desc="mode-collapse")
    for m in cfg.mixtures:
        mixture = make_mixture(m)
        for i, seed in enumerate(seeds):
            for o in cfg.objectives:
                keep = snapshots[o] if (m == shown and i == 0) else None
                row = train_one(o, mixture, seed, cfg, keep)
                results[m][o].append(row)
                run.log_metrics(mixture=m, objective=o, seed=seed, **{k: v for k, v in row.items() if k != "history"})
                bar.update(1)
    bar.close()

    table = {m: {NAMES[o]: {k: mean_se([r[k] for r in rows]) for k in ("modes_covered", "high_quality", "reverse_kl")}
                 for o, rows in results[m].items()} for m in cfg.mixtures}
    run.metric("table", table)
    run.metric("published", PUBLISHED)
    label = NAMES[cfg.challenger]
    for m in cfg.mixtures:
        modes = {o: [r["modes_covered"] for r in rows] for o, rows in results[m].items()}
        run.compare(f"{m}: challenger covers more modes than GAN", modes[cfg.challenger], modes["gan"],
                    margin=cfg.margin, better="higher", labels=(label, "GAN"))
    if "grid" in cfg.mixtures:
        grid = table["grid"][label]
        run.check("grid: challenger reaches PacGAN4's row",
                  grid["modes_covered"][0] >= cfg.target_modes and grid["high_quality"][0] >= cfg.target_high_quality,
                  observed=f"{label}: {grid['modes_covered'][0]:.1f} ± {grid['modes_covered'][1]:.1f} modes, "
                           f"{grid['high_quality'][0]:.1%} ± {grid['high_quality'][1]:.1%} high quality, reverse KL "
                           f"{grid['reverse_kl'][0]:.2f} (PacGAN4: 24.8 modes, 93.6 %, 0.04)",
                  expected=f">= {cfg.target_modes} modes and >= {cfg.target_high_quality:.1%} high quality")
    run.metric("seconds_cpu", time.process_time() - cpu)
    run.metric("seconds_wall", time.perf_counter() - start)
    draw_samples(run, cfg, snapshots, make_mixture(shown), results[shown])
    draw_table(run, cfg, table)


def draw_samples(run: Run, cfg: ModeCollapseConfig, snapshots: dict, mixture, rows: dict) -> None:
    """Rows: objectives; columns: samples at the logging points of the first seed's run."""
    columns = max(len(s) for s in snapshots.values())
    steps = [r["step"] for r in rows[cfg.objectives[0]][0]["history"]]
    fig, axes = figures.subplots(len(snapshots), columns, panel=(2.6, 2.4))
    limit = float(mixture.means.abs().max()) * 1.5 + 0.5
    for i, (o, shots) in enumerate(snapshots.items()):
        for j, samples in enumerate(shots):
            ax = axes[i * columns + j]
            ax.scatter(samples[:, 0], samples[:, 1], s=1, color=figures.SERIES[i % len(figures.SERIES)], alpha=0.4)
            ax.scatter(mixture.means[:, 0], mixture.means[:, 1], s=12, marker="x", color=figures.BASELINE)
            ax.set(xlim=(-limit, limit), ylim=(-limit, limit), title=f"{NAMES[o]}, step {steps[j]}",
                   xlabel="$x_1$", ylabel="$x_2$")
    run.figure("samples", fig)


def draw_table(run: Run, cfg: ModeCollapseConfig, table: dict) -> None:
    """Modes covered and high-quality share per method: ours (mean ± SE over seeds) beside the published rows."""
    fig, axes = figures.subplots(len(table), 2, panel=(5.2, 3.2))
    for r, (m, ours) in enumerate(table.items()):
        labels = list(ours) + list(PUBLISHED[m])
        for c, (key, index, unit) in enumerate((("modes_covered", 0, "modes"), ("high_quality", 1, "%"))):
            ax = axes[2 * r + c]
            values = [ours[n][key][0] * (100 if key == "high_quality" else 1) for n in ours]
            errors = [ours[n][key][1] * (100 if key == "high_quality" else 1) for n in ours]
            values += [PUBLISHED[m][n][index] for n in PUBLISHED[m]]
            errors += [0.0] * len(PUBLISHED[m])
            colors = [figures.SERIES[i] for i in range(len(ours))] + [figures.BASELINE] * len(PUBLISHED[m])
            y = np.arange(len(labels))
            ax.barh(y, values, xerr=errors, color=colors)
            ax.set_yticks(y, labels)
            ax.invert_yaxis()
            total = 8 if m == "ring" else 25
            ax.set(title=f"{m}: {'modes covered (of ' + str(total) + ')' if c == 0 else 'high-quality samples'}",
                   xlabel=f"{unit} (ours: {cfg.seeds} seeds ± SE; grey: published)", ylabel="method")
    run.figure("table", fig)
