"""`fit`: the one training loop. Exact gradient accumulation, AMP, clipping, schedules, early stopping,
DDP, checkpoints with bit-exact resume.

Contract. `loss_fn(model, batch) -> (loss_sum, n_items)`. A group of `accum_steps` micro-batches
is one optimizer step. Before the group's first backward the loop counts its items (`count_items`,
summed over ranks under DDP) and backpropagates `loss_sum / (N_group / world_size)`, so

    ∇ = (1 / N_group) Σ_{i in group} ∇ℓ_i

exactly the gradient of one big batch — for unequal batches, token counts and the short final group
of an epoch (which is neither dropped nor carried into the next epoch). DDP averages over ranks,
hence the world_size factor. Step, clip, AMP unscale/update, scheduler step and zero_grad happen
once per group; `global_step` counts optimizer steps.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import signal
import threading
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from mllab.core.errors import BadInput, Interrupted, TrainingError
from mllab.train.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

LossFn = Callable[[torch.nn.Module, Any], tuple[torch.Tensor, int | torch.Tensor]]


@dataclass
class EarlyStopping:
    """Stop when `monitor` (a key of evaluate's dict) has not improved for `patience` epochs; restore best weights."""

    monitor: str = "val_loss"
    mode: str = "min"
    patience: int = 5
    min_delta: float = 0.0

    def improved(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best - self.min_delta if self.mode == "min" else value > best + self.min_delta


@dataclass
class FitState:
    epoch: int = 0  # current epoch, 0-based
    batch_in_epoch: int = 0  # micro-batches of this epoch already consumed (the data position)
    global_step: int = 0  # optimizer steps taken
    history: list[dict[str, float]] = field(default_factory=list)  # one dict per finished epoch
    best_metric: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped_early: bool = False
    epoch_loss_sum: float = 0.0  # running sums for this epoch's mean training loss
    epoch_items: float = 0.0
    stop_requested: bool = False  # set by a callback: fit ends after the current optimizer step

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["history"] = json.dumps(self.history)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FitState":
        d = dict(d)
        d["history"] = json.loads(d["history"])
        return cls(**d)


def default_count_items(batch: Any) -> int:
    """Rows of the first tensor of the batch: the item count of a per-sample loss."""
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return len(first)


def fit(model: torch.nn.Module, loss_fn: LossFn, loader: Any, optimizer: torch.optim.Optimizer, *,
        epochs: int, accum_steps: int = 1, count_items: Callable[[Any], int] = default_count_items,
        scheduler: Any = None, clip_grad_norm: float | None = None, amp: str | None = None,
        evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
        early_stopping: EarlyStopping | None = None, callbacks: Sequence[Any] = (),
        checkpoint_path: str | Path | None = None, checkpoint_every: int = 0, resume: bool = False,
        run: Any = None, progress: bool = False, max_steps: int | None = None) -> FitState:
    """Train `model` and return the final FitState (history holds one metrics dict per epoch).

    loader: a TensorLoader or DataLoader; `set_epoch(e)` is called when it exists (DistributedSampler).
    amp: None | "bf16" | "fp16" (fp16 uses a GradScaler). evaluate: model -> {"val_loss": ...} at each
    epoch end, under no_grad in eval mode. callbacks: objects with optional on_step_end(state, model) /
    on_epoch_end(state, model). checkpoint_every: save every N optimizer steps (0: at epoch ends only).
    SIGINT/SIGTERM save a checkpoint at the next group boundary and raise Interrupted.
    """
    if accum_steps < 1:
        raise BadInput(f"accum_steps: must be >= 1, got {accum_steps}")
    if epochs < 1:
        raise BadInput(f"epochs: must be >= 1, got {epochs}")
    if amp not in (None, "bf16", "fp16"):
        raise BadInput(f"amp: unknown precision {amp!r}; use None, 'bf16' or 'fp16'")
    if early_stopping is not None and evaluate is None:
        raise BadInput("early_stopping: needs evaluate=... to measure the monitored metric")
    device = next(model.parameters()).device
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    no_context = contextlib.nullcontext()  # reusable: one object instead of one per batch
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)) \
        if amp else (lambda: no_context)
    state, best_weights, epoch_rng = FitState(), None, None
    if resume and checkpoint_path is not None and Path(checkpoint_path).exists():
        state, best_weights, epoch_rng = _restore(checkpoint_path, model, optimizer, scheduler, scaler)

    def save() -> None:
        if checkpoint_path is not None and (world == 1 or dist.get_rank() == 0):
            save_checkpoint(checkpoint_path, {
                "model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "rng": rng_state(), "epoch_rng": epoch_rng, "state": state.to_dict(), "best_model": best_weights})

    stop = _SignalFlag(enabled=checkpoint_path is not None)
    total_steps = epochs * math.ceil(len(loader) / accum_steps)
    bar = _progress(progress, total_steps, state.global_step)
    optimizer.zero_grad(set_to_none=True)
    seed = _BackwardSeed()
    ddp = isinstance(model, DistributedDataParallel)  # hoisted: an ABC isinstance check costs µs per batch
    with stop:
        while state.epoch < epochs and not state.stopped_early:
            model.train()
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(state.epoch)
            if state.batch_in_epoch == 0:  # a DataLoader draws its shuffle from the RNG as the epoch starts
                epoch_rng = torch.get_rng_state()
            batches = _iterate(loader, state.batch_in_epoch, epoch_rng)
            while group := list(islice(batches, accum_steps)):  # the last group may be short
                counts = [int(count_items(b)) for b in group]
                n_group = float(sum(counts)) if world == 1 else _all_reduce_sum(sum(counts), device)
                losses = []
                for i, batch in enumerate(group):
                    sync = model.no_sync() if ddp and i < len(group) - 1 else no_context
                    with sync:
                        with autocast():
                            loss_sum, n_items = loss_fn(model, batch)
                        if int(n_items) != counts[i]:
                            raise BadInput(f"fit: loss_fn counted {int(n_items)} items but count_items gave "
                                           f"{counts[i]}; pass count_items= that matches your loss")
                        # ∇ = Σ∇ℓ / N_group (DDP then averages ranks): backward seeded with world / N_group
                        scaled = scaler.scale(loss_sum) if scaler else loss_sum
                        scaled.backward(seed(n_group / world, scaled))
                    losses.append(loss_sum.detach())
                group_loss = float(losses[0] if len(losses) == 1 else _total(losses))  # one host sync
                if not math.isfinite(group_loss):
                    bad = next((i for i, v in enumerate(losses) if not math.isfinite(float(v))), len(losses) - 1)
                    raise TrainingError(f"non-finite loss at step {state.global_step}, epoch {state.epoch}, "
                                        f"batch {state.batch_in_epoch + bad} of the epoch; lower the learning rate "
                                        "or check the data for NaN")
                if scaler is not None:
                    scaler.unscale_(optimizer)
                if clip_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.global_step += 1
                state.batch_in_epoch += len(group)
                state.epoch_loss_sum += group_loss
                state.epoch_items += n_group / world
                bar.update(1)
                for cb in callbacks:
                    if hasattr(cb, "on_step_end"):
                        cb.on_step_end(state, model)
                if checkpoint_every and state.global_step % checkpoint_every == 0:
                    save()
                if stop.raised:
                    save()
                    raise Interrupted(f"stopped by signal at step {state.global_step}; checkpoint {checkpoint_path}")
                if state.stop_requested or (max_steps is not None and state.global_step >= max_steps):
                    break
            if state.stop_requested or (max_steps is not None and state.global_step >= max_steps):
                break
            best_weights = _end_epoch(state, model, optimizer, evaluate, early_stopping, best_weights, callbacks, run)
            bar.set_postfix(loss=f"{state.history[-1]['train_loss']:.4f}")
            save()
    bar.close()
    if early_stopping is not None and best_weights is not None:
        _unwrap(model).load_state_dict(best_weights)
    return state


def _end_epoch(state: FitState, model: torch.nn.Module, optimizer: torch.optim.Optimizer, evaluate: Any,
               early_stopping: EarlyStopping | None, best_weights: Any, callbacks: Sequence[Any], run: Any) -> Any:
    values = {"train_loss_sum": state.epoch_loss_sum, "train_items": state.epoch_items}
    if evaluate is not None:
        model.eval()
        with torch.no_grad():
            values.update({k: float(v) for k, v in evaluate(model).items()})
        model.train()
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        values = _all_reduce_mean(values, next(model.parameters()).device)  # every rank decides alike
    record = {"epoch": state.epoch, "step": state.global_step,
              "train_loss": values.pop("train_loss_sum") / max(values.pop("train_items"), 1),
              "lr": optimizer.param_groups[0]["lr"], **values}
    state.history.append(record)
    if run is not None:
        run.log_metrics(**record)
    if early_stopping is not None:
        if early_stopping.monitor not in record:
            raise BadInput(f"early_stopping.monitor: {early_stopping.monitor!r} is not among evaluate's keys "
                           f"{sorted(record)}; monitor one of them")
        value = record[early_stopping.monitor]
        if early_stopping.improved(value, state.best_metric):
            state.best_metric, state.best_epoch, state.bad_epochs = value, state.epoch, 0
            best_weights = copy.deepcopy(_unwrap(model).state_dict())
        else:
            state.bad_epochs += 1
            state.stopped_early = state.bad_epochs >= early_stopping.patience
    for cb in callbacks:
        if hasattr(cb, "on_epoch_end"):
            cb.on_epoch_end(state, model)
    state.epoch += 1
    state.batch_in_epoch = 0
    state.epoch_loss_sum = state.epoch_items = 0.0
    return best_weights


def _restore(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
             scaler: Any) -> tuple[FitState, Any, torch.Tensor | None]:
    ckpt = load_checkpoint(path, map_location=next(model.parameters()).device)
    _unwrap(model).load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"] is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if scaler is not None and ckpt["scaler"] is not None:
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    return FitState.from_dict(ckpt["state"]), ckpt["best_model"], ckpt.get("epoch_rng")


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _iterate(loader: Any, start: int, epoch_rng: torch.Tensor | None) -> Iterator[Any]:
    """The epoch's batches from batch `start` on (resume); TensorLoader skips without loading.

    Another loader (DataLoader) is replayed from the RNG state of the epoch's start, so that its shuffle
    order is the uninterrupted run's; the skipped batches are loaded and dropped.
    """
    if hasattr(loader, "batches"):
        return loader.batches(start)
    if start == 0 or epoch_rng is None:
        return islice(iter(loader), start, None)
    now = torch.get_rng_state()
    torch.set_rng_state(epoch_rng)
    batches = iter(loader)
    for _ in islice(batches, start):  # draws the sampler's seed as the uninterrupted run did
        pass
    torch.set_rng_state(now)
    return batches


def _all_reduce_sum(n: int, device: torch.device) -> float:
    t = torch.tensor([float(n)], dtype=torch.float64, device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return float(t.item())


def _total(losses: list[torch.Tensor]) -> torch.Tensor:
    """Σ of the micro-batch losses, in at least float32 (an fp16/bf16 sum would round away small terms)."""
    stacked = torch.stack(losses)
    return (stacked.float() if stacked.dtype in (torch.float16, torch.bfloat16) else stacked).sum()


def _all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """The mean over ranks of each value (the same dict on every rank afterwards)."""
    t = torch.tensor(list(values.values()), dtype=torch.float64,
                     device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return dict(zip(values, (t / dist.get_world_size()).tolist()))


def _progress(enabled: bool, total: int, initial: int) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="fit", unit="step", leave=False, dynamic_ncols=True)


class _BackwardSeed:
    """The gradient 1/N to start backward from, made once per (N, dtype, device): the loss need not be
    divided in the graph, and 1/N is rounded as the kernels of a mean-reduced loss round it."""

    def __init__(self) -> None:
        self._cache: dict[tuple, torch.Tensor] = {}

    def __call__(self, n: float, loss: torch.Tensor) -> torch.Tensor:
        key = (n, loss.dtype, loss.device)
        if key not in self._cache:
            self._cache[key] = torch.ones((), dtype=loss.dtype, device=loss.device) / n
        return self._cache[key]


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kw: Any) -> None: ...
    def close(self) -> None: ...


class _SignalFlag:
    """While active, SIGINT/SIGTERM set `raised` instead of killing; the loop saves and stops."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.raised = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_SignalFlag":
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.raised = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
