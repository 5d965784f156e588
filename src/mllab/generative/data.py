"""The 2-D Gaussian mixtures of VEEGAN (Srivastava et al. 2017) with PacGAN's confirmed settings
(Lin et al. 2018, `fjxmlzn/PacGAN` configs; /work/shared/REFERENCES.md §2):

    ring: 8 means (cos 2πi/8, sin 2πi/8), radius 1, σ = 0.01
    grid: 25 means {−4, −2, 0, 2, 4}², spacing 2, σ = 0.05

each mode equally likely. Samples are (N, 2) float32 tensors; σ is per coordinate (isotropic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from mllab.core.errors import BadInput


@dataclass(frozen=True)
class Mixture:
    name: str
    means: torch.Tensor  # (K, 2) mode centres
    sigma: float  # standard deviation of each coordinate of each mode

    @property
    def n_modes(self) -> int:
        return len(self.means)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 2) samples: a uniformly drawn mode k, then x = μ_k + σ ε, ε ~ N(0, I)."""
        if n < 1:
            raise BadInput(f"mixture {self.name}: sample count must be >= 1, got {n}")
        k = torch.randint(self.n_modes, (n,), generator=generator)  # (n,)
        return self.means[k] + self.sigma * torch.randn(n, 2, generator=generator)


def ring_mixture(n_modes: int = 8, radius: float = 1.0, sigma: float = 0.01) -> Mixture:
    """Means on a circle: (r cos 2πi/K, r sin 2πi/K), i = 0..K−1."""
    angles = torch.arange(n_modes, dtype=torch.float64) * 2 * math.pi / n_modes
    means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)  # (K, 2)
    return Mixture("ring", means.float(), sigma)


def grid_mixture(side: int = 5, spacing: float = 2.0, sigma: float = 0.05) -> Mixture:
    """Means on a side×side grid centred at 0 with `spacing` between neighbours ({−4,…,4}² for 5 and 2)."""
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing  # (side,)
    means = torch.cartesian_prod(ticks, ticks)  # (side², 2)
    return Mixture("grid", means, sigma)


MIXTURES: dict[str, Callable[[], Mixture]] = {"ring": ring_mixture, "grid": grid_mixture}


def make_mixture(name: str) -> Mixture:
    if name not in MIXTURES:
        raise BadInput(f"mixture: unknown name {name!r}; choose one of {', '.join(MIXTURES)}")
    return MIXTURES[name]()
