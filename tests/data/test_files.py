"""Users' MNIST (IDX, raw or .gz) and CIFAR-10 (binary batches) folders: tiny files written here, loaded back."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from mllab.core.errors import BadInput
from mllab.data import load_dataset
from mllab.data.files import MNIST_FILES, read_cifar10_folder, read_mnist_folder

N_TRAIN, N_TEST = 80, 20  # 8 / 2 of each class


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """IDX: magic 0x00 0x00 0x08 ndim, big-endian int32 sizes, then the uint8 data."""
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def mnist_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train_labels": np.tile(np.arange(10, dtype=np.uint8), N_TRAIN // 10),
        "test_images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "test_labels": np.tile(np.arange(10, dtype=np.uint8), N_TEST // 10),
    }


def write_mnist(folder: Path, arrays: dict[str, np.ndarray], compress: bool = False) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {key: write_idx(folder / MNIST_FILES[key], arrays[key], compress) for key in MNIST_FILES}


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """One record per image: label byte, then 3x32x32 uint8 (channel-major)."""
    records = np.concatenate([labels[:, None].astype(np.uint8), images.reshape(len(images), -1)], axis=1)
    path.write_bytes(records.tobytes())
    return path


def write_cifar(folder: Path, seed: int = 0, n_batches: int = 2) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_batch = N_TRAIN // n_batches
    train_images = rng.integers(0, 256, (N_TRAIN, 3, 32, 32), dtype=np.uint8)
    train_labels = np.tile(np.arange(10, dtype=np.uint8), N_TRAIN // 10)
    for i in range(n_batches):
        part = slice(i * per_batch, (i + 1) * per_batch)
        write_cifar_batch(folder / f"data_batch_{i + 1}.bin", train_images[part], train_labels[part])
    test_images = rng.integers(0, 256, (N_TEST, 3, 32, 32), dtype=np.uint8)
    test_labels = np.tile(np.arange(10, dtype=np.uint8), N_TEST // 10)
    write_cifar_batch(folder / "test_batch.bin", test_images, test_labels)
    return {"train_images": train_images, "train_labels": train_labels,
            "test_images": test_images, "test_labels": test_labels}


# --- MNIST ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_mnist_folder_loads_through_load_dataset(tmp_path, compress):
    arrays = mnist_arrays()
    write_mnist(tmp_path, arrays, compress)
    data = load_dataset("mnist", data_dir=tmp_path, seed=0)
    assert data.feature_shape == (784,) and data.n_classes == 10
    assert len(data.train) + len(data.val) == N_TRAIN and len(data.test) == N_TEST
    # the files' own test set is the test split, pixels scaled to [0, 1]
    expected = arrays["test_images"].reshape(N_TEST, -1) / 255.0
    np.testing.assert_allclose(data.test.x.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(data.test.y.numpy(), arrays["test_labels"])
    assert float(data.train.x.max()) <= 1.0 and float(data.train.x.min()) >= 0.0


def test_mnist_raw_and_gz_give_the_same_arrays(tmp_path):
    arrays = mnist_arrays()
    write_mnist(tmp_path / "raw", arrays)
    write_mnist(tmp_path / "gz", arrays, compress=True)
    raw, gz = read_mnist_folder(tmp_path / "raw"), read_mnist_folder(tmp_path / "gz")
    for key in MNIST_FILES:
        np.testing.assert_array_equal(raw[key], arrays[key])
        np.testing.assert_array_equal(gz[key], arrays[key])


@pytest.mark.parametrize("key", list(MNIST_FILES))
def test_mnist_missing_file_names_it(tmp_path, key):
    paths = write_mnist(tmp_path, mnist_arrays())
    paths[key].unlink()
    with pytest.raises(BadInput, match=MNIST_FILES[key]):
        load_dataset("mnist", data_dir=tmp_path)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_mnist_bad_magic_number_names_the_file(tmp_path, compress):
    paths = write_mnist(tmp_path, mnist_arrays(), compress)
    path = paths["train_images"]
    data = bytearray(gzip.decompress(path.read_bytes()) if compress else path.read_bytes())
    data[2] = 0x0D  # float data, not unsigned bytes
    path.write_bytes(gzip.compress(bytes(data)) if compress else bytes(data))
    with pytest.raises(BadInput, match=f"{path.name}.*magic"):
        load_dataset("mnist", data_dir=tmp_path)


@pytest.mark.parametrize("cut", [3, 10, 500])
def test_mnist_truncated_file_names_the_file(tmp_path, cut):
    paths = write_mnist(tmp_path, mnist_arrays())
    path = paths["test_images"]
    path.write_bytes(path.read_bytes()[:-cut] if cut == 500 else path.read_bytes()[:cut])
    with pytest.raises(BadInput, match=path.name):
        load_dataset("mnist", data_dir=tmp_path)


def test_mnist_truncated_gzip_names_the_file(tmp_path):
    paths = write_mnist(tmp_path, mnist_arrays(), compress=True)
    path = paths["train_labels"]
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(BadInput, match=path.name):
        load_dataset("mnist", data_dir=tmp_path)


def test_mnist_corrupt_gzip_names_the_file(tmp_path):
    paths = write_mnist(tmp_path, mnist_arrays(), compress=True)
    path = paths["train_images"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)  # damage the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(BadInput, match=path.name):
        load_dataset("mnist", data_dir=tmp_path)


def test_mnist_invalid_deflate_stream_names_the_file(tmp_path):
    paths = write_mnist(tmp_path, mnist_arrays(), compress=True)
    path = paths["test_labels"]
    path.write_bytes(path.read_bytes()[:10] + b"\xff" * 64)  # gzip header, then a reserved deflate block type
    with pytest.raises(BadInput, match=path.name):
        load_dataset("mnist", data_dir=tmp_path)


def test_mnist_labels_out_of_range_name_the_file(tmp_path):
    arrays = mnist_arrays()
    arrays["train_labels"][5] = 12
    paths = write_mnist(tmp_path, arrays)
    with pytest.raises(BadInput, match=f"{paths['train_labels'].name}.*12"):
        load_dataset("mnist", data_dir=tmp_path)


def test_mnist_images_and_labels_that_do_not_match(tmp_path):
    arrays = mnist_arrays()
    arrays["test_labels"] = arrays["test_labels"][:-1]
    write_mnist(tmp_path, arrays)
    with pytest.raises(BadInput, match="test images"):
        load_dataset("mnist", data_dir=tmp_path)


def test_mnist_needs_a_data_dir():
    with pytest.raises(BadInput, match="--data-dir"):
        load_dataset("mnist")


# --- CIFAR-10 ---------------------------------------------------------------------------------------------------

def test_cifar10_folder_loads_through_load_dataset(tmp_path):
    arrays = write_cifar(tmp_path)
    data = load_dataset("cifar10", data_dir=tmp_path, seed=0)
    assert data.feature_shape == (3, 32, 32) and data.n_classes == 10
    assert len(data.train) + len(data.val) == N_TRAIN and len(data.test) == N_TEST
    np.testing.assert_allclose(data.test.x.numpy(), arrays["test_images"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.test.y.numpy(), arrays["test_labels"])
    read = read_cifar10_folder(tmp_path)  # both training batches, in order
    np.testing.assert_array_equal(read["train_images"], arrays["train_images"])
    np.testing.assert_array_equal(read["train_labels"], arrays["train_labels"])


@pytest.mark.parametrize("name", ["test_batch.bin", "data_batch_1.bin"])
def test_cifar10_missing_file_names_it(tmp_path, name):
    write_cifar(tmp_path, n_batches=1)
    (tmp_path / name).unlink()
    with pytest.raises(BadInput, match=name):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar10_truncated_batch_names_the_file(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(BadInput, match="data_batch_2.bin.*truncated"):
        load_dataset("cifar10", data_dir=tmp_path)


@pytest.mark.parametrize("name", ["data_batch_2.bin", "test_batch.bin"])
def test_cifar10_labels_out_of_range_name_the_file(tmp_path, name):
    write_cifar(tmp_path)
    path = tmp_path / name
    data = bytearray(path.read_bytes())
    data[3073] = 200  # the label byte of the second record
    path.write_bytes(bytes(data))
    with pytest.raises(BadInput, match=f"{name}.*200"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_data_dir_that_is_a_file_is_bad_input(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadInput):
        load_dataset("cifar10", data_dir=tmp_path / "file")
