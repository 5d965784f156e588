"""Mode metrics on samples placed exactly on or off the modes; Fréchet distance and W1 against closed forms."""

import math

import numpy as np
import pytest
import torch

from mllab.core.errors import BadInput
from mllab.generative.data import grid_mixture, ring_mixture
from mllab.generative.metrics import (class_stats, frechet_distance, histogram_reverse_kl, mode_stats,
                                      uniform_shift_js, uniform_shift_w1, wasserstein_1d)


def test_data_matches_pacgan_settings():
    ring, grid = ring_mixture(), grid_mixture()
    assert ring.n_modes == 8 and ring.sigma == 0.01 and torch.allclose(ring.means.norm(dim=1), torch.ones(8))
    assert grid.n_modes == 25 and grid.sigma == 0.05 and set(grid.means[:, 0].tolist()) == {-4, -2, 0, 2, 4}


def test_samples_on_every_mode_cover_all_with_zero_reverse_kl():
    ring = ring_mixture()
    stats = mode_stats(ring.means.repeat(3, 1), ring.means, ring.sigma)  # 3 samples exactly on each mode
    assert (stats.modes_covered, stats.high_quality, stats.reverse_kl) == (8, 1.0, 0.0)


def test_samples_on_one_mode_and_off_the_modes():
    grid = grid_mixture()
    on_one = grid.means[:1].repeat(6, 1)  # all six on mode 0
    off = torch.tensor([[1.0, 1.0], [-1.0, 3.0]])  # halfway between modes: 14 σ from any
    just_inside = grid.means[1:2] + torch.tensor([[2.9 * grid.sigma, 0.0]])
    just_outside = grid.means[2:3] + torch.tensor([[0.0, 3.1 * grid.sigma]])
    stats = mode_stats(torch.cat([on_one, off, just_inside, just_outside]), grid.means, grid.sigma)
    assert stats.modes_covered == 2  # mode 0 and mode 1; mode 2's sample is 3.1 σ away
    assert stats.high_quality == pytest.approx(7 / 10)
    assert stats.reverse_kl == pytest.approx((6 / 7) * math.log(6 / 7 * 25) + (1 / 7) * math.log(1 / 7 * 25))
    assert stats.reverse_kl == pytest.approx(histogram_reverse_kl(stats.counts))


def test_one_mode_reverse_kl_is_log_k_and_no_good_sample_is_inf():
    assert histogram_reverse_kl(np.array([5, 0, 0, 0])) == pytest.approx(math.log(4))
    assert histogram_reverse_kl(np.zeros(4)) == math.inf


def test_mode_stats_rejects_bad_shapes():
    with pytest.raises(BadInput, match="samples must be"):
        mode_stats(torch.zeros(3, 3), grid_mixture().means, 0.05)


def test_class_stats():
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.3, 0.7, 0.0], [0.6, 0.4, 0.0]])
    stats = class_stats(probs, min_share=0.2)
    assert stats.classes_covered == 2 and stats.mean_confidence == pytest.approx((0.9 + 0.8 + 0.7 + 0.6) / 4)
    assert stats.shares.tolist() == [0.75, 0.25, 0.0]


def test_frechet_distance_of_gaussians_with_known_moments():
    gen = np.random.default_rng(0)
    a = gen.normal(size=(20000, 2))
    b = gen.normal(size=(20000, 2)) * 2 + np.array([3.0, 0.0])
    # ‖μ‖² = 9; Tr(I + 4I − 2·(4I)^{1/2}) = 2 + 8 − 8 = 2
    assert frechet_distance(a, b) == pytest.approx(11.0, rel=0.03)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_exact_w1_of_equal_variance_gaussians_is_the_mean_gap():
    gen = np.random.default_rng(1)
    for mu in (0.5, 2.0, 5.0):
        a = gen.normal(0.0, 1.0, 100000)
        b = gen.normal(mu, 1.0, 100000)
        assert wasserstein_1d(a, b) == pytest.approx(mu, abs=0.02)


def test_uniform_shift_closed_forms():
    assert uniform_shift_js(0.5) == pytest.approx(0.5 * math.log(2))
    assert uniform_shift_js(3.0) == uniform_shift_js(1.0) == pytest.approx(math.log(2))
    assert uniform_shift_w1(-2.5) == 2.5
    gen = np.random.default_rng(2)
    assert wasserstein_1d(gen.uniform(0, 1, 50000), gen.uniform(2, 3, 50000)) == pytest.approx(2.0, abs=0.01)
