"""Label noise for a training set: a fixed fraction of labels replaced by another class at random.

As in Nakkiran et al. (ICLR 2020, "Deep double descent"): a fraction p of the training labels, chosen
at random, is replaced by a wrong class drawn uniformly from the other C − 1 classes; the test labels stay
clean. Exactly round(p · n) labels change, so the noise level is what the config says, for every seed.
"""

from __future__ import annotations

import torch

from mllab.core.errors import BadInput


def with_label_noise(labels: torch.Tensor, fraction: float, n_classes: int, *,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """labels (n,) int64 -> (noisy labels (n,), flipped mask (n,) bool) with round(fraction · n) wrong labels."""
    if not 0 <= fraction <= 1:
        raise BadInput(f"label noise: fraction must lie in [0, 1], got {fraction}; e.g. 0.15")
    if n_classes < 2:
        raise BadInput(f"label noise: needs at least 2 classes to draw a wrong label, got {n_classes}")
    n = len(labels)
    flipped = torch.zeros(n, dtype=torch.bool, device=labels.device)
    chosen = torch.randperm(n, generator=generator)[: round(fraction * n)].to(labels.device)
    flipped[chosen] = True
    # a shift of 1..C-1 classes (mod C) is a uniform draw among the C - 1 wrong labels
    shift = torch.randint(1, n_classes, (len(chosen),), generator=generator).to(labels.device)
    noisy = labels.clone()
    noisy[chosen] = (labels[chosen] + shift) % n_classes
    return noisy, flipped
