"""A tiny training run that tests/test_reliability.py starts in subprocesses and kills with SIGKILL.

    python tests/reliability_train.py --checkpoint CKPT --out WEIGHTS [--step-sleep S] [--stall-save-at K]

Trains a small MLP (dropout, so the RNG state matters) with Adam, a step LR schedule and accumulation
over a short final group, checkpointing every optimizer step and resuming from CKPT when it exists.
Prints `step N` after every optimizer step (before that step's checkpoint is written) so the parent
can kill it at a chosen step, and writes the final weights to WEIGHTS.

--stall-save-at K: the checkpoint of step K writes half its bytes to the temporary file, prints
`stalled in save`, and sleeps: the parent kills it there, in the middle of `save_checkpoint`.
"""

from __future__ import annotations

import argparse
import io
import time

import torch
import torch.nn.functional as F

from mllab.data import TensorLoader
from mllab.models.mlp import MLP
from mllab.train import fit

EPOCHS, ACCUM_STEPS, BATCH_SIZE = 3, 2, 16
N_SAMPLES, N_FEATURES, N_CLASSES = 200, 16, 4
STEPS_PER_EPOCH = -(-(-(-N_SAMPLES // BATCH_SIZE)) // ACCUM_STEPS)  # ceil(ceil(200 / 16) / 2) = 7
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH


def make_problem() -> tuple[torch.nn.Module, TensorLoader, torch.optim.Optimizer, object]:
    """Model, loader, optimizer, scheduler: identical in every process (seeded)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N_SAMPLES, N_FEATURES, generator=g)  # (N, F)
    y = torch.randint(0, N_CLASSES, (N_SAMPLES,), generator=g)  # (N,)
    torch.manual_seed(1)
    model = MLP(N_FEATURES, N_CLASSES, width=32, depth=2, dropout=0.2)
    loader = TensorLoader((x, y), BATCH_SIZE, shuffle=True, seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.7)
    return model, loader, optimizer, scheduler


def loss_fn(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
    x, y = batch
    return F.cross_entropy(model(x), y, reduction="sum"), len(y)


class PrintSteps:
    """Announce each optimizer step on stdout, then pause so a kill lands at a known place."""

    def __init__(self, sleep: float):
        self.sleep = sleep

    def on_step_end(self, state, model) -> None:
        print(f"step {state.global_step}", flush=True)
        if self.sleep:
            time.sleep(self.sleep)


def stall_save_at(step: int) -> None:
    """Make the checkpoint of optimizer step `step` hang half-written inside its temporary file."""
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if not (isinstance(obj, dict) and "state" in obj and obj["state"]["global_step"] == step):
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        with open(f, "wb") as out:
            out.write(data[: len(data) // 2])
            out.flush()
            print(f"stalled in save {f}", flush=True)
            time.sleep(120)  # the parent kills us here
            out.write(data[len(data) // 2:])

    torch.save = save


def train(checkpoint: str, step_sleep: float = 0.0) -> dict:
    """Train (resuming from `checkpoint` when it exists); final weights, per-epoch losses, step count."""
    model, loader, optimizer, scheduler = make_problem()
    state = fit(model, loss_fn, loader, optimizer, epochs=EPOCHS, accum_steps=ACCUM_STEPS, scheduler=scheduler,
                callbacks=[PrintSteps(step_sleep)], checkpoint_path=checkpoint, checkpoint_every=1, resume=True)
    return {"model": model.state_dict(), "train_loss": [h["train_loss"] for h in state.history],
            "global_step": state.global_step}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--step-sleep", type=float, default=0.0)
    parser.add_argument("--stall-save-at", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.stall_save_at:
        stall_save_at(args.stall_save_at)
    torch.save(train(args.checkpoint, args.step_sleep), args.out)
    print("done", flush=True)


if __name__ == "__main__":
    main()
