"""TensorLoader takes any seed `derive_seed` makes (63 bits) and keeps the orders of small seeds."""

import torch

from mllab.core.seeding import derive_seed
from mllab.data import TensorLoader


def test_tensor_loader_takes_a_63_bit_seed():
    x = torch.arange(20.0)
    seed = derive_seed(2**32 - 1, "judge", 7)
    first = [b[0].tolist() for b in TensorLoader((x,), 5, seed=seed)]
    again = [b[0].tolist() for b in TensorLoader((x,), 5, seed=seed)]
    assert first == again and sorted(sum(first, [])) == x.tolist()


def test_small_seeds_keep_their_order():
    x = torch.arange(10.0)
    g = torch.Generator().manual_seed(3 * 1_000_003 + 0)
    assert torch.cat([b[0] for b in TensorLoader((x,), 4, seed=3)]).tolist() == x[torch.randperm(10, generator=g)].tolist()
