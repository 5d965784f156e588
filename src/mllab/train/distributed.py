"""Helpers to use `fit` under DDP: join the process group torchrun sets up, or launch N local ranks.

Under torchrun (one process per rank, RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT set):

    rank, world_size, device = init_distributed()          # gloo on CPU, NCCL on CUDA
    model = DistributedDataParallel(model.to(device), device_ids=[device.index] if device.type == "cuda" else None)
    loader = TensorLoader((x, y), batch_size, rank=rank, world_size=world_size)
    fit(model, loss_fn, loader, optimizer, epochs=..., accum_steps=k)  # no_sync inside a group, counts all-reduced
    cleanup()

For tests and experiments on one machine, `launch(worker, world_size, *args)` starts `world_size` new
processes joined by gloo and returns each rank's `worker(rank, world_size, *args)` value to the caller.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mllab.core.io import atomic_path


def init_distributed(backend: str | None = None, init_method: str = "env://") -> tuple[int, int, torch.device]:
    """Join the process group described by torchrun's environment; return (rank, world_size, device).

    backend: None picks "nccl" when CUDA is available, else "gloo". Without WORLD_SIZE in the
    environment (a plain `python` run) nothing is initialised and this returns (0, 1, device).
    On CUDA the device is `cuda:LOCAL_RANK`, made the current device.
    """
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size)
    return rank, world_size, device


def cleanup() -> None:
    """Leave the process group (a no-op when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launch(worker: Callable[..., Any], world_size: int, *args: Any, threads_per_rank: int = 1,
           start_method: str | None = None) -> list[Any]:
    """Run `worker(rank, world_size, *args)` in `world_size` new processes joined by gloo on CPU.

    Returns the workers' return values in rank order. They travel back through `torch.save` files, so
    return tensors, numbers, strings and lists/dicts of them. Under "spawn", `worker` and `args` must
    be picklable (define the worker at module level). The ranks meet through a file store in a
    temporary folder, so no TCP port has to be chosen. A failing rank raises
    `torch.multiprocessing.ProcessRaisedException` in the caller, carrying its traceback.

    start_method: None picks "fork" on Linux when CUDA is untouched (the ranks inherit the imported
    modules: a few seconds faster per rank), else "spawn".
    """
    if world_size < 1:
        raise ValueError(f"launch: world_size must be >= 1, got {world_size}")
    if start_method is None:
        start_method = "fork" if sys.platform == "linux" and not torch.cuda.is_initialized() else "spawn"
    if start_method == "fork":
        importlib.import_module("torch._dynamo")  # DDP's constructor imports it (~2 s): once here, not per rank
    with tempfile.TemporaryDirectory(prefix="mllab-ddp-") as folder:
        mp.start_processes(_rank_main, args=(world_size, folder, threads_per_rank, worker, args),
                           nprocs=world_size, join=True, start_method=start_method)
        return [torch.load(Path(folder) / f"rank{rank}.pt", weights_only=True) for rank in range(world_size)]


def _rank_main(rank: int, world_size: int, folder: str, threads: int, worker: Callable[..., Any],
               args: tuple[Any, ...]) -> None:
    """One rank: torchrun's environment, join the group, run the worker, save its result."""
    torch.set_num_threads(threads)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    init_distributed("gloo", init_method=f"file://{Path(folder) / 'store'}")
    try:
        result = worker(rank, world_size, *args)
    finally:
        cleanup()
    with atomic_path(Path(folder) / f"rank{rank}.pt") as tmp:
        torch.save(result, tmp)
