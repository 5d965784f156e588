"""Random ReLU features with a least-squares readout: the classic model-wise double-descent setting.

    φ(x) = relu(W x) / √N              W (N, d) drawn once from N(0, 1/d), then frozen (x centred)
    ŷ(x) = φ(x) β                      β (N, C) fitted in closed form

The readout is the minimum-norm least-squares solution (ridge → 0), or ridge regression when `ridge > 0`:

    β = argmin ‖Φ β − Y‖² + λ ‖β‖²  =  Φᵀ (Φ Φᵀ + λ I)⁻¹ Y    (λ = 0: the pseudo-inverse Φ⁺ Y)

With N features and n training samples the model interpolates (zero training error) once N ≥ n: each
of the C outputs has N parameters, so the whole model has N·C parameters against n·C targets, the
interpolation threshold of Nakkiran et al. (2020). Near N = n the system Φ β = Y is square and
ill-conditioned, so label noise is amplified: the test error peaks there.

No bias term: with a random bias most units of centred digits are always on or always off, the
features span far fewer than N directions and the threshold drifts to N ≈ 2n (measured); through the
data's mean every unit splits the data and Φ has full rank min(n, N).
"""

from __future__ import annotations

import torch


class RandomReLUFeatures:
    """relu(W x) / √N features (W frozen) and a closed-form least-squares readout to C outputs.

    Not an nn.Module: nothing is trained by gradient. Tensors in float64 for the ill-conditioned solve.
    """

    def __init__(self, in_features: int, n_features: int, *, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float64):
        if n_features < 1 or in_features < 1:
            raise ValueError(f"need in_features >= 1 and n_features >= 1, got {in_features}, {n_features}")
        self.weight = torch.randn(n_features, in_features, generator=generator, dtype=dtype) / in_features**0.5
        self.readout: torch.Tensor | None = None  # (N, C) after `fit`

    @property
    def n_features(self) -> int:
        return self.weight.shape[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) -> (B, N): φ(x) = relu(W x) / √N; centre x (subtract the training mean) first."""
        x = x.to(self.weight.dtype).flatten(1)
        return torch.relu(x @ self.weight.T) / self.n_features**0.5

    def fit(self, x: torch.Tensor, targets: torch.Tensor, ridge: float = 0.0) -> "RandomReLUFeatures":
        """Fit β on x (n, d) and targets (n, C); ridge = 0 gives the minimum-norm least-squares solution."""
        phi = self.features(x)  # (n, N)
        y = targets.to(phi.dtype)  # (n, C)
        if ridge > 0:
            gram = phi @ phi.T  # (n, n): the kernel form is cheap when N > n and exact for every N
            self.readout = phi.T @ torch.linalg.solve(gram + ridge * torch.eye(len(phi), dtype=phi.dtype), y)
        else:
            self.readout = torch.linalg.pinv(phi) @ y  # β = Φ⁺ Y: the least-squares solution of least norm
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) -> (B, C) outputs φ(x) β."""
        if self.readout is None:
            raise RuntimeError("call fit before predict")
        return self.features(x) @ self.readout
