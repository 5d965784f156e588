"""LIME for images (Ribeiro et al. 2016): explain one prediction by a linear model fitted locally on
interpretable features, here superpixels.

    z ∈ {0, 1}^F                 which of the F superpixels are kept (drawn Bernoulli(½), as Captum's default)
    x'(z) = z[seg] ⊙ x + (1 − z[seg]) ⊙ b      superpixels switched off are set to the baseline b
    π(z) = exp(−d(z)² / (2 w²))  the exponential kernel on the cosine distance d, either between z and the
                                 all-on vector 1 ("interpretable", the lime package) or between x'(z) and x
                                 ("input", Captum's default similarity)
    g = argmin_g Σ_s π_s (f_c(x'(z_s)) − g(z_s))² + α‖g‖²     a weighted ridge surrogate (sklearn Ridge)

The explanation is g's weight vector (F,): one number per superpixel. Model calls are batched: the S
perturbed images go through the model `batch_size` at a time. Superpixels: SLIC (scikit-image) for real
images, fixed square blocks for small digits (`block_segments`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import Ridge
from torch import nn

from mllab.core.errors import BadInput
from mllab.explain.saliency import targets

DISTANCES = ("interpretable", "input")


def block_segments(height: int, width: int, block: int) -> torch.Tensor:
    """Superpixels as a grid of block × block squares: feature ids (H, W), row-major, 0..F−1."""
    if block < 1:
        raise BadInput(f"block: must be >= 1 pixel, got {block}")
    rows = torch.arange(height) // block  # (H,)
    cols = torch.arange(width) // block  # (W,)
    return rows[:, None] * (-(-width // block)) + cols[None, :]  # (H, W)


def slic_segments(image: torch.Tensor | np.ndarray, n_segments: int = 50, compactness: float = 10.0,
                  sigma: float = 1.0) -> torch.Tensor:
    """SLIC superpixels (scikit-image) of one image (C, H, W) or (H, W): feature ids (H, W), 0..F−1."""
    from skimage.segmentation import slic

    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3:
        array = np.moveaxis(array, 0, -1)  # (H, W, C)
    channel_axis = -1 if array.ndim == 3 else None
    labels = slic(array.astype(np.float64), n_segments=n_segments, compactness=compactness, sigma=sigma,
                  start_label=0, channel_axis=channel_axis)
    _, dense = np.unique(labels, return_inverse=True)  # ids 0..F−1 without gaps
    return torch.as_tensor(dense.reshape(labels.shape), dtype=torch.long)


def draw_masks(n_samples: int, n_features: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """S perturbations z_s ∈ {0, 1}^F, each feature kept with probability ½  (S, F) long."""
    if n_samples < 1:
        raise BadInput(f"n_samples: must be >= 1 perturbation, got {n_samples}")
    return torch.bernoulli(torch.full((n_samples, n_features), 0.5), generator=generator).long()


@dataclass
class LimeResult:
    weights: torch.Tensor  # (F,) the surrogate's coefficients: the explanation
    intercept: float
    fidelity: float  # the surrogate's weighted R² on its own samples (local fidelity)
    masks: torch.Tensor  # (S, F) the perturbations z_s
    outputs: torch.Tensor  # (S,) f_c(x'(z_s))
    similarities: torch.Tensor  # (S,) π(z_s)

    def as_map(self, segments: torch.Tensor) -> torch.Tensor:
        """The explanation drawn on the image grid: each pixel gets its superpixel's weight  (H, W)."""
        return self.weights[segments]


def kernel(masks: torch.Tensor, perturbed: torch.Tensor, x: torch.Tensor, distance: str,
           width: float) -> torch.Tensor:
    """π = exp(−d² / (2 w²)) with d the cosine distance  (S,)."""
    if distance == "interpretable":
        a, b = masks.float(), torch.ones(1, masks.shape[1])
    else:
        a, b = perturbed.flatten(1).float(), x.flatten(1).float()  # (S, D), (1, D)
    d = 1 - torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=1)  # (S,)
    return torch.exp(-d ** 2 / (2 * width ** 2)).float()


def lime(model: nn.Module, x: torch.Tensor, target: int, segments: torch.Tensor, *, n_samples: int = 500,
         masks: torch.Tensor | None = None, baseline: float | torch.Tensor = 0.0, distance: str = "interpretable",
         kernel_width: float = 0.25, alpha: float = 1.0, batch_size: int = 256,
         generator: torch.Generator | None = None) -> LimeResult:
    """Explain model(x)[0, target] for one image x (1, C, H, W) on the superpixels `segments` (H, W) of ids
    0..F−1. masks: the perturbations (S, F) to use (None: `draw_masks(n_samples, F, generator)`).
    distance/kernel_width: the kernel (the lime package: "interpretable", 0.25; Captum: "input", 1.0)."""
    if x.dim() != 4 or len(x) != 1:
        raise BadInput(f"x: LIME explains one image (1, C, H, W), got shape {tuple(x.shape)}")
    if segments.shape != x.shape[-2:]:
        raise BadInput(f"segments: feature mask of shape {tuple(segments.shape)} does not match the image's "
                       f"{tuple(x.shape[-2:])}; give one feature id per pixel")
    if distance not in DISTANCES:
        raise BadInput(f"distance: unknown {distance!r}; choose one of {', '.join(DISTANCES)}")
    if kernel_width <= 0 or alpha < 0:
        raise BadInput(f"kernel_width must be > 0 and alpha >= 0, got {kernel_width}, {alpha}")
    segments = segments.to(x.device).long()
    n_features = int(segments.max()) + 1
    if masks is None:
        masks = draw_masks(n_samples, n_features, generator)
    if masks.dim() != 2 or masks.shape[1] != n_features:
        raise BadInput(f"masks: need shape (S, {n_features}), got {tuple(masks.shape)}")
    masks = masks.to(x.device)
    x = x.detach()
    baseline = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    outputs, similarities = [], []
    with torch.no_grad():
        classes = model(x).shape[1]
        t = int(targets(target, 1, classes, x.device)[0])
        for i in range(0, len(masks), batch_size):
            keep = masks[i:i + batch_size][:, segments].unsqueeze(1).to(x.dtype)  # (b, 1, H, W)
            perturbed = keep * x + (1 - keep) * baseline  # x'(z) = z[seg] ⊙ x + (1 − z[seg]) ⊙ b, (b, C, H, W)
            outputs.append(model(perturbed)[:, t])  # (b,) one batched forward
            similarities.append(kernel(masks[i:i + batch_size], perturbed, x, distance, kernel_width))
    y = torch.cat(outputs).float().cpu()  # (S,)
    pi = torch.cat(similarities).cpu()  # (S,)
    z = masks.float().cpu().numpy()
    # weighted ridge: argmin Σ π_s (y_s − w·z_s − b)² + α‖w‖²
    surrogate = Ridge(alpha=alpha).fit(z, y.numpy(), sample_weight=pi.numpy())
    fidelity = float(surrogate.score(z, y.numpy(), sample_weight=pi.numpy()))  # weighted R²
    return LimeResult(torch.as_tensor(surrogate.coef_, dtype=torch.float32), float(surrogate.intercept_),
                      fidelity, masks.cpu(), y, pi)
