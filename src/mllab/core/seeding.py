"""Seeds: check the one a user gives, derive the many an experiment uses, seed Python, NumPy and torch.

A run has one seed (`--seed`, 0 ≤ seed < 2³²). Every other seed an experiment needs (one per repeat, per
arm, per tuning draw) comes from `derive_seed(run.seed, *keys)`: a 64-bit hash of the seed and the keys,
so a derived seed never overflows (torch, NumPy and gymnasium take it; `seed % 2**32` where a library
wants 32 bits) and two different key tuples give unrelated seeds. The chance that two of a run's
≤ 10⁴ derived seeds coincide is below 10⁻¹¹ (birthday bound, 63 bits).
"""

import hashlib
import random

import numpy as np
import torch

from mllab.core.errors import BadInput

SEED_LIMIT = 2**32  # --seed must lie in [0, SEED_LIMIT)


def check_seed(seed: object, field: str = "--seed") -> int:
    """`seed` as an int in [0, 2³²), else BadInput naming `field` and the fix."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise BadInput(f"{field}: {seed!r} is not an integer; give a whole number 0 <= seed < 2**32")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise BadInput(f"{field}: {seed} is out of range; give a whole number 0 <= seed < 2**32 (= {SEED_LIMIT})")
    return int(seed)


def derive_seed(seed: int, *keys: int | str) -> int:
    """A seed in [0, 2⁶³) for one repeat / arm / draw of an experiment: hash(seed, *keys).

    keys name what the seed is for, e.g. `derive_seed(run.seed, "tune", lr_index, k)`; different keys give
    independent seeds, the same keys the same seed on every machine and Python version (blake2b, not hash())."""
    text = "\x1f".join([str(int(seed))] + [f"{type(k).__name__}:{k}" for k in keys])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def seed_everything(seed: int) -> torch.Generator:
    """Seed `random`, NumPy and torch (CPU and CUDA); return a torch.Generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
