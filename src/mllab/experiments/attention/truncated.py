"""truncated-attention: attention limited to ±w (as in speech) loses nothing when the dependency fits the
window, and costs O(n·w) instead of O(n²) on long inputs.

Accuracy: one-block taggers with a relative-position bias, full attention vs truncated to ±w (the banded
path), the same data and budget (Adam lr 0.01, `epochs`; set on tuning seed 1000; judged seeds
`derive_seed(--seed, "judge", k)`):
- local task (label = the left neighbour's value, distance 1 ≤ w): truncated within `tolerance` of full;
- long-range task (distance_task with d > w): truncated at chance, full far above.
Cost: one forward + backward of a single attention head (B = 1, d = 32) at lengths n: full attention written
out (it materialises α, n × n) vs the banded path; wall time (best of `repeats`) and the bytes autograd saves
for backward (the activation memory; counted with `saved_tensors_hooks`, exact and load-independent).
Claim: log-log slopes ≈ 2 for full (≥ `full_slope`) and ≈ 1 for truncated (≤ `truncated_slope`), fitted
over the lengths. Fused SDPA is timed too, for reference (its kernel never stores α, but its time is O(n²)).
Negative control: window = 0, smaller than the local task's dependency (1): truncation now loses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.ticker import NullFormatter

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, positive
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data.sequences import distance_task, local_task
from mllab.experiments.attention.common import accuracy, train_tagger
from mllab.layers.attention import attend, banded_attention, window_allowed
from mllab.models.taggers import AttentionTagger


@dataclass
class TruncatedConfig(Config):
    length: int = 32
    """sequence length of the accuracy tasks"""
    window: int = 2
    """w: truncated attention sees |i − j| ≤ w"""
    train_size: int = 800
    """training sequences per seed and task"""
    test_size: int = 500
    """test sequences per seed and task"""
    epochs: int = 8
    """epochs for every model"""
    lr: float = 0.01
    """Adam learning rate"""
    width: int = 32
    """attention width D (2 heads, one block)"""
    lengths: tuple[int, ...] = (256, 512, 1024, 2048, 4096)
    """lengths n of the cost measurement (increasing)"""
    cost_window: int = 16
    """w of the cost measurement"""
    repeats: int = 3
    """timing repeats per length (best kept)"""
    tolerance: float = 0.03
    """the claim: on the local task, truncated accuracy is within this of full attention's"""
    chance_tolerance: float = 0.06
    """the claim: on the long-range task, truncated accuracy is at most 1/C + this"""
    full_slope: float = 1.6
    """the claim: full attention's log-log slopes of time and memory against n are at least this"""
    truncated_slope: float = 1.25
    """the claim: truncated attention's slopes are at most this"""
    seeds: int = 3
    """judged seeds"""

    thresholds: ClassVar[tuple[str, ...]] = ("chance_tolerance",)
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"length": 12, "train_size": 150, "test_size": 100, "epochs": 2, "seeds": 2,
                  "lengths": (64, 128, 256), "repeats": 1},
        "full": {"lengths": (256, 512, 1024, 2048, 4096, 8192), "seeds": 5, "train_size": 3000, "epochs": 15},
    }
    rules: ClassVar[dict] = {"length": at_least(4), "window": at_least(0), "train_size": at_least(1),
                             "test_size": at_least(1), "epochs": at_least(1), "lr": positive, "width": at_least(2),
                             "lengths": at_least(2), "cost_window": at_least(0), "repeats": at_least(1),
                             "tolerance": in_range(0, 1), "chance_tolerance": in_range(0, 1),
                             "full_slope": positive, "truncated_slope": positive, "seeds": at_least(1)}


@experiment("truncated-attention", section="attention",
            claim="Attention truncated to ±{window} loses nothing when the dependency fits the window (within "
                  "{tolerance:.0%} of full attention) and is at chance beyond it; one forward+backward costs O(n·w): "
                  "log-log slopes of time and memory against n ≥ {full_slope:g} for full attention, ≤ "
                  "{truncated_slope:g} for truncated.",
            negative_control=NegativeControl(
                overrides=("window=0",),
                fails=("truncated attention loses nothing on the local task",),
                why="a window of 0 is smaller than the local task's dependency (distance 1)"))
def truncated_attention(run: Run, cfg: TruncatedConfig) -> None:
    """Accuracy of full vs truncated attention on a local and a long-range task; cost against length."""
    w = cfg.window
    local = {"full": [], "truncated": []}
    far = {"full": [], "truncated": []}
    for k in run.progress(range(cfg.seeds), desc="seeds"):
        seed = derive_seed(run.seed, "judge", k)  # both arms' initialisation in repeat k
        order = seed % 2**32  # TensorLoader multiplies its seed: 32 bits
        data = {(task, split): derive_seed(run.seed, "judge", k, task, split)  # one stream per task and split
                for task in ("local", "far") for split in ("train", "test")}
        tasks = {
            "local": (local_task(cfg.train_size, cfg.length, seed=data["local", "train"]),
                      local_task(cfg.test_size, cfg.length, seed=data["local", "test"]), local),
            "far": (distance_task(cfg.train_size, cfg.length, min_distance=min(w + 1, cfg.length - 1),
                                  seed=data["far", "train"]),
                    distance_task(cfg.test_size, cfg.length, min_distance=min(w + 1, cfg.length - 1),
                                  seed=data["far", "test"]), far)}
        for train, test, store in tasks.values():
            for arm in ("full", "truncated"):
                torch.manual_seed(seed)
                model = AttentionTagger(train.vocab, train.classes, width=cfg.width, heads=2, depth=1,
                                        positional="relative", max_len=cfg.length,
                                        window=w if arm == "truncated" else None)
                train_tagger(model, train, epochs=cfg.epochs, lr=cfg.lr, batch_size=32, seed=order, device=run.device)
                store[arm].append(float(np.nanmean(accuracy(model, test, run.device).numpy())))
    chance = 1 / 4
    run.metric("local_accuracy", local)
    run.metric("far_accuracy", far)
    run.compare("truncated attention loses nothing on the local task", local["truncated"], local["full"],
                margin=-cfg.tolerance, better="higher", labels=(f"truncated ±{w}", "full"))
    truncated_far = float(np.mean(far["truncated"]))
    run.check("truncated attention is at chance beyond its window", truncated_far <= chance + cfg.chance_tolerance,
              observed=f"long-range accuracy {truncated_far:.3f} truncated vs {np.mean(far['full']):.3f} full "
                       f"(chance {chance:.2f})", expected=f"<= {chance + cfg.chance_tolerance:.3f}")

    cost = _cost(run, cfg)
    difference = cost.pop("max_difference")[0]
    n = np.array(cfg.lengths, dtype=float)
    slopes = {key: float(np.polyfit(np.log(n), np.log(values), 1)[0]) for key, values in cost.items()}
    run.metric("cost", cost)
    run.metric("slopes", slopes)
    full_ok = slopes["full time"] >= cfg.full_slope and slopes["full memory"] >= cfg.full_slope
    trunc_ok = slopes["truncated time"] <= cfg.truncated_slope and slopes["truncated memory"] <= cfg.truncated_slope
    run.check("full attention costs O(n²)", full_ok,
              observed=f"slopes: time {slopes['full time']:.2f}, memory {slopes['full memory']:.2f}",
              expected=f">= {cfg.full_slope:g}")
    run.check("truncated attention costs O(n·w)", trunc_ok,
              observed=f"slopes: time {slopes['truncated time']:.2f}, memory {slopes['truncated memory']:.2f} "
                       f"(w = {cfg.cost_window}); SDPA time slope {slopes['sdpa time']:.2f}",
              expected=f"<= {cfg.truncated_slope:g}")
    run.check("banded path equals full attention with the window mask", difference <= 1e-4,
              observed=f"max |banded − masked full| = {difference:.1e} at n = {cfg.lengths[0]}, float32", expected="<= 1e-4",
              kind="sanity")
    _figure(run, cfg, local, far, cost, slopes, chance, full_ok, trunc_ok)


def _cost(run: Run, cfg: TruncatedConfig) -> dict[str, list[float]]:
    """Per length: seconds of one forward+backward (best of repeats) and bytes saved for backward."""
    out: dict[str, list[float]] = {k: [] for k in ("full time", "full memory", "truncated time", "truncated memory",
                                                   "sdpa time")}
    w = cfg.cost_window
    g = torch.Generator().manual_seed(run.seed)
    for i, n in enumerate(run.progress(cfg.lengths, desc="lengths")):
        q, k, v = (torch.randn(1, 1, n, 32, generator=g).to(run.device).requires_grad_(True) for _ in range(3))
        full = lambda: attend(q, k, v, window_allowed(n, w, device=q.device))[0]  # noqa: E731
        banded = lambda: banded_attention(q, k, v, w)  # noqa: E731
        sdpa = lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=window_allowed(n, w, device=q.device))  # noqa
        if i == 0:
            with torch.no_grad():
                out["max_difference"] = [float((full() - banded()).abs().max())]
        for name, fn in (("full", full), ("truncated", banded), ("sdpa", sdpa)):
            out[f"{name} time"].append(_best_time(fn, cfg.repeats, run.device))
            if name != "sdpa":
                out[f"{name} memory"].append(_saved_bytes(fn))
    return out


def _best_time(fn, repeats: int, device: torch.device) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def _saved_bytes(fn) -> float:
    """Bytes of the distinct tensors autograd saves for backward during one forward (activation memory)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    out.sum().backward()
    return float(sum(seen.values()))


def _figure(run: Run, cfg: TruncatedConfig, local, far, cost, slopes, chance: float, full_ok: bool,
            trunc_ok: bool) -> None:
    fig, axes = figures.subplots(1, 3, panel=(4.2, 3.6))
    ax = axes[0]
    x = np.arange(2)
    for j, (arm, color) in enumerate((("full", figures.BASELINE), ("truncated", figures.SERIES[0]))):
        means = [np.mean(local[arm]), np.mean(far[arm])]
        ax.bar(x + 0.38 * j, means, width=0.36, color=color, label=arm if arm == "full" else f"truncated ±{cfg.window}")
    ax.axhline(chance, color=figures.BASELINE, ls=":", label="chance (long-range)")
    ax.set_xticks(x + 0.19, ["local (d = 1)", f"long-range (d > {cfg.window})"])
    ax.set(title="accuracy (mean over seeds)", xlabel="task", ylabel="test accuracy (fraction)", ylim=(0, 1.05))
    figures.legend_below(ax, ncol=2)
    n = np.array(cfg.lengths)
    for ax, kind, unit in ((axes[1], "time", "seconds"), (axes[2], "memory", "bytes saved for backward")):
        ax.loglog(n, cost[f"full {kind}"], "o-", color=figures.BASELINE,
                  label=f"full (slope {slopes[f'full {kind}']:.2f})")
        ax.loglog(n, cost[f"truncated {kind}"], "s-", color=figures.verdict_color(trunc_ok),
                  label=f"truncated w={cfg.cost_window} (slope {slopes[f'truncated {kind}']:.2f})")
        if kind == "time":
            ax.loglog(n, cost["sdpa time"], "^--", color=figures.SERIES[1],
                      label=f"fused SDPA (slope {slopes['sdpa time']:.2f})")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(n, [str(v) for v in n])
        ax.set(title=f"one forward+backward: {kind}", xlabel=r"sequence length $n$ (tokens)", ylabel=unit)
        figures.legend_below(ax, ncol=1)
    run.figure("truncated_attention", fig)
