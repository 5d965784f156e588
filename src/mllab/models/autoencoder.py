"""Auto-encoders: x -> code -> x̂, trained to reconstruct (MSE). An MLP and a small conv pair; the denoising
variant corrupts its input while training (x̃ = x + σ ε) and reconstructs the clean x.

`activation="linear"` gives the linear auto-encoder, whose optimum spans the same subspace as PCA's
first `code_size` components (the classical result the autoencoder experiment checks).
"""

from __future__ import annotations

import torch
from torch import nn

from mllab.core.errors import BadInput

ACTIVATIONS = {"relu": nn.ReLU, "linear": nn.Identity}


class MLPAutoencoder(nn.Module):
    """x (B, in_features) -> code (B, code_size) -> x̂ (B, in_features); `hidden` units on each side.

    noise_std > 0: the denoising variant — in training mode the encoder sees x + noise_std·ε, ε ~ N(0, I)."""

    def __init__(self, in_features: int, code_size: int, *, hidden: int = 256, activation: str = "relu",
                 noise_std: float = 0.0):
        super().__init__()
        if code_size < 1 or in_features < 1 or hidden < 1:
            raise BadInput(f"code_size/in_features/hidden: must be >= 1, got {code_size}/{in_features}/{hidden}")
        if activation not in ACTIVATIONS:
            raise BadInput(f"activation: unknown {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if noise_std < 0:
            raise BadInput(f"noise_std: must be >= 0, got {noise_std}")
        act = ACTIVATIONS[activation]
        self.noise_std = noise_std
        self.encoder = nn.Sequential(nn.Linear(in_features, hidden), act(), nn.Linear(hidden, code_size))
        self.decoder = nn.Sequential(nn.Linear(code_size, hidden), act(), nn.Linear(hidden, in_features))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if self.training and self.noise_std > 0:
            x = x + self.noise_std * torch.randn_like(x)  # x̃ = x + σε: reconstruct x from x̃
        return self.decoder(self.encoder(x))


class ConvAutoencoder(nn.Module):
    """image (B, 1, 28, 28) or (B, 784) -> code (B, code_size) -> x̂ (B, 1, 28, 28) in [0, 1]."""

    def __init__(self, code_size: int = 16, *, channels: int = 16, noise_std: float = 0.0):
        super().__init__()
        if code_size < 1 or channels < 1 or noise_std < 0:
            raise BadInput(f"code_size/channels >= 1 and noise_std >= 0, got {code_size}/{channels}/{noise_std}")
        self.channels, self.noise_std = channels, noise_std
        self.encoder = nn.Sequential(
            nn.Conv2d(1, channels, 4, stride=2, padding=1), nn.ReLU(),  # (B, c, 14, 14)
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),  # (B, 2c, 7, 7)
            nn.Flatten(), nn.Linear(2 * channels * 49, code_size))
        self.project = nn.Sequential(nn.Linear(code_size, 2 * channels * 49), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),  # (B, c, 14, 14)
            nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1), nn.Sigmoid())  # (B, 1, 28, 28)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.view(len(x), 1, 28, 28))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(len(x), 1, 28, 28)
        if self.training and self.noise_std > 0:
            x = x + self.noise_std * torch.randn_like(x)
        h = self.project(self.encoder(x)).view(len(x), 2 * self.channels, 7, 7)  # (B, 2c, 7, 7)
        return self.decoder(h)


def reconstruction_loss(model: nn.Module, batch) -> tuple[torch.Tensor, int]:
    """`fit`'s loss contract: (Σ_i mean_d (x̂_id − x_id)², N) for a batch (x,) or (x, y)."""
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    x_hat = model(x).flatten(1)  # (B, D)
    return (x_hat - x.flatten(1)).pow(2).mean(1).sum(), len(x)


def psnr(clean: torch.Tensor, other: torch.Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio 10 log10(peak² / MSE) in dB, over all pixels."""
    mse = float((clean.flatten(1) - other.flatten(1)).pow(2).mean())
    return float(10 * torch.log10(torch.tensor(peak ** 2 / max(mse, 1e-12))))
