"""SmoothGrad (Smilkov et al. 2017): the mean saliency over n noisy copies of the input,

    M̂_c(x) = (1/n) Σ_{j=1..n} |∂y_c/∂x (x + ε_j)|,   ε_j ~ N(0, σ²),   σ = noise · (x_max − x_min)

σ as a fraction ("noise level") of each image's range, as the paper defines it (10–20 % recommended).
All n·B copies are drawn at once (same order as Captum's `NoiseTunnel`: image-major) and their gradients
computed `batch_size` copies per forward/backward pass.
"""

from __future__ import annotations

import torch
from torch import nn

from mllab.core.errors import BadInput
from mllab.explain.saliency import gradient, targets


def noise_std(x: torch.Tensor, noise: float) -> torch.Tensor:
    """σ_b = noise · (max x_b − min x_b) per image  (B,)."""
    flat = x.detach().flatten(1)  # (B, D)
    return noise * (flat.max(1).values - flat.min(1).values)


def smoothgrad(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor, *, n: int = 25, noise: float = 0.15,
               absolute: bool = True, batch_size: int = 256, generator: torch.Generator | None = None,
               std: float | None = None) -> torch.Tensor:
    """SmoothGrad maps (B, C, H, W). n: noisy copies per image; noise: σ as a fraction of the image's range
    (`std` instead gives σ in input units, as Captum's `stdevs`); absolute: average |∂y_c/∂x| (Captum's
    NoiseTunnel(Saliency)) or the signed gradient; generator: the random draws (None: torch's global RNG)."""
    if n < 1:
        raise BadInput(f"n (noisy copies): must be >= 1, got {n}")
    if noise < 0 or (std is not None and std < 0):
        raise BadInput(f"noise σ: must be >= 0, got {std if std is not None else noise}; σ = 0 is vanilla saliency")
    if batch_size < 1:
        raise BadInput(f"batch_size: must be >= 1, got {batch_size}")
    B, shape = len(x), x.shape[1:]
    with torch.no_grad():
        classes = model(x[:1]).shape[1]
    t = targets(target, B, classes, x.device).repeat_interleave(n)  # (B·n,)
    sigma = torch.full((B,), float(std), device=x.device) if std is not None else noise_std(x, noise)  # (B,)
    eps = torch.randn((B * n, *shape), generator=generator, device=x.device)  # (B·n, C, H, W), ε/σ
    noisy = x.detach().repeat_interleave(n, 0) + eps * sigma.repeat_interleave(n).view(-1, *[1] * len(shape))
    grads = torch.cat([gradient(model, noisy[i:i + batch_size], t[i:i + batch_size])
                       for i in range(0, B * n, batch_size)])  # (B·n, C, H, W)
    if absolute:
        grads = grads.abs()
    return grads.view(B, n, *shape).sum(1) / n  # M̂ = (1/n) Σ_j M(x + ε_j)
