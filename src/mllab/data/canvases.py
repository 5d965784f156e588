"""Multi-label canvases: 1–4 distinct mnist5k digits on a 2 × 2 grid; the labels are the set of digits present.

A canvas is (1, 2·cell, 2·cell) floats in [0, 1]: k ~ Uniform{min_digits … max_digits} distinct classes drawn at
random, one image of each from the split (digits resized 28 -> `cell` by area averaging), each in its own random
cell of the grid, the other cells black. The train / val / test canvases come from mnist5k's train /
val / test images (`load_dataset("mnist5k", seed=seed)`), so no test digit image is ever seen in training.

Targets for seq2seq (`label_tokens`): BOS, the sorted labels as tokens 3 + class, EOS, PAD-filled (PAD = 0,
BOS = 1, EOS = 2 as `mllab.models.transformer`); for a per-label classifier, the multi-hot (N, 10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed
from mllab.data.datasets import Split, load_dataset

CLASSES = 10
PAD, BOS, EOS = 0, 1, 2
LABEL_OFFSET = 3  # token of class c = 3 + c
VOCAB = LABEL_OFFSET + CLASSES
MAX_DIGITS = 4  # cells of the 2 × 2 grid


@dataclass
class Canvases:
    """images (N, 1, 2·cell, 2·cell) float in [0, 1]; labels (N, 10) multi-hot float; digits: per canvas, the
    sorted classes present."""

    images: torch.Tensor
    labels: torch.Tensor
    digits: list[list[int]]

    def __len__(self) -> int:
        return len(self.images)

    def label_tokens(self) -> torch.Tensor:
        """(N, MAX_DIGITS + 2) int64: BOS, 3 + each sorted class, EOS, PAD…"""
        out = torch.full((len(self), MAX_DIGITS + 2), PAD, dtype=torch.long)
        for i, d in enumerate(self.digits):
            out[i, : len(d) + 2] = torch.tensor([BOS, *(LABEL_OFFSET + c for c in d), EOS])
        return out

    def counts(self) -> torch.Tensor:
        return self.labels.sum(1).long()  # (N,)


def check_digits(min_digits: int, max_digits: int) -> None:
    if not 1 <= min_digits <= max_digits <= MAX_DIGITS:
        raise BadInput(f"digits per canvas: need 1 <= min_digits <= max_digits <= {MAX_DIGITS}, got "
                       f"{min_digits} and {max_digits}")


def make_canvases(split: Split, count: int, *, seed: int, min_digits: int = 1, max_digits: int = 4,
                  cell: int = 14) -> Canvases:
    """`count` canvases from the images of `split` (x (n, 784) in [0, 1], y (n,)), drawn with `seed`."""
    check_digits(min_digits, max_digits)
    if count < 1 or not 4 <= cell <= 28:
        raise BadInput(f"canvases: need count >= 1 and 4 <= cell <= 28, got {count} and {cell}")
    rng = np.random.default_rng(seed)
    x = split.x.detach().cpu().view(-1, 1, 28, 28)
    small = F.adaptive_avg_pool2d(x, cell) if cell != 28 else x  # (n, 1, cell, cell)
    y = split.y.detach().cpu().numpy()
    by_class = [np.flatnonzero(y == c) for c in range(CLASSES)]
    if any(len(ix) == 0 for ix in by_class):
        raise BadInput("canvases: the split lacks a digit class; give a split holding all ten")
    images = torch.zeros(count, 1, 2 * cell, 2 * cell)
    labels = torch.zeros(count, CLASSES)
    digits = []
    for i in range(count):
        k = int(rng.integers(min_digits, max_digits + 1))
        classes = sorted(int(c) for c in rng.choice(CLASSES, size=k, replace=False))
        for c, slot in zip(classes, rng.choice(MAX_DIGITS, size=k, replace=False)):
            r, col = divmod(int(slot), 2)
            images[i, :, r * cell:(r + 1) * cell, col * cell:(col + 1) * cell] = small[int(rng.choice(by_class[c]))]
            labels[i, c] = 1.0
        digits.append(classes)
    return Canvases(images, labels, digits)


def canvas_splits(train_size: int, val_size: int, test_size: int, *, seed: int = 0, min_digits: int = 1,
                  max_digits: int = 4, cell: int = 14) -> tuple[Canvases, Canvases, Canvases]:
    """(train, val, test) canvases from mnist5k's own train / val / test images (split with `seed`; split j's
    canvases drawn from derive_seed(seed, "canvases", j))."""
    data = load_dataset("mnist5k", seed=seed)
    return tuple(make_canvases(split, size, seed=derive_seed(seed, "canvases", j), min_digits=min_digits,
                               max_digits=max_digits, cell=cell)
                 for j, (split, size) in enumerate(((data.train, train_size), (data.val, val_size),
                                                    (data.test, test_size))))
