"""Metrics that judge generated samples.

2-D mixtures, as VEEGAN (Srivastava et al. 2017) define them and PacGAN's released code computes them:
- each sample goes to its nearest mode by Mahalanobis distance (isotropic σ: ‖x − μ_k‖ / σ);
- it is *high quality* when that distance is < 3 ("within three standard deviations of the nearest mode");
- a mode is *covered* when at least one high-quality sample is assigned to it;
- *reverse KL* of the mode histogram: KL(q ‖ p) = Σ_k q_k log(q_k / p_k), q the share of high-quality
  samples per mode, p uniform (1/K); 0 · log 0 = 0. (PacGAN's table reports it; its exact code is not
  released, see /work/shared/REFERENCES.md — this is the standard reading of "reverse KL".)

Digits (measured with a classifier trained in the same run; not the Inception network, hence not "FID"):
- class coverage: classes that receive at least `min_share` of the arg-max predictions;
- mean confidence: mean of the largest class probability;
- Fréchet distance between Gaussians fitted to the classifier's features of real and generated images:
  ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2}).

Exact 1-D references for the divergence experiment: `wasserstein_1d` (scipy's W1 between samples) and the
closed forms for two unit-width uniforms `uniform_shift_js` / `uniform_shift_w1`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy import linalg
from scipy.stats import wasserstein_distance
from threadpoolctl import threadpool_limits

from mllab.core.errors import BadInput

HIGH_QUALITY_SIGMAS = 3.0  # VEEGAN: "within three standard deviations of the nearest mode" (2-D)


@dataclass
class ModeStats:
    modes_covered: int  # modes with >= 1 high-quality sample
    high_quality: float  # share of samples within 3σ of their nearest mode, in [0, 1]
    reverse_kl: float  # KL(q ‖ uniform) of the high-quality samples' mode histogram (nats)
    counts: np.ndarray  # (K,) high-quality samples per mode

    def as_dict(self) -> dict:
        return {"modes_covered": self.modes_covered, "high_quality": self.high_quality, "reverse_kl": self.reverse_kl}


def mode_stats(samples: torch.Tensor, means: torch.Tensor, sigma: float) -> ModeStats:
    """VEEGAN's mode metrics of samples (N, 2) against mode centres means (K, 2) of standard deviation σ."""
    if samples.dim() != 2 or samples.shape[1] != means.shape[1]:
        raise BadInput(f"mode_stats: samples must be (N, {means.shape[1]}), got {tuple(samples.shape)}")
    if not torch.isfinite(samples).all():
        raise BadInput("mode_stats: samples hold NaN or inf; check the generator")
    distance = torch.cdist(samples.double(), means.double()) / sigma  # (N, K) Mahalanobis, isotropic σ
    nearest, mode = distance.min(dim=1)  # (N,), (N,)
    good = nearest < HIGH_QUALITY_SIGMAS  # (N,)
    counts = torch.bincount(mode[good], minlength=len(means)).numpy()  # (K,)
    return ModeStats(int((counts > 0).sum()), float(good.double().mean()), histogram_reverse_kl(counts), counts)


def histogram_reverse_kl(counts: np.ndarray) -> float:
    """KL(q ‖ p) = Σ_k q_k log(q_k K) for q = counts / Σ counts and p uniform over K bins; inf if no counts."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        return math.inf
    q = counts / counts.sum()
    nonzero = q > 0
    return float((q[nonzero] * np.log(q[nonzero] * len(q))).sum())


@dataclass
class ClassStats:
    classes_covered: int  # classes with at least min_share of the predictions
    mean_confidence: float  # mean of max_c p(c | x)
    reverse_kl: float  # KL(predicted-class histogram ‖ uniform), nats
    shares: np.ndarray  # (C,) share of samples predicted as each class


def class_stats(probs: torch.Tensor, min_share: float = 0.02) -> ClassStats:
    """Coverage and confidence of generated samples from a classifier's probabilities probs (N, C)."""
    if probs.dim() != 2:
        raise BadInput(f"class_stats: probs must be (N, C), got {tuple(probs.shape)}")
    counts = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).double().numpy()  # (C,)
    shares = counts / counts.sum()
    return ClassStats(int((shares >= min_share).sum()), float(probs.max(1).values.mean()),
                      histogram_reverse_kl(counts), shares)


def frechet_distance(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to features (N, F) and (M, F):
    ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2}) (squared units of the features)."""
    a = np.asarray(features_a.detach().cpu() if hasattr(features_a, "detach") else features_a, dtype=np.float64)
    b = np.asarray(features_b.detach().cpu() if hasattr(features_b, "detach") else features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise BadInput(f"frechet_distance: need two (N, F) arrays with N >= 2, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # one BLAS thread: beside a busy process a second OpenBLAS thread made this 128 × 128 root 240× slower (2.3 s)
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # a collapsed generator gives a singular Σ_g
        root = linalg.sqrtm(cov_a @ cov_b)  # (Σ_a Σ_b)^{1/2}
    root = root.real  # numerical noise can leave a tiny imaginary part
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def wasserstein_1d(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Exact W1 between the empirical distributions of two 1-D samples (scipy.stats.wasserstein_distance)."""
    a = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, dtype=np.float64).ravel()
    b = np.asarray(b.detach().cpu() if hasattr(b, "detach") else b, dtype=np.float64).ravel()
    return float(wasserstein_distance(a, b))


def uniform_shift_js(shift: float) -> float:
    """JS(U[0,1] ‖ U[θ, θ+1]) in nats: |θ| log 2 while the supports overlap, log 2 once they do not
    (on the overlap p = q = m contributes 0; elsewhere one density is 1 and m = ½, contributing log 2)."""
    return min(abs(shift), 1.0) * math.log(2)


def uniform_shift_w1(shift: float) -> float:
    """W1(U[0,1], U[θ, θ+1]) = |θ|: every unit of mass moves by θ."""
    return abs(shift)
