"""Auto-encoding helpers: the PCA baseline, training an auto-encoder with `fit`, per-sample errors, noise.

    PCA          x̂ = μ + (x − μ) V_kᵀ V_k, V_k the top-k principal directions of the training set
                 (the best rank-k linear reconstruction of the training set, Eckart–Young)
    auto-encoder x̂ = dec(enc(x)), trained on Σ_i mean_d (x̂_id − x_id)² (`models.autoencoder`)
    noise        x̃ = x + σ ε, ε ~ N(0, I)  (not clipped: the PSNR of x̃ is then 10 log10(1/σ²) for peak 1)

Shapes: data x (N, D) flat float tensors; errors (N,) mean squared error per sample, in squared pixel units.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mllab.core.errors import BadInput
from mllab.data.loader import TensorLoader
from mllab.models.autoencoder import reconstruction_loss
from mllab.train.loop import fit


def pca_reconstruction(train_x: torch.Tensor, x: torch.Tensor, code_size: int) -> torch.Tensor:
    """x (N, D) projected on the top `code_size` principal directions of train_x (M, D) and mapped back."""
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    if not 1 <= code_size <= train_x.shape[1]:
        raise BadInput(f"code_size: must be in 1..{train_x.shape[1]}, got {code_size}")
    with threadpool_limits(limits=1, user_api="blas"):  # one BLAS thread, as one torch thread: beside a busy
        # process a second OpenBLAS thread made the SVD of a (170, 3072) matrix 50× slower (16 s vs 0.3 s)
        pca = PCA(n_components=code_size, svd_solver="full").fit(train_x.cpu().numpy())
        x_hat = pca.inverse_transform(pca.transform(x.cpu().numpy()))  # μ + (x − μ) V_kᵀ V_k
    return torch.as_tensor(np.asarray(x_hat), dtype=x.dtype)


@torch.no_grad()
def reconstruction_errors(model: nn.Module | None, x: torch.Tensor, x_hat: torch.Tensor | None = None,
                          target: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample MSE (N,) between target (default x) and x̂ = model(x) in eval mode (or the given x_hat)."""
    if x_hat is None:
        was_training = model.training
        x_hat = model.eval()(x)
        model.train(was_training)
    target = x if target is None else target
    return (x_hat.flatten(1) - target.flatten(1)).pow(2).mean(1)  # (N,)


def train_autoencoder(model: nn.Module, x: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
                      seed: int) -> nn.Module:
    """Train `model` to reconstruct x (N, D) with Adam(lr) for `epochs` epochs of shuffled batches (`fit`)."""
    loader = TensorLoader([x], batch_size, seed=seed % 2**32)  # TensorLoader multiplies its seed
    fit(model, reconstruction_loss, loader, torch.optim.Adam(model.parameters(), lr=lr), epochs=epochs)
    return model.eval()


def add_noise(x: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """x̃ = x + σ ε with ε ~ N(0, I) drawn from `seed` (same shape as x)."""
    if std < 0:
        raise BadInput(f"noise std: must be >= 0, got {std}")
    return x + std * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
