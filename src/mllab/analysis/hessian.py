"""Second-order analysis of L(θ): Hessian-vector products, the exact Hessian, Lanczos eigenvalues and
the critical-point report (gradient norm, eigenvalues, kind, minimum ratio, escape direction).

The loss follows `fit`'s contract: `loss_fn(model, batch) -> (loss_sum, n_items)`, and over a list of
batches L(θ) = Σ_b loss_sum_b / Σ_b n_b, the mean loss over every item. θ is the flat vector (P,) of
the model's trainable parameters in `model.parameters()` order (torch.nn.utils.parameters_to_vector).

HVPs use double backward: g = ∇L is built once with `create_graph=True`, then Hv = ∇(g·v) costs one
backward pass through that graph per product (batched over many v with `is_grads_batched`).
The model's mode (train/eval) is the caller's choice: call `model.eval()` first for dropout/batch-norm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from mllab.core.errors import BadInput

LossFn = Callable[[nn.Module, Any], tuple[torch.Tensor, Any]]
KINDS = ("local minimum", "local maximum", "saddle", "flat")


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def mean_loss(model: nn.Module, loss_fn: LossFn, batches: Iterable[Any]) -> torch.Tensor:
    """L(θ) = Σ_b loss_sum_b / Σ_b n_b (a scalar tensor, with graph)."""
    total, count = 0.0, 0.0
    for batch in batches:
        loss_sum, n_items = loss_fn(model, batch)
        total, count = total + loss_sum, count + float(n_items)
    if count == 0:
        raise BadInput("batches: no items to compute the loss on; pass at least one non-empty batch")
    return total / count


class HessianOperator:
    """H = ∇²L(θ) at the model's current parameters, as a linear operator on flat vectors (P,).

    Building it runs one forward and backward over `batches` and keeps the gradient's graph;
    `matvec(v)` is then one backward pass, `matmat(V)` one batched backward pass.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, batches: Sequence[Any]):
        self.params = trainable(model)
        self.shapes = [p.shape for p in self.params]
        self.dim = sum(p.numel() for p in self.params)  # P
        loss = mean_loss(model, loss_fn, batches)
        self.grads = torch.autograd.grad(loss, self.params, create_graph=True)  # g = ∇L, with graph
        self.loss = float(loss.detach())
        self.gradient = torch.cat([g.detach().reshape(-1) for g in self.grads])  # (P,)
        self.dtype, self.device = self.gradient.dtype, self.gradient.device

    def _split(self, v: torch.Tensor) -> list[torch.Tensor]:
        """(..., P) -> per-parameter views (..., *shape)."""
        lead = v.shape[:-1]
        parts = torch.split(v, [math.prod(s) for s in self.shapes], dim=-1)
        return [part.reshape(*lead, *shape) for part, shape in zip(parts, self.shapes)]

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Hv = ∇(g·v) for v (P,) -> (P,)."""
        v = v.to(device=self.device, dtype=self.dtype)
        hv = torch.autograd.grad(self.grads, self.params, self._split(v), retain_graph=True, allow_unused=True)
        return torch.cat([(h if h is not None else torch.zeros_like(p)).reshape(-1)
                          for h, p in zip(hv, self.params)])

    def matmat(self, vectors: torch.Tensor) -> torch.Tensor:
        """H V for V (K, P) -> (K, P): one batched double backward (a loop of matvecs if vmap fails)."""
        vectors = vectors.to(device=self.device, dtype=self.dtype)
        try:
            hv = torch.autograd.grad(self.grads, self.params, self._split(vectors), retain_graph=True,
                                     allow_unused=True, is_grads_batched=True)
        except RuntimeError:  # an op without a batching rule
            return torch.stack([self.matvec(v) for v in vectors])
        k = len(vectors)
        return torch.cat([(h if h is not None else torch.zeros(k, *p.shape, dtype=self.dtype, device=self.device))
                          .reshape(k, -1) for h, p in zip(hv, self.params)], dim=1)

    def matrix(self, chunk: int = 256) -> torch.Tensor:
        """The exact Hessian (P, P), symmetrised, from P basis-vector products in chunks of `chunk`."""
        rows = []
        for start in range(0, self.dim, chunk):
            stop = min(start + chunk, self.dim)
            basis = torch.zeros(stop - start, self.dim, dtype=self.dtype, device=self.device)
            basis[torch.arange(stop - start), torch.arange(start, stop)] = 1.0  # rows e_i
            rows.append(self.matmat(basis))  # (chunk, P): row i is H e_i
        hessian = torch.cat(rows)
        return (hessian + hessian.T) / 2


def hessian_vector_product(model: nn.Module, loss_fn: LossFn, batches: Sequence[Any], v: torch.Tensor) -> torch.Tensor:
    """Hv (P,) at the model's parameters, for v (P,)."""
    return HessianOperator(model, loss_fn, batches).matvec(v)


def exact_hessian(model: nn.Module, loss_fn: LossFn, batches: Sequence[Any], max_params: int = 5000) -> torch.Tensor:
    """The full Hessian (P, P); BadInput above `max_params` (use `lanczos` there)."""
    operator = HessianOperator(model, loss_fn, batches)
    if operator.dim > max_params:
        raise BadInput(f"exact_hessian: the model has {operator.dim} parameters (> max_params={max_params}); "
                       "use lanczos(...) for its extreme eigenvalues or raise max_params")
    return operator.matrix()


@dataclass
class Eigen:
    values: torch.Tensor  # (k,) float64, ordered from the requested end inwards
    vectors: torch.Tensor  # (k, P) float64, unit norm, row i belongs to values[i]
    iterations: int  # Hessian-vector products used


def lanczos(matvec: Callable[[torch.Tensor], torch.Tensor], dim: int, k: int = 1, which: str = "largest", *,
            max_iter: int = 100, tol: float = 1e-6, seed: int = 0, device: Any = "cpu") -> Eigen:
    """The k largest (or smallest) eigenpairs of a symmetric operator, by Lanczos with full
    reorthogonalisation (every new vector is orthogonalised twice against all previous ones).

    Stops when every wanted Ritz value θ_i has an error estimate ≤ tol·max|θ|, after `max_iter`
    products, or when the Krylov space is exhausted. The estimate is min(r_i, r_i²/δ_i) with the
    residual r_i = ‖H y_i − θ_i y_i‖ = |β_m s_{m,i}| and δ_i the gap to the nearest other Ritz value
    (the residual bound, and the gap bound with Ritz values standing in for the spectrum, so an
    estimate). Vectors live in float64.
    """
    if which not in ("largest", "smallest"):
        raise BadInput(f"lanczos: which={which!r}; choose 'largest' or 'smallest'")
    if not 1 <= k <= dim:
        raise BadInput(f"lanczos: k={k} must lie in 1..{dim}")
    steps = min(max(max_iter, k), dim)
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(dim, generator=generator, dtype=torch.float64).to(device)
    basis = torch.zeros(steps, dim, dtype=torch.float64, device=device)  # Q: rows q_1..q_m
    alphas, betas = [], []
    q = q / q.norm()
    for j in range(steps):
        basis[j] = q
        w = matvec(q).to(torch.float64)  # H q_j
        alphas.append(float(w @ q))  # α_j = q_jᵀ H q_j
        for _ in range(2):  # full reorthogonalisation: w -= Q (Qᵀ w), twice for stability
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = float(w.norm())  # β_j = ‖w‖
        betas.append(beta)
        done = j + 1 == steps or beta <= 1e-12 * max(1.0, max(abs(a) for a in alphas))
        if j + 1 > k or done:
            values, ritz = _tridiagonal_eigen(alphas, betas[:-1])
            chosen = _wanted(values, k, which)
            residual = (beta * ritz[-1, chosen]).abs()  # r_i = |β_m s_{m,i}|
            gaps = (values[chosen, None] - values[None, :]).abs()  # (k, m)
            gaps[torch.arange(k), chosen] = float("inf")
            gap = gaps.min(dim=1).values  # δ_i
            error = torch.where(torch.isfinite(gap), torch.minimum(residual, residual ** 2 / gap.clamp_min(1e-300)),
                                residual)
            if done or bool((error <= tol * values.abs().max().clamp_min(1e-30)).all()):
                vectors = (basis[: j + 1].T @ ritz[:, chosen]).T  # y_i = Q s_i, (k, P)
                return Eigen(values[chosen], vectors / vectors.norm(dim=1, keepdim=True), j + 1)
        q = w / beta
    raise AssertionError("unreachable: the last iteration returns")


def _tridiagonal_eigen(alphas: list[float], betas: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenpairs of T = tridiag(β, α, β) (ascending values, columns are eigenvectors)."""
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if betas:
        off = torch.tensor(betas, dtype=torch.float64)
        t = t + torch.diag(off, 1) + torch.diag(off, -1)
    values, vectors = torch.linalg.eigh(t)
    return values.to(torch.float64), vectors.to(torch.float64)


def _wanted(values: torch.Tensor, k: int, which: str) -> torch.Tensor:
    order = torch.argsort(values, descending=which == "largest")
    return order[:k]


def extreme_eigenvalues(model: nn.Module, loss_fn: LossFn, batches: Sequence[Any], k: int = 1, which: str = "largest",
                        **lanczos_options: Any) -> Eigen:
    """The k largest/smallest Hessian eigenpairs at the model's parameters (Lanczos on HVPs)."""
    operator = HessianOperator(model, loss_fn, batches)
    return lanczos(operator.matvec, operator.dim, k, which, device=operator.device, **lanczos_options)


# --- critical points -------------------------------------------------------------------------------

def classify(eigenvalues: torch.Tensor, tolerance: float) -> str:
    """Kind of a critical point from its Hessian eigenvalues; |λ| ≤ tolerance counts as zero.

    all λ > tol: local minimum; all λ < −tol: local maximum; some λ > tol and some λ < −tol: saddle;
    otherwise (some λ within ±tol, the others of one sign): flat — the second-order test cannot decide.
    """
    positive = int((eigenvalues > tolerance).sum())
    negative = int((eigenvalues < -tolerance).sum())
    n = len(eigenvalues)
    if positive == n:
        return "local minimum"
    if negative == n:
        return "local maximum"
    if positive and negative:
        return "saddle"
    return "flat"


def minimum_ratio(eigenvalues: torch.Tensor, tolerance: float) -> float:
    """Share of eigenvalues above +tolerance: 1 at a strict local minimum."""
    return float((eigenvalues > tolerance).double().mean())


@dataclass
class CriticalPoint:
    loss: float
    gradient_norm: float  # ‖∇L(θ)‖₂
    eigenvalues: torch.Tensor  # (P,) ascending, float64
    tolerance: float  # |λ| ≤ tolerance counts as zero
    kind: str  # one of KINDS
    minimum_ratio: float  # share of λ > tolerance
    escape_direction: torch.Tensor | None  # (P,) unit eigenvector of the most negative λ, when λ_min < −tolerance

    def summary(self) -> str:
        return (f"{self.kind}: loss {self.loss:.4g}, ‖g‖ {self.gradient_norm:.2e}, λ in "
                f"[{float(self.eigenvalues[0]):.3g}, {float(self.eigenvalues[-1]):.3g}], "
                f"minimum ratio {self.minimum_ratio:.2f} (tolerance {self.tolerance:g})")


def critical_point_report(model: nn.Module, loss_fn: LossFn, batches: Sequence[Any], tolerance: float = 1e-6,
                          max_params: int = 5000) -> CriticalPoint:
    """Gradient norm, exact Hessian eigenvalues, kind, minimum ratio and escape direction at the
    model's current parameters. Whether the point is critical is for the caller to judge from
    `gradient_norm`; the kind is the second-order test applied as if it were."""
    if tolerance < 0:
        raise BadInput(f"tolerance: must be >= 0, got {tolerance}")
    operator = HessianOperator(model, loss_fn, batches)
    if operator.dim > max_params:
        raise BadInput(f"critical_point_report: {operator.dim} parameters > max_params={max_params}; "
                       "use extreme_eigenvalues(...) or raise max_params")
    values, vectors = torch.linalg.eigh(operator.matrix().to(torch.float64))  # ascending
    escape = vectors[:, 0] if float(values[0]) < -tolerance else None  # steepest negative curvature
    return CriticalPoint(operator.loss, float(operator.gradient.norm()), values, tolerance,
                         classify(values, tolerance), minimum_ratio(values, tolerance), escape)
