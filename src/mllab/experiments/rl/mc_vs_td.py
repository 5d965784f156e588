"""mc-vs-td: on the 5-state random walk TD(0) learns faster than constant-α Monte Carlo (Sutton & Barto
Example 6.2, Figure 6.2, batch updating §6.3, Example 6.4).

    TD(0):  V(S_t) ← V(S_t) + α [R_{t+1} + γ V(S_{t+1}) − V(S_t)]
    MC:     V(S_t) ← V(S_t) + α [G_t − V(S_t)]

A *seed* is a group of `runs_per_seed` independent runs (each its own episodes, shared by both methods:
paired); its value is the runs' mean RMS error. Each method runs at its best α from its grid, picked by the
mean RMS error over all episodes on the tuning seeds (`tuning_seeds`, never judged); judged seeds are
`derive_seed(--seed, "judge", i)` (`experiments.rl.judged_seeds`: never a tuning seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.experiments.rl import judged_seeds
from mllab.rl import prediction


@dataclass
class McVsTdConfig(Config):
    seeds: int = 5
    """judged seeds (each a group of runs_per_seed runs; compared paired)"""
    runs_per_seed: int = 20
    """independent runs per seed, each on its own episodes"""
    episodes: int = 100
    """episodes per run"""
    early_episodes: int = 10
    """the claim's 'early': the mean RMS error over the first this many episodes"""
    margin: float = 0.01
    """the claim: TD's RMS error is below MC's by more than this"""
    td_alphas: tuple[float, ...] = (0.05, 0.1, 0.15)
    """constant step sizes α of TD(0)"""
    mc_alphas: tuple[float, ...] = (0.01, 0.02, 0.03, 0.04)
    """constant step sizes α of Monte Carlo"""
    challenger: Literal["td", "mc"] = "td"
    """the method claimed better (td; the negative control sets mc: MC against itself)"""
    tuning_seeds: tuple[int, ...] = (0, 1)
    """seeds on which each method's α is picked (never judged)"""

    rules: ClassVar[dict] = {
        "seeds": at_least(1), "runs_per_seed": at_least(1), "episodes": at_least(1), "early_episodes": at_least(1),
        "margin": at_least(0), "td_alphas": (nonempty, in_range(0, 1, closed=False)),
        "mc_alphas": (nonempty, in_range(0, 1, closed=False)),
        "tuning_seeds": (nonempty, at_least(0)),
    }
    profiles: ClassVar[dict] = {
        "smoke": {"seeds": 2, "runs_per_seed": 2, "episodes": 10, "early_episodes": 5},
        "full": {"seeds": 10, "runs_per_seed": 100},
    }

    def validate(self) -> None:
        super().validate()
        if self.early_episodes > self.episodes:
            raise BadInput(f"--set early_episodes: must be <= episodes ({self.episodes}), got {self.early_episodes}")


def draw_episodes(seed: int, cfg: McVsTdConfig) -> list[list[prediction.Episode]]:
    """runs_per_seed runs × episodes random-walk episodes from one seed."""
    rng = np.random.default_rng(seed)
    return [[prediction.random_walk_episode(rng) for _ in range(cfg.episodes)] for _ in range(cfg.runs_per_seed)]


@experiment("mc-vs-td", section="rl",
            claim="On the 5-state random walk TD(0)'s RMS error is lower than constant-α Monte Carlo's by more than "
                  "{margin} (each at its best α, paired over seeds): early (mean over the first {early_episodes} "
                  "episodes), at the end of online learning and under batch updating.",
            negative_control=NegativeControl(
                overrides=("challenger=mc",),
                fails=("early: TD's RMS error below MC's", "online, final: TD's RMS error below MC's",
                       "batch, final: TD's RMS error below MC's"),
                why="MC against itself: every per-seed difference is zero"))
def mc_vs_td(run: Run, cfg: McVsTdConfig) -> None:
    """Figure 6.2 over judged seeds: online TD vs MC at their best α, batch TD vs MC; Example 6.4 as sanity."""
    arms = {"td": cfg.td_alphas, "mc": cfg.mc_alphas}
    challenger, baseline = (cfg.challenger, "mc")
    # Pick each method's α on the tuning seeds: lowest mean RMS error over all episodes (area under the curve).
    tuning = [run_episodes for s in cfg.tuning_seeds for run_episodes in draw_episodes(s, cfg)]
    best = {m: min(alphas, key=lambda a: prediction.online_rms_curves(tuning, m, a)[:, 1:].mean())
            for m, alphas in arms.items()}
    run.metric("best_alpha", best)

    seeds = judged_seeds(run.seed, cfg.seeds, cfg.tuning_seeds)
    online = {m: [] for m in arms}  # per seed: (1 + episodes,) mean curve over its runs
    batch = {m: [] for m in arms}  # per seed: (episodes,)
    for seed in run.progress(seeds, desc="mc-vs-td"):
        episodes = draw_episodes(seed, cfg)
        for m in arms:
            online[m].append(prediction.online_rms_curves(episodes, m, best[m]).mean(0))
            batch[m].append(prediction.batch_rms_curves(episodes, m).mean(0))
    online = {m: np.stack(c) for m, c in online.items()}  # (seeds, 1 + episodes)
    batch = {m: np.stack(c) for m, c in batch.items()}  # (seeds, episodes)
    for i, seed in enumerate(seeds):
        run.log_metrics(seed=seed, **{f"online_{m}": online[m][i] for m in arms}, **{f"batch_{m}": batch[m][i]
                                                                                      for m in arms})

    name = {"td": "TD", "mc": "MC"}
    labels = (f"{name[challenger]} α={best[challenger]}", f"{name[baseline]} α={best[baseline]}")
    early = slice(1, cfg.early_episodes + 1)  # after episodes 1..k
    run.compare("early: TD's RMS error below MC's", online[challenger][:, early].mean(1),
                online[baseline][:, early].mean(1), margin=cfg.margin, better="lower", labels=labels)
    run.compare("online, final: TD's RMS error below MC's", online[challenger][:, -1], online[baseline][:, -1],
                margin=cfg.margin, better="lower", labels=labels)
    run.compare("batch, final: TD's RMS error below MC's", batch[challenger][:, -1], batch[baseline][:, -1],
                margin=cfg.margin, better="lower", labels=(f"batch {name[challenger]}", f"batch {name[baseline]}"))

    example = prediction.example_6_4_episodes()
    mc_values = prediction.batch_values(example, "mc", np.zeros(3), alpha=1.0)
    td_values = prediction.batch_values(example, "td", np.zeros(3), alpha=0.5)
    run.metric("example_6_4", {"mc": mc_values[:2], "td": td_values[:2]})
    run.check("Example 6.4: batch MC gives V(A) = 0 and batch TD gives V(A) = 3/4",
              abs(mc_values[0]) < 1e-4 and abs(td_values[0] - 0.75) < 1e-4 and abs(mc_values[1] - 0.75) < 1e-4,
              observed=f"MC V(A)={mc_values[0]:.5f} V(B)={mc_values[1]:.5f}; TD V(A)={td_values[0]:.5f} "
                       f"V(B)={td_values[1]:.5f}", expected="MC V(A)=0, TD V(A)=0.75, both V(B)=0.75", kind="sanity")
    draw(run, cfg, online, batch, best, challenger, baseline)


def draw(run: Run, cfg: McVsTdConfig, online: dict, batch: dict, best: dict, challenger: str, baseline: str) -> None:
    """Left: TD(0)'s estimates on one run (Example 6.2); middle: online RMS curves; right: batch curves."""
    fig, axes = figures.subplots(1, 3, panel=(4.6, 3.6))
    values = prediction.random_walk_initial_values()
    shown = {0: values.copy()}
    for k, episode in enumerate(draw_episodes(derive_seed(run.seed, "figure"), cfg)[0], start=1):
        prediction.td_update(values, episode, 0.1)
        shown[k] = values.copy()
    states = list(prediction.RANDOM_WALK_STATES)
    for color, k in zip(figures.SERIES, (0, 1, 10, 100)):
        if k in shown:
            axes[0].plot(states, shown[k][1:-1], marker="o", color=color, label=f"after {k} episodes")
    axes[0].plot(states, prediction.RANDOM_WALK_TRUE_VALUES, "--", color=figures.BASELINE, label="true values")
    axes[0].set(title=r"TD(0), $\alpha$ = 0.1, one run", xlabel="state", ylabel=r"estimate $V(s)$")
    figures.legend_below(axes[0], ncol=2)
    name = {"td": "TD(0)", "mc": "MC"}
    for ax, curves, offset, kind in ((axes[1], online, 0, "online"), (axes[2], batch, 1, "batch")):
        for color, method in ((figures.SERIES[0], challenger), (figures.BASELINE, baseline)):
            mean = curves[method].mean(0)
            se = curves[method].std(0, ddof=1) / np.sqrt(len(curves[method])) if len(curves[method]) > 1 else 0 * mean
            x = np.arange(offset, offset + mean.size)
            alpha_text = rf", $\alpha$ = {best[method]}" if kind == "online" else ""
            ax.plot(x, mean, color=color, label=f"{name[method]}{alpha_text}")
            ax.fill_between(x, mean - se, mean + se, color=color, alpha=0.25, linewidth=0)
        if kind == "online":
            ax.axvspan(0, cfg.early_episodes, color=figures.BASELINE, alpha=0.12, label="'early' window")
        ax.set(title=f"{kind} RMS error ({len(curves[challenger])} seeds ± SE)", xlabel="episodes",
               ylabel="RMS error over states A–E")
        figures.legend_below(ax, ncol=1)
    run.figure("random-walk", fig)
