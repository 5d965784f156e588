"""Spatial transforms of image batches with `affine_grid` / `grid_sample` (no torchvision): seeded random affine
augmentation (rotation, scale, translation) and a spatial transformer layer.

An affine warp samples the output pixel at normalised coordinates p (in [−1, 1]²) from the input at θ·[p; 1]:

    θ = [[cos α / s, −sin α / s, t_x], [sin α / s, cos α / s, t_y]]     (2×3)

so the content appears rotated by α, scaled by s and moved by −t (`affine_theta` builds θ from those in
degrees and pixels). Everything runs on the batch's device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput


def affine_theta(angle_deg: torch.Tensor, scale: torch.Tensor, shift_px: torch.Tensor, size: int) -> torch.Tensor:
    """θ (N, 2, 3) that rotates the content by `angle_deg` (N,), scales it by `scale` (N,) and moves it by
    `shift_px` (N, 2) pixels (x right, y down) in an image of `size` pixels."""
    a = angle_deg * math.pi / 180
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale  # sampling grid is the inverse map: 1/s
    shift = -2.0 * shift_px / size  # moving the content by +t samples from −t (normalised units: 2/size per pixel)
    row0 = torch.stack([cos, -sin, shift[:, 0]], dim=1)  # (N, 3)
    row1 = torch.stack([sin, cos, shift[:, 1]], dim=1)
    return torch.stack([row0, row1], dim=1)  # (N, 2, 3)


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """x (N, C, H, W) sampled through θ (N, 2, 3): bilinear, zeros outside, align_corners=False. Sampled in float64
    (then cast back) so that the identity θ returns x to ~1e-15, not float32's ~2e-6."""
    grid = F.affine_grid(theta.double(), list(x.shape), align_corners=False)  # (N, H, W, 2)
    return F.grid_sample(x.double(), grid, mode="bilinear", padding_mode="zeros", align_corners=False).to(x.dtype)


def random_affine(x: torch.Tensor, *, max_angle: float = 0.0, scale: tuple[float, float] = (1.0, 1.0),
                  max_shift: float = 0.0, generator: torch.Generator | None = None, seed: int | None = None
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Augment x (N, C, H, W) by per-image angle ~ U[−max_angle, max_angle] (degrees), scale ~ U[scale],
    shift ~ U[−max_shift, max_shift]² (pixels). Seeded by `generator` (on x's device) or `seed`.

    Returns (warped x, {"angle": (N,), "scale": (N,), "shift": (N, 2)}). All ranges zero: x itself (to rounding)."""
    if max_angle < 0 or max_shift < 0:
        raise BadInput(f"random_affine: max_angle and max_shift must be >= 0, got {max_angle}, {max_shift}")
    if not 0 < scale[0] <= scale[1]:
        raise BadInput(f"random_affine: scale must be a range 0 < low <= high, got {scale}")
    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(0 if seed is None else seed)
    n, dev = len(x), x.device

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator, device=dev)

    params = {"angle": uniform(-max_angle, max_angle, n), "scale": uniform(scale[0], scale[1], n),
              "shift": uniform(-max_shift, max_shift, n, 2)}
    theta = affine_theta(params["angle"], params["scale"], params["shift"], x.shape[-1])
    return warp(x, theta), params


class RandomAffine(nn.Module):
    """Random affine augmentation as a module (active in training mode only), with its own seeded generator."""

    def __init__(self, max_angle: float = 0.0, scale: tuple[float, float] = (1.0, 1.0), max_shift: float = 0.0,
                 seed: int = 0):
        super().__init__()
        self.max_angle, self.scale, self.max_shift = max_angle, tuple(scale), max_shift
        self.seed, self._generator = seed, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if self._generator is None or self._generator.device != x.device:
            self._generator = torch.Generator(device=x.device).manual_seed(self.seed)
        return random_affine(x, max_angle=self.max_angle, scale=self.scale, max_shift=self.max_shift,
                             generator=self._generator)[0]


class SpatialTransformer(nn.Module):
    """Localisation net → θ (2×3) → sampler. x (B, C, H, W) -> x warped by its own θ (B, C, H, W).

    The last layer of the localisation net starts at zero weight and the identity bias, so at initialisation
    θ = [[1, 0, 0], [0, 1, 0]] and the layer returns its input. `last_theta` keeps the latest θ (B, 2, 3)."""

    def __init__(self, in_channels: int = 1, size: int = 28, hidden: int = 32):
        super().__init__()
        self.localisation = nn.Sequential(
            nn.Conv2d(in_channels, 8, 5, stride=2, padding=2), nn.ReLU(),  # (B, 8, H/2, W/2)
            nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),  # (B, 8, H/4, W/4)
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # (B, 128)
            nn.Linear(8 * 16, hidden), nn.ReLU(),
            nn.Linear(hidden, 6))  # θ flattened
        nn.init.zeros_(self.localisation[-1].weight)
        with torch.no_grad():
            self.localisation[-1].bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))  # identity θ
        self.last_theta: torch.Tensor | None = None

    def theta(self, x: torch.Tensor) -> torch.Tensor:
        return self.localisation(x).view(-1, 2, 3)  # (B, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.theta(x)
        self.last_theta = theta.detach()
        return warp(x, theta)


def theta_angle(theta: torch.Tensor) -> torch.Tensor:
    """The rotation (degrees) a θ (N, 2, 3) applies to the content, from its linear part: atan2(θ10 − θ01, θ00 + θ11)
    (exact for rotation·scale; the rotation of the closest similarity otherwise)."""
    return torch.rad2deg(torch.atan2(theta[:, 1, 0] - theta[:, 0, 1], theta[:, 0, 0] + theta[:, 1, 1]))
