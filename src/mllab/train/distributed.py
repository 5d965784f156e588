"""Helpers to use `fit` under DDP: join the process group torchrun sets up, or launch N local ranks.

Under torchrun (one process per rank, RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT set):

    rank, world_size, device = init_distributed()          # gloo on CPU, NCCL on CUDA
    model = DistributedDataParallel(model.to(device), device_ids=[device.index] if device.type == "cuda" else None)
    loader = TensorLoader((x, y), batch_size, rank=rank, world_size=world_size)
    fit(model, loss_fn, loader, optimizer, epochs=..., accum_steps=k)  # no_sync inside a group, counts all-reduced
    cleanup()

For tests and experiments on one machine, `launch(worker, world_size, *args)` starts `world_size` new
processes joined by gloo and returns each rank's `worker(rank, world_size, *args)` value to the caller.

`mllab run` under torchrun (`torchrun --nproc_per_node N -m mllab run NAME`) joins the group with
`join_torchrun(device)`, which returns a `RankGroup`: the rank, world size, backend and device an experiment's
`Run` delegates to (`run.distribute(model)`, `run.all_reduce_sum`, `run.all_gather`), and the end-of-run
exchange (`settle`, `finish`) through the group's key-value store, so that an error on any rank ends every rank
within seconds (gloo) instead of leaving them waiting in a collective, and rank 0's record names the rank that
failed first. `TrainClock` measures training throughput with two device synchronisations per fit, none per step.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from mllab.core.devices import resolve_device
from mllab.core.errors import BadInput
from mllab.core.io import atomic_path

TIMEOUT_ENV = "MLLAB_DIST_TIMEOUT"  # seconds a rank waits for the others (collectives, the end-of-run exchange)
DEFAULT_TIMEOUT = 600.0


def init_distributed(backend: str | None = None, init_method: str = "env://", timeout: float | None = None
                     ) -> tuple[int, int, torch.device]:
    """Join the process group described by torchrun's environment; return (rank, world_size, device).

    backend: None picks "nccl" when CUDA is available, else "gloo". Without WORLD_SIZE in the
    environment (a plain `python` run) nothing is initialised and this returns (0, 1, device).
    On CUDA the device is `cuda:LOCAL_RANK`, made the current device. timeout: seconds a collective
    waits for the other ranks (None: torch's default).
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
        extra = {} if timeout is None else {"timeout": timedelta(seconds=timeout)}
        dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size, **extra)
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


# ---- mllab run under torchrun ----------------------------------------------------------------------------

def torchrun_world_size() -> int | None:
    """The job's world size when this process is one rank of a torchrun job (RANK and WORLD_SIZE set, or a
    process group already joined, as under `launch`); None in a plain one-process run."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["WORLD_SIZE"])
    return None


def torchrun_rank() -> int:
    """This process's rank in a torchrun job (0 outside one)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if torchrun_world_size() is not None else 0


def _timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise BadInput(f"{TIMEOUT_ENV}: {text!r} is not a number of seconds; e.g. {TIMEOUT_ENV}=600") from None
    if value <= 0:
        raise BadInput(f"{TIMEOUT_ENV}: must be > 0 seconds, got {text}; e.g. {TIMEOUT_ENV}=600")
    return value


def _torchrun_device(name: str, local_rank: int) -> torch.device:
    """The device of this rank for `--device name`: cuda:LOCAL_RANK (NCCL) for auto with CUDA, cuda, cuda:LOCAL_RANK;
    the CPU (gloo) for cpu, or auto without CUDA. BadInput for mps and for another rank's GPU."""
    if name == "auto":
        use_cuda = torch.cuda.is_available()
    else:
        device = resolve_device(name)  # BadInput for unknown names and absent CUDA
        if device.type == "mps":
            raise BadInput("--device mps: DistributedDataParallel has no backend for MPS; under torchrun use "
                           "--device cpu (gloo) or a CUDA machine")
        if device.type == "cuda" and device.index is not None and device.index != local_rank:
            raise BadInput(f"--device {name}: under torchrun each rank takes the GPU of its LOCAL_RANK "
                           f"(this one cuda:{local_rank}); pass --device cuda, or CUDA_VISIBLE_DEVICES to choose GPUs")
        use_cuda = device.type == "cuda"
    if not use_cuda:
        return torch.device("cpu")
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if torch.cuda.device_count() < max(local_world, local_rank + 1):
        raise BadInput(f"torchrun --nproc_per_node {local_world}: this machine has {torch.cuda.device_count()} "
                       "GPU(s), one per process is needed; start fewer processes or use --device cpu")
    return torch.device("cuda", local_rank)


def join_torchrun(device: str = "auto") -> "RankGroup":
    """Join the torchrun job this process belongs to (or the group already joined, as under `launch`).

    device: `--device`: auto | cuda | cuda:LOCAL_RANK -> NCCL on cuda:LOCAL_RANK (when CUDA is there), cpu (or auto
    without CUDA) -> gloo. Collectives and the end-of-run exchange time out after MLLAB_DIST_TIMEOUT seconds
    (default 600). SIGTERM (torchrun stopping the job because another rank failed) becomes KeyboardInterrupt, so
    the run removes its unfinished record."""
    timeout = _timeout()
    owned = not dist.is_initialized()
    if owned:
        local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
        torch_device = _torchrun_device(device, local_rank)
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        init_distributed(backend, timeout=timeout)
        if not dist.is_initialized():  # WORLD_SIZE=1: init_distributed skips the group; one rank joins it
            dist.init_process_group(backend, rank=0, world_size=1, timeout=timedelta(seconds=timeout))
    else:
        backend = dist.get_backend()
        torch_device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
    previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    return RankGroup(dist.get_rank(), dist.get_world_size(), backend, torch_device,
                     dist.distributed_c10d._get_default_store(), timeout, owned, previous)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}: the job is being stopped (another rank failed, or Ctrl-C)")


@dataclass
class RankGroup:
    """One rank of a torchrun job, as `Run` uses it: who it is, its device, the collectives an experiment needs,
    and the end-of-run exchange that makes one record out of N ranks.

    store: the group's key-value store; it outlives a torn-down group, so ranks can still report their status."""

    rank: int
    world_size: int
    backend: str  # "nccl" | "gloo"
    device: torch.device
    store: Any
    timeout: float  # seconds
    owned: bool = True  # joined by `join_torchrun` (it leaves the group in `close`), not by a caller (`launch`)
    sigterm: Any = None  # the SIGTERM handler before `join_torchrun`, restored by `close`
    _round: int = field(default=0, repr=False)  # end-of-run exchanges so far (keys are unique per run)
    _failed: bool = field(default=False, repr=False)

    def distribute(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` (on `self.device`) wrapped in DistributedDataParallel: fit then all-reduces its gradients.
        DDP broadcasts rank 0's weights at construction, so every replica starts equal."""
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def all_reduce_sum(self, values: Any) -> torch.Tensor:
        """Σ over ranks of `values` (numbers or a tensor) as float64 on the CPU, the same on every rank."""
        comm = self.device if self.backend == "nccl" else torch.device("cpu")
        total = torch.as_tensor(values, dtype=torch.float64).to(comm, copy=True)
        dist.all_reduce(total)
        return total.cpu()

    def all_gather(self, value: Any) -> list[Any]:
        """Every rank's `value` (picklable), in rank order, on every rank."""
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def _key(self, what: str, rank: int) -> str:
        return f"mllab/run{self._round}/{what}/{rank}"

    def abandon(self) -> None:
        """Leave the group at once (after an error): ranks waiting for this one in a collective fail within
        milliseconds (gloo: the connection closes) instead of waiting for the timeout."""
        self._failed = True
        cleanup()

    def settle(self, error: dict[str, Any] | None) -> dict[str, Any] | None:
        """The end of a run on every rank: report this rank's error (None: it finished) and return the run's.

        A rank that failed leaves the group first, so the others' collectives fail fast. Rank 0 returns the error
        that happened first on any rank (its message prefixed with the rank when it is not rank 0's own): it waits
        up to `timeout` for every rank's status when it finished itself, and when it failed it reads the statuses
        already there (a rank whose failure caused rank 0's reported before leaving). Other ranks return their own.
        """
        self._round += 1
        self.store.set(self._key("status", self.rank), json.dumps({"error": error, "time": time.time()}))
        if error is not None:
            self.abandon()
        if self.rank != 0:
            return error
        keys = [self._key("status", r) for r in range(self.world_size)]
        if error is None:
            try:
                self.store.wait(keys, timedelta(seconds=self.timeout))
            except Exception:  # noqa: BLE001  (the store's timeout error type differs across torch versions)
                missing = [r for r, k in enumerate(keys) if not self.store.check([k])]
                return {"type": "DistributedTimeout", "message": f"rank(s) {missing} did not finish within "
                        f"{self.timeout:g} s of rank 0 ({TIMEOUT_ENV} sets the limit)", "traceback": ""}
        failed = []
        for r, key in enumerate(keys):
            if self.store.check([key]):
                status = json.loads(self.store.get(key))
                if status["error"] is not None:
                    failed.append((status["time"], r, status["error"]))
        if not failed:
            return None
        _, r, first = min(failed, key=lambda item: (item[0], item[1]))
        return first if r == 0 else dict(first, message=f"rank {r}: {first['message']}")

    def finish(self) -> None:
        """After rank 0 wrote the record: rank 0 says so; a rank that failed waits for it (at most 60 s), so that
        torchrun, which stops the whole job when a rank exits with an error, does not stop rank 0 mid-write."""
        if self.rank == 0:
            self.store.set(self._key("written", 0), "1")
        elif self._failed:
            with contextlib.suppress(Exception):
                self.store.wait([self._key("written", 0)], timedelta(seconds=min(60.0, self.timeout)))

    def close(self) -> None:
        """Leave the group if `join_torchrun` joined it (a no-op after `abandon`); restore SIGTERM's handler."""
        if self.owned:
            cleanup()
        if self.sigterm is not None and _main_thread():
            signal.signal(signal.SIGTERM, self.sigterm)


class TrainClock:
    """Wall-clock seconds spent training, summed over fits: `with clock: fit(...)`. The device is synchronised
    as each fit starts and ends (two host waits per fit, none per step), so queued GPU work is counted in the
    fit that queued it. Samples are counted by the caller (they are known from the loader and the steps)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.seconds, self.samples, self._start = device, 0.0, 0, 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __enter__(self) -> "TrainClock":
        self._sync()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._sync()
        self.seconds += time.perf_counter() - self._start

    def rate(self) -> float:
        """Samples per second over the timed fits (0 before any)."""
        return self.samples / self.seconds if self.seconds > 0 else 0.0


def samples_in_steps(n: int, batch_size: int, steps: int) -> int:
    """Samples fed by `steps` optimizer steps of batches of `batch_size` over epochs of `n` samples whose last batch
    is short (TensorLoader without drop_last; the global count under DDP when n is a multiple of the ranks)."""
    per_epoch = -(-n // batch_size)  # batches per epoch
    epochs, rest = divmod(steps, per_epoch)
    return epochs * n + min(rest * batch_size, n)
