"""Checkpoints: written to a temporary file and renamed; loaded with `weights_only=True`.

Loading never unpickles code: a file that asks for anything but tensors and plain containers is
refused with a `BadInput`, and nothing in it runs. Also here: the state `fit` keeps beside the weights —
`unwrap_model` (plain keys for DDP and torch.compile wrappers) and `LoaderOrder` (the RNG states a loader's
batch order comes from, for a bit-exact resume).
"""

from __future__ import annotations

import pickle
import random
import sys
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, IterableDataset, SequentialSampler

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
    n = state["numpy"]  # RNG states are CPU byte tensors, wherever the checkpoint's tensors were mapped
    np.random.set_state((n["kind"], n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DDP and torch.compile wrappers, in any nesting (compiled DDP, DDP of a compiled
    module): its state_dict has no `module.` / `_orig_mod.` prefixes, so checkpoints of plain, compiled and
    DDP models load into each other."""
    while True:
        if isinstance(model, DistributedDataParallel):
            model = model.module
        elif _is_compiled(model):
            model = model._orig_mod
        else:
            return model


def is_ddp(model: torch.nn.Module) -> bool:
    """A DDP model, also under torch.compile (whose wrapper hands `no_sync` on to the DDP inside)."""
    while _is_compiled(model):
        model = model._orig_mod
    return isinstance(model, DistributedDataParallel)


def _is_compiled(model: torch.nn.Module) -> bool:
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")  # loaded once anything was compiled; else no wrapper
    return eval_frame is not None and isinstance(model, eval_frame.OptimizedModule)


class LoaderOrder:
    """The RNG states a loader's batch order is drawn from, kept at each epoch's start so that resume replays
    the uninterrupted run's order (and the skipped batches' draws) bit for bit.

    Sources: torch's global RNG (a DataLoader's shuffle when it has no generator) and every torch.Generator the
    loader holds: `DataLoader.generator`, its sampler's or batch sampler's `generator` (RandomSampler,
    SubsetRandomSampler, WeightedRandomSampler, or a sampler of your own with that attribute; None there means
    the global RNG). A sampler of another kind (no `generator` attribute) has state we cannot see: resuming
    with it is refused (BadInput) rather than silently continuing in another order.
    """

    DETERMINISTIC = (SequentialSampler, DistributedSampler)  # order set by their fields (seed, set_epoch)

    def __init__(self, loader: Any) -> None:
        self.generators: list[torch.Generator] = []
        self.unknown: Any = None  # a sampler whose order we cannot restore
        for owner in (loader, getattr(loader, "dataset", None)):  # a dataset may draw its augmentation from one
            self._add(getattr(owner, "generator", None))
        if isinstance(loader, DataLoader) and not isinstance(loader.dataset, IterableDataset):  # (no sampler)
            # in use: the batch sampler (the user's, or BatchSampler over loader.sampler), else loader.sampler
            used = loader.batch_sampler if loader.batch_sampler is not None else loader.sampler
            for sampler in (used, getattr(used, "sampler", None) if isinstance(used, BatchSampler) else None):
                if sampler is None or isinstance(sampler, (BatchSampler, *self.DETERMINISTIC)):
                    continue
                if hasattr(sampler, "generator"):
                    self._add(sampler.generator)
                else:
                    self.unknown = sampler
        self.epoch: tuple[torch.Tensor, list[torch.Tensor]] | None = None  # (global RNG, generators) at epoch start

    def _add(self, generator: Any) -> None:
        if isinstance(generator, torch.Generator) and all(generator is not g for g in self.generators):
            self.generators.append(generator)

    def start_epoch(self) -> None:
        """Keep the states the epoch's order is about to be drawn from (a DataLoader draws as iteration starts)."""
        self.epoch = (torch.get_rng_state(), [g.get_state() for g in self.generators])

    def state_dict(self) -> dict[str, Any]:
        """For the checkpoint: the epoch's starting states and the generators' present ones (uint8 tensors)."""
        epoch_rng, epoch_generators = self.epoch if self.epoch is not None else (None, None)
        return {"epoch_rng": epoch_rng, "epoch_loader_rng": epoch_generators,
                "loader_rng": [g.get_state() for g in self.generators]}

    def check_restorable(self, path: Path) -> None:
        if self.unknown is not None:
            name = type(self.unknown).__name__
            raise BadInput(f"resume: cannot restore the batch order of the loader's {name} (no `generator` to save), "
                           f"so {path} would continue in another order; give {name} a `generator` attribute (a "
                           "torch.Generator, or None when it draws from torch's global RNG), or start without resume")

    def load_state_dict(self, ckpt: dict[str, Any], path: Path) -> None:
        """Set the generators to the checkpoint's states; BadInput when it holds none for them."""
        saved, epoch = ckpt.get("loader_rng") or [], ckpt.get("epoch_loader_rng")
        if len(saved) != len(self.generators) or (epoch is not None and len(epoch) != len(saved)):
            raise BadInput(f"resume: {path} holds the state of {len(saved)} loader generator(s), the loader has "
                           f"{len(self.generators)}; resume with the loader it was written with, or start without "
                           "resume")
        for generator, state in zip(self.generators, saved):
            generator.set_state(state)
        self.epoch = None if ckpt.get("epoch_rng") is None else (ckpt["epoch_rng"], epoch or [])

    def batches(self, loader: Any, start: int) -> Iterator[Any]:
        """The epoch's batches from batch `start` on. A TensorLoader skips without loading; another loader is
        replayed from the epoch's starting RNG states (the skipped batches are loaded and dropped), after which
        the states are put back to where the checkpoint left them."""
        if hasattr(loader, "batches"):
            return loader.batches(start)
        if start == 0 or self.epoch is None:
            return islice(iter(loader), start, None)
        now = torch.get_rng_state(), [g.get_state() for g in self.generators]
        torch.set_rng_state(self.epoch[0])
        for generator, state in zip(self.generators, self.epoch[1]):
            generator.set_state(state)
        batches = iter(loader)
        for _ in islice(batches, start):  # draws the order as the uninterrupted run did
            pass
        torch.set_rng_state(now[0])
        for generator, state in zip(self.generators, now[1]):
            generator.set_state(state)
        return batches
