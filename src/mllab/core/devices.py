"""Device choice: `auto | cpu | cuda | cuda:N | mps`."""

import contextlib
from typing import Iterator

import torch

from mllab.core.errors import BadInput


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch.device for `name`; `auto` picks cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise BadInput(f"--device: unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInput(f"--device: {name!r} asked for but CUDA is not available here; use --device cpu or auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BadInput(f"--device: {name!r} asked for but MPS is not available here; use --device cpu or auto")
    if device.type not in ("cpu", "cuda", "mps"):
        raise BadInput(f"--device: unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with `n` intra-op torch threads and `n` BLAS threads (NumPy, SciPy), then restore the previous counts.

    Models of a few thousand weights gain nothing from a second thread and lose much to the
    synchronisation when the cores are shared; experiments on such models run with n=1.
    """
    from threadpoolctl import threadpool_limits  # NumPy / SciPy's BLAS too: beside a busy process two BLAS
    # threads made a (170, 3072) SVD 50x slower (16 s vs 0.3 s) and scipy's 128x128 sqrtm 2.3 s vs 0.01 s

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)
