"""Is an explanation faithful, and does it depend on the model?

Deletion / insertion (Petsiuk et al. 2018): order the pixels by attribution (largest first); deletion sets
the top-k pixels to the baseline, insertion starts from the baseline and puts the top-k pixels back; the
model's probability of the class after each step is a curve over the fraction of pixels changed, and its
area (AUC, trapezoid rule on [0, 1]) scores the order: a faithful map deletes fast (low AUC) and inserts
fast (high AUC). A random order is the baseline.

Model-parameter randomisation (Adebayo et al. 2018): re-initialise the layers from the top (the output
layer) down, cascading; an explanation that depends on the model changes as the weights are destroyed,
measured by the Spearman rank correlation between the original and the new maps (scipy.stats.spearmanr).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed
from mllab.explain.saliency import targets

MODES = ("deletion", "insertion")


def pixel_order(attribution: torch.Tensor) -> torch.Tensor:
    """Pixels by attribution, largest first (channels summed): indices into H·W  (B, H·W)."""
    return attribution.sum(1).flatten(1).argsort(dim=1, descending=True, stable=True)


def random_order(batch: int, pixels: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random pixel order per image (B, H·W): the baseline of deletion / insertion."""
    return torch.stack([torch.randperm(pixels, generator=generator) for _ in range(batch)])


def perturbation_curve(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor, order: torch.Tensor, *,
                       mode: str = "deletion", steps: int = 28, baseline: float = 0.0,
                       batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """(fractions (K+1,), probabilities (B, K+1)): the softmax probability of the target class after changing
    the first round(k·H·W/K) pixels of `order` (B, H·W), k = 0..K, in `mode` ("deletion" | "insertion")."""
    if mode not in MODES:
        raise BadInput(f"mode: unknown {mode!r}; choose one of {', '.join(MODES)}")
    B, C, H, W = x.shape
    if order.shape != (B, H * W):
        raise BadInput(f"order: need one pixel order per image, shape {(B, H * W)}, got {tuple(order.shape)}")
    if steps < 1:
        raise BadInput(f"steps: must be >= 1, got {steps}")
    counts = torch.round(torch.linspace(0, H * W, steps + 1)).long()  # pixels changed after step k  (K+1,)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(H * W, device=order.device).expand(B, -1))  # rank of each pixel (B, H·W)
    changed = rank[:, None, :] < counts.to(order.device)[None, :, None]  # (B, K+1, H·W)
    changed = changed.view(B, steps + 1, 1, H, W).to(x.dtype)
    x_ = x.detach()[:, None]  # (B, 1, C, H, W)
    if mode == "deletion":
        images = (1 - changed) * x_ + changed * baseline  # top-k pixels set to the baseline
    else:
        images = changed * x_ + (1 - changed) * baseline  # only the top-k pixels of x present
    images = images.reshape(B * (steps + 1), C, H, W)
    with torch.no_grad():
        t = targets(target, B, model(x[:1]).shape[1], x.device).repeat_interleave(steps + 1)
        probs = torch.cat([torch.softmax(model(images[i:i + batch_size]), 1)
                           .gather(1, t[i:i + batch_size, None]).squeeze(1)
                           for i in range(0, len(images), batch_size)])
    return counts.float() / (H * W), probs.view(B, steps + 1)


def area_under(fractions: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under each curve over the fraction of pixels  (B,)."""
    return torch.trapezoid(values, fractions, dim=-1)


def parametrised_layers(model: nn.Module) -> list[str]:
    """Names of the modules that own parameters and can re-initialise them, in forward (registration) order."""
    return [name for name, m in model.named_modules()
            if hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))]


def cascading_randomisation(model: nn.Module, seed: int = 0) -> Iterator[tuple[list[str], nn.Module]]:
    """Yield (layers randomised so far, model copy) after re-initialising each layer in turn, top (output)
    layer first, cascading: step k has the top k layers at fresh random weights, the rest as trained. The
    original model is not touched; step i draws from derive_seed(seed, "reinitialise", i) (torch's global RNG
    is left as it was)."""
    layers = parametrised_layers(model)
    if not layers:
        raise BadInput("model: no layer with parameters to randomise")
    randomised = copy.deepcopy(model)
    modules = dict(randomised.named_modules())
    done: list[str] = []
    for i, name in enumerate(reversed(layers)):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "reinitialise", i))
            modules[name].reset_parameters()  # the layer's own initialiser (Kaiming-uniform for Conv/Linear)
        done.append(name)
        yield list(done), copy.deepcopy(randomised)


def rank_correlation(a: torch.Tensor, b: torch.Tensor, absolute: bool = True) -> np.ndarray:
    """Spearman ρ between maps a and b, image by image  (B,); absolute: of |a| and |b| (Adebayo et al.'s
    main measure) rather than of the signed maps."""
    if a.shape != b.shape:
        raise BadInput(f"maps: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = (a.abs(), b.abs()) if absolute else (a, b)
    a, b = a.flatten(1).double().cpu().numpy(), b.flatten(1).double().cpu().numpy()
    rho = []
    for u, v in zip(a, b):
        r = spearmanr(u, v).statistic
        rho.append(0.0 if np.isnan(r) else float(r))  # a constant map has no ranking: no correlation
    return np.array(rho)
