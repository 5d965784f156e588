"""`torch_threads(n)` pins torch's intra-op threads and NumPy's BLAS threads for an experiment, then restores both."""

import numpy as np  # noqa: F401  (loads the BLAS threadpoolctl sees)
import torch
from threadpoolctl import threadpool_info

from mllab.core.devices import torch_threads


def blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_torch_threads_pins_torch_and_blas_and_restores_them():
    torch_before, blas_before = torch.get_num_threads(), blas_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        assert blas_threads() and all(n == 1 for n in blas_threads())
    assert torch.get_num_threads() == torch_before and blas_threads() == blas_before
