"""autoencoder: a nonlinear auto-encoder reconstructs better than PCA at equal code size, a linear one
matches PCA, a denoising one removes noise, and the reconstruction error finds a digit never trained on.

Data (`dataset`): sklearn's 8×8 digits (the quick default: 1,797 images, 64 pixels in [0, 1]; `load_dataset`'s
stratified 70/15/15 split per seed). Why not mnist5k: 784 pixels make every auto-encoder ~12× dearer, and the
quick budget trains 8 auto-encoders per seed over 3 seeds; the claims are about the model, not the resolution.
`dataset=mnist5k` runs them at 28×28 (the full profile), `dataset=mnist` / `cifar10` on the user's files in
--data-dir (the full profile takes mnist when --data-dir is given): the MLPs read the flattened image, D = 64,
784 or 3,072 values (CIFAR-10's 3 × 32 × 32 colour pixels), so every dataset fits; on CIFAR-10 the "left-out
digit" is the left-out class (`anomaly_class`, 0 = airplane) and "digits" in the claim read "images".

Arms, per judged seed (derive_seed(--seed, "judge", i); paired: a seed draws the split and every initialisation):
- PCA with k components (fit on the training split): the best rank-k *linear* reconstruction (Eckart–Young).
- the "nonlinear" auto-encoder: MLP 64 → hidden → k → hidden → 64 with ReLU (`activation`), Adam.
- the linear auto-encoder: the same with identity activations. Baldi & Hornik (1989): its global optimum
  spans PCA's subspace and it has no other local minima, so once trained it must match PCA's error.
  This is a *claim* check, not a sanity check: whether gradient descent reaches that optimum within the
  budget is the empirical part, and the issue lists it among the claims.
- the denoising auto-encoder (code `denoise_code_size`): trained on x̃ = x + σε to output x; judged by the
  PSNR of its output on noisy test digits against the PSNR of the noisy digits themselves. Its code size and
  width were picked on tuning seeds 9000 and 9001 (not judged) from {16, 32, 48} × {128, 256} hidden units
  (PSNR gains 4.5 to 5.6 dB; 48 × 256 best on both), after the first judged run (code 16, 128 units: +4.4 dB,
  fails at the 5 dB margin fixed before it). The margin did not move. (Those seeds were seed offsets of the
  earlier scheme; judged seeds are now derived by hash, so they cannot coincide with them.)
- anomaly detection: an auto-encoder (code `anomaly_code_size`) trained on the training split without
  digit `anomaly_class`; the per-sample reconstruction MSE on the test split scores "is it that digit?",
  judged by ROC-AUC (`mllab.metrics.roc`).
One stated setting for every other auto-encoder (not tuned: tuning could only help the auto-encoder arm, and PCA
has no hyperparameters). Thresholds (pca_factor, linear_tolerance, psnr_gain, min_auc) fixed before the
first measured run. Negative control: `activation=linear` puts the linear auto-encoder in the nonlinear arm,
which cannot beat PCA (Eckart–Young on the training split).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from matplotlib.ticker import NullFormatter, ScalarFormatter

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty, positive
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data import load_dataset
from mllab.data.images import check_image_dataset
from mllab.generative.autoencoding import add_noise, pca_reconstruction, reconstruction_errors, train_autoencoder
from mllab.metrics import plot_roc, roc
from mllab.models.autoencoder import MLPAutoencoder, psnr

SHAPES = {"digits": (1, 8, 8), "mnist5k": (1, 28, 28), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}  # (C, H, W)


@dataclass
class AutoencoderConfig(Config):
    dataset: str = "digits"
    """images: sklearn's 8×8 digits (quick), mnist5k (28×28), or mnist / cifar10 from --data-dir"""
    code_sizes: tuple[int, ...] = (2, 4, 8)
    """code sizes k compared (auto-encoder code units = PCA components)"""
    activation: Literal["relu", "linear"] = "relu"
    """activation of the "nonlinear" arm (the negative control sets linear)"""
    pca_factor: float = 1.1
    """the claim: at every code size the auto-encoder's test MSE is below PCA's by more than this factor"""
    linear_tolerance: float = 0.05
    """the claim: the linear auto-encoder's test MSE is within this fraction of PCA's (every seed and size)"""
    noise_std: float = 0.2
    """σ of the Gaussian pixel noise the denoising auto-encoder removes (pixels in [0, 1])"""
    psnr_gain: float = 5.0
    """the claim: denoising raises the test PSNR by more than this (dB), paired over seeds"""
    anomaly_class: int = 0
    """the digit left out of training and detected by reconstruction error (fixed before the first run)"""
    min_auc: float = 0.8
    """the claim: the ROC-AUC for finding the left-out digit is above this (lower 95% bound over seeds)"""
    denoise_code_size: int = 48
    """code size of the denoising auto-encoder (picked from {16, 32, 48} on the tuning seeds)"""
    denoise_hidden: int = 256
    """hidden units of the denoising auto-encoder (picked from {128, 256} on the tuning seeds)"""
    anomaly_code_size: int = 8
    """code size of the anomaly-detecting auto-encoder"""
    hidden: int = 128
    """hidden units on each side of the code"""
    epochs: int = 150
    """training epochs of every auto-encoder"""
    batch_size: int = 128
    """samples per Adam step"""
    lr: float = 2e-3
    """Adam learning rate of every auto-encoder"""
    seeds: int = 3
    """judged seeds derive_seed(--seed, "judge", i)"""

    rules: ClassVar[dict] = {
        "code_sizes": (nonempty, at_least(1)), "pca_factor": at_least(1), "linear_tolerance": in_range(0, 1),
        "noise_std": positive, "psnr_gain": at_least(0), "anomaly_class": in_range(0, 9), "min_auc": in_range(0, 1),
        "denoise_code_size": at_least(1), "denoise_hidden": at_least(1), "anomaly_code_size": at_least(1),
        "hidden": at_least(1),
        "epochs": at_least(1), "batch_size": at_least(1), "lr": positive, "seeds": at_least(1),
    }
    profiles: ClassVar[dict] = {"smoke": {"code_sizes": (2,), "epochs": 2, "seeds": 2, "hidden": 16,
                                          "denoise_hidden": 16, "denoise_code_size": 8},
                                "full": {"dataset": "mnist5k", "code_sizes": (2, 4, 8, 16, 32), "seeds": 5,
                                         "epochs": 100, "hidden": 256}}
    real_dataset: ClassVar[str] = "mnist"  # the full profile with --data-dir

    def validate(self) -> None:
        super().validate()
        check_image_dataset(self.dataset, tuple(SHAPES))
        pixels = math.prod(SHAPES[self.dataset])
        too_big = [k for k in (*self.code_sizes, self.denoise_code_size, self.anomaly_code_size) if k >= pixels]
        if too_big:
            raise BadInput(f"--set code_sizes/denoise_code_size/anomaly_code_size: must be < {pixels} values "
                           f"for {self.dataset}, got {too_big}")


def one_seed(cfg: AutoencoderConfig, seed: int, data_dir: Path | None = None) -> dict:
    """Every arm on one split: test MSEs per code size, PSNRs, the anomaly AUC (and images for the figures).
    Initialisations and noise come from derive_seed(seed, key) (the split and the batch order from seed)."""
    data = load_dataset(cfg.dataset, seed=seed, data_dir=data_dir)
    train, test = data.train.x.flatten(1), data.test.x.flatten(1)  # (N, D) pixels in [0, 1]
    pixels = train.shape[1]
    fit = dict(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed)
    out: dict = {"pca": [], "ae": [], "linear": []}
    for k in cfg.code_sizes:
        out["pca"].append(float(reconstruction_errors(None, test, pca_reconstruction(train, test, k)).mean()))
        for arm, activation in (("ae", cfg.activation), ("linear", "linear")):
            torch.manual_seed(derive_seed(seed, "code size", k))  # the same initial weights for both arms
            model = train_autoencoder(MLPAutoencoder(pixels, k, hidden=cfg.hidden, activation=activation), train, **fit)
            out[arm].append(float(reconstruction_errors(model, test).mean()))
    # denoising: x̃ = x + σε in training (inside the model) and on the test split (fixed noise)
    torch.manual_seed(derive_seed(seed, "denoising"))
    dae = train_autoencoder(MLPAutoencoder(pixels, cfg.denoise_code_size, hidden=cfg.denoise_hidden,
                                           noise_std=cfg.noise_std), train, **fit)
    noisy = add_noise(test, cfg.noise_std, derive_seed(seed, "test noise"))  # (N, D)
    with torch.no_grad():
        denoised = dae(noisy)  # eval mode: no extra noise
    out["psnr_noisy"], out["psnr_denoised"] = psnr(test, noisy), psnr(test, denoised)
    out["images"] = (test[:6], noisy[:6], denoised[:6])
    # anomaly detection: train without one digit, score the test split by reconstruction error
    torch.manual_seed(derive_seed(seed, "anomaly"))
    normal = train[data.train.y != cfg.anomaly_class]
    detector = train_autoencoder(MLPAutoencoder(pixels, cfg.anomaly_code_size, hidden=cfg.hidden,
                                                activation=cfg.activation), normal, **fit)
    scores = reconstruction_errors(detector, test)  # (N,) higher = more anomalous
    out["roc"] = roc((data.test.y == cfg.anomaly_class).long(), scores)
    out["data"] = {"dataset": cfg.dataset, "images (train, val, test)": [len(data.train), len(data.val),
                   len(data.test)], "values per image": pixels}
    out["auc"] = out["roc"].auc
    return out


@experiment("autoencoder", section="generative",
            claim="At equal code size an auto-encoder reconstructs test digits better than PCA (MSE lower by more "
                  "than a factor {pca_factor} at every code size, paired over seeds), while one with linear "
                  "activations matches PCA (within {linear_tolerance:.0%}); a denoising auto-encoder raises the PSNR "
                  "of noisy digits by more than {psnr_gain} dB; and the reconstruction error of an auto-encoder "
                  "trained without one digit finds that digit (ROC-AUC above {min_auc}).",
            negative_control=NegativeControl(
                overrides=("activation=linear",), fails=("auto-encoder beats PCA at k=2",),
                why="the 'nonlinear' arm is linear: a linear auto-encoder cannot beat PCA's rank-k optimum"))
def autoencoder(run: Run, cfg: AutoencoderConfig) -> None:
    """PCA vs linear vs nonlinear auto-encoders per code size; denoising PSNR; anomaly ROC-AUC; over seeds."""
    start, cpu = time.perf_counter(), time.process_time()
    seeds = [derive_seed(run.seed, "judge", i) for i in range(cfg.seeds)]
    results = []
    for seed in run.progress(seeds, desc="autoencoder"):
        results.append(one_seed(cfg, seed, run.data_dir))
        r = results[-1]
        run.log_metrics(seed=seed, pca=r["pca"], ae=r["ae"], linear=r["linear"], psnr_noisy=r["psnr_noisy"],
                        psnr_denoised=r["psnr_denoised"], auc=r["auc"])
    per = {arm: np.array([r[arm] for r in results]) for arm in ("pca", "ae", "linear")}  # (seeds, sizes)
    run.metric("test_mse", {arm: {str(k): v[:, j].tolist() for j, k in enumerate(cfg.code_sizes)}
                            for arm, v in per.items()})
    label = "ReLU AE" if cfg.activation == "relu" else "linear AE (as 'nonlinear')"
    for j, k in enumerate(cfg.code_sizes):
        run.compare(f"auto-encoder beats PCA at k={k}", per["ae"][:, j], per["pca"][:, j], margin=cfg.pca_factor,
                    better="lower", log=True, labels=(f"{label} test MSE", "PCA test MSE"))
    ratio = per["linear"] / per["pca"]  # (seeds, sizes)
    run.check("linear auto-encoder matches PCA", bool(np.all(np.abs(ratio - 1) <= cfg.linear_tolerance)),
              observed="linear AE / PCA test MSE: " + "; ".join(
                  f"k={k}: " + ", ".join(f"{v:.3f}" for v in ratio[:, j]) for j, k in enumerate(cfg.code_sizes)),
              expected=f"every ratio within 1 ± {cfg.linear_tolerance}")
    run.compare("denoising raises PSNR", [r["psnr_denoised"] for r in results], [r["psnr_noisy"] for r in results],
                margin=cfg.psnr_gain, better="higher", labels=("denoised PSNR (dB)", "noisy PSNR (dB)"))
    aucs = [r["auc"] for r in results]
    run.compare("reconstruction error finds the left-out digit", aucs, [cfg.min_auc] * len(aucs), margin=0.0,
                better="higher", labels=(f"ROC-AUC for digit {cfg.anomaly_class}", "required AUC"))
    run.metric("data", results[0]["data"])
    run.metric("psnr", {"noisy": [r["psnr_noisy"] for r in results], "denoised": [r["psnr_denoised"] for r in results]})
    run.metric("auc", aucs)
    run.metric("seconds_cpu", time.process_time() - cpu)
    run.metric("seconds_wall", time.perf_counter() - start)
    passed = {c.name: c.passed for c in run.checks}
    draw_errors(run, cfg, per, label, passed)
    draw_images(run, cfg, results[0]["images"], results[0])
    draw_anomaly(run, cfg, results)


def _mean_se(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    se = values.std(0, ddof=1) / math.sqrt(len(values)) if len(values) > 1 else np.zeros(values.shape[1])
    return values.mean(0), se


def draw_errors(run: Run, cfg: AutoencoderConfig, per: dict, label: str, passed: dict) -> None:
    fig, axes = figures.subplots(1, 1, panel=(5.6, 3.8))
    ax = axes[0]
    k = np.array(cfg.code_sizes)
    holds = all(passed.get(f"auto-encoder beats PCA at k={c}", False) for c in cfg.code_sizes)
    for arm, name, color, style in (("pca", "PCA", figures.BASELINE, dict(marker="s", linewidth=4, alpha=0.5)),
                                    ("linear", "linear AE", figures.SERIES[0], dict(marker="^", linestyle="--")),
                                    ("ae", label, figures.verdict_color(holds), dict(marker="o"))):
        mean, se = _mean_se(per[arm])
        ax.errorbar(k, mean, yerr=se, color=color, capsize=3, label=name, **style)
    ax.set(title=f"test reconstruction error ({len(per['pca'])} seeds, ± SE)", xlabel="code size $k$ (units)",
           ylabel="test MSE (pixel$^2$)", xscale="log", yscale="log")
    ax.set_xticks(k, [str(c) for c in k])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    figures.legend_outside(ax)
    run.figure("reconstruction-error", fig)


def draw_images(run: Run, cfg: AutoencoderConfig, images: tuple, result: dict) -> None:
    clean, noisy, denoised = images
    channels, height, width = SHAPES[cfg.dataset]
    n = len(clean)
    fig, axes = figures.subplots(3, n, panel=(1.45, 1.5))
    rows = (("clean", clean), ("noisy", noisy), ("denoised", denoised))
    for r, (name, batch) in enumerate(rows):
        for c in range(n):
            ax = axes[r * n + c]
            image = batch[c].reshape(channels, height, width).clamp(0, 1)
            if channels == 1:
                ax.imshow(image[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
            else:  # colour: (H, W, C)
                ax.imshow(image.permute(1, 2, 0).numpy())
            ax.set(xticks=[], yticks=[], title=f"{name} #{c + 1}", xlabel=f"{width} pixels" if r == 2 else "",
                   ylabel=f"{height} pixels" if c == 0 else "")
            ax.grid(False)
    fig.suptitle(rf"denoising auto-encoder, noise $\sigma$ = {cfg.noise_std}: test PSNR {result['psnr_noisy']:.1f} dB "
                 rf"noisy $\to$ {result['psnr_denoised']:.1f} dB denoised (first seed)")
    run.figure("denoising", fig)


def draw_anomaly(run: Run, cfg: AutoencoderConfig, results: list) -> None:
    fig, axes = figures.subplots(1, 1, panel=(5.2, 3.8))
    ax = axes[0]
    for i, r in enumerate(results):
        plot_roc(ax, r["roc"], label=f"seed {i + 1}")
        ax.lines[-2].set_color(figures.SERIES[i % len(figures.SERIES)])
    ax.set(title=f"finding digit {cfg.anomaly_class} by reconstruction error")
    figures.legend_outside(ax)
    run.figure("anomaly-roc", fig)
