"""batch-size: from small batches to the full batch — time, accuracy and sharpness.

An MLP on digits is trained with `fit` (SGD with momentum, same η) for the same number of epochs at
each batch size, for several seeds. Measured:
- time per epoch (wall clock between epoch ends, from a callback) and per update;
- training and test accuracy after equal epochs;
- sharpness at the end: the top Hessian eigenvalue of the training loss (Lanczos) and Keskar's ε-box
  sharpness; and 1-D filter-normalised loss slices around the end points.
A separate timing sweep measures the time per update at batch sizes beyond the data set, to find where
a larger batch stops buying a shorter epoch on this machine (per-update time grows ∝ B there).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from mllab.analysis import (
    epsilon_sharpness,
    filter_normalized_direction,
    loss_slice,
    plot_slice_1d,
    top_eigenvalue,
)
from mllab.core.config import Config
from mllab.core.devices import torch_threads
from mllab.core.errors import BadInput
from mllab.core.registry import experiment
from mllab.core.run import Run
from mllab.data import TensorLoader, load_dataset
from mllab.metrics import accuracy
from mllab.models import MLP
from mllab.train import fit
from mllab.train.losses import cross_entropy_sum
from mllab.train.optimizers import SGDMomentum


@dataclass
class BatchSizeConfig(Config):
    batch_sizes: tuple[int, ...] = (32, 128, 512, 100000)
    """Batch sizes compared; a size above the training set means the full batch."""
    epochs: int = 40
    """Epochs at every batch size (equal epochs, so fewer updates for larger batches)."""
    lr: float = 0.1
    """η of SGD (the same at every batch size)."""
    momentum: float = 0.9
    """λ of SGD."""
    width: int = 32
    """Hidden width of the one-hidden-layer MLP."""
    seeds: int = 3
    """Seeds per batch size (claims are judged on the mean)."""
    timing_batch_sizes: tuple[int, ...] = (8, 32, 128, 512, 2048, 8192, 32768)
    """Batch sizes of the timing sweep."""
    timing_samples: int = 32768
    """Samples in one epoch of the timing sweep (epoch time = ⌈N/B⌉ × measured time per update)."""
    timing_updates: int = 15
    """Updates timed at each batch size of the sweep (the median is kept)."""
    timing_threads: int = 1
    """torch intra-op threads during the timing sweep (0: torch's default). One thread still runs a
    batch as vectorised (SIMD) matrix products; more threads move the stop point to larger batches."""
    landed_accuracy: float = 0.98
    """A run 'landed in a minimum' when its final training accuracy is at least this (sharpness is compared
    between the smallest batch and the largest batch that landed)."""
    stop_ratio: float = 0.9
    """A larger batch 'still pays' while its epoch takes < stop_ratio × the previous size's epoch."""

    profiles: ClassVar[dict] = {
        "smoke": {"batch_sizes": (128, 100000), "epochs": 2, "seeds": 1, "timing_batch_sizes": (32, 256, 2048),
                  "timing_samples": 2048, "timing_updates": 5},
        "full": {"batch_sizes": (8, 32, 128, 512, 100000), "epochs": 100, "seeds": 10, "width": 128,
                 "timing_batch_sizes": (8, 32, 128, 512, 2048, 8192, 32768, 131072), "timing_samples": 131072,
                 "timing_updates": 30},
    }

    def validate(self) -> None:
        super().validate()
        for name in ("batch_sizes", "timing_batch_sizes"):
            sizes = getattr(self, name)
            if len(sizes) < 2 or any(b < 1 for b in sizes) or list(sizes) != sorted(set(sizes)):
                raise BadInput(f"--set {name}: give at least two increasing sizes >= 1, e.g. 16,64,256")
        if self.timing_threads < 0:
            raise BadInput(f"--set timing_threads: must be >= 0 (0: torch's default), got {self.timing_threads}")
        if not 0 < self.stop_ratio <= 1:
            raise BadInput(f"--set stop_ratio: must lie in (0, 1], got {self.stop_ratio}")




class EpochTimer:
    """fit callback: wall-clock seconds of every epoch and of every update."""

    def __init__(self) -> None:
        self.epoch_seconds: list[float] = []
        self.update_seconds: list[float] = []
        self._epoch_start = self._step_start = time.perf_counter()

    def on_step_end(self, state, model) -> None:
        now = time.perf_counter()
        self.update_seconds.append(now - self._step_start)
        self._step_start = now

    def on_epoch_end(self, state, model) -> None:
        now = time.perf_counter()
        self.epoch_seconds.append(now - self._epoch_start)
        self._epoch_start = self._step_start = now


@experiment("batch-size", section="optimization",
            claim="Small batches reach higher test accuracy than large ones after equal epochs; large batches land "
                  "in sharper minima; a larger batch takes less time per epoch (parallelism) up to a point.")
def batch_size(run: Run, cfg: BatchSizeConfig) -> None:
    """Equal epochs at each batch size: time, accuracy, sharpness; then a timing sweep."""
    data = load_dataset("digits", seed=run.seed, device=run.device)
    n_train = len(data.train)
    sizes = sorted({min(b, n_train) for b in cfg.batch_sizes})
    results: dict[int, list[dict]] = {b: [] for b in sizes}
    end_models = {}
    for b in sizes:
        for seed in range(cfg.seeds):
            with torch_threads(1):  # the timing sweep below measures parallelism; these runs need none
                result, model = _train(run, cfg, data, b, run.seed * 100 + seed)
            results[b].append(result)
            run.log_metrics(batch_size=b, seed=seed, **result)
            end_models.setdefault(b, model)
    mean = {b: {k: float(np.mean([r[k] for r in rs])) for k in rs[0]} for b, rs in results.items()}
    spread = {b: {k: float(np.std([r[k] for r in rs])) for k in rs[0]} for b, rs in results.items()}
    run.metric("by_batch_size", mean)
    small, large = sizes[0], sizes[-1]
    run.check("small batch: higher test accuracy after equal epochs",
              mean[small]["test_accuracy"] > mean[large]["test_accuracy"],
              observed=f"test accuracy B={small}: {mean[small]['test_accuracy']:.3f} ± {spread[small]['test_accuracy']:.3f}, "
                       f"B={large}: {mean[large]['test_accuracy']:.3f} ± {spread[large]['test_accuracy']:.3f} "
                       f"(train {mean[small]['train_accuracy']:.3f} vs {mean[large]['train_accuracy']:.3f}; "
                       f"{cfg.epochs} epochs, {cfg.seeds} seeds)",
              expected="higher mean test accuracy at the smallest batch")
    landed = [b for b in sizes if mean[b]["train_accuracy"] >= cfg.landed_accuracy]
    sharp = max(landed) if landed else large
    sharpness = ", ".join(f"B={b}: {mean[b]['top_eigenvalue']:.3g} ± {spread[b]['top_eigenvalue']:.2g} "
                          f"(ε: {mean[b]['epsilon_sharpness']:.3g}%, train acc {mean[b]['train_accuracy']:.3f})" for b in sizes)
    run.check("large batch: sharper minimum (top Hessian eigenvalue)",
              sharp > small and mean[sharp]["top_eigenvalue"] > mean[small]["top_eigenvalue"],
              observed=f"λ_max {sharpness}; batches that landed (train acc ≥ {cfg.landed_accuracy:g}): {landed}",
              expected=f"larger mean λ_max at the largest batch that landed than at B={small}")

    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.timing_threads or threads_before)
    try:
        threads = torch.get_num_threads()
        sweep = _timing_sweep(run, cfg)
    finally:
        torch.set_num_threads(threads_before)
    epoch_times = [sweep[b]["epoch_seconds"] for b in cfg.timing_batch_sizes]
    stop = next((b for b, t, t_next in zip(cfg.timing_batch_sizes, epoch_times, epoch_times[1:])
                 if t_next >= cfg.stop_ratio * t), None)
    run.metric("timing_sweep", sweep)
    run.metric("epoch_time_stops_falling_at", stop)
    first = cfg.timing_batch_sizes[0]
    described = ", ".join(f"B={b}: {sweep[b]['epoch_seconds'] * 1e3:.0f} ms/epoch, {sweep[b]['update_seconds'] * 1e3:.2f} ms/update"
                          for b in cfg.timing_batch_sizes)
    run.check("larger batch: less time per epoch, up to a point", stop is not None and stop > first,
              observed=f"epoch time stops falling at B={stop} (next size's epoch ≥ {cfg.stop_ratio:g}× as long); "
                       f"{described}; epoch of {cfg.timing_samples} samples = ⌈N/B⌉ × median time per update; "
                       f"{threads} torch thread(s)",
              expected="epoch time falls from the smallest batch, then stops falling at some tested B")
    _figures(run, cfg, data, sizes, results, mean, sweep, stop, end_models)


def _train(run: Run, cfg: BatchSizeConfig, data, b: int, seed: int) -> tuple[dict, nn.Module]:
    torch.manual_seed(seed)
    model = MLP(64, 10, width=cfg.width, depth=1).to(run.device)
    loader = TensorLoader((data.train.x, data.train.y), b, seed=seed)
    timer = EpochTimer()
    fit(model, cross_entropy_sum, loader, SGDMomentum(model.parameters(), lr=cfg.lr, momentum=cfg.momentum),
        epochs=cfg.epochs, callbacks=[timer])
    model.eval()
    train = [(data.train.x, data.train.y)]
    epoch_seconds = float(np.median(timer.epoch_seconds))
    return {
        "epoch_seconds": epoch_seconds,
        "update_seconds": epoch_seconds / len(loader),
        "updates": cfg.epochs * len(loader),
        "train_accuracy": accuracy(model, data.train.x, data.train.y),
        "test_accuracy": accuracy(model, data.test.x, data.test.y),
        "train_loss": float(cross_entropy_sum(model, train[0])[0].detach()) / len(data.train),
        "top_eigenvalue": top_eigenvalue(model, cross_entropy_sum, train, tol=1e-3, max_iter=40, seed=seed),
        "epsilon_sharpness": epsilon_sharpness(model, cross_entropy_sum, train, 1e-3, steps=10, seed=seed),
    }, model


def _timing_sweep(run: Run, cfg: BatchSizeConfig) -> dict[int, dict[str, float]]:
    """Median seconds per update of `timing_updates` updates at each batch size (random digits-shaped
    data, one batch per epoch so fit runs exactly those updates), and the epoch of `timing_samples`
    samples they imply: ⌈N/B⌉ · t_update. The median resists preemption by other processes."""
    generator = torch.Generator().manual_seed(run.seed)
    largest = max(cfg.timing_batch_sizes)
    x = torch.rand(largest, 64, generator=generator).to(run.device)
    y = torch.randint(0, 10, (largest,), generator=generator).to(run.device)
    sweep = {}
    for b in cfg.timing_batch_sizes:
        model = MLP(64, 10, width=cfg.width, depth=1).to(run.device)
        timer = EpochTimer()
        fit(model, cross_entropy_sum, TensorLoader((x[:b], y[:b]), b, shuffle=False),
            SGDMomentum(model.parameters(), lr=cfg.lr, momentum=cfg.momentum), epochs=cfg.timing_updates,
            callbacks=[timer])
        update = float(np.median(timer.update_seconds[1:]))  # the first update warms up
        sweep[b] = {"update_seconds": update, "epoch_seconds": -(-cfg.timing_samples // b) * update}
        run.log_metrics(timing_batch_size=b, **sweep[b])
    return sweep


def _figures(run, cfg, data, sizes, results, mean, sweep, stop, end_models) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    for key, label in (("train_accuracy", "train"), ("test_accuracy", "test")):
        axes[0].errorbar(sizes, [mean[b][key] for b in sizes],
                         yerr=[np.std([r[key] for r in results[b]]) for b in sizes], marker="o", label=label, capsize=3)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("batch size")
    axes[0].set_ylabel(f"accuracy after {cfg.epochs} epochs")
    axes[0].legend()
    axes[1].errorbar(sizes, [mean[b]["top_eigenvalue"] for b in sizes],
                     yerr=[np.std([r["top_eigenvalue"] for r in results[b]]) for b in sizes], marker="o", capsize=3)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("batch size")
    axes[1].set_ylabel("top Hessian eigenvalue λ_max at the end")
    timing = cfg.timing_batch_sizes
    axes[2].loglog(timing, [sweep[b]["epoch_seconds"] for b in timing], "o-",
                   label=f"time per epoch of {cfg.timing_samples} (sweep)")
    axes[2].loglog(timing, [sweep[b]["update_seconds"] for b in timing], "s-", label="time per update (sweep)")
    axes[2].loglog(sizes, [mean[b]["epoch_seconds"] * cfg.timing_samples / len(data.train) for b in sizes], "x--",
                   label="training runs (1 thread), per epoch, scaled to sweep size")
    if stop is not None:
        axes[2].axvline(stop, color="gray", linestyle=":", label=f"stops falling at B={stop}")
    axes[2].set_xlabel("batch size")
    axes[2].set_ylabel("seconds")
    axes[2].legend(fontsize=7)
    run.figure("batch_size", fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    alphas = np.linspace(-1, 1, 21)
    train = [(data.train.x, data.train.y)]
    for b in (sizes[0], sizes[-1]):
        model = end_models[b]
        direction = filter_normalized_direction(model, torch.Generator().manual_seed(run.seed))
        plot_slice_1d(ax, alphas, loss_slice(model, cross_entropy_sum, train, [direction], [alphas]), label=f"B={b}")
    ax.set_title("training loss along a filter-normalised direction")
    ax.legend()
    run.figure("loss_slices", fig)
