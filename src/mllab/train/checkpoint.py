"""Checkpoints: written to a temporary file and renamed; loaded with `weights_only=True`.

Loading never unpickles code: a file that asks for anything but tensors and plain containers is
refused with a `BadInput`, and nothing in it runs.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mllab.core.errors import BadInput
from mllab.core.io import atomic_path


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """torch.save to `path.tmp`, fsync, rename: a crash leaves the previous file intact."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a writer killed mid-save
        stale.unlink(missing_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint of tensors and plain containers; BadInput if missing, corrupt or unsafe."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"checkpoint: {path} does not exist; check the path or start without resume")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise BadInput(f"checkpoint: refusing {path}: it holds more than tensors and plain data ({first}); "
                       "load only checkpoints written by mllab") from None
    except Exception as exc:  # torch.load raises many kinds (RuntimeError, EOFError, IndexError, ...) on bad bytes
        raise BadInput(f"checkpoint: {path} is corrupt or truncated ({str(exc)[:120]}); "
                       "delete it or resume from an older one") from None


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (CPU and CUDA) RNG states in a weights_only-safe form."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
