"""`fit_adversarial`: the notes' alternating GAN algorithm, the one sibling of `fit`.

Each iteration (one generator update, `state.step` counts them):
    1. fix G, update D `n_critic` times:  x ~ data, z ~ N(0, I), x̃ = G(z) under no_grad (G gets no gradient),
       minimise L_D(D; x, x̃) (penalty included), then the objective's `after_critic_step` (WGAN's clipping);
    2. fix D, update G once: D's parameters stop requiring grad for the step, minimise L_G(D(G(z))).
So a critic step leaves G's weights and gradients untouched and a generator step leaves D's untouched
(tests/train/test_adversarial.py checks both bit for bit).

Built from fit's pieces: one seed draws everything (a `torch.Generator` for the data batches, z and WGAN-GP's ε,
so evaluation code that draws from the global RNG cannot change the training), the losses summed on the
device and read only at logging points (a non-finite one raises TrainingError naming the steps), progress
via `run.progress`-style tqdm, `run.log_metrics` rows, checkpoints written atomically and loaded
weights-only (`train.checkpoint`); resume reproduces the uninterrupted run bit for bit on CPU.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from mllab.core.errors import BadInput, TrainingError
from mllab.train.checkpoint import load_checkpoint, save_checkpoint

Evaluate = Callable[[nn.Module, nn.Module], dict[str, float]]


@dataclass
class AdversarialState:
    step: int = 0  # generator updates done
    history: list[dict[str, float]] = field(default_factory=list)  # one row per logging point
    critic_loss_sum: float | torch.Tensor = 0.0  # Σ L_D since the last logging point (device tensor while training)
    generator_loss_sum: float | torch.Tensor = 0.0  # Σ L_G since the last logging point
    logged_step: int = 0  # the step of the last logging point

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "history": json.dumps(self.history), "logged_step": self.logged_step,
                "critic_loss_sum": float(self.critic_loss_sum), "generator_loss_sum": float(self.generator_loss_sum)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AdversarialState":
        return cls(step=d["step"], history=json.loads(d["history"]), logged_step=d["logged_step"],
                   critic_loss_sum=d["critic_loss_sum"], generator_loss_sum=d["generator_loss_sum"])


def critic_step(generator: nn.Module, critic: nn.Module, objective: Any, optimizer: torch.optim.Optimizer,
                real: torch.Tensor, z: torch.Tensor, rng: torch.Generator | None = None) -> torch.Tensor:
    """One update of D with G fixed: x̃ = G(z) without a graph, L_D(D; real, x̃), step, after_critic_step.
    Returns the detached loss."""
    with torch.no_grad():
        fake = generator(z)  # (B, ...) no graph: G receives no gradient
    optimizer.zero_grad(set_to_none=True)
    loss = objective.critic_loss(critic, real, fake, rng)
    loss.backward()
    optimizer.step()
    objective.after_critic_step(critic)
    return loss.detach()


def generator_step(generator: nn.Module, critic: nn.Module, objective: Any, optimizer: torch.optim.Optimizer,
                   z: torch.Tensor) -> torch.Tensor:
    """One update of G through a fixed D: D's parameters do not require grad during it. Returns the detached loss."""
    flags = [p.requires_grad for p in critic.parameters()]
    critic.requires_grad_(False)  # the gradient flows through D to G, but D's weights collect none
    try:
        optimizer.zero_grad(set_to_none=True)
        loss = objective.generator_loss(critic(generator(z)))  # L_G(D(G(z)))
        loss.backward()
        optimizer.step()
    finally:
        for p, flag in zip(critic.parameters(), flags):
            p.requires_grad_(flag)
    return loss.detach()


def fit_adversarial(generator: nn.Module, critic: nn.Module, objective: Any, data: torch.Tensor, *, steps: int,
                    batch_size: int = 256, n_critic: int | None = None, generator_optimizer: Any = None,
                    critic_optimizer: Any = None, seed: int = 0, evaluate: Evaluate | None = None,
                    log_every: int = 0, checkpoint_path: str | Path | None = None, checkpoint_every: int = 0,
                    resume: bool = False, run: Any = None, progress: bool = False, max_steps: int | None = None
                    ) -> AdversarialState:
    """Train G and D by alternating updates for `steps` generator updates; return the final state.

    data: (N, ...) real samples, drawn with replacement. n_critic: critic updates per generator update
    (default: the objective's). Optimizers default to the objective's (Adam/RMSProp at its paper's lr).
    log_every: every N steps (and at the end) read the mean losses since the last read and call
    `evaluate(generator, critic)` (under no_grad) into one history row (0: at the end only; with
    `evaluate`, a row for step 0 too). checkpoint_every: save every N steps (and at the end) when
    checkpoint_path is set; resume=True continues from it. max_steps: stop after this many in this call.
    """
    n_critic = objective.n_critic if n_critic is None else n_critic
    _check_arguments(generator, steps, batch_size, n_critic, log_every, checkpoint_every, data)
    device = data.device
    g_opt = generator_optimizer or objective.make_optimizer(generator.parameters())
    d_opt = critic_optimizer or objective.make_optimizer(critic.parameters())
    rng = torch.Generator().manual_seed(seed)  # draws batches, z and ε: the training's only randomness
    state = AdversarialState()
    if resume and checkpoint_path is not None and Path(checkpoint_path).exists():
        state = _restore(checkpoint_path, generator, critic, g_opt, d_opt, rng, device)
    sums = [torch.full((), float(s), dtype=torch.float64, device=device)
            for s in (state.critic_loss_sum, state.generator_loss_sum)]
    state.critic_loss_sum, state.generator_loss_sum = sums
    if evaluate is not None and state.step == 0 and not state.history:
        _log_row(state, generator, critic, evaluate, run, losses=False)
    bar = _progress(progress, steps, state.step)
    last = steps if max_steps is None else min(steps, state.step + max_steps)
    while state.step < last:
        for _ in range(n_critic):  # 1. G fixed, D trained
            real = data[torch.randint(len(data), (batch_size,), generator=rng).to(device)]  # (B, ...)
            z = torch.randn(batch_size, generator.latent_dim, generator=rng).to(device)  # (B, latent)
            state.critic_loss_sum.add_(critic_step(generator, critic, objective, d_opt, real, z, rng) / n_critic)
        z = torch.randn(batch_size, generator.latent_dim, generator=rng).to(device)  # 2. D fixed, G trained
        state.generator_loss_sum.add_(generator_step(generator, critic, objective, g_opt, z))
        state.step += 1
        bar.update(1)
        if (log_every and state.step % log_every == 0) or state.step == last:
            _log_row(state, generator, critic, evaluate, run, losses=True)
            bar.set_postfix(d=f"{state.history[-1]['critic_loss']:.3f}")
        if checkpoint_path is not None and ((checkpoint_every and state.step % checkpoint_every == 0)
                                            or state.step == last):
            _save(checkpoint_path, state, generator, critic, g_opt, d_opt, rng)
    bar.close()
    state.critic_loss_sum, state.generator_loss_sum = float(state.critic_loss_sum), float(state.generator_loss_sum)
    return state


def _log_row(state: AdversarialState, generator: nn.Module, critic: nn.Module, evaluate: Evaluate | None, run: Any,
             losses: bool) -> None:
    """Read the losses since the last row (one host sync, a finiteness check), evaluate, append, log."""
    row: dict[str, float] = {"step": state.step}
    if losses:
        steps = max(state.step - state.logged_step, 1)
        critic_loss, generator_loss = float(state.critic_loss_sum) / steps, float(state.generator_loss_sum) / steps
        if not (math.isfinite(critic_loss) and math.isfinite(generator_loss)):
            raise TrainingError(f"non-finite loss in steps {state.logged_step + 1} to {state.step} (critic "
                                f"{critic_loss}, generator {generator_loss}); lower the learning rate or check the data")
        row.update(critic_loss=critic_loss, generator_loss=generator_loss)
        state.critic_loss_sum.zero_()
        state.generator_loss_sum.zero_()
        state.logged_step = state.step
    if evaluate is not None:
        modes = (generator.training, critic.training)
        generator.eval(), critic.eval()
        with torch.no_grad():
            row.update({k: float(v) for k, v in evaluate(generator, critic).items()})
        generator.train(modes[0]), critic.train(modes[1])
    state.history.append(row)
    if run is not None:
        run.log_metrics(**row)


def _save(path: str | Path, state: AdversarialState, generator: nn.Module, critic: nn.Module, g_opt: Any, d_opt: Any,
          rng: torch.Generator) -> None:
    save_checkpoint(path, {"generator": generator.state_dict(), "critic": critic.state_dict(),
                           "generator_optimizer": g_opt.state_dict(), "critic_optimizer": d_opt.state_dict(),
                           "rng": rng.get_state(), "state": state.to_dict()})


def _restore(path: str | Path, generator: nn.Module, critic: nn.Module, g_opt: Any, d_opt: Any, rng: torch.Generator,
             device: torch.device) -> AdversarialState:
    ckpt = load_checkpoint(path, map_location=device)
    generator.load_state_dict(ckpt["generator"])
    critic.load_state_dict(ckpt["critic"])
    g_opt.load_state_dict(ckpt["generator_optimizer"])
    d_opt.load_state_dict(ckpt["critic_optimizer"])
    rng.set_state(ckpt["rng"].cpu())
    return AdversarialState.from_dict(ckpt["state"])


def _check_arguments(generator: nn.Module, steps: int, batch_size: int, n_critic: int, log_every: int,
                     checkpoint_every: int, data: torch.Tensor) -> None:
    if n_critic < 1:
        raise BadInput(f"n_critic: critic updates per generator update must be >= 1, got {n_critic}; e.g. n_critic=5")
    if steps < 1:
        raise BadInput(f"steps: generator updates must be >= 1, got {steps}")
    if batch_size < 1:
        raise BadInput(f"batch_size: must be >= 1, got {batch_size}")
    if log_every < 0 or checkpoint_every < 0:
        raise BadInput(f"log_every/checkpoint_every: must be >= 0, got {log_every}/{checkpoint_every}")
    if len(data) == 0:
        raise BadInput("data: no real samples; give a (N, ...) tensor with N >= 1")
    if getattr(generator, "latent_dim", 0) < 1:
        raise BadInput("generator: needs an attribute latent_dim >= 1 (the size of z)")


def _progress(enabled: bool, total: int, initial: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="adversarial", unit="step", leave=False, disable=not enabled)
