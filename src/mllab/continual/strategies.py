"""Strategies for learning tasks one after another, each a loss callable (+ callbacks, + loader) for `fit`.

naive   fine-tune on each task in turn
EWC     Kirkpatrick et al. 2017: L = L_t + (λ/2) Σ_{k<t} Σ_i F_{k,i} (θ_i − θ*_{k,i})², F the diagonal Fisher
SI      Zenke et al. 2017: ω_i += −g_i Δθ_i along the path; Ω_i += ω_i / ((Δ_i)² + ξ) at the task's end;
        L = L_t + c Σ_i Ω_i (θ_i − θ*_i)²   (g: the gradient the optimizer steps with, as in van de Ven's code)
replay  each batch of the current task joined by as many stored examples from a small fixed memory,
        balanced over the classes seen
joint   train on the union of every task so far (the multi-task upper bound)

Batches are (x (B, D), target (B,), task (B,)) with D the flattened image size; the loss returns
(Σ CE + B · penalty, B), so after `fit` divides by B it is mean CE + penalty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from mllab.continual.scenarios import Scenario
from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed

STRATEGIES = ("naive", "ewc", "si", "replay", "joint")
Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # x (N, D), target (N,), task (N,)


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def fisher_diagonal(model: nn.Module, x: torch.Tensor, log_probs: Callable[[torch.Tensor], torch.Tensor]
                    ) -> dict[str, torch.Tensor]:
    """The diagonal of the (true) Fisher information at the current parameters,
        F_i = (1/N) Σ_n Σ_y p(y | x_n) (∂ log p(y | x_n) / ∂θ_i)²,
    the expectation over y taken exactly: per-sample gradients (torch.func vmap) of each class y with p > 0.
    x (N, ...); log_probs: model output (N, K) -> log p (N, K), −inf for classes the scenario masks."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        p_y = log_probs(model(x)).exp()  # (N, K)
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    for y in torch.nonzero(p_y.sum(0) > 0).squeeze(1).tolist():
        def log_p(par: dict[str, torch.Tensor], xi: torch.Tensor, y: int = y) -> torch.Tensor:
            return log_probs(functional_call(model, par, (xi[None],)))[0, y]  # log p(y | x_n)

        grads = vmap(grad(log_p), in_dims=(None, 0))(params, x)  # name -> (N, *shape)
        for name, g in grads.items():
            w = p_y[:, y].reshape(-1, *([1] * (g.dim() - 1)))  # (N, 1, ...)
            fisher[name] += (w * g ** 2).sum(0)
    model.train(was_training)
    return {n: f / len(x) for n, f in fisher.items()}


class Strategy:
    """Naive fine-tuning; subclasses add a penalty, callbacks, a memory or a different training set."""

    name = "naive"

    def __init__(self, scenario: Scenario):
        self.scenario = scenario

    def training_set(self, tasks: list[Tensors], t: int) -> Tensors:
        """What task t trains on, given every task's tensors (0..t)."""
        return tasks[t]

    def penalty(self, model: nn.Module) -> torch.Tensor | float:
        return 0.0

    def callbacks(self) -> list[Any]:
        return []

    def loader(self, data: Tensors, batch_size: int, seed: int) -> Any:
        from mllab.data import TensorLoader

        return TensorLoader(data, batch_size, seed=seed % 2**32)  # TensorLoader multiplies its seed

    def loss(self, seen: int) -> Callable[[nn.Module, Tensors], tuple[torch.Tensor, int]]:
        """The loss callable for `fit` while tasks 0..seen−1 have arrived."""
        def loss_fn(model: nn.Module, batch: Tensors) -> tuple[torch.Tensor, int]:
            x, target, task = batch
            logits = self.scenario.logits(model(x), task, seen)  # (B, n_outputs), masked
            n = len(x)
            return F.cross_entropy(logits, target, reduction="sum") + n * self.penalty(model), n
        return loss_fn

    def after_task(self, model: nn.Module, data: Tensors, seen: int) -> None:
        """Called when task seen−1 has been trained, with its tensors."""


Naive = Strategy


class EWC(Strategy):
    name = "ewc"

    def __init__(self, scenario: Scenario, strength: float, fisher_samples: int = 200):
        super().__init__(scenario)
        if strength < 0:
            raise BadInput(f"ewc strength: must be >= 0 (0: naive), got {strength}")
        self.strength, self.fisher_samples = strength, fisher_samples
        self.anchors: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = []  # (F_k, θ*_k)

    def penalty(self, model: nn.Module) -> torch.Tensor | float:
        if not self.anchors or self.strength == 0:
            return 0.0
        total = 0.0
        for fisher, star in self.anchors:
            for n, p in model.named_parameters():
                total = total + (fisher[n] * (p - star[n]) ** 2).sum()  # Σ_i F_i (θ_i − θ*_i)²
        return 0.5 * self.strength * total  # (λ/2) Σ_k ...

    def after_task(self, model: nn.Module, data: Tensors, seen: int) -> None:
        x, _, task = data
        x, task = x[:self.fisher_samples], task[:self.fisher_samples]
        fisher = fisher_diagonal(model, x, self._log_probs(task, seen))
        self.anchors.append((fisher, _params(model)))

    def _log_probs(self, task: torch.Tensor, seen: int) -> Callable[[torch.Tensor], torch.Tensor]:
        # per-sample calls see one row: every sample of a task shares its mask, so task[:1] stands for all
        return lambda out: F.log_softmax(self.scenario.logits(out, task[:1].expand(len(out)), seen), -1)


class SITracker:
    """`fit` callback accumulating SI's path integral ω_i = −Σ_steps g_i Δθ_i for the current task."""

    def __init__(self, si: SI):
        self.si = si

    def on_before_step(self, state, model: nn.Module, optimizer) -> None:
        self.grad = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
        self.before = _params(model)

    def on_step_end(self, state, model: nn.Module) -> None:
        for n, p in model.named_parameters():
            if n in self.grad:
                self.si.omega[n] -= self.grad[n] * (p.detach() - self.before[n])  # ω += −g Δθ


class SI(Strategy):
    name = "si"

    def __init__(self, scenario: Scenario, strength: float, xi: float = 0.1):
        super().__init__(scenario)
        if strength < 0:
            raise BadInput(f"si strength: must be >= 0 (0: naive), got {strength}")
        if xi <= 0:
            raise BadInput(f"si xi (damping): must be > 0, got {xi}")
        self.strength, self.xi = strength, xi
        self.omega: dict[str, torch.Tensor] = {}
        self.importance: dict[str, torch.Tensor] = {}  # Ω
        self.star: dict[str, torch.Tensor] = {}  # θ* at the end of the previous task
        self.start: dict[str, torch.Tensor] = {}  # θ at the start of the current task

    def begin(self, model: nn.Module) -> None:
        if not self.start:
            self.start = _params(model)
            self.omega = {n: torch.zeros_like(p) for n, p in self.start.items()}

    def callbacks(self) -> list[Any]:
        return [SITracker(self)]

    def penalty(self, model: nn.Module) -> torch.Tensor | float:
        if not self.importance or self.strength == 0:
            return 0.0
        return self.strength * sum((self.importance[n] * (p - self.star[n]) ** 2).sum()
                                   for n, p in model.named_parameters())  # c Σ Ω (θ − θ*)²

    def after_task(self, model: nn.Module, data: Tensors, seen: int) -> None:
        now = _params(model)
        for n, p in now.items():
            delta = p - self.start[n]
            self.importance[n] = self.importance.get(n, 0) + self.omega[n] / (delta ** 2 + self.xi)  # Ω += ω/(Δ²+ξ)
            self.omega[n] = torch.zeros_like(p)
        self.star, self.start = now, {n: p.clone() for n, p in now.items()}


class ReplayMemory:
    """At most `size` stored examples, balanced over the classes (keys) seen: after each task every key keeps
    size // K examples (the first size % K keys one more). Which examples is fixed by `seed`."""

    def __init__(self, size: int, seed: int = 0):
        if size < 0:
            raise BadInput(f"memory size: must be >= 0 (0: no replay), got {size}")
        self.size, self.seed = size, seed
        self.by_key: dict[int, Tensors] = {}

    def add(self, data: Tensors, keys: torch.Tensor) -> None:
        """Store examples of a new task; keys (N,) are the class each example counts for."""
        g = torch.Generator().manual_seed(derive_seed(self.seed, "memory", len(self.by_key)))
        new = [int(k) for k in torch.unique(keys)]
        every = sorted(set(self.by_key) | set(new))
        quota = {k: self.size // len(every) + (i < self.size % len(every)) for i, k in enumerate(every)}
        for k in new:
            idx = torch.nonzero(keys == k).squeeze(1)
            idx = idx[torch.randperm(len(idx), generator=g)]
            self.by_key[k] = tuple(t[idx] for t in data)
        self.by_key = {k: tuple(t[:quota[k]] for t in self.by_key[k]) for k in every}

    def counts(self) -> dict[int, int]:
        return {k: len(v[0]) for k, v in self.by_key.items()}

    def __len__(self) -> int:
        return sum(self.counts().values())

    def tensors(self) -> Tensors | None:
        if len(self) == 0:
            return None
        parts = list(self.by_key.values())
        return tuple(torch.cat([p[i] for p in parts]) for i in range(3))


class ReplayLoader:
    """Batches of the current task (shuffled by (seed, epoch)), each joined by an equal number of examples drawn
    without replacement from the memory (at most all of it): (x, target, task) of 2B rows."""

    def __init__(self, data: Tensors, memory: Tensors | None, batch_size: int, seed: int = 0):
        from mllab.data import TensorLoader

        self.current = TensorLoader(data, batch_size, seed=seed % 2**32)  # TensorLoader multiplies its seed
        self.memory, self.batch_size, self.seed = memory, batch_size, seed

    def set_epoch(self, epoch: int) -> None:
        self.current.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.current)

    def batches(self, start: int = 0) -> Iterator[Tensors]:
        for k, batch in enumerate(self.current.batches(start), start):
            if self.memory is None:
                yield batch
                continue
            g = torch.Generator().manual_seed(derive_seed(self.seed, "replay batch", self.current.epoch, k))
            pick = torch.randperm(len(self.memory[0]), generator=g)[:len(batch[0])]
            yield tuple(torch.cat([b, m[pick]]) for b, m in zip(batch, self.memory))

    def __iter__(self) -> Iterator[Tensors]:
        return self.batches()


class Replay(Strategy):
    name = "replay"

    def __init__(self, scenario: Scenario, memory_size: int, seed: int = 0):
        super().__init__(scenario)
        self.memory = ReplayMemory(memory_size, seed)

    def loader(self, data: Tensors, batch_size: int, seed: int) -> Any:
        return ReplayLoader(data, self.memory.tensors(), batch_size, seed)

    def after_task(self, model: nn.Module, data: Tensors, seen: int) -> None:
        _, target, task = data
        self.memory.add(data, task * 1000 + target)  # key: (task, target) — a class in every scenario


class Joint(Strategy):
    """Train on every task so far (from the weights reached so far): the multi-task upper bound."""

    name = "joint"

    def training_set(self, tasks: list[Tensors], t: int) -> Tensors:
        return tuple(torch.cat([d[i] for d in tasks[:t + 1]]) for i in range(3))


def make_strategy(name: str, scenario: Scenario, *, ewc_strength: float = 0.0, si_strength: float = 0.0,
                  memory_size: int = 0, seed: int = 0) -> Strategy:
    if name not in STRATEGIES:
        raise BadInput(f"strategy: unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "ewc":
        return EWC(scenario, ewc_strength)
    if name == "si":
        return SI(scenario, si_strength)
    if name == "replay":
        return Replay(scenario, memory_size, seed)
    return Joint(scenario) if name == "joint" else Naive(scenario)


__all__ = ["EWC", "SI", "STRATEGIES", "Joint", "Naive", "Replay", "ReplayLoader", "ReplayMemory", "SITracker",
           "Strategy", "fisher_diagonal", "make_strategy"]
