"""Datasets: fixed, seeded, stratified, disjoint splits; bad arrays rejected; TensorLoader order and sharding."""

import numpy as np
import pytest
import torch

from mllab.core.errors import BadInput
from mllab.data import LOADERS, RawData, TensorLoader, load_arrays, load_dataset, make_dataset


def indexed(n: int = 300, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x holds each sample's index (so splits can be traced back); y has unequal class sizes."""
    rng = np.random.default_rng(seed)
    y = rng.choice(n_classes, size=n, p=[0.6, 0.3, 0.1][:n_classes])
    return np.arange(n, dtype=np.float64)[:, None], y


def split_ids(data) -> dict[str, list[int]]:
    return {name: getattr(data, name).x[:, 0].long().tolist() for name in ("train", "val", "test")}


# --- splits -----------------------------------------------------------------------------------------------------

def test_splits_are_disjoint_cover_everything_and_have_the_asked_sizes():
    x, y = indexed()
    ids = split_ids(make_dataset("toy", x, y, 3, seed=0, val_fraction=0.2, test_fraction=0.1))
    all_ids = ids["train"] + ids["val"] + ids["test"]
    assert sorted(all_ids) == list(range(300))  # disjoint and complete
    assert abs(len(ids["val"]) - 60) <= 1 and abs(len(ids["test"]) - 30) <= 1  # sklearn rounds shares up


def test_splits_are_stratified():
    x, y = indexed()
    data = make_dataset("toy", x, y, 3, seed=0)
    overall = np.bincount(y, minlength=3) / len(y)
    for split in (data.train, data.val, data.test):
        share = np.bincount(split.y.numpy(), minlength=3) / len(split)
        assert np.abs(share - overall).max() < 1.5 / len(split) + 1e-9, (share, overall)  # off by at most ~1 sample
        labels_back = y[split.x[:, 0].long().numpy()]
        np.testing.assert_array_equal(split.y.numpy(), labels_back)  # x and y stay paired


def test_same_seed_same_split_other_seed_other_split():
    x, y = indexed()
    first, again = split_ids(make_dataset("toy", x, y, 3, seed=4)), split_ids(make_dataset("toy", x, y, 3, seed=4))
    other = split_ids(make_dataset("toy", x, y, 3, seed=5))
    assert first == again
    assert set(first["test"]) != set(other["test"]) and set(first["train"]) != set(other["train"])


def test_split_does_not_depend_on_the_global_rng():
    x, y = indexed()
    np.random.seed(1)
    torch.manual_seed(1)
    first = split_ids(make_dataset("toy", x, y, 3, seed=2))
    np.random.seed(2)
    torch.manual_seed(2)
    assert split_ids(make_dataset("toy", x, y, 3, seed=2)) == first


@pytest.mark.parametrize("name,n,features,classes", [("digits", 1797, (64,), 10), ("breast-cancer", 569, (30,), 2)])
def test_bundled_datasets(name, n, features, classes):
    data = load_dataset(name, seed=0)
    assert data.feature_shape == features and data.n_classes == classes
    assert len(data.train) + len(data.val) + len(data.test) == n
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    again = load_dataset(name, seed=0)
    assert torch.equal(data.test.x, again.test.x) and torch.equal(data.train.y, again.train.y)
    assert not torch.equal(load_dataset(name, seed=1).test.x, data.test.x)


# --- bad arrays -------------------------------------------------------------------------------------------------

def test_nan_features_are_bad_input_naming_the_sample():
    x, y = indexed()
    x[17, 0] = np.nan
    with pytest.raises(BadInput, match="toy: features contain NaN.*sample 17"):
        make_dataset("toy", x, y, 3)


def test_inf_features_are_bad_input():
    x, y = indexed()
    x[3, 0] = np.inf
    with pytest.raises(BadInput, match="features"):
        make_dataset("toy", x, y, 3)


@pytest.mark.parametrize("bad_label", [-1, 3])
def test_labels_out_of_range_are_bad_input(bad_label):
    x, y = indexed()
    y[10] = bad_label
    with pytest.raises(BadInput, match="toy: labels must lie in 0..2"):
        make_dataset("toy", x, y, 3)


def test_length_mismatch_and_too_few_samples_are_bad_input():
    x, y = indexed()
    with pytest.raises(BadInput, match="labels"):
        make_dataset("toy", x, y[:-1], 3)
    with pytest.raises(BadInput, match="stratified"):
        make_dataset("toy", x[:20], np.arange(20) % 10, 10)  # 3 val samples cannot hold 10 classes


def test_unknown_dataset_is_bad_input_naming_every_registered_choice():
    with pytest.raises(BadInput, match="unknown name 'imagenet'") as error:
        load_dataset("imagenet")
    for name in LOADERS:
        assert name in str(error.value)
    with pytest.raises(BadInput, match="unknown name 'imagenet'"):
        load_arrays("imagenet")


def test_a_registered_loader_is_found_by_name(monkeypatch):
    monkeypatch.setitem(LOADERS, "toy", lambda data_dir: RawData(*indexed(), 3))
    data = load_dataset("toy", seed=0)
    assert data.name == "toy" and data.n_classes == 3
    assert len(data.train) + len(data.val) + len(data.test) == 300
    assert split_ids(data) == split_ids(make_dataset("toy", *indexed(), 3, seed=0))


def test_load_arrays_returns_the_unsplit_data():
    raw = load_arrays("digits")
    assert raw.x.shape == (1797, 64) and raw.y.shape == (1797,) and raw.n_classes == 10
    assert 0.0 <= raw.x.min() and raw.x.max() <= 1.0 and raw.n_train_fixed is None


# --- TensorLoader -----------------------------------------------------------------------------------------------

def _ids(batches) -> list[list[int]]:
    return [b[0].tolist() for b in batches]


def test_order_depends_only_on_seed_and_epoch():
    data = (torch.arange(50),)

    def order(seed: int, epoch: int, global_seed: int) -> list[list[int]]:
        torch.manual_seed(global_seed)
        loader = TensorLoader(data, batch_size=8, seed=seed)
        loader.set_epoch(epoch)
        return _ids(loader)

    assert order(1, 0, 0) == order(1, 0, 99)  # the global RNG plays no part
    assert order(1, 0, 0) != order(1, 1, 0)  # a new epoch reshuffles
    assert order(1, 0, 0) != order(2, 0, 0)  # so does a new seed
    assert sorted(sum(order(1, 3, 0), [])) == list(range(50))


def test_batches_from_start_skip_the_first_batches():
    loader = TensorLoader((torch.arange(50), torch.arange(50) * 2), batch_size=8, seed=3)
    loader.set_epoch(2)
    full = list(loader.batches())
    assert len(full) == len(loader) == 7
    for start in (0, 3, 6, 7):
        rest = list(loader.batches(start))
        assert len(rest) == 7 - start
        assert all(torch.equal(a, b) for got, want in zip(rest, full[start:]) for a, b in zip(got, want))
    assert all(torch.equal(b[1], b[0] * 2) for b in full)  # tensors stay aligned


def test_unequal_batch_sizes_cycle_and_drop_last():
    loader = TensorLoader((torch.arange(20),), batch_size=1, batch_sizes=(3, 5), shuffle=False)
    assert [len(b[0]) for b in loader] == [3, 5, 3, 5, 3, 1]
    dropped = TensorLoader((torch.arange(20),), batch_size=1, batch_sizes=(3, 5), shuffle=False, drop_last=True)
    assert [len(b[0]) for b in dropped] == [3, 5, 3, 5, 3]
    assert _ids(TensorLoader((torch.arange(5),), batch_size=2, shuffle=False)) == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("n,world", [(20, 2), (23, 3), (5, 4)])
def test_rank_shards_cover_the_data_with_equal_sizes(n, world):
    data = (torch.arange(n),)
    shards = [sum(_ids(TensorLoader(data, batch_size=3, seed=1, rank=r, world_size=world)), [])
              for r in range(world)]
    per_rank = -(-n // world)
    assert all(len(s) == per_rank for s in shards)  # equal sizes: every rank takes the same number of steps
    everything = sum(shards, [])
    assert set(everything) == set(range(n))  # covered
    assert len(everything) - len(set(everything)) == per_rank * world - n  # only the padding repeats
    assert len({len(TensorLoader(data, batch_size=3, rank=r, world_size=world)) for r in range(world)}) == 1


def test_shards_follow_the_same_shuffle_as_one_process():
    """Rank r takes every world_size-th sample of the single-process order for the same (seed, epoch)."""
    data = (torch.arange(24),)
    single = sum(_ids(TensorLoader(data, batch_size=24, seed=5)), [])
    for r in range(2):
        shard = sum(_ids(TensorLoader(data, batch_size=4, seed=5, rank=r, world_size=2)), [])
        assert shard == single[r::2]


def test_bad_loader_arguments_are_bad_input():
    with pytest.raises(BadInput, match="batch_size"):
        TensorLoader((torch.arange(5),), batch_size=0)
    with pytest.raises(BadInput, match="first dimension"):
        TensorLoader((torch.arange(5), torch.arange(6)), batch_size=2)


# --- choosing a dataset in an experiment's config, flat vectors for MLPs, the tests' real-digit folders -----------

def test_check_dataset_names_the_field_the_choices_and_why():
    from mllab.data.datasets import FLAT_DATASETS, check_dataset

    assert check_dataset("mnist", FLAT_DATASETS) == "mnist"
    with pytest.raises(BadInput, match=r"^--set dataset: unknown dataset 'imagenet'; choose one of digits, mnist5k"):
        check_dataset("imagenet", FLAT_DATASETS)
    with pytest.raises(BadInput, match=r"--set data: this experiment cannot take 'cifar10' \(grey only\); "
                                       r"choose one of digits, mnist"):
        check_dataset("cifar10", ("digits", "mnist"), field="data", why="grey only")


def test_a_user_dataset_without_a_folder_names_the_field_and_the_flag():
    for name in ("mnist", "cifar10"):
        with pytest.raises(BadInput, match=f"--set dataset={name}: needs your own files; pass --data-dir"):
            load_dataset(name)


def test_load_flat_flattens_every_split_for_an_mlp(tmp_path):
    from mllab.data.datasets import load_flat
    from tests.experiments.real_data import write_cifar_like

    digits = load_flat("digits", seed=0)
    assert digits.train.x.shape[1:] == (64,) and torch.equal(digits.test.x, load_dataset("digits", seed=0).test.x)
    cifar = load_flat("cifar10", data_dir=write_cifar_like(tmp_path, n_train=100, n_test=20), seed=0)
    images = load_dataset("cifar10", data_dir=tmp_path, seed=0)
    assert cifar.feature_shape == (3072,) and images.feature_shape == (3, 32, 32)
    assert torch.equal(cifar.test.x, images.test.x.flatten(1))  # channel-major, as the files store it


def test_real_digit_folders_hold_mnist5k_digits_balanced_disjoint_and_deterministic(tmp_path):
    from mllab.data.files import read_cifar10_folder, read_mnist_folder
    from tests.experiments.real_data import write_cifar_like, write_mnist_like

    mnist = read_mnist_folder(write_mnist_like(tmp_path / "m", n_train=100, n_test=30))
    assert mnist["train_images"].shape == (100, 28, 28) and mnist["test_images"].shape == (30, 28, 28)
    assert np.bincount(mnist["train_labels"], minlength=10).tolist() == [10] * 10
    assert set(np.bincount(mnist["test_labels"], minlength=10).tolist()) == {3}
    raw = load_arrays("mnist5k")  # every image is one of the bundled digits, with its own label
    pixels = {bytes(np.rint(x * 255).astype(np.uint8)): int(y) for x, y in zip(raw.x, raw.y)}
    for split in ("train", "test"):
        for image, label in zip(mnist[f"{split}_images"], mnist[f"{split}_labels"]):
            assert pixels[image.tobytes()] == label
    train = {image.tobytes() for image in mnist["train_images"]}
    assert not train & {image.tobytes() for image in mnist["test_images"]}  # disjoint
    again = read_mnist_folder(write_mnist_like(tmp_path / "m2", n_train=100, n_test=30))
    assert all(np.array_equal(mnist[k], again[k]) for k in mnist)  # deterministic
    cifar = read_cifar10_folder(write_cifar_like(tmp_path / "c", n_train=100, n_test=30))
    assert cifar["train_images"].shape == (100, 3, 32, 32) and cifar["test_images"].shape == (30, 3, 32, 32)
    assert np.array_equal(cifar["train_images"][:, 1, 2:30, 2:30], mnist["train_images"])  # padded, 3 channels
    assert cifar["train_images"][:, :, :2].max() == 0 and np.array_equal(cifar["train_labels"], mnist["train_labels"])
