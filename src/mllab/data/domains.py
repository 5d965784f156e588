"""Domain-shift pairs built offline from digits: an MNIST-M-style target and a gentler colour shift.

The source digits are mnist5k (bundled) or the user's MNIST (`dataset="mnist"`, IDX files in `data_dir`; the
target is then its MNIST-M-style blend, as Ganin & Lempitsky made MNIST-M from MNIST). CIFAR-10 does not fit:
both shifts treat the image as a grey stroke mask (the blend inverts the photo under the stroke, the colour
shift paints the stroke), which a colour photo is not.

MNIST-M (Ganin & Lempitsky 2015) blends each digit over a random patch of a colour photo (they used BSDS500):
    I_out[c, i, j] = | photo[c, i, j] − digit[i, j] |        (per colour channel; digit, photo in [0, 1])
so the photo's pixels are inverted where the digit is. Here the photos are scikit-image's bundled ones. Every
photo is cut into a training region (its left `train_share` of columns) and a test region (the rest): training
targets and test targets use disjoint crops. The gentler shift paints each digit in a random colour on a random
plain background. Everything is deterministic from `seed`.

Shapes: digits (N, 1, 28, 28) in [0, 1]; every domain's images (N, 3, 28, 28) in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch

from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed
from mllab.data.datasets import Split
from mllab.data.images import SIDE, check_image_dataset, load_images

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")  # skimage.data colour photos
SHIFTS = ("mnist-m", "colour")
DIGIT_DATASETS = ("mnist5k", "mnist")  # source digits: grey strokes on black, 28 × 28
UNFIT = {"cifar10": "both shifts need grey digit strokes on black, which CIFAR-10's colour photos lack"}


@cache
def load_photos() -> tuple[np.ndarray, ...]:
    """scikit-image's bundled colour photos as float32 (H, W, 3) arrays in [0, 1]."""
    import skimage.data

    return tuple(getattr(skimage.data, name)()[..., :3].astype(np.float32) / 255.0 for name in PHOTOS)


@dataclass
class Crops:
    """n crops of SIDE × SIDE pixels: images (n, 3, SIDE, SIDE) and where they came from."""

    images: torch.Tensor
    photo: np.ndarray  # (n,) index into PHOTOS
    row: np.ndarray  # (n,) top row of the crop
    col: np.ndarray  # (n,) left column of the crop


def region(width: int, part: str, train_share: float) -> tuple[int, int]:
    """[first, last) columns of a photo `width` wide from which `part` ("train" | "test") crops are taken."""
    cut = round(width * train_share)
    return (0, cut) if part == "train" else (cut, width)


def photo_crops(n: int, part: str, seed: int, train_share: float = 0.6) -> Crops:
    """n random crops from the `part` region of the photos (photo drawn uniformly, then a position in it)."""
    if part not in ("train", "test"):
        raise BadInput(f"photo crops part: choose 'train' or 'test', got {part!r}")
    if not 0 < train_share < 1:
        raise BadInput(f"train_share: must be in (0, 1), got {train_share}")
    photos = load_photos()
    rng = np.random.default_rng([seed, 0 if part == "train" else 1])  # the two parts draw independent streams
    which = rng.integers(0, len(photos), n)
    rows, cols, out = np.empty(n, int), np.empty(n, int), np.empty((n, SIDE, SIDE, 3), np.float32)
    for k, p in enumerate(which):
        h, w, _ = photos[p].shape
        lo, hi = region(w, part, train_share)
        if hi - lo < SIDE:
            raise BadInput(f"train_share: {train_share} leaves photo {PHOTOS[p]} a {part} region narrower than "
                           f"{SIDE} px; use a value nearer 0.5")
        rows[k], cols[k] = rng.integers(0, h - SIDE + 1), rng.integers(lo, hi - SIDE + 1)
        out[k] = photos[p][rows[k]:rows[k] + SIDE, cols[k]:cols[k] + SIDE]
    images = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()  # (n, 28, 28, 3) -> (n, 3, 28, 28)
    return Crops(images, which, rows, cols)


def to_rgb(digits: torch.Tensor) -> torch.Tensor:
    """(N, 1, 28, 28) grey digits -> (N, 3, 28, 28): the source domain in the target's shape."""
    return digits.expand(-1, 3, -1, -1).contiguous()


def blend_mnist_m(digits: torch.Tensor, crops: torch.Tensor) -> torch.Tensor:
    """|photo − digit| per colour channel: (N, 1, 28, 28) digits, (N, 3, 28, 28) crops -> (N, 3, 28, 28)."""
    return (crops - digits).abs()  # the digit broadcasts over the 3 channels


def colour_shift(digits: torch.Tensor, seed: int) -> torch.Tensor:
    """The gentler shift: each digit painted in a random colour fg on a random plain background bg,
    x = bg + digit · (fg − bg), with bg ~ U[0, 0.5]³ and fg ~ U[0.5, 1]³ (the stroke is never darker than the
    background, but its contrast may be small in any channel)."""
    g = torch.Generator().manual_seed(seed)
    n = len(digits)
    bg = 0.5 * torch.rand(n, 3, 1, 1, generator=g)  # (N, 3, 1, 1)
    fg = 0.5 + 0.5 * torch.rand(n, 3, 1, 1, generator=g)
    return bg + digits * (fg - bg)


@dataclass
class DomainPair:
    """A labelled source domain and a target domain whose training labels an adapting method must not use."""

    name: str
    source_train: Split  # x (N, 3, 28, 28)
    source_test: Split
    target_train: Split  # labels only for the train-on-target upper bound
    target_test: Split


def check_digit_dataset(dataset: str, field: str = "dataset") -> str:
    """`dataset` if the domain pairs can be made from it, else BadInput naming the field and the choices."""
    return check_image_dataset(dataset, DIGIT_DATASETS, field, why=UNFIT.get(dataset, ""))


def make_domain_pair(shift: str = "mnist-m", seed: int = 0, n_train: int | None = None,
                     train_share: float = 0.6, dataset: str = "mnist5k",
                     data_dir: str | Path | None = None) -> DomainPair:
    """`dataset`'s digits (mnist5k, or MNIST from `data_dir`; split with `seed`) as source and its `shift`
    ("mnist-m" | "colour") as target.

    The target's training images are the source's training digits transformed (as MNIST-M is made from MNIST's
    training digits); its test images are the test digits transformed, with crops from the photos' test regions.
    n_train: keep the first n training images (None: all, 3,500 for mnist5k). Colour draws come from
    derive_seed(seed, "colour", "train" | "test")."""
    if shift not in SHIFTS:
        raise BadInput(f"shift: unknown domain shift {shift!r}; choose one of {', '.join(SHIFTS)}")
    check_digit_dataset(dataset)
    if n_train is not None and n_train < 1:
        raise BadInput(f"n_train: must be >= 1 training image (None: all), got {n_train}")
    data = load_images(seed=seed, name=dataset, data_dir=data_dir)
    if n_train is not None and n_train > len(data.train):
        raise BadInput(f"n_train: must be in 1..{len(data.train)} ({dataset}'s training split), got {n_train}")
    train = data.train if n_train is None else Split(data.train.x[:n_train], data.train.y[:n_train])
    test = data.test
    if shift == "mnist-m":
        target_train = blend_mnist_m(train.x, photo_crops(len(train), "train", seed, train_share).images)
        target_test = blend_mnist_m(test.x, photo_crops(len(test), "test", seed, train_share).images)
    else:
        target_train = colour_shift(train.x, derive_seed(seed, "colour", "train"))
        target_test = colour_shift(test.x, derive_seed(seed, "colour", "test"))
    return DomainPair(f"{dataset} → {shift}", Split(to_rgb(train.x), train.y), Split(to_rgb(test.x), test.y),
                      Split(target_train, train.y), Split(target_test, test.y))
