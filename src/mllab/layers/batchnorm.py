"""Batch normalization written from the formula (Ioffe & Szegedy, 2015).

Training: each channel c is normalised with the statistics of the current batch,

    μ_c = mean over (batch, spatial) of x,    σ²_c = mean of (x - μ_c)²      (biased, used to normalise)
    x̂ = (x - μ_c) / sqrt(σ²_c + ε),           y = γ_c x̂ + β_c

and the running statistics move towards the batch's with momentum m,

    μ_run ← (1 - m) μ_run + m μ_c,            σ²_run ← (1 - m) σ²_run + m σ²_c · n / (n - 1)

(the running variance is the unbiased estimate, as PyTorch keeps it; n = values per channel).
Evaluation: μ_run and σ²_run replace the batch statistics, so a sample's output does not depend on
its batch-mates. `momentum=None` makes the running statistics a cumulative average (as in PyTorch).
Buffers and parameters carry PyTorch's names, so state dicts load in either direction.
"""

from __future__ import annotations

import torch
from torch import nn


class _BatchNorm(nn.Module):
    """Shared code; subclasses say which input ranks they accept."""

    input_ranks: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))  # γ
            self.bias = nn.Parameter(torch.zeros(num_features))  # β
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, *spatial) -> same shape
        if x.dim() not in self.input_ranks or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): expected input of rank "
                             f"{' or '.join(map(str, self.input_ranks))} with {self.num_features} channels in "
                             f"dim 1, got shape {tuple(x.shape)}")
        dims = [d for d in range(x.dim()) if d != 1]  # every dim but the channel: (B, *spatial)
        shape = [1, -1] + [1] * (x.dim() - 2)  # broadcast a (C,) vector over (B, C, *spatial)
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            n = x.numel() // x.shape[1]  # values per channel
            if self.training and n < 2:
                raise ValueError(f"{type(self).__name__}: training needs more than 1 value per channel, got input "
                                 f"{tuple(x.shape)}; use a batch of at least 2 or call .eval()")
            mean = x.mean(dim=dims)  # μ_c, (C,)
            var = x.var(dim=dims, unbiased=False)  # σ²_c = mean (x - μ_c)², (C,)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean.detach(), var.detach(), n)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)  # x̂ = (x - μ) / sqrt(σ² + ε)
        if self.affine:
            return self.weight.view(shape) * x_hat + self.bias.view(shape)  # y = γ x̂ + β
        return x_hat

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: int) -> None:
        self.num_batches_tracked += 1
        m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased_var = var * n / (n - 1)  # σ² n / (n - 1)
        self.running_mean.mul_(1 - m).add_(m * mean)  # μ_run ← (1 - m) μ_run + m μ
        self.running_var.mul_(1 - m).add_(m * unbiased_var)  # σ²_run ← (1 - m) σ²_run + m σ²_unbiased


class BatchNorm1d(_BatchNorm):
    """Batch norm over (B, C) features or (B, C, L) sequences; statistics per channel C."""

    input_ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (B, C, H, W) images; statistics per channel C over batch and pixels."""

    input_ranks = (4,)
