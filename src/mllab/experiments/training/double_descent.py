"""double-descent: test error against model width peaks at the interpolation threshold, then falls again.

Setting (why this one): random ReLU features with a minimum-norm least-squares readout, fitted in
closed form (`mllab.models.random_features`). It is the classic model-wise double-descent setting
(Belkin et al. 2019; Mei & Montanari 2019), it has no optimiser, learning rate or epoch budget to tune,
so the width is the only thing that changes between arms, and a whole sweep over 14 widths and 5 seeds
takes seconds on one CPU thread. The data follow Nakkiran et al. (ICLR 2020, Fig. 1): a small training
set with 15 % label noise (a wrong class drawn uniformly), clean test labels.

With N features and n training samples each of the C outputs has N parameters, so the model has N·C
parameters against n·C targets: it interpolates (zero training error) from N = n on, the interpolation
threshold. There the square system Φ β = Y is ill-conditioned and the readout fits the noisy labels with
huge weights, so the test error peaks; beyond it the minimum-norm solution spreads the fit over many
features and the error falls again.

This maps where "fewer parameters" helps: below the threshold's neighbourhood (under-parameterised)
and at it, shrinking the model lowers the test error; far beyond it (over-parameterised), a smaller
model moves toward the peak and tests worse. The `overfitting` experiment's baseline MLP has ~85 k
parameters for 200 samples × 10 classes, deep in the over-parameterised regime, which is why its
"smaller model" remedy does not lower the test loss.

Judged widths, fixed before the first run: the threshold N = n (the claimed peak; not the measured
argmax, which would pick the noisiest width), a narrower N = narrow_ratio · n and the widest of the grid.
Each seed draws the training subset, the noisy labels and the random features; all widths of one seed
share the subset and labels (paired). Nothing is tuned: ridge = 0 is the method, not a hyperparameter.
Negative control: a ridge penalty (λ = 1) replaces the minimum-norm readout; optimal regularisation
removes the peak (Nakkiran, Venkat, Kakade & Ma 2021), so the peak checks must fail.

Data: `dataset` = digits (default), mnist5k, or your MNIST / CIFAR-10 files (--data-dir), as flat centred
vectors (64, 784 or 3072 inputs; the random features' input size follows the data). Seeds: judged seed k is
derive_seed(seed, "judge", k); its width i draws features from derive_seed(that seed, "features", i).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, positive
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data.datasets import FLAT_DATASETS, check_dataset, load_flat
from mllab.data.noisy import with_label_noise
from mllab.models.random_features import RandomReLUFeatures

INTERPOLATION_RATIO = 1.0  # N / n at the interpolation threshold
INTERPOLATED = 1e-6  # training MSE below this counts as interpolating (float64 closed form)


@dataclass
class DoubleDescentConfig(Config):
    dataset: str = "digits"
    """digits | mnist5k (both bundled) | mnist | cifar10 (your files: --data-dir), as flat vectors"""
    n_train: int = 300
    """training samples n drawn from the training split (a new subset per seed)"""
    label_noise: float = 0.15
    """fraction of training labels replaced by a wrong class (Nakkiran et al. Fig. 1: 15 %)"""
    width_ratios: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)
    """numbers of random features N as multiples of n, increasing; must contain 1 (the threshold)"""
    narrow_ratio: float = 0.25
    """the narrower judged width N / n (must be in width_ratios)"""
    margin: float = 0.05
    """the claim: the error at the threshold exceeds each other judged width's by more than this (fraction)"""
    ridge: float = 0.0
    """ridge penalty λ of the readout; 0 = minimum-norm least squares (the method under test)"""
    seeds: int = 5
    """seeds judged (each draws the subset, the label noise and the features)"""

    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_train": 100, "width_ratios": (0.25, 1.0, 4.0), "seeds": 2},
        "full": {"dataset": "mnist5k", "n_train": 1000, "seeds": 10,
                 "width_ratios": (0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0,
                                  20.0)},
    }
    rules: ClassVar[dict] = {"n_train": at_least(10), "label_noise": in_range(0, 1), "width_ratios": positive,
                             "narrow_ratio": positive, "margin": at_least(0), "ridge": at_least(0),
                             "seeds": at_least(1)}
    real_dataset: ClassVar[str | None] = "mnist"

    def validate(self) -> None:
        super().validate()
        check_dataset(self.dataset, FLAT_DATASETS)
        if list(self.width_ratios) != sorted(set(self.width_ratios)) or INTERPOLATION_RATIO not in self.width_ratios:
            raise BadInput(f"--set width_ratios: give increasing ratios that include 1 (the threshold), got "
                           f"{self.width_ratios}; e.g. 0.25,1,4")
        if self.narrow_ratio not in self.width_ratios or self.narrow_ratio >= INTERPOLATION_RATIO:
            raise BadInput(f"--set narrow_ratio: must be one of width_ratios below 1, got {self.narrow_ratio}")

    def widths(self) -> list[int]:
        """N for each ratio: round(ratio · n), at least 1."""
        return [max(1, round(r * self.n_train)) for r in self.width_ratios]


def sweep(x: torch.Tensor, targets: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, widths: list[int],
          ridge: float, seed: int) -> dict[str, list[float]]:
    """Fit one random-features model per width on (x (n, d), one-hot targets (n, C)); errors per width.

    Returns {"test_error", "test_mse", "train_error", "train_mse"}: lists over widths; test error is the
    fraction of clean test labels missed by argmax ŷ, test MSE is against their one-hot codes; the
    training numbers are against the (noisy) training targets.
    """
    out: dict[str, list[float]] = {"test_error": [], "test_mse": [], "train_error": [], "train_mse": []}
    test_onehot = F.one_hot(y_test, targets.shape[1]).double()  # (T, C)
    for i, width in enumerate(widths):
        generator = torch.Generator().manual_seed(derive_seed(seed, "features", i))
        model = RandomReLUFeatures(x.shape[1], width, generator=generator)
        model.fit(x, targets, ridge=ridge)
        prediction = model.predict(x_test)  # (T, C)
        out["test_error"].append(float((prediction.argmax(1) != y_test).double().mean()))
        out["test_mse"].append(float(((prediction - test_onehot) ** 2).sum(1).mean()))
        fitted = model.predict(x)  # (n, C)
        out["train_error"].append(float((fitted.argmax(1) != targets.argmax(1)).double().mean()))
        out["train_mse"].append(float(((fitted - targets) ** 2).sum(1).mean()))
    return out


@experiment("double-descent", section="training",
            claim="With {label_noise:.0%} label noise on n = {n_train} training samples, the test error of "
                  "minimum-norm random-ReLU-feature regression peaks at the interpolation threshold (N = n "
                  "features): it exceeds the error at N = {narrow_ratio:g}·n (fewer parameters help) and at the "
                  "widest N (more parameters help again) by more than {margin:.0%} each.",
            negative_control=NegativeControl(
                overrides=("ridge=1.0",),
                fails=("threshold tests worse than the narrower width", "threshold tests worse than the widest"),
                why="a ridge penalty keeps the readout's norm small at N = n, so there is no peak to find"))
def double_descent(run: Run, cfg: DoubleDescentConfig) -> None:
    """Sweep N over width_ratios · n on each seed; judge the threshold against the narrow and widest N."""
    data = load_flat(cfg.dataset, seed=run.seed, data_dir=run.data_dir)
    if cfg.n_train > len(data.train):
        raise BadInput(f"--set n_train: {cfg.n_train} exceeds the {len(data.train)} training samples of "
                       f"{cfg.dataset}; choose a smaller subset")
    mean = data.train.x.flatten(1).mean(0)  # centre the inputs: ReLU features then cut through the data
    x_test = (data.test.x.flatten(1) - mean).double()  # (T, d)
    widths = cfg.widths()
    results: dict[str, np.ndarray] = {}
    per_seed = []
    for k in run.progress(range(cfg.seeds), desc="seeds"):
        seed = derive_seed(run.seed, "judge", k)
        generator = torch.Generator().manual_seed(seed)
        subset = torch.randperm(len(data.train), generator=generator)[: cfg.n_train]
        x = (data.train.x[subset].flatten(1) - mean).double()  # (n, d)
        noisy, _ = with_label_noise(data.train.y[subset], cfg.label_noise, data.n_classes, generator=generator)
        targets = F.one_hot(noisy, data.n_classes).double()  # (n, C) one-hot of the noisy labels
        outcome = sweep(x, targets, x_test, data.test.y, widths, cfg.ridge, seed)
        per_seed.append(outcome)
        for width, error, mse in zip(widths, outcome["test_error"], outcome["test_mse"]):
            run.log_metrics(seed=seed, width=width, test_error=error, test_mse=mse)
    for key in per_seed[0]:
        results[key] = np.array([s[key] for s in per_seed])  # (seeds, widths)

    at = {ratio: i for i, ratio in enumerate(cfg.width_ratios)}
    peak, narrow, widest = at[INTERPOLATION_RATIO], at[cfg.narrow_ratio], len(widths) - 1
    errors = results["test_error"]
    run.metric("widths", widths)
    run.metric("test_error_mean", errors.mean(0))
    run.metric("test_mse_mean", results["test_mse"].mean(0))
    run.metric("train_mse_mean", results["train_mse"].mean(0))
    run.metric("measured_peak_width", widths[int(errors.mean(0).argmax())])

    if cfg.ridge == 0:  # the apparatus: a min-norm readout with N >= n must fit the noisy labels exactly
        beyond = results["train_mse"][:, peak:]
        run.check("minimum-norm readout interpolates from N = n on", float(beyond.max()) < INTERPOLATED,
                  observed=f"largest training MSE at N >= n: {beyond.max():.2e}; at N = {widths[narrow]}: "
                           f"{results['train_mse'][:, narrow].mean():.3f}",
                  expected=f"< {INTERPOLATED:.0e}", kind="sanity")
    n = cfg.n_train
    above_narrow = run.compare("threshold tests worse than the narrower width", errors[:, peak], errors[:, narrow],
                               margin=cfg.margin, better="higher", labels=(f"N = n = {n}", f"N = {widths[narrow]}"))
    above_widest = run.compare("threshold tests worse than the widest", errors[:, peak], errors[:, widest],
                               margin=cfg.margin, better="higher", labels=(f"N = n = {n}", f"N = {widths[widest]}"))
    _figure(run, cfg, widths, results, {narrow: above_narrow.passed, widest: above_widest.passed,
                                        peak: above_narrow.passed and above_widest.passed})


def _figure(run: Run, cfg: DoubleDescentConfig, widths: list[int], results: dict[str, np.ndarray],
            judged: dict[int, bool]) -> None:
    ratios = np.array(widths) / cfg.n_train
    seeds = results["test_error"].shape[0]
    fig, axes = figures.subplots(1, 2, panel=(4.8, 3.6))
    for ax, key in zip(axes, ("test_error", "test_mse")):
        values = results[key]  # (seeds, widths)
        mean = values.mean(0)
        se = values.std(0, ddof=1) / math.sqrt(seeds) if seeds > 1 else np.zeros_like(mean)
        ax.plot(ratios, mean, marker="o", ms=3, color=figures.SERIES[0], label=f"test, mean ± SE ({seeds} seeds)")
        ax.fill_between(ratios, mean - se, mean + se, color=figures.SERIES[0], alpha=0.2)
        ax.axvline(INTERPOLATION_RATIO, color=figures.BASELINE, ls=":", label="interpolation threshold $N = n$")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter("{x:g}")
    axes[0].plot(ratios, results["train_error"].mean(0), ls="--", color=figures.SERIES[1],
                 label="train (noisy labels)")
    for index, passed in judged.items():
        axes[0].scatter([ratios[index]], [results["test_error"][:, index].mean()], s=60, zorder=3,
                        color=figures.verdict_color(passed), edgecolor="black", linewidth=0.5)
    for passed in sorted(set(judged.values()), reverse=True):
        axes[0].scatter([], [], s=60, color=figures.verdict_color(passed), edgecolor="black", linewidth=0.5,
                        label=f"judged width, claim {'holds' if passed else 'fails'}")
    axes[0].set(title="classification error vs width", xlabel=r"features per training sample $N / n$",
                ylabel="error (fraction of samples)")
    axes[1].set_yscale("log")
    axes[1].set(title="test squared error vs width", xlabel=r"features per training sample $N / n$",
                ylabel=r"$\|\hat y - $one-hot$(y)\|^2$ per test sample")
    figures.legend_outside(axes[0])
    fig.suptitle(f"random ReLU features, readout λ = {cfg.ridge:g} (0 = min-norm), {cfg.dataset}, "
                 f"n = {cfg.n_train}, {cfg.label_noise:.0%} label noise")
    run.figure("test_error_vs_width", fig)
