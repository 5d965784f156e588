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
