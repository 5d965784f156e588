"""Gradient reversal (Ganin & Lempitsky 2015): identity forward, −λ · gradient backward.

Placed between the feature extractor and the domain classifier, it lets one backward pass train the domain
classifier to *separate* the domains while it trains the features to *confuse* it:
    forward  R_λ(x) = x
    backward dR_λ/dx = −λ I
"""

from __future__ import annotations

import torch
from torch import nn

from mllab.core.errors import BadInput


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambda_: float) -> torch.Tensor:
        ctx.lambda_ = lambda_
        return x.view_as(x)  # identity (a view, so autograd records this node)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lambda_ * grad, None  # ∂L/∂x = −λ ∂L/∂R


def _check_lambda(lambda_: float) -> float:
    lambda_ = float(lambda_)
    if not lambda_ >= 0:  # also catches NaN
        raise BadInput(f"gradient reversal lambda: must be >= 0 (0 switches adaptation off), got {lambda_}")
    return lambda_


def grad_reverse(x: torch.Tensor, lambda_: float = 1.0) -> torch.Tensor:
    """x (any shape) unchanged; its gradient multiplied by −λ on the way back. λ ≥ 0."""
    return _ReverseGrad.apply(x, _check_lambda(lambda_))


class GradReverse(nn.Module):
    """The layer form of `grad_reverse`; `lambda_` may be changed between steps (the λ_p schedule)."""

    def __init__(self, lambda_: float = 1.0):
        super().__init__()
        self.lambda_ = _check_lambda(lambda_)

    def set_lambda(self, lambda_: float) -> None:
        self.lambda_ = _check_lambda(lambda_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReverseGrad.apply(x, self.lambda_)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_:g}"
