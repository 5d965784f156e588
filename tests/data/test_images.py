"""mnist5k as images, subsets and deterministic transformed test sets."""

import torch

from mllab.data.images import load_images, rotated, rotated_scaled, scaled, shifted, subset, warp


def test_images_shapes_splits_and_transforms():
    data = load_images(seed=0)
    assert data.train.x.shape == (3500, 1, 28, 28) and len(data.val) == 750 and len(data.test) == 750
    assert torch.equal(load_images(seed=0).test.x, data.test.x)
    small = subset(data.train, 250, seed=1)
    assert len(small) == 250 and torch.equal(small.x, subset(data.train, 250, seed=1).x)
    test = data.test
    assert (warp(test.x[:10]) - test.x[:10]).abs().max() <= 1e-6  # identity at (0°, ×1, 0 px)
    for t in (rotated(test, 30), scaled(test, 0.8), shifted(test, 3, seed=0), rotated_scaled(test, 45, (0.7, 1.3))):
        assert t.split.x.shape == test.x.shape and torch.equal(t.split.y, test.y)
        assert (t.split.x - test.x).abs().mean() > 0.01
    a, b = rotated_scaled(test, 45, (0.7, 1.3), seed=4), rotated_scaled(test, 45, (0.7, 1.3), seed=4)
    assert torch.equal(a.split.x, b.split.x)
    ink = test.x.sum()
    assert abs(float(rotated(test, 90).split.x.sum() / ink) - 1) < 0.02  # rotation keeps the ink on the canvas


def test_load_images_reads_user_mnist_and_cifar_folders_as_nchw(tmp_path):
    from tests.data.test_files import mnist_arrays, write_cifar, write_mnist

    from mllab.data.images import load_images

    write_mnist(tmp_path / "mnist", mnist_arrays())
    mnist = load_images(seed=0, name="mnist", data_dir=tmp_path / "mnist")
    assert mnist.train.x.shape[1:] == (1, 28, 28) and mnist.test.x.shape[1:] == (1, 28, 28)
    assert 0.0 <= float(mnist.train.x.min()) and float(mnist.train.x.max()) <= 1.0
    write_cifar(tmp_path / "cifar")
    cifar = load_images(seed=0, name="cifar10", data_dir=tmp_path / "cifar")
    assert cifar.train.x.shape[1:] == (3, 32, 32) and cifar.n_classes == 10


def test_load_images_names_the_choices_for_an_unknown_dataset():
    import pytest

    from mllab.core.errors import BadInput
    from mllab.data.images import load_images

    with pytest.raises(BadInput, match="mnist5k, mnist, cifar10"):
        load_images(name="digits")
