"""`TensorLoader`: mini-batches of in-memory tensors whose order depends only on (seed, epoch).

Faster than torch's DataLoader for data already in memory, and resumable: `batches(start=b)` skips
to batch b of the epoch without touching any global RNG. With `rank`/`world_size` each rank takes
every world_size-th sample of the shuffled order (as DistributedSampler does, padding to equal size).
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch

from mllab.core.errors import BadInput


class TensorLoader:
    def __init__(self, tensors: Sequence[torch.Tensor], batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, rank: int = 0, world_size: int = 1,
                 batch_sizes: Sequence[int] | None = None):
        """`tensors` share their first dimension N. `batch_sizes` (optional) gives unequal batches
        that cycle, e.g. (32, 16, 48), overriding batch_size for the cut points."""
        if batch_size < 1:
            raise BadInput(f"batch_size: must be >= 1, got {batch_size}")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise BadInput("TensorLoader: tensors differ in their first dimension; give one row per sample in each")
        self.tensors = tuple(tensors)
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.rank, self.world_size = rank, world_size
        self.batch_sizes = tuple(batch_sizes) if batch_sizes else None
        self.epoch = 0
        self.samples_per_rank = math.ceil(n / world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> torch.Tensor:
        n = len(self.tensors[0])
        if self.shuffle:
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**64)  # any derived seed
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        if self.world_size > 1:
            total = self.samples_per_rank * self.world_size
            order = torch.cat([order, order[: total - n]])  # pad like DistributedSampler
            order = order[self.rank::self.world_size]
        return order

    def _cuts(self) -> list[tuple[int, int]]:
        n, cuts, start, i = self.samples_per_rank, [], 0, 0
        while start < n:
            size = self.batch_sizes[i % len(self.batch_sizes)] if self.batch_sizes else self.batch_size
            if start + size > n and self.drop_last:
                break
            cuts.append((start, min(start + size, n)))
            start, i = start + size, i + 1
        return cuts

    def __len__(self) -> int:
        return len(self._cuts())

    def batches(self, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        order = self._order().to(self.tensors[0].device)
        for lo, hi in self._cuts()[start:]:
            idx = order[lo:hi]
            yield tuple(t[idx] for t in self.tensors)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        return self.batches()
