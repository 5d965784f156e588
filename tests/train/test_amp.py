"""Mixed precision through fit. On CUDA these paths run with their real kernels; here the CPU autocast
and GradScaler exercise the same code in the loop (unscale before clipping, step and update per group)."""

import pytest
import torch
import torch.nn.functional as F

from mllab.core.errors import BadInput
from mllab.data import TensorLoader
from mllab.train import fit


def _task(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 10, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    return model, TensorLoader((x, y), 32, seed=seed), (x, y)


def _loss(model, batch):
    x, y = batch
    return F.cross_entropy(model(x).float(), y, reduction="sum"), len(y)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_trains_and_runs_one_scaler_update_per_step(amp, monkeypatch):
    model, loader, (x, y) = _task()
    before = F.cross_entropy(model(x), y).item()
    updates = []
    if amp == "fp16":
        original = torch.amp.GradScaler.update
        monkeypatch.setattr(torch.amp.GradScaler, "update", lambda self, *a: (updates.append(1), original(self, *a)))
    state = fit(model, _loss, loader, torch.optim.SGD(model.parameters(), lr=0.1), epochs=3, accum_steps=2,
                amp=amp, clip_grad_norm=1.0)
    after = F.cross_entropy(model(x), y).item()
    reference, reference_loader, _ = _task()
    fit(reference, _loss, reference_loader, torch.optim.SGD(reference.parameters(), lr=0.1), epochs=3,
        accum_steps=2, clip_grad_norm=1.0)
    full_precision = F.cross_entropy(reference(x), y).item()
    assert after < before - 0.1, (before, after)
    assert abs(after - full_precision) < 0.02, (after, full_precision)  # follows the fp32 run
    assert state.global_step == 3 * 4  # 8 batches, k=2
    if amp == "fp16":
        assert len(updates) == state.global_step


def test_unknown_amp_is_bad_input():
    model, loader, _ = _task()
    with pytest.raises(BadInput, match="amp"):
        fit(model, _loss, loader, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, amp="fp8")
