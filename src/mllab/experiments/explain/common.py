"""Glue the explain experiments share: one small CNN trained per seed on an image dataset (mnist5k by default, or
the user's MNIST / CIFAR-10 from --data-dir; cached, so several experiments in one process train it once), the
test images it classifies correctly, image-grid drawing, and the judged seeds."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mllab.core.seeding import derive_seed
from mllab.data.images import IMAGE_DATASETS, SHAPES, check_image_dataset, load_images
from mllab.experiments.cnn.common import accuracy, train_steps
from mllab.models.cnn import CNN

DATASETS = IMAGE_DATASETS  # mnist5k (bundled; 1 × 28 × 28), mnist (1 × 28 × 28), cifar10 (3 × 32 × 32)


def check_dataset(name: str) -> str:
    """`name` if the shared CNN takes it (any of DATASETS: its input channels and size follow the images)."""
    return check_image_dataset(name, DATASETS)


@lru_cache(maxsize=8)
def trained_cnn(seed: int, steps: int = 150, lr: float = 3e-3, batch_size: int = 64,
                channels: tuple[int, ...] = (8, 16), dataset: str = "mnist5k",
                data_dir: str | Path | None = None) -> tuple[nn.Module, float]:
    """(CNN in eval mode, test accuracy): two 3×3 conv blocks with 2×2 max-pooling and a linear read-out (C input
    channels, side × side images: 1 × 28 × 28 for mnist5k / MNIST, 3 × 32 × 32 for CIFAR-10), Adam for `steps`
    steps on `dataset`'s training split drawn by `seed`. Cached: callers must not change the model."""
    data = load_images(seed=seed, name=dataset, data_dir=data_dir)
    c, side, _ = SHAPES[dataset]
    torch.manual_seed(seed)
    model = train_steps(CNN(c, 10, channels=channels, kernels=3, head="flatten", input_size=side), data.train,
                        steps=steps, lr=lr, batch_size=batch_size, seed=seed % 2**32)  # TensorLoader multiplies it
    for p in model.parameters():
        p.requires_grad_(False)  # attribution needs ∂/∂x only
    return model.eval(), accuracy(model, data.test)


def correct_test_images(model: nn.Module, seed: int, n: int, dataset: str = "mnist5k",
                        data_dir: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n` test images (of seed's split) the model classifies correctly: x (n, C, H, W), y (n,)."""
    test = load_images(seed=seed, name=dataset, data_dir=data_dir).test
    with torch.no_grad():
        hit = model(test.x).argmax(1) == test.y
    return test.x[hit][:n], test.y[hit][:n]


def data_summary(seed: int, dataset: str, data_dir: str | Path | None) -> dict:
    """What the CNN trains and is explained on (for the record): the dataset, its split sizes, the image shape."""
    data = load_images(seed=seed, name=dataset, data_dir=data_dir)
    return {"dataset": dataset, "images (train, val, test)": [len(data.train), len(data.val), len(data.test)],
            "image shape (C, H, W)": list(data.train.x.shape[1:])}


def picture(image: torch.Tensor) -> torch.Tensor:
    """An image (C, H, W) as imshow takes it: (H, W) for one channel, (H, W, 3) for colour."""
    return image[0] if image.shape[0] == 1 else image.permute(1, 2, 0).clamp(0, 1)


def heat(attribution: torch.Tensor) -> torch.Tensor:
    """An attribution map (C, H, W) as one (H, W) panel: the sum of |map| over the channels (the map itself for
    one channel)."""
    return attribution[0] if attribution.shape[0] == 1 else attribution.abs().sum(0)


def show_map(ax, image: torch.Tensor, title: str, cmap: str = "gray", signed: bool = False) -> None:
    """One image panel (H, W) or (H, W, 3) colour: no axes, a title; signed maps on a symmetric red-blue scale."""
    a = image.detach().cpu().numpy()
    if signed:
        v = float(np.abs(a).max()) or 1.0
        ax.imshow(a, cmap="bwr", vmin=-v, vmax=v)
    elif a.ndim == 3:
        ax.imshow(a)
    else:
        ax.imshow(a, cmap=cmap)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])


def seeds(base: int, n: int) -> list[int]:
    """Judged seeds: derive_seed(base, "judge", i), i < n (no hyperparameter is tuned on them)."""
    return [derive_seed(base, "judge", i) for i in range(n)]
