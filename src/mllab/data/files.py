"""Readers for users' own dataset folders: MNIST (IDX files, raw or .gz) and CIFAR-10 (binary batches).

Every problem (missing file, wrong magic number, truncated data) is a `BadInput` naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from mllab.core.errors import BadInput

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
CIFAR_TEST = "test_batch.bin"
CIFAR_RECORD = 1 + 3 * 32 * 32  # label byte + 3x32x32 uint8 pixels


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    raise BadInput(f"--data-dir: {folder} has no {stem} (or {stem}.gz); put the four MNIST IDX files there")


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise BadInput(f"--data-dir: cannot read {path} ({exc}); replace the file with an intact copy") from None


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (magic 0x0000 08 ndim, big-endian int32 sizes, uint8 data) -> uint8 array."""
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise BadInput(f"--data-dir: {path} is not an unsigned-byte IDX file (bad magic number); replace it")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise BadInput(f"--data-dir: {path} is truncated (header); replace it with an intact copy")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise BadInput(f"--data-dir: {path} holds {len(data) - header} bytes of data, its header says {expected}; "
                       "the file is truncated or corrupt, replace it")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_mnist_folder(folder: str | Path) -> dict[str, np.ndarray]:
    """{"train_images": (N, 28, 28) uint8, "train_labels": (N,) uint8, "test_images", "test_labels"}."""
    folder = Path(folder)
    arrays = {key: read_idx(_find(folder, stem)) for key, stem in MNIST_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise BadInput(f"--data-dir: {split} images {images.shape} and labels {labels.shape} do not match; "
                           "check that the MNIST files belong together")
        _check_labels(labels, _find(folder, MNIST_FILES[f"{split}_labels"]))
    return arrays


def _check_labels(labels: np.ndarray, path: Path) -> None:
    if len(labels) and labels.max() > 9:
        raise BadInput(f"--data-dir: {path} holds label {labels.max()}, expected 0..9; the file is corrupt, replace it")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise BadInput(f"--data-dir: missing {path}; put the CIFAR-10 binary batches (cifar-10-batches-bin) there")
    data = _read_bytes(path)
    if len(data) == 0 or len(data) % CIFAR_RECORD:
        raise BadInput(f"--data-dir: {path} has {len(data)} bytes, not a multiple of {CIFAR_RECORD}; "
                       "the file is truncated or corrupt, replace it")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    _check_labels(records[:, 0], path)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].copy()


def read_cifar10_folder(folder: str | Path) -> dict[str, np.ndarray]:
    """{"train_images": (N, 3, 32, 32) uint8, "train_labels": (N,), "test_images", "test_labels"}.

    Training batches present in the folder are used (at least data_batch_1.bin); test_batch.bin is required.
    """
    folder = Path(folder)
    train_paths = [folder / name for name in CIFAR_TRAIN if (folder / name).is_file()] or [folder / CIFAR_TRAIN[0]]
    train = [_read_cifar_batch(p) for p in train_paths]
    test_images, test_labels = _read_cifar_batch(folder / CIFAR_TEST)
    return {"train_images": np.concatenate([t[0] for t in train]), "train_labels": np.concatenate([t[1] for t in train]),
            "test_images": test_images, "test_labels": test_labels}
