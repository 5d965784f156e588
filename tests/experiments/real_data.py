"""Small, deterministic MNIST (IDX) and CIFAR-10 (binary batch) folders made from the bundled mnist5k digits, for
tests that run an experiment with `--set dataset=mnist|cifar10 --data-dir FOLDER` and need data a model can learn
(the random-noise files of tests/data/test_files.py cannot be learned).

    from tests.experiments.real_data import write_mnist_like, write_cifar_like
    folder = write_mnist_like(tmp_path / "mnist")            # train 500 / test 200 real digits, 28 × 28
    folder = write_cifar_like(tmp_path / "cifar")            # the same digits, padded to 3 × 32 × 32

Train and test images come from disjoint parts of mnist5k, each class-balanced (every class present in both),
so the experiments' stratified splits work. Same arguments -> byte-identical files.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from mllab.data.datasets import load_arrays
from mllab.data.files import CIFAR_TEST, CIFAR_TRAIN, MNIST_FILES

N_TRAIN, N_TEST = 500, 200  # defaults: small enough for smoke tests, enough for a digit MLP to learn


def _balanced_digits(n_train: int, n_test: int) -> dict[str, np.ndarray]:
    """mnist5k as uint8 (N, 28, 28) images: `n_train` training and `n_test` test images, disjoint, the classes
    taken round-robin (as equal as the counts allow) in the bundled file's order (deterministic)."""
    raw = load_arrays("mnist5k")
    x = np.rint(raw.x * 255.0).astype(np.uint8).reshape(-1, 28, 28)  # [0, 1] floats back to the file's bytes
    y = raw.y.astype(np.uint8)
    by_class = [np.flatnonzero(y == c) for c in range(10)]
    per_train, per_test = -(-n_train // 10), -(-n_test // 10)  # per class, rounded up
    if min(len(idx) for idx in by_class) < per_train + per_test:
        raise ValueError(f"mnist5k has too few images per class for {n_train} + {n_test}")

    def take(n: int, start: int, per_class: int) -> np.ndarray:
        columns = [by_class[c][start: start + per_class] for c in range(10)]
        return np.stack(columns, axis=1).reshape(-1)[:n]  # round-robin over the classes

    train, test = take(n_train, 0, per_train), take(n_test, per_train, per_test)  # disjoint per class
    return {"train_images": x[train], "train_labels": y[train], "test_images": x[test], "test_labels": y[test]}


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX: magic 0x00 0x00 0x08 ndim, big-endian int32 sizes, then the uint8 data."""
    path.write_bytes(bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
                     + np.ascontiguousarray(array).tobytes())


def write_mnist_like(folder: str | Path, n_train: int = N_TRAIN, n_test: int = N_TEST) -> Path:
    """Write the four MNIST IDX files (train/t10k images and labels, uncompressed) into `folder` with real mnist5k
    digits: `n_train` + `n_test` images of 28 × 28. Returns the folder (for `--data-dir`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = _balanced_digits(n_train, n_test)
    for key, name in MNIST_FILES.items():
        _write_idx(folder / name, arrays[key])
    return folder


def cifar_images(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 digits -> (N, 3, 32, 32): padded by 2 px of black on each side, replicated to 3 channels."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # (N, 32, 32)
    return np.repeat(padded[:, None], 3, axis=1)  # (N, 3, 32, 32)


def write_cifar_like(folder: str | Path, n_train: int = N_TRAIN, n_test: int = N_TEST, n_batches: int = 2) -> Path:
    """Write CIFAR-10 binary batches (data_batch_1..n_batches.bin, test_batch.bin; records = label byte + 3×32×32
    channel-major bytes) into `folder`, holding mnist5k digits padded to 32 × 32 and replicated to 3 channels.
    Returns the folder (for `--data-dir`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = _balanced_digits(n_train, n_test)

    def write(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
        records = np.concatenate([labels[:, None], cifar_images(images).reshape(len(images), -1)], axis=1)
        path.write_bytes(records.astype(np.uint8).tobytes())

    parts = np.array_split(np.arange(n_train), n_batches)
    for name, part in zip(CIFAR_TRAIN, parts):
        write(folder / name, arrays["train_images"][part], arrays["train_labels"][part])
    write(folder / CIFAR_TEST, arrays["test_images"], arrays["test_labels"])
    return folder


def run_smoke(name: str, out: Path, dataset: str, data_dir: Path, overrides: tuple[str, ...] = ()) -> dict:
    """Run experiment `name` at the smoke profile with `--set dataset=... --data-dir data_dir` (plus `overrides`)
    through `mllab.core.run.execute`; assert it completed (not judged, no error, figures clean) on that dataset and
    return the result."""
    from mllab.core.registry import REGISTRY
    from mllab.core.run import execute
    from mllab.experiments import load_all

    load_all()
    result, record = execute(REGISTRY[name], profile="smoke", overrides=[f"dataset={dataset}", *overrides], out=out,
                             device="cpu", data_dir=str(data_dir))
    assert result["verdict"] == "not judged", result.get("error")
    assert result["config"]["dataset"] == dataset and f"--data-dir {data_dir}" in result["command"]
    assert result["figure_problems"] == [] and result["figures"], result["figure_problems"]
    assert (record / "result.json").is_file()
    return result
