"""`fit` on a CUDA device: mixed precision with the real kernels, no host–device sync per step, bit-exact resume.

Skipped where CUDA is absent (CI); `bench/gpu_check.sh` runs them when a GPU is lent. The sync count uses
PyTorch's own detector (`torch.cuda.set_sync_debug_mode("warn")` warns at every synchronising call): it must
not grow with the number of optimizer steps.
"""

import warnings

import pytest
import torch
import torch.nn.functional as F

from mllab.data import TensorLoader
from mllab.train import fit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _loss(model, batch):
    x, y = batch
    return F.cross_entropy(model(x).float(), y, reduction="sum"), len(y)


def _loss_device_count(model, batch):
    """The item count as a device tensor (as token counts are): computed there, never copied from the host."""
    x, y = batch
    return F.cross_entropy(model(x).float(), y, reduction="sum"), (y >= 0).sum()


def _task(steps: int, seed: int = 0, device: str = "cuda", init_seed: int | None = None):
    """(model, loader, data): `steps` batches of 32 of a two-class task on `device`; the model's initial weights
    drawn with `init_seed` (default `seed`)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(32 * steps, 10, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(seed if init_seed is None else init_seed)
    model = torch.nn.Sequential(torch.nn.Linear(10, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)).to(device)
    return model, TensorLoader((x.to(device), y.to(device)), 32, seed=seed), (x.to(device), y.to(device))


def _syncs(steps: int, amp: str | None, fused: bool = False, loss=_loss) -> int:
    model, loader, _ = _task(steps)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    fit(model, loss, loader, optimizer, epochs=1, amp=amp)  # warm-up: lazy CUDA init and allocator syncs
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fit(model, loss, loader, optimizer, epochs=2, amp=amp, clip_grad_norm=1.0)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


@pytest.mark.parametrize("amp", [None, "bf16"])
@pytest.mark.parametrize("loss", [_loss, _loss_device_count], ids=["int-counts", "device-counts"])
def test_fit_syncs_do_not_grow_with_the_steps(amp, loss):
    few, many = _syncs(8, amp, loss=loss), _syncs(64, amp, loss=loss)
    assert many <= few, f"{few} syncs for 8 steps/epoch, {many} for 64: a sync per step"


def test_fp16_with_a_fused_optimizer_syncs_do_not_grow_with_the_steps():
    # GradScaler.step reads found_inf on the host for a plain optimizer; a fused one takes it on the device
    few, many = _syncs(8, "fp16", fused=True), _syncs(64, "fp16", fused=True)
    assert many <= few, f"{few} syncs for 8 steps/epoch, {many} for 64"


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_trains_on_cuda_with_fp32_master_weights(amp):
    model, loader, (x, y) = _task(16)
    before = F.cross_entropy(model(x), y).item()
    fit(model, _loss, loader, torch.optim.SGD(model.parameters(), lr=0.1), epochs=5, amp=amp, clip_grad_norm=1.0)
    after = F.cross_entropy(model(x), y).item()
    assert after < 0.5 * before
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_resume_on_cuda_is_bit_exact(tmp_path):
    path = tmp_path / "ckpt.pt"

    def run(epochs: int, resume: bool = False, init_seed: int = 0) -> torch.nn.Module:
        model, loader, _ = _task(12, init_seed=init_seed)  # the same data and loader seed in every run
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        fit(model, _loss, loader, optimizer, epochs=epochs, checkpoint_path=path if resume or epochs == 2 else None,
            resume=resume)
        return model

    straight = run(4)
    run(2)  # writes the checkpoint at its end
    resumed = run(4, resume=True, init_seed=99)  # other initial weights: the checkpoint overwrites them
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
