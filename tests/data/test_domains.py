import numpy as np
import pytest
import torch

from mllab.core.errors import BadInput
from mllab.data.domains import (
    PHOTOS,
    blend_mnist_m,
    colour_shift,
    load_photos,
    make_domain_pair,
    photo_crops,
    region,
)


def test_crops_are_deterministic_and_train_and_test_crops_are_disjoint():
    a, b = photo_crops(300, "train", seed=4), photo_crops(300, "train", seed=4)
    assert torch.equal(a.images, b.images) and a.images.shape == (300, 3, 28, 28)
    test = photo_crops(300, "test", seed=4)
    for p, (h, w, _) in enumerate(x.shape for x in load_photos()):
        train_lo, train_hi = region(w, "train", 0.6)
        test_lo, test_hi = region(w, "test", 0.6)
        assert train_hi <= test_lo  # the regions do not overlap
        tr, te = a.col[a.photo == p], test.col[test.photo == p]
        assert np.all((tr >= train_lo) & (tr + 28 <= train_hi)) and np.all((te >= test_lo) & (te + 28 <= test_hi))
    assert len(set(a.photo)) == len(PHOTOS)  # every photo is used
    assert not torch.equal(photo_crops(300, "train", seed=5).images, a.images)


def test_blend_is_absolute_difference_per_channel():
    digit = torch.zeros(1, 1, 28, 28)
    digit[0, 0, 10, 10] = 1.0
    crop = torch.rand(1, 3, 28, 28)
    out = blend_mnist_m(digit, crop)
    assert torch.allclose(out[0, :, 10, 10], 1 - crop[0, :, 10, 10])  # inverted under the stroke
    assert torch.equal(out[0, :, 0, 0], crop[0, :, 0, 0])  # unchanged elsewhere


def test_domain_pair_is_deterministic_with_shapes_and_labels():
    p, q = make_domain_pair("mnist-m", seed=1, n_train=50), make_domain_pair("mnist-m", seed=1, n_train=50)
    assert torch.equal(p.target_train.x, q.target_train.x) and torch.equal(p.target_test.x, q.target_test.x)
    assert p.source_train.x.shape == (50, 3, 28, 28) and p.target_test.x.shape[1:] == (3, 28, 28)
    assert torch.equal(p.source_train.y, p.target_train.y)
    assert 0 <= float(p.target_train.x.min()) and float(p.target_train.x.max()) <= 1
    digits = torch.rand(10, 1, 28, 28)
    c = colour_shift(digits, seed=0)
    assert c.shape == (10, 3, 28, 28) and torch.equal(c, colour_shift(digits, seed=0))
    stroke, background = colour_shift(torch.ones(10, 1, 28, 28), 0), colour_shift(torch.zeros(10, 1, 28, 28), 0)
    assert torch.all(stroke >= background)  # the gentler shift never inverts a channel


@pytest.mark.parametrize("kwargs, match", [({"shift": "sepia"}, "unknown domain shift"), ({"n_train": 0}, "n_train")])
def test_bad_input(kwargs, match):
    with pytest.raises(BadInput, match=match):
        make_domain_pair(**kwargs)
