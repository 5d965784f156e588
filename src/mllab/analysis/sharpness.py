"""Sharpness of a minimum: the top Hessian eigenvalue, and the ε-box sharpness of Keskar et al. (2017).

Keskar et al., "On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima":

    φ_ε(θ) = 100 · (max_{z ∈ C_ε} L(θ + z) − L(θ)) / (1 + L(θ)),   C_ε = {z : |z_i| ≤ ε (|θ_i| + 1)}

The inner maximum is approximated by projected sign-gradient ascent inside the box (Keskar et al. used
L-BFGS-B) from a random point of the box (at a minimum the gradient itself is zero); more steps can only find a higher value, so this is a lower bound of φ_ε.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from mllab.analysis.hessian import LossFn, extreme_eigenvalues, mean_loss, trainable
from mllab.core.errors import BadInput


def top_eigenvalue(model: nn.Module, loss_fn: LossFn, batches: Sequence[Any], *, tol: float = 1e-4,
                   max_iter: int = 100, seed: int = 0) -> float:
    """λ_max of ∇²L(θ) by Lanczos (the sharpness used by most papers since Keskar et al.)."""
    return float(extreme_eigenvalues(model, loss_fn, batches, 1, "largest", tol=tol, max_iter=max_iter,
                                      seed=seed).values[0])


def epsilon_sharpness(model: nn.Module, loss_fn: LossFn, batches: Sequence[Any], epsilon: float = 1e-3, *,
                      steps: int = 10, seed: int = 0) -> float:
    """φ_ε in percent (see the module docstring); the model's parameters are restored afterwards."""
    if epsilon <= 0 or steps < 1:
        raise BadInput(f"epsilon_sharpness: need epsilon > 0 and steps >= 1, got {epsilon}, {steps}")
    params = trainable(model)
    theta = parameters_to_vector(params).detach().clone()  # θ (P,)
    box = epsilon * (theta.abs() + 1)  # half-widths of C_ε
    with torch.no_grad():
        base = float(mean_loss(model, loss_fn, batches))  # L(θ)
    generator = torch.Generator().manual_seed(seed)
    z = (torch.rand(theta.shape, generator=generator, dtype=theta.dtype).to(theta.device) * 2 - 1) * box  # start
    best = base
    try:
        for _ in range(steps):
            vector_to_parameters(theta + z, params)
            loss = mean_loss(model, loss_fn, batches)
            best = max(best, float(loss.detach()))
            gradient = parameters_to_vector(torch.autograd.grad(loss, params))
            z = torch.clamp(z + (2.0 / steps) * box * gradient.sign(), -box, box)  # ascent step, projected on C_ε
        vector_to_parameters(theta + z, params)
        with torch.no_grad():
            best = max(best, float(mean_loss(model, loss_fn, batches)))
    finally:
        vector_to_parameters(theta, params)
    return 100.0 * (best - base) / (1.0 + base)
