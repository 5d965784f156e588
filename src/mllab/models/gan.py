"""GAN networks: an MLP generator/critic pair for 2-D (or any flat) data and a small conv pair for 28×28 digits.

A generator maps z (B, latent_dim) ~ N(0, I) to a sample; a critic maps a sample to one real number per
row (B,): a logit, a regression value or a Wasserstein score, as the objective reads it
(`mllab.generative.objectives`). No batch norm in the critics: WGAN-GP's penalty is per sample, and batch
norm would couple the samples of a batch (Gulrajani et al. 2017).
"""

from __future__ import annotations

import torch
from torch import nn

from mllab.core.errors import BadInput


def _check(latent_dim: int, width: int, depth: int) -> None:
    if latent_dim < 1:
        raise BadInput(f"latent_dim: the latent size must be >= 1, got {latent_dim}; e.g. latent_dim=2")
    if width < 1 or depth < 1:
        raise BadInput(f"width/depth: must be >= 1, got width={width}, depth={depth}")


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


OUTPUTS = {"linear": nn.Identity, "sigmoid": nn.Sigmoid}  # generator output maps: ℝ (2-D points), [0, 1] (pixels)


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> x (B, out_features) through `depth` ReLU layers of `width` units;
    `output="sigmoid"` maps into [0, 1] (pixels), "linear" leaves x in ℝ (2-D mixtures)."""

    def __init__(self, latent_dim: int = 2, out_features: int = 2, *, width: int = 128, depth: int = 3,
                 output: str = "linear"):
        super().__init__()
        _check(latent_dim, width, depth)
        if output not in OUTPUTS:
            raise BadInput(f"output: unknown generator output {output!r}; choose one of {', '.join(OUTPUTS)}")
        self.latent_dim = latent_dim
        self.net = nn.Sequential(_mlp([latent_dim] + [width] * depth + [out_features]), OUTPUTS[output]())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPCritic(nn.Module):
    """x (B, in_features) -> score (B,) through `depth` ReLU layers of `width` units."""

    def __init__(self, in_features: int = 2, *, width: int = 128, depth: int = 3):
        super().__init__()
        _check(1, width, depth)
        self.net = _mlp([in_features] + [width] * depth + [1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


class ConvGenerator(nn.Module):
    """z (B, latent_dim) -> image (B, 1, 28, 28) in [0, 1]: linear to (2c, 7, 7), two ×2 transposed convs."""

    def __init__(self, latent_dim: int = 32, *, channels: int = 32):
        super().__init__()
        _check(latent_dim, channels, 1)
        self.latent_dim, self.channels = latent_dim, channels
        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * channels * 7 * 7), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),  # (B, c, 14, 14)
            nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1), nn.Sigmoid())  # (B, 1, 28, 28)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(len(z), 2 * self.channels, 7, 7)  # (B, 2c, 7, 7)
        return self.up(h)


class ConvCritic(nn.Module):
    """image (B, 1, 28, 28) or (B, 784) -> score (B,): two stride-2 convs with leaky ReLU, then linear."""

    def __init__(self, *, channels: int = 32):
        super().__init__()
        _check(1, channels, 1)
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # (B, c, 14, 14)
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # (B, 2c, 7, 7)
            nn.Flatten(), nn.Linear(2 * channels * 7 * 7, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.view(len(x), 1, 28, 28)).squeeze(1)
