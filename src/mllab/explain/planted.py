"""A task whose evidence is known by construction, to test explanations against: natural-image patches
(scikit-image's bundled photos, grey, 28 × 28) — or images the caller gives (`backgrounds`, e.g. MNIST digits or
CIFAR-10 photos, any C × side × side) — where class 1 carries a small checkerboard patch at a random cell of the
block grid and class 0 a flat grey patch of the same size and mean (a distractor: the class is the patch's
texture, not the presence of a patch). The checkerboard's pixels are the evidence (in every channel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mllab.core.errors import BadInput

PHOTOS = ("camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon")


@dataclass
class PlantedTask:
    x: torch.Tensor  # (N, C, side, side) in [0, 1] (C = 1 for the photos)
    y: torch.Tensor  # (N,) 1: checkerboard planted, 0: flat distractor
    evidence: torch.Tensor  # (N, side, side) bool: the checkerboard's pixels (all False for class 0)


def photos() -> list[np.ndarray]:
    """The bundled photos as grey float arrays in [0, 1]."""
    from skimage import color, data

    out = []
    for name in PHOTOS:
        image = getattr(data, name)()
        image = color.rgb2gray(image) if image.ndim == 3 else image / 255.0
        out.append(np.asarray(image, dtype=np.float32))
    return out


def planted_patch_task(n: int, seed: int = 0, side: int = 28, patch: int = 4, zoom: int = 4,
                       contrast: float = 0.6, backgrounds: torch.Tensor | None = None) -> PlantedTask:
    """n images: a random side·zoom square crop of a random photo, average-pooled by `zoom` to side × side and
    scaled to [0, contrast]; a patch × patch square at a random cell of the patch-sized grid holds a
    checkerboard (0 / 1 pixels, class 1) or flat 0.5 (class 0). Classes alternate-by-draw, balanced.

    backgrounds: images (M, C, side', side') in [0, 1] to draw each background from instead of the photos
    (uniformly, with replacement; `side` and `zoom` are then ignored: side = side'); x is then (n, C, side', side')
    and the patch is planted in every channel."""
    if n < 1:
        raise BadInput(f"n: must be >= 1 image, got {n}")
    rng = np.random.default_rng(seed)
    if backgrounds is None:
        if side % patch:
            raise BadInput(f"patch: {patch} must divide the side {side} (the patch sits on the block grid)")
        sources, crop = photos(), side * zoom
        images = np.empty((n, side, side), np.float32)
        for i in range(n):
            photo = sources[rng.integers(len(sources))]
            r, c = rng.integers(photo.shape[0] - crop + 1), rng.integers(photo.shape[1] - crop + 1)
            images[i] = photo[r:r + crop, c:c + crop].reshape(side, zoom, side, zoom).mean((1, 3))
        x = torch.from_numpy(images)[:, None] * contrast  # (N, 1, side, side)
    else:
        if backgrounds.dim() != 4 or backgrounds.shape[-1] != backgrounds.shape[-2] or len(backgrounds) == 0:
            raise BadInput(f"backgrounds: need square images (M, C, side, side) with M >= 1, got "
                           f"{tuple(backgrounds.shape)}")
        side = backgrounds.shape[-1]
        if side % patch:
            raise BadInput(f"patch: {patch} must divide the side {side} (the patch sits on the block grid)")
        pick = torch.from_numpy(rng.integers(len(backgrounds), size=n))
        x = backgrounds.detach().cpu()[pick].float() * contrast  # (N, C, side, side)
    y = torch.from_numpy(rng.permutation(np.arange(n) % 2))  # balanced
    cells = side // patch
    cell = torch.from_numpy(rng.integers(cells * cells, size=n))
    checker = (torch.arange(patch)[:, None] + torch.arange(patch)[None, :]) % 2  # (patch, patch) 0/1
    evidence = torch.zeros(n, side, side, dtype=torch.bool)
    for i in range(n):
        r, c = (int(cell[i]) // cells) * patch, (int(cell[i]) % cells) * patch
        x[i, :, r:r + patch, c:c + patch] = checker.float() if y[i] == 1 else 0.5
        evidence[i, r:r + patch, c:c + patch] = bool(y[i] == 1)
    return PlantedTask(x, y.long(), evidence)


def evidence_features(segments: torch.Tensor, evidence: torch.Tensor, share: float = 0.5) -> torch.Tensor:
    """Superpixels that are evidence: at least `share` of their pixels, or of the evidence's pixels, lie in the
    evidence mask (H, W)  -> (F,) bool."""
    n_features = int(segments.max()) + 1
    size = torch.bincount(segments.flatten(), minlength=n_features).float()  # (F,)
    inside = torch.bincount(segments.flatten(), weights=evidence.flatten().float(), minlength=n_features)  # (F,)
    total = float(evidence.sum())
    return (inside >= share * size) | ((inside >= share * total) & (total > 0))
