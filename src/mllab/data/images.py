"""mnist5k as images (N, 1, 28, 28) with the fixed seeded splits of `load_dataset`, and transformed test sets
(rotated, scaled, shifted) made deterministically from the test split.

The warp is an affine resampling (`affine_grid` / `grid_sample`, bilinear, zeros outside) on the data's device;
`mllab.layers.spatial` draws the same warp at random for augmentation (tested to agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mllab.core.errors import BadInput
from mllab.layers import spatial
from mllab.data.datasets import LOADERS, Dataset, Split, load_dataset

SIDE = 28  # mnist5k / MNIST images are 28 × 28
IMAGE_DATASETS = ("mnist5k", "mnist", "cifar10")  # what `load_images` and the image experiments' `dataset` take
SHAPES = {"mnist5k": (1, 28, 28), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}  # (C, H, W)
NEEDS_FOLDER = ("mnist", "cifar10")  # read from the user's --data-dir


def check_image_dataset(name: str, allowed: tuple[str, ...] = IMAGE_DATASETS, field: str = "dataset",
                        why: str = "") -> str:
    """`name` if it is one of `allowed`, else a one-line BadInput naming `field` and the choices (`why`: why a
    dataset that exists does not fit, e.g. digits' 8 × 8 images for a CNN built for 28 × 28)."""
    if name in allowed:
        return name
    if name in LOADERS:
        reason = f" ({why})" if why else " (not as images)"
        raise BadInput(f"--set {field}: this experiment cannot take {name!r}{reason}; "
                       f"choose one of {', '.join(allowed)}")
    raise BadInput(f"--set {field}: unknown image dataset {name!r}; choose one of {', '.join(allowed)}")


def image_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) of image dataset `name`: (1, 28, 28) for mnist5k / mnist, (3, 32, 32) for cifar10."""
    return SHAPES[check_image_dataset(name)]


def load_images(seed: int = 0, device: torch.device | str = "cpu", name: str = "mnist5k",
                data_dir: str | Path | None = None) -> Dataset:
    """An image dataset with x as (N, C, H, W) in [0, 1] and fixed seeded stratified splits (`load_dataset`).

    name: "mnist5k" (bundled; 3,500 train / 750 val / 750 test), or "mnist" (IDX files) / "cifar10" (binary
    batches) read from `data_dir` (their own test set is the test split, val comes out of training).
    Shapes: mnist5k and mnist (N, 1, 28, 28), cifar10 (N, 3, 32, 32)."""
    check_image_dataset(name)
    flat = load_dataset(name, seed=seed, device=device, data_dir=data_dir)
    shape = SHAPES[name]

    def image(split: Split) -> Split:
        return Split(split.x.reshape(-1, *shape), split.y)  # (N, C·H·W) or (N, C, H, W) -> (N, C, H, W)

    label = "mnist5k-images" if name == "mnist5k" else name
    return Dataset(label, image(flat.train), image(flat.val), image(flat.test), flat.n_classes)


def subset(split: Split, n: int, seed: int) -> Split:
    """The first `n` of a seeded stratified-by-chance permutation of `split` (a smaller training set)."""
    if not 1 <= n <= len(split):
        raise BadInput(f"training size: must be in 1..{len(split)}, got {n}")
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n].to(split.y.device)
    return Split(split.x[order], split.y[order])


def warp(x: torch.Tensor, angle_deg: torch.Tensor | float = 0.0, scale: torch.Tensor | float = 1.0,
         shift_px: torch.Tensor | tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """x (N, C, H, W) with its content rotated by `angle_deg`, scaled by `scale` and moved by `shift_px` (x right,
    y down; pixels); each a scalar or one value per image. Identity at (0, 1, (0, 0))."""
    n, size = len(x), x.shape[-1]
    angle = torch.as_tensor(angle_deg, dtype=x.dtype, device=x.device).expand(n)
    scale_t = torch.as_tensor(scale, dtype=x.dtype, device=x.device).expand(n)
    shift = torch.as_tensor(shift_px, dtype=x.dtype, device=x.device).expand(n, 2)
    return spatial.warp(x, spatial.affine_theta(angle, scale_t, shift, size))  # the one warp, in layers/spatial


@dataclass
class TransformedTest:
    """A test split after one deterministic transform; `params` holds the per-image parameters."""

    name: str
    split: Split
    params: dict[str, torch.Tensor]


def rotated(test: Split, angle_deg: float) -> TransformedTest:
    """Every test image rotated by exactly `angle_deg` degrees."""
    return TransformedTest(f"rotated {angle_deg:g}°", Split(warp(test.x, angle_deg=angle_deg), test.y),
                           {"angle": torch.full((len(test),), float(angle_deg))})


def scaled(test: Split, scale: float) -> TransformedTest:
    """Every test image scaled by exactly `scale` about its centre."""
    if scale <= 0:
        raise BadInput(f"scale: must be > 0, got {scale}")
    return TransformedTest(f"scaled ×{scale:g}", Split(warp(test.x, scale=scale), test.y),
                           {"scale": torch.full((len(test),), float(scale))})


def shifted(test: Split, pixels: int, seed: int = 0) -> TransformedTest:
    """Every test image moved by `pixels` in one of the 8 compass directions (x, y ∈ {−k, 0, k}, not both 0),
    drawn per image from `seed`."""
    directions = torch.tensor([[dx, dy] for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)],
                              dtype=torch.float32)
    pick = torch.randint(0, 8, (len(test),), generator=torch.Generator().manual_seed(seed))
    shift = (directions[pick] * pixels).to(test.x.device)  # (N, 2)
    return TransformedTest(f"shifted {pixels} px", Split(warp(test.x, shift_px=shift), test.y), {"shift": shift})


def rotated_scaled(test: Split, max_angle: float, scale_range: tuple[float, float], seed: int = 0) -> TransformedTest:
    """Every test image rotated by an angle ~ U[−max_angle, max_angle] and scaled by ~ U[scale_range], drawn per
    image from `seed` (the same images for every model)."""
    g = torch.Generator().manual_seed(seed)
    angle = (torch.rand(len(test), generator=g) * 2 - 1) * max_angle
    scale = scale_range[0] + (scale_range[1] - scale_range[0]) * torch.rand(len(test), generator=g)
    x = warp(test.x, angle_deg=angle.to(test.x.device), scale=scale.to(test.x.device))
    return TransformedTest(f"rotated ±{max_angle:g}°, scaled {scale_range[0]:g}–{scale_range[1]:g}", Split(x, test.y),
                           {"angle": angle, "scale": scale})
