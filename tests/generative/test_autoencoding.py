"""Auto-encoding helpers: PCA reconstruction equals the rank-k SVD projection, per-sample errors, noise, the judge."""

import math

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.generative.autoencoding import add_noise, pca_reconstruction, reconstruction_errors
from mllab.generative.judge import DigitJudge
from mllab.models.autoencoder import psnr


def test_pca_reconstruction_is_the_rank_k_projection_of_centred_data():
    torch.manual_seed(0)
    train, x = torch.randn(200, 6, dtype=torch.float64), torch.randn(5, 6, dtype=torch.float64)
    mean = train.mean(0)
    _, _, v = torch.linalg.svd(train - mean, full_matrices=False)
    expected = mean + (x - mean) @ v[:2].T @ v[:2]  # μ + (x − μ) V_kᵀ V_k
    assert torch.allclose(pca_reconstruction(train, x, 2), expected, atol=1e-10)
    assert torch.allclose(pca_reconstruction(train, x, 6), x, atol=1e-10)  # full rank: exact
    with pytest.raises(BadInput, match="code_size"):
        pca_reconstruction(train, x, 7)


def test_reconstruction_errors_per_sample():
    x = torch.zeros(3, 4)
    x_hat = torch.tensor([[1.0, 1, 1, 1], [2, 0, 0, 0], [0, 0, 0, 0]])
    assert reconstruction_errors(None, x, x_hat).tolist() == [1.0, 1.0, 0.0]


def test_add_noise_has_the_stated_std_and_psnr():
    clean = torch.zeros(200, 64)
    noisy = add_noise(clean, 0.2, seed=0)
    assert float(noisy.std()) == pytest.approx(0.2, rel=0.02)
    assert psnr(clean, noisy) == pytest.approx(10 * math.log10(1 / 0.04), abs=0.2)  # 10 log10(1/σ²)
    assert torch.equal(noisy, add_noise(clean, 0.2, seed=0))


def test_judge_on_separable_blobs_covers_both_classes_and_fd_is_zero_on_itself():
    torch.manual_seed(0)
    centres = torch.eye(8)[:2] * 4  # two classes far apart in 8 dims
    y = torch.arange(200) % 2
    x = centres[y] + 0.3 * torch.randn(200, 8)
    judge = DigitJudge.train(x, y, x, width=16, epochs=100, lr=1e-2, seed=0, min_share=0.1)
    assert judge.accuracy(x, y) == 1.0
    scores = judge.score(x)
    assert scores["classes_covered"] == 2 and scores["mean_confidence"] > 0.9
    assert abs(scores["frechet"]) < 1e-6
    assert judge.score(x[y == 0])["classes_covered"] == 1
