"""Domain pairs from the user's MNIST files (`make_domain_pair(dataset="mnist", data_dir=...)`) and the datasets that
do not fit (CIFAR-10: no digit strokes to blend or paint)."""

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.data.domains import check_digit_dataset, make_domain_pair
from mllab.data.images import load_images
from tests.experiments.real_data import write_mnist_like


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    return write_mnist_like(tmp_path_factory.mktemp("mnist"), 200, 100)  # 170 train / 30 val / 100 test


@pytest.mark.parametrize("shift", ["mnist-m", "colour"])
def test_pair_from_the_users_mnist_uses_all_its_training_digits(shift, mnist_dir):
    pair = make_domain_pair(shift, seed=3, dataset="mnist", data_dir=mnist_dir)
    digits = load_images(seed=3, name="mnist", data_dir=mnist_dir)
    assert len(pair.source_train) == 170 and len(pair.target_test) == 100  # n_train None: every training image
    assert torch.equal(pair.source_train.x, digits.train.x.expand(-1, 3, -1, -1))  # the user's digits, as RGB
    assert torch.equal(pair.target_train.y, digits.train.y) and torch.equal(pair.target_test.y, digits.test.y)
    assert not torch.equal(pair.target_train.x, pair.source_train.x)  # a shifted domain
    again = make_domain_pair(shift, seed=3, dataset="mnist", data_dir=mnist_dir)
    assert torch.equal(again.target_train.x, pair.target_train.x) and pair.name == f"mnist → {shift}"


def test_n_train_beyond_the_users_files_and_unfit_datasets_are_bad_input(mnist_dir):
    with pytest.raises(BadInput, match=r"n_train: must be in 1\.\.170"):
        make_domain_pair("mnist-m", dataset="mnist", data_dir=mnist_dir, n_train=171)
    with pytest.raises(BadInput, match="cannot take 'cifar10'.*digit strokes.*choose one of mnist5k, mnist"):
        check_digit_dataset("cifar10")
    with pytest.raises(BadInput, match="--data-dir"):
        make_domain_pair("mnist-m", dataset="mnist")  # the user's MNIST needs a folder
