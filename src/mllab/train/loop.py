"""`fit`: the one training loop. Exact gradient accumulation, AMP, clipping, schedules, early stopping,
DDP, checkpoints with bit-exact resume, hooks — and no host–device synchronisation per step.

Contract. `loss_fn(model, batch) -> (loss_sum, n_items)`. A group of `accum_steps` micro-batches
is one optimizer step. Before the group's first backward the loop counts its items (`count_items`,
summed over ranks under DDP) and backpropagates `loss_sum / (N_group / world_size)`, so

    ∇ = (1 / N_group) Σ_{i in group} ∇ℓ_i

exactly the gradient of one big batch — for unequal batches, token counts and the short final group
of an epoch (which is neither dropped nor carried into the next epoch). DDP averages over ranks,
hence the world_size factor. Step, clip, AMP unscale/update, scheduler step and zero_grad happen
once per group; `global_step` counts optimizer steps.

Hooks. A callback is any object with some of these methods (looked up once, when fit starts):

    on_after_backward(state, model)          every micro-batch's backward done: .grad holds the group's ∇
                                             (unscaled under fp16), before clipping; once per optimizer step
    on_before_step(state, model, optimizer)  after unscale and clipping: the gradient step() will use
    on_step_end(state, model)                after step, schedule and zero_grad
    on_epoch_end(state, model)               after the epoch's record is appended to state.history

In the first two, `state.global_step` counts the steps before this one; from on_step_end on, this one too.
A callback may set `state.stop_requested`; fit then ends after the current optimizer step.

No host read per step. The epoch's Σ loss_sum stays on the device (`state.loss_sum()`, a tensor while
fit runs) and is read only at logging points: epoch ends, checkpoints, every `log_every` steps and the
end of fit. One read also checks every loss since the previous one — a NaN or ±inf loss makes the sum
non-finite — so a non-finite loss raises TrainingError naming the range of steps it lies in
(`log_every=1` names the step); no checkpoint is written after such a step. Item counts may be tensors
(`count_items` returning `mask.sum()`): N_group and the backward seed 1/N then stay on the device too.
What syncs more often is what the caller asks for: fp16's GradScaler reads its inf flag every step, a
`count_items` that returns `int(mask.sum())` reads every micro-batch, callbacks that read floats
(StepsToTarget) read when they measure.
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

from mllab.core.errors import BadInput, Interrupted, TrainingError
from mllab.train.checkpoint import (
    LoaderOrder,
    is_ddp,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    unwrap_model,
)

LossFn = Callable[[torch.nn.Module, Any], tuple[torch.Tensor, int | torch.Tensor]]
NO_CONTEXT = contextlib.nullcontext()  # reusable: one object instead of one per batch


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
    # Σ loss_sum this epoch = epoch_loss_sum + epoch_loss_recent (see loss_sum); device tensors while fit runs
    epoch_loss_sum: float | torch.Tensor = 0.0  # in float64, up to the last flush (every 32 steps)
    epoch_loss_recent: float | torch.Tensor = 0.0  # since then, in the loss's dtype (an add that casts costs 3x)
    epoch_items: float | torch.Tensor = 0.0  # Σ items this epoch (this rank's under DDP); a tensor if counted so
    stop_requested: bool = False  # set by a callback: fit ends after the current optimizer step

    def loss_sum(self) -> float | torch.Tensor:
        """Σ loss_sum of this epoch so far: a device tensor while fit runs (reading it makes the host wait)."""
        return self.epoch_loss_sum + self.epoch_loss_recent

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["history"] = json.dumps(self.history)
        for name in ("epoch_loss_sum", "epoch_loss_recent", "epoch_items"):  # tensor -> float -> tensor: exact
            d[name] = float(d[name])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FitState":
        d = dict(d)
        d["history"] = json.loads(d["history"])
        return cls(**d)


def default_count_items(batch: Any) -> int:
    """Rows of the first tensor of the batch: the item count of a per-sample loss."""
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return first.shape[0] if isinstance(first, torch.Tensor) else len(first)  # Tensor.__len__ runs Python


def fit(model: torch.nn.Module, loss_fn: LossFn, loader: Any, optimizer: torch.optim.Optimizer, *,
        epochs: int, accum_steps: int = 1, count_items: Callable[[Any], int | torch.Tensor] = default_count_items,
        scheduler: Any = None, clip_grad_norm: float | None = None, amp: str | None = None,
        evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
        early_stopping: EarlyStopping | None = None, callbacks: Sequence[Any] = (),
        checkpoint_path: str | Path | None = None, checkpoint_every: int = 0, resume: bool = False,
        run: Any = None, progress: bool = False, max_steps: int | None = None, log_every: int = 0) -> FitState:
    """Train `model` and return the final FitState (history holds one metrics dict per epoch).

    loader: a TensorLoader or DataLoader; `set_epoch(e)` is called when it exists (DistributedSampler). Resume
    replays a DataLoader's order from the RNG states it draws from, its own generators too (`LoaderOrder`).
    model: plain, DDP and/or torch.compile'd; checkpoints hold the plain module's keys, so they load across these.
    count_items: batch -> its items, as loss_fn counts them; an int, or a tensor (no host read).
    amp: None | "bf16" | "fp16" (fp16 uses a GradScaler). evaluate: model -> {"val_loss": ...} at each
    epoch end, under no_grad in eval mode. callbacks: objects with any of the hooks of the module docstring.
    checkpoint_every: save every N optimizer steps (0: at epoch ends only). log_every: every N optimizer
    steps read the running loss (a host sync): check it, show it, `run.log_metrics` it (0: epoch ends only).
    SIGINT/SIGTERM save a checkpoint at the next group boundary and raise Interrupted.
    """
    _check_arguments(epochs, accum_steps, amp, early_stopping, evaluate, log_every)
    device = next(model.parameters()).device
    ddp = is_ddp(model)  # hoisted: an ABC isinstance check costs µs per batch
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    forward = _autocast(loss_fn, amp, device)  # without amp loss_fn itself: no context per batch
    best = _BestWeights(early_stopping)
    checkpoints = _Checkpoints(checkpoint_path, checkpoint_every, model, optimizer, scheduler, scaler, best, loader)
    state = checkpoints.restore() if resume else FitState()
    log = _Log(state, log_every, run, progress, epochs * math.ceil(len(loader) / accum_steps))
    hooks = _Hooks(callbacks)
    seed = _BackwardSeed(device)
    optimizer.zero_grad(set_to_none=True)
    with checkpoints.signals:
        while state.epoch < epochs and not state.stopped_early:
            model.train()
            for group in _groups(loader, state, accum_steps, checkpoints):
                counts = [count_items(b) for b in group]  # ints, or tensors: then no host read
                n_local = seed.start_group(counts)  # Σ counts; N_group = Σ over ranks under DDP
                for i, batch in enumerate(group):
                    with model.no_sync() if ddp and i < len(group) - 1 else NO_CONTEXT:  # DDP: one all-reduce
                        loss_sum, n_items = forward(model, batch)
                        if type(n_items) is not int or n_items != counts[i]:  # two ints: compared here, free
                            _check_items(n_items, counts[i], state)
                        scaled = scaler.scale(loss_sum) if scaler else loss_sum
                        scaled.backward(seed(scaled))  # ∇ = Σ∇ℓ / N_group: backward seeded with world / N_group
                    log.add(state, loss_sum)  # on the device: Σ loss_sum, no host read
                _optimizer_step(state, model, optimizer, scheduler, scaler, clip_grad_norm, hooks)
                state.global_step += 1
                state.batch_in_epoch += len(group)
                state.epoch_items += n_local
                for hook in hooks.step_end:
                    hook(state, model)
                log.step_end(state)
                checkpoints.step_end(state, log)
                if _stopping(state, max_steps):
                    break
            if _stopping(state, max_steps):
                break
            _end_epoch(state, model, optimizer, evaluate, best, hooks, log)
            checkpoints.save(state, log)
    log.close(state)  # reads (and checks) the losses since the last logging point
    best.restore(model)
    return state


def _optimizer_step(state: FitState, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                    scaler: Any, clip_grad_norm: float | None, hooks: "_Hooks") -> None:
    """Once per group: unscale, on_after_backward, clip, on_before_step, step, schedule, zero_grad."""
    if scaler is not None:
        scaler.unscale_(optimizer)  # hooks and clip see the true gradient
    for hook in hooks.after_backward:
        hook(state, model)
    if clip_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)  # g <- g · min(1, c / ‖g‖)
    for hook in hooks.before_step:
        hook(state, model, optimizer)
    if scaler is not None:
        scaler.step(optimizer)  # skipped when the unscaled gradient holds inf/NaN
        scaler.update()
    else:
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def _end_epoch(state: FitState, model: torch.nn.Module, optimizer: torch.optim.Optimizer, evaluate: Any,
               best: "_BestWeights", hooks: "_Hooks", log: "_Log") -> None:
    """Append the epoch's record (mean training loss, evaluate's metrics, lr), early stopping, on_epoch_end;
    then move the data position to the next epoch."""
    ddp = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    mean = (lambda values: _all_reduce_mean(values, model)) if ddp else (lambda values: values)  # ranks agree
    train = mean({"loss_sum": float(state.loss_sum()), "items": float(state.epoch_items)})  # the epoch's host read
    log.check(state, train["loss_sum"])  # before evaluate sees weights stepped from a NaN
    values = {}
    if evaluate is not None:
        model.eval()
        with torch.no_grad():
            values = mean({k: float(v) for k, v in evaluate(model).items()})
        model.train()
    record = {"epoch": state.epoch, "step": state.global_step,
              "train_loss": train["loss_sum"] / max(train["items"], 1),  # Σℓ / N
              "lr": optimizer.param_groups[0]["lr"], **values}
    state.history.append(record)
    log.epoch_end(record)
    best.epoch_end(state, record, model)
    for hook in hooks.epoch_end:
        hook(state, model)
    state.epoch += 1
    state.batch_in_epoch = 0
    log.new_epoch(state)


def _stopping(state: FitState, max_steps: int | None) -> bool:
    return state.stop_requested or (max_steps is not None and state.global_step >= max_steps)


def _check_arguments(epochs: int, accum_steps: int, amp: str | None, early_stopping: Any, evaluate: Any,
                     log_every: int) -> None:
    if accum_steps < 1:
        raise BadInput(f"accum_steps: must be >= 1, got {accum_steps}")
    if epochs < 1:
        raise BadInput(f"epochs: must be >= 1, got {epochs}")
    if log_every < 0:
        raise BadInput(f"log_every: must be >= 0 (0: at epoch ends only), got {log_every}")
    if amp not in (None, "bf16", "fp16"):
        raise BadInput(f"amp: unknown precision {amp!r}; use None, 'bf16' or 'fp16'")
    if early_stopping is not None and evaluate is None:
        raise BadInput("early_stopping: needs evaluate=... to measure the monitored metric")


def _check_items(n_items: int | torch.Tensor, count: int | torch.Tensor, state: FitState) -> None:
    """loss_fn's item count must be count_items'. Tensors are read (a host sync) in an epoch's first group only."""
    on_device = isinstance(n_items, torch.Tensor) or isinstance(count, torch.Tensor)
    if (state.batch_in_epoch == 0 or not on_device) and int(n_items) != int(count):
        raise BadInput(f"fit: loss_fn counted {int(n_items)} items but count_items gave {int(count)}; "
                       "pass count_items= that matches your loss")


def _wide(device: torch.device) -> torch.dtype:
    """float64 for sums of many terms; MPS has none."""
    return torch.float32 if device.type == "mps" else torch.float64


def _autocast(loss_fn: LossFn, amp: str | None, device: torch.device) -> LossFn:
    """loss_fn under autocast when amp is set; backward then runs outside it, as autocast's docs ask."""
    if amp is None:
        return loss_fn
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16

    def forward(model: torch.nn.Module, batch: Any) -> tuple[torch.Tensor, int | torch.Tensor]:
        with torch.autocast(device.type, dtype=dtype):
            return loss_fn(model, batch)

    return forward


def _groups(loader: Any, state: FitState, accum_steps: int, checkpoints: "_Checkpoints") -> Iterator[list[Any]]:
    """This epoch's groups of `accum_steps` micro-batches from the data position on; the last may be short."""
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(state.epoch)
    if state.batch_in_epoch == 0:  # a DataLoader draws its shuffle from the RNG(s) as the epoch starts
        checkpoints.order.start_epoch()
    batches = checkpoints.order.batches(loader, state.batch_in_epoch)  # resume: replays the epoch's order
    while group := list(islice(batches, accum_steps)):
        yield group


def _all_reduce_mean(values: dict[str, float], model: torch.nn.Module) -> dict[str, float]:
    """The mean over ranks of each value (the same dict on every rank afterwards)."""
    device = next(model.parameters()).device if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(values, (t / dist.get_world_size()).tolist()))


class _Hooks:
    """The callbacks' hooks as lists of bound methods, looked up once (not a hasattr per callback per step)."""

    def __init__(self, callbacks: Sequence[Any]) -> None:
        def bound(name: str) -> list[Callable[..., None]]:
            return [getattr(cb, name) for cb in callbacks if hasattr(cb, name)]

        self.after_backward, self.before_step = bound("on_after_backward"), bound("on_before_step")
        self.step_end, self.epoch_end = bound("on_step_end"), bound("on_epoch_end")


class _BackwardSeed:
    """The gradient to start each backward from: world / N_group (DDP's all-reduce then averages the ranks).

    Counts that are numbers, one process: a tensor cached per (N, dtype), so the loss need not be divided in
    the graph, and 1/N is rounded as the kernels of a mean-reduced loss round it; it lives on the device of
    the first loss (all losses of a fit share one device). Counts that are tensors, or DDP: N_group stays a
    device tensor (all-reduced there), so no host read waits for it; 1/N is rounded alike.
    """

    def __init__(self, device: torch.device) -> None:
        self.world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        self.comm_device = device if self.world > 1 and dist.get_backend() == "nccl" else torch.device("cpu")
        self.n: int | torch.Tensor = 1  # N_group / world
        self._cache: dict[Any, torch.Tensor] = {}
        self._on_device = False

    def start_group(self, counts: list[int] | list[torch.Tensor]) -> int | torch.Tensor:
        """Take the group's counts; return this rank's Σ counts (an int, or a float64 tensor on their device)."""
        if isinstance(counts[0], torch.Tensor):
            n_local = sum(counts).to(_wide(counts[0].device))
            n = n_local if self.world == 1 else n_local.to(self.comm_device, copy=True)
        else:
            n_local = sum(counts)
            if self.world == 1:
                self.n, self._on_device = n_local, False
                return n_local
            n = torch.full((), float(n_local), dtype=torch.float64, device=self.comm_device)  # a fill, no copy
        if self.world > 1:
            dist.all_reduce(n)  # N_group = Σ_ranks n
        self.n, self._cache, self._on_device = n / self.world, {}, True
        return n_local

    def __call__(self, loss: torch.Tensor) -> torch.Tensor:
        key = loss.dtype if self._on_device else (self.n, loss.dtype)  # on the device: a cache per group
        seed = self._cache.get(key)
        if seed is None:
            if self._on_device:  # as a Python divisor is used: in float32 for a half-precision loss
                work = torch.float32 if loss.dtype in (torch.float16, torch.bfloat16) else loss.dtype
                seed = (torch.ones((), dtype=work, device=loss.device) / self.n.to(loss.device, work)).to(loss.dtype)
            else:
                seed = torch.ones((), dtype=loss.dtype, device=loss.device) / float(self.n)
            self._cache[key] = seed
        return seed


class _Log:
    """The running loss on the device, its reads at logging points (each a finiteness check), the progress bar.

    Per micro-batch one in-place add, in the loss's dtype (≥ float32), into `epoch_loss_recent`; every
    FLUSH_EVERY optimizer steps that moves into the float64 `epoch_loss_sum`. The flushes sit at fixed
    global steps and a checkpoint keeps both parts, so a resumed run adds in the same order: same floats.
    """

    FLUSH_EVERY = 32

    def __init__(self, state: FitState, every: int, run: Any, progress: bool, total: int) -> None:
        self.every, self.run = every, run
        self.bar = _progress(progress, total, state.global_step)
        self.checked = (state.epoch, state.global_step, state.batch_in_epoch)  # losses up to here were finite
        self._recent: torch.Tensor | None = None  # made at the first loss, on its device; zeroed each epoch

    def add(self, state: FitState, loss_sum: torch.Tensor) -> None:
        if self._recent is None:
            self._start(state, loss_sum)
        self._recent.add_(loss_sum.detach())  # a NaN/±inf loss makes the sum non-finite

    def _start(self, state: FitState, loss: torch.Tensor) -> None:
        recent = torch.promote_types(loss.dtype, torch.float32)
        state.epoch_loss_sum = torch.full((), float(state.epoch_loss_sum), dtype=_wide(loss.device), device=loss.device)
        state.epoch_loss_recent = torch.full((), float(state.epoch_loss_recent), dtype=recent, device=loss.device)
        self._recent = state.epoch_loss_recent

    def check(self, state: FitState, value: float | None = None) -> float:
        """Σ loss_sum of the epoch so far (read now, a host sync, unless given); TrainingError if not finite."""
        value = float(state.loss_sum()) if value is None else value
        if not math.isfinite(value):
            epoch, step, batch = self.checked
            first = batch if epoch == state.epoch else 0
            exact = state.global_step == step + 1
            steps = f"step {state.global_step}" if exact else f"steps {step + 1} to {state.global_step}"
            raise TrainingError(f"non-finite loss in {steps} (epoch {state.epoch}, batches {first} to "
                                f"{state.batch_in_epoch - 1} of the epoch); lower the learning rate or check the "
                                "data for NaN" + ("" if exact else "; log_every=1 names the step"))
        self.checked = (state.epoch, state.global_step, state.batch_in_epoch)
        return value

    def step_end(self, state: FitState) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if state.global_step % self.FLUSH_EVERY == 0 and self._recent is not None:
            state.epoch_loss_sum.add_(self._recent)  # float64 total += recent
            self._recent.zero_()
        if self.every and state.global_step % self.every == 0:
            loss = self.check(state) / max(float(state.epoch_items), 1)  # this epoch's mean so far (this rank's)
            if self.bar is not None:
                self.bar.set_postfix(loss=f"{loss:.4f}")
            if self.run is not None:
                self.run.log_metrics(epoch=state.epoch, step=state.global_step, running_train_loss=loss)

    def epoch_end(self, record: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{record['train_loss']:.4f}")
        if self.run is not None:
            self.run.log_metrics(**record)

    def new_epoch(self, state: FitState) -> None:
        if self._recent is None:  # no loss yet in this fit (resumed at an epoch's end): the sums are floats
            state.epoch_loss_sum = state.epoch_loss_recent = 0.0
        else:
            state.epoch_loss_sum.zero_()
            self._recent.zero_()
        state.epoch_items = 0.0

    def close(self, state: FitState) -> None:
        state.epoch_loss_sum, state.epoch_loss_recent = self.check(state), 0.0  # the FitState returned holds
        state.epoch_items = float(state.epoch_items)  # plain numbers
        if self.bar is not None:
            self.bar.close()


class _BestWeights:
    """Early stopping: the monitored metric's best epoch, its weights, and the stop after `patience` bad epochs."""

    def __init__(self, config: EarlyStopping | None) -> None:
        self.config, self.weights = config, None

    def epoch_end(self, state: FitState, record: dict[str, float], model: torch.nn.Module) -> None:
        if self.config is None:
            return
        if self.config.monitor not in record:
            raise BadInput(f"early_stopping.monitor: {self.config.monitor!r} is not among evaluate's keys "
                           f"{sorted(record)}; monitor one of them")
        value = record[self.config.monitor]
        if self.config.improved(value, state.best_metric):
            state.best_metric, state.best_epoch, state.bad_epochs = value, state.epoch, 0
            self.weights = copy.deepcopy(unwrap_model(model).state_dict())
        else:
            state.bad_epochs += 1
            state.stopped_early = state.bad_epochs >= self.config.patience

    def restore(self, model: torch.nn.Module) -> None:
        if self.config is not None and self.weights is not None:
            unwrap_model(model).load_state_dict(self.weights)


class _Checkpoints:
    """Saves every `every` optimizer steps, at epoch ends and on SIGINT/SIGTERM (then raises Interrupted);
    restores for resume. A save reads the running loss first, so no checkpoint holds weights stepped from a
    non-finite loss. Holds model (unwrapped: no DDP / torch.compile prefixes), optimizer, scheduler, scaler, RNG
    states, FitState (the data position), the loader's RNG states (LoaderOrder) and early stopping's best weights."""

    def __init__(self, path: str | Path | None, every: int, model: torch.nn.Module, optimizer: Any, scheduler: Any,
                 scaler: Any, best: _BestWeights, loader: Any) -> None:
        self.path = None if path is None else Path(path)
        self.every, self.model, self.optimizer, self.scheduler, self.scaler, self.best = \
            every, model, optimizer, scheduler, scaler, best
        self.signals = _SignalFlag(enabled=path is not None)
        self.order = LoaderOrder(loader)  # a DataLoader's shuffle is replayed from it on resume
        self.writer = not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0

    def restore(self) -> FitState:
        if self.path is None or not self.path.exists():
            return FitState()
        self.order.check_restorable(self.path)
        ckpt = load_checkpoint(self.path, map_location=next(self.model.parameters()).device)
        self.order.load_state_dict(ckpt, self.path)  # before the weights: a refusal leaves the model untouched
        unwrap_model(self.model).load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt["scheduler"] is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt["scaler"] is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        self.best.weights = ckpt["best_model"]
        return FitState.from_dict(ckpt["state"])

    def save(self, state: FitState, log: _Log) -> None:
        if self.path is None:
            return
        log.check(state)
        if self.writer:
            save_checkpoint(self.path, {
                "model": unwrap_model(self.model).state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "rng": rng_state(), **self.order.state_dict(), "state": state.to_dict(),
                "best_model": self.best.weights})

    def step_end(self, state: FitState, log: _Log) -> None:
        if self.every and state.global_step % self.every == 0:
            self.save(state, log)
        if self.signals.raised:
            self.save(state, log)
            raise Interrupted(f"stopped by signal at step {state.global_step}; checkpoint {self.path}")


def _progress(enabled: bool, total: int, initial: int) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="fit", unit="step", leave=False, dynamic_ncols=True)


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
