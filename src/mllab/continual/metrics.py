"""Metrics of the accuracy matrix R (T × T): R[i, j] is the accuracy on task j after training on tasks 0..i.

    average accuracy   A   = (1/T) Σ_j R[T−1, j]
    forgetting         F   = (1/(T−1)) Σ_{j<T−1} ( max_{j≤i<T−1} R[i, j] − R[T−1, j] )   (Chaudhry et al. 2018)
    backward transfer  BWT = (1/(T−1)) Σ_{j<T−1} ( R[T−1, j] − R[j, j] )                  (Lopez-Paz & Ranzato 2017)
With one task there is nothing to forget: F = BWT = 0.
"""

from __future__ import annotations

import numpy as np

from mllab.core.errors import BadInput


def _matrix(R) -> np.ndarray:
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] == 0:
        raise BadInput(f"accuracy matrix: must be square T × T with T >= 1, got shape {R.shape}")
    return R


def average_accuracy(R) -> float:
    R = _matrix(R)
    return float(R[-1].mean())


def forgetting(R) -> float:
    R = _matrix(R)
    T = len(R)
    if T == 1:
        return 0.0
    return float(np.mean([R[j:T - 1, j].max() - R[T - 1, j] for j in range(T - 1)]))


def backward_transfer(R) -> float:
    R = _matrix(R)
    T = len(R)
    if T == 1:
        return 0.0
    return float(np.mean([R[T - 1, j] - R[j, j] for j in range(T - 1)]))
