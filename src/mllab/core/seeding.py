"""Seed Python, NumPy and torch together."""

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed `random`, NumPy and torch (CPU and CUDA); return a torch.Generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
