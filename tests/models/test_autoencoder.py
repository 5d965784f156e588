"""Auto-encoders: shapes, the denoising corruption only in training, the linear AE reaches PCA's error, PSNR."""

import math

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.data.loader import TensorLoader
from mllab.models.autoencoder import ConvAutoencoder, MLPAutoencoder, psnr, reconstruction_loss
from mllab.train.loop import fit


def test_shapes():
    assert MLPAutoencoder(784, 8, hidden=16)(torch.rand(3, 784)).shape == (3, 784)
    conv = ConvAutoencoder(4, channels=4)
    assert conv(torch.rand(2, 784)).shape == (2, 1, 28, 28) and conv.encode(torch.rand(2, 784)).shape == (2, 4)


def test_denoising_noise_only_in_training():
    torch.manual_seed(0)
    model = MLPAutoencoder(6, 2, hidden=4, noise_std=0.5)
    x = torch.rand(4, 6)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_linear_autoencoder_reaches_pca_error():
    torch.manual_seed(0)
    x = torch.randn(400, 3) @ torch.randn(3, 10) + 0.1 * torch.randn(400, 10)  # near rank 3
    x = x - x.mean(0)
    u, s, v = torch.linalg.svd(x, full_matrices=False)
    pca_mse = float((x - x @ v[:2].T @ v[:2]).pow(2).mean())  # best rank-2 reconstruction
    model = MLPAutoencoder(10, 2, hidden=10, activation="linear")
    fit(model, reconstruction_loss, TensorLoader([x], 50, seed=0), torch.optim.Adam(model.parameters(), 1e-2),
        epochs=150)
    with torch.no_grad():
        ae_mse = float(reconstruction_loss(model.eval(), (x,))[0]) / len(x)
    assert ae_mse == pytest.approx(pca_mse, rel=0.05)


def test_psnr():
    clean = torch.zeros(2, 4)
    assert psnr(clean, clean + 0.1) == pytest.approx(20.0)
    assert psnr(clean, clean + 0.01) == pytest.approx(40.0)


@pytest.mark.parametrize("kwargs", [{"code_size": 0}, {"activation": "tanh2"}, {"noise_std": -1.0}])
def test_bad_input(kwargs):
    args = {"in_features": 4, "code_size": 2, **kwargs}
    with pytest.raises(BadInput):
        MLPAutoencoder(**args)
