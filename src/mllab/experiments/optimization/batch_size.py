"""batch-size: small batches against the full batch — test accuracy, sharpness and time per epoch.

Setting (after Keskar et al., ICLR 2017, who train both regimes to convergence): an MLP (D → 32 → 10,
ReLU) on `dataset` (sklearn digits by default: 1,257 training samples, D = 64; also mnist5k, or your MNIST /
CIFAR-10 files with --data-dir, flattened to D = 784 / 3072), SGD with momentum λ, mini-batches of `small_batch`
against the full batch. Each arm trains until its training loss is ≤ `converge_loss` (measured on the
whole training set at every epoch end; at most `max_updates` updates), at its own best learning rate
from one grid `lrs`, picked by the mean validation accuracy on `tuning_seeds` seeds that are never
judged. Then, on `seeds` other seeds (paired: one seed draws the split, the initialisation and the batch
order of both arms):
- test accuracy at convergence (the claim), and the equal-epochs and equal-updates views of the same
  runs (figure `accuracy_views`, metrics `equal_epochs` / `equal_updates`): after E epochs the small
  batch has taken ⌈N/B⌉ = 40× more updates than the full batch, so the two views tell different stories;
- sharpness at convergence: the top Hessian eigenvalue λ_max of the training loss (Lanczos);
- time per epoch, measured with all the machine's CPU threads (`os.cpu_count()`; the rest of the
  experiment runs with one): a large batch does the work of many small updates in one set of wide
  matrix products that the threads (and SIMD lanes) share, and pays the per-update overhead once.
Seeds: `tuning.judged_seeds` / `tuning.tuning_seeds` (derive_seed with keys "judge" / "tune").
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from mllab.analysis import top_eigenvalue
from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty, positive
from mllab.core.devices import torch_threads
from mllab.core.errors import BadInput, TrainingError
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.data import TensorLoader
from mllab.data.datasets import FLAT_DATASETS, check_dataset, load_flat
from mllab.metrics import accuracy
from mllab.models import MLP
from mllab.train import fit
from mllab.train.losses import cross_entropy_sum
from mllab.train.optimizers import SGDMomentum
from mllab.experiments.optimization.tuning import best_setting, judged_seeds, tuning_seeds


@dataclass
class BatchSizeConfig(Config):
    dataset: str = "digits"
    """the data, as flat vectors: digits | mnist5k (both bundled) | mnist | cifar10 (your files: --data-dir)"""
    margin: float = 0.0
    """the claim: the small batch's test accuracy beats the full batch's by more than this (fraction)"""
    sharpness_factor: float = 1.0
    """the claim: the full batch's λ_max over the small batch's exceeds this factor"""
    epoch_speedup: float = 2.0
    """the claim: a small-batch epoch takes more than this many times as long as a full-batch epoch"""
    converge_loss: float = 0.01
    """trained to convergence: until the training loss (nats per sample) is at most this"""
    small_batch: int = 32
    """the small batch size"""
    large_batch: int = 100000
    """the large batch size; above the training set's size it is the full batch"""
    lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
    """learning-rate grid; each arm is judged at its best η, picked on the tuning seeds"""
    momentum: float = 0.9
    """λ of SGD in both arms"""
    max_updates: int = 4000
    """cap on the updates of any run (a run that has not converged by then is not at convergence)"""
    width: int = 32
    """hidden units of the one-hidden-layer MLP"""
    seeds: int = 4
    """judged seeds (paired)"""
    tuning_seeds: int = 2
    """seeds the learning rate is picked on (never judged)"""
    timing_repeats: int = 5
    """paired repeats of the epoch timing (each times both batch sizes)"""
    timing_updates: int = 10
    """updates timed per arm and repeat; an epoch's time is ⌈N/B⌉ × the shortest"""

    thresholds: ClassVar[tuple[str, ...]] = ()
    rules: ClassVar[dict] = {
        "margin": at_least(0), "sharpness_factor": at_least(1), "epoch_speedup": at_least(1),
        "converge_loss": positive, "small_batch": at_least(1), "large_batch": at_least(1), "lrs": (nonempty, positive),
        "momentum": in_range(0, 0.999), "max_updates": at_least(1), "width": at_least(1), "seeds": at_least(1),
        "tuning_seeds": at_least(1), "timing_repeats": at_least(1), "timing_updates": at_least(1),
    }
    profiles: ClassVar[dict] = {
        "smoke": {"converge_loss": 1.0, "lrs": (0.3, 1.0), "max_updates": 300, "seeds": 2, "tuning_seeds": 1,
                  "timing_repeats": 2, "timing_updates": 3},
        "full": {"seeds": 10, "tuning_seeds": 3, "width": 128, "max_updates": 20000, "converge_loss": 0.001,
                 "timing_repeats": 10},
    }
    real_dataset: ClassVar[str | None] = "mnist"

    def validate(self) -> None:
        super().validate()
        check_dataset(self.dataset, FLAT_DATASETS)
        if self.small_batch > self.large_batch:
            raise BadInput(f"--set small_batch: must not exceed large_batch ({self.large_batch}), got {self.small_batch}")


@dataclass
class Curve:
    """fit callback: at every epoch end, the training loss on the whole training set and (when a test
    split is given) the test accuracy; asks fit to stop once the loss is ≤ `target`.

    records: one dict per epoch, {"epoch": e (1-based), "updates": optimizer steps so far,
    "train_loss": nats per sample, "test_accuracy": fraction or None}."""

    train: tuple[torch.Tensor, torch.Tensor]  # x (N, D), y (N,)
    updates_per_epoch: int  # ⌈N / B⌉
    target: float
    test: tuple[torch.Tensor, torch.Tensor] | None = None
    records: list[dict] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return bool(self.records) and self.records[-1]["train_loss"] <= self.target

    def record(self, model: torch.nn.Module, updates: int) -> float:
        """Append the record after `updates` optimizer steps; returns the training loss."""
        model.eval()
        with torch.no_grad():
            loss = float(cross_entropy_sum(model, self.train)[0]) / len(self.train[1])
            test = accuracy(model, *self.test) if self.test is not None else None
        model.train()
        self.records.append({"epoch": updates // self.updates_per_epoch, "updates": updates,
                             "train_loss": loss, "test_accuracy": test})
        return loss

    def on_step_end(self, state, model: torch.nn.Module) -> None:
        if state.global_step % self.updates_per_epoch == 0:
            loss = self.record(model, state.global_step)
            if loss <= self.target or not math.isfinite(loss):
                state.stop_requested = True


def at(records: list[dict], key: str, value: float) -> dict:
    """The last record whose `key` ("epoch" or "updates") is ≤ value: the run as it stood then."""
    chosen = [r for r in records if r[key] <= value]
    if not chosen:
        raise ValueError(f"no record with {key} <= {value}")
    return chosen[-1]


def train_to_convergence(data, batch: int, lr: float, seed: int, cfg: BatchSizeConfig, with_test: bool = False
                         ) -> tuple[Curve, torch.nn.Module]:
    """One run: SGD with momentum at batch size `batch` until the training loss is ≤ converge_loss."""
    torch.manual_seed(seed)
    model = MLP(data.train.x.shape[1], data.n_classes, width=cfg.width, depth=1).to(data.train.x.device)
    loader = TensorLoader((data.train.x, data.train.y), batch, seed=seed % 2**32)
    curve = Curve((data.train.x, data.train.y), len(loader), cfg.converge_loss,
                  (data.test.x, data.test.y) if with_test else None)
    curve.record(model, 0)  # epoch 0: the initialisation
    try:
        fit(model, cross_entropy_sum, loader, SGDMomentum(model.parameters(), lr=lr, momentum=cfg.momentum),
            epochs=math.ceil(cfg.max_updates / len(loader)), max_steps=cfg.max_updates, callbacks=[curve])
    except TrainingError:  # non-finite loss: this η diverges
        curve.records.append({"epoch": math.inf, "updates": math.inf, "train_loss": math.inf, "test_accuracy": 0.0})
    model.eval()
    return curve, model


class UpdateTimer:
    """fit callback: wall-clock seconds of every optimizer update (data, forward, backward, step)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = time.perf_counter()

    def on_step_end(self, state, model) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self._start)
        self._start = now


@experiment("batch-size", section="optimization",
            claim="On an MLP on images (digits by default) trained to a training loss ≤ {converge_loss:g}, each arm "
                  "at its best learning rate from one grid: batch {small_batch} reaches higher test accuracy than the "
                  "full batch (by more than {margin:.1%}) and lands in a flatter minimum (the full batch's top "
                  "Hessian eigenvalue larger by more than a factor {sharpness_factor:g}); with all CPU threads, a "
                  "full-batch epoch is more than {epoch_speedup:g}× faster than a batch-{small_batch} epoch.",
            negative_control=NegativeControl(
                overrides=("small_batch=100000",),
                fails=("small batch: higher test accuracy", "full batch: sharper minimum",
                       "full batch: faster epoch"),
                why="both arms use the full batch"))
def batch_size(run: Run, cfg: BatchSizeConfig) -> None:
    """Small against full batch, each at its best η, trained to convergence; accuracy, sharpness, epoch time."""
    datasets: dict[int, object] = {}

    def data_for(seed: int):
        if seed not in datasets:
            datasets[seed] = load_flat(cfg.dataset, seed=seed, device=run.device, data_dir=run.data_dir)
        return datasets[seed]

    n_train = len(data_for(judged_seeds(run.seed, 1)[0]).train)
    arms = {f"batch {min(cfg.small_batch, n_train)}": min(cfg.small_batch, n_train), "full batch": min(cfg.large_batch, n_train)}
    small, full = arms

    # 1. each arm's best η: validation accuracy at convergence on the tuning seeds (unconverged: ineligible)
    def score(name: str, lr: float, seed: int) -> float:
        data = data_for(seed)
        curve, model = train_to_convergence(data, arms[name], lr, seed, cfg)
        if not curve.converged:
            return -math.inf
        with torch.no_grad():
            return accuracy(model, data.val.x, data.val.y)

    best, tables = {}, {}
    for name in run.progress(arms, desc="batch-size: grid"):
        best[name], tables[name] = best_setting(cfg.lrs, lambda lr, s, name=name: score(name, lr, s),
                                                tuning_seeds(run.seed, cfg.tuning_seeds), better="higher")
        run.log(f"{name}: mean validation accuracy by η {tables[name]} (-inf: not converged); best η = {best[name]:g}")
    run.metric("best_lr", best)
    run.metric("tuning_val_accuracy", {name: {str(k): v for k, v in t.items()} for name, t in tables.items()})

    # 2. judged seeds at the chosen η: test accuracy and sharpness at convergence
    runs: dict[str, list[dict]] = {name: [] for name in arms}
    for seed in run.progress(judged_seeds(run.seed, cfg.seeds), desc="batch-size: judged seeds"):
        data = data_for(seed)
        for name, batch in arms.items():
            curve, model = train_to_convergence(data, batch, best[name], seed, cfg, with_test=True)
            result = {"seed": seed, "converged": curve.converged, "records": curve.records,
                      "test_accuracy": accuracy(model, data.test.x, data.test.y),
                      "top_eigenvalue": top_eigenvalue(model, cross_entropy_sum, [(data.train.x, data.train.y)],
                                                       tol=1e-3, max_iter=40, seed=seed)}
            runs[name].append(result)
            run.log_metrics(arm=name, seed=seed, lr=best[name], converged=result["converged"],
                            epochs=curve.records[-1]["epoch"], updates=curve.records[-1]["updates"],
                            test_accuracy=result["test_accuracy"], top_eigenvalue=result["top_eigenvalue"])
    converged = {name: sum(r["converged"] for r in rs) for name, rs in runs.items()}
    run.check("every judged run converged", all(c == cfg.seeds for c in converged.values()),
              observed=f"converged runs {converged} of {cfg.seeds} (cap {cfg.max_updates} updates)",
              expected=f"training loss ≤ {cfg.converge_loss:g} in every run", kind="sanity")
    test = {name: [r["test_accuracy"] for r in rs] for name, rs in runs.items()}
    sharp = {name: [r["top_eigenvalue"] for r in rs] for name, rs in runs.items()}
    run.metric("test_accuracy", test)
    run.metric("top_eigenvalue", sharp)
    accuracy_result = run.compare("small batch: higher test accuracy", test[small], test[full], margin=cfg.margin,
                                  better="higher", labels=(f"{small} (η={best[small]:g})", f"full (η={best[full]:g})"))
    sharp_result = run.compare("full batch: sharper minimum", sharp[full], sharp[small], margin=cfg.sharpness_factor,
                               better="higher", log=True, labels=("full batch λ_max", f"{small} λ_max"))
    views = _views(runs, small, full)
    for key, value in views.items():
        run.metric(key, value)

    # 3. time per epoch with every thread the machine has (parallelism is the point)
    threads = os.cpu_count() or 1
    with torch_threads(threads):
        epoch_seconds = _time_epochs(data_for(judged_seeds(run.seed, 1)[0]), arms, best, cfg)
    run.metric("epoch_seconds", epoch_seconds)
    run.metric("timing_threads", threads)
    time_result = run.compare(f"full batch: faster epoch", epoch_seconds[small], epoch_seconds[full],
                              margin=cfg.epoch_speedup, better="higher", log=True,
                              labels=(f"{small} s/epoch ({threads} threads)", f"full s/epoch ({threads} threads)"))
    _figures(run, cfg, runs, best, small, full, epoch_seconds, threads,
             {"accuracy": accuracy_result.passed, "sharpness": sharp_result.passed, "time": time_result.passed})


def _views(runs: dict[str, list[dict]], small: str, full: str) -> dict[str, dict]:
    """Both arms' test accuracy at equal epochs (E = the fewer epochs of the two runs of a seed) and at equal
    updates (U = the fewer updates), per seed: the same runs seen by the two budgets people quote."""
    views: dict[str, dict] = {"equal_epochs": {small: [], full: [], "at": []},
                              "equal_updates": {small: [], full: [], "at": []}}
    for a, b in zip(runs[small], runs[full]):
        for view, key in (("equal_epochs", "epoch"), ("equal_updates", "updates")):
            budget = min(a["records"][-1][key], b["records"][-1][key])
            views[view]["at"].append(budget)
            for name, r in ((small, a), (full, b)):
                views[view][name].append(at(r["records"], key, budget)["test_accuracy"])
    return views


def _time_epochs(data, arms: dict[str, int], best: dict[str, float], cfg: BatchSizeConfig) -> dict[str, list[float]]:
    """Seconds per epoch of each arm, `timing_repeats` times, the arms interleaved so that a change in the
    machine's load falls on both alike: ⌈N/B⌉ × the shortest of `timing_updates` updates (the minimum, as
    timeit takes it: preemption by other processes only ever adds time; the first update, which warms up,
    is not counted)."""
    seconds: dict[str, list[float]] = {name: [] for name in arms}
    n = len(data.train)
    for repeat in range(cfg.timing_repeats):
        for name, batch in arms.items():
            torch.manual_seed(repeat)
            model = MLP(data.train.x.shape[1], data.n_classes, width=cfg.width, depth=1).to(data.train.x.device)
            loader = TensorLoader((data.train.x, data.train.y), batch, seed=repeat)
            timer = UpdateTimer()
            fit(model, cross_entropy_sum, loader, SGDMomentum(model.parameters(), lr=best[name], momentum=cfg.momentum),
                epochs=math.ceil((cfg.timing_updates + 1) / len(loader)), max_steps=cfg.timing_updates + 1,
                callbacks=[timer])
            seconds[name].append(math.ceil(n / batch) * min(timer.seconds[1:]))
    return seconds


def _figures(run: Run, cfg: BatchSizeConfig, runs, best, small, full, epoch_seconds, threads, passed) -> None:
    """accuracy_views: test accuracy of the judged runs against epochs and against updates (the same runs);
    batch_size: the three claims per seed."""
    colors = {small: figures.verdict_color(passed["accuracy"]), full: figures.BASELINE}
    fig, axes = figures.subplots(1, 2, panel=(5.0, 3.6))
    for ax, key, title in ((axes[0], "epoch", "equal epochs"), (axes[1], "updates", "equal updates")):
        for name, rs in runs.items():
            for i, r in enumerate(rs):
                records = [x for x in r["records"] if 0 < x[key] < math.inf]  # log axis: from the first epoch
                ax.plot([x[key] for x in records], [x["test_accuracy"] for x in records], color=colors[name],
                        alpha=0.7, linewidth=1.0, label=f"{name}, η={best[name]:g}" if i == 0 else None)
                ax.plot([records[-1][key]], [records[-1]["test_accuracy"]], "o", color=colors[name], markersize=4,
                        label="converged" if (i == 0 and name == full) else None)
        ax.set(xscale="log", title=f"test accuracy, {title} view", xlabel=key if key == "updates" else "epochs",
               ylabel="test accuracy (fraction)")
        lowest = min((x["test_accuracy"] for rs in runs.values() for r in rs for x in r["records"]
                      if x["test_accuracy"] is not None and 0 < x[key] < math.inf), default=0.5)
        ax.set_ylim(min(0.5, lowest - 0.05), 1.0)  # 0.5 on digits; lower on harder data (CIFAR-10)
        figures.legend_outside(ax)
    run.figure("accuracy_views", fig)

    fig, axes = figures.subplots(1, 3, panel=(3.6, 3.4))
    panels = (("test_accuracy", "test accuracy at convergence", "test accuracy (fraction)", passed["accuracy"], 0),
              ("top_eigenvalue", r"sharpness $\lambda_{max}$ at convergence", r"$\lambda_{max}$ of $\nabla^2 L$ (nats)",
               passed["sharpness"], 1))
    for ax, (key, title, ylabel, ok, claimed) in zip(axes, panels):  # `claimed`: the arm the claim is about
        values = np.array([[r[key] for r in runs[name]] for name in (small, full)])  # (2, seeds)
        ax.plot([0, 1], values, color=figures.BASELINE, alpha=0.5, linewidth=0.8)
        for arm in (0, 1):
            ax.plot([arm] * values.shape[1], values[arm], "o",
                    color=figures.verdict_color(ok) if arm == claimed else figures.BASELINE)
        ax.set_xticks([0, 1], [small, "full"])
        ax.set(xlim=(-0.4, 1.4), title=title, xlabel="batch size (lines pair a seed)", ylabel=ylabel)
    ax = axes[2]
    times = np.array([epoch_seconds[small], epoch_seconds[full]]) * 1e3  # (2, repeats) ms
    ax.plot([0, 1], times, color=figures.BASELINE, alpha=0.5, linewidth=0.8)
    ax.plot([0] * times.shape[1], times[0], "o", color=figures.BASELINE)
    ax.plot([1] * times.shape[1], times[1], "o", color=figures.verdict_color(passed["time"]))
    ax.set_xticks([0, 1], [small, "full"])
    ax.set(yscale="log", xlim=(-0.4, 1.4), title=f"time per epoch, {threads} threads",
           xlabel="batch size (lines pair a repeat)", ylabel="seconds per epoch (ms)")
    run.figure("batch_size", fig)
