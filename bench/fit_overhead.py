"""What does `mllab.train.fit` cost over a hand-written PyTorch loop (and over Lightning Fabric)?

    python bench/fit_overhead.py [--epochs 5] [--repeats 20] [--batch-size 32] [--width 64] [--threads 1]

The same model (an MLP on the digits training split, small enough that per-step overhead dominates),
the same initial weights, the same batches (one `TensorLoader`, same seed) and the same optimizer are
trained by each contender. Runs are interleaved (the order rotates every repeat) so that machine load
hits all of them alike. Reported: median epoch wall and CPU time of each (over every epoch of every
repeat) and the ratios to the hand-written loop: paired, each repeat's median epoch against the
hand-written loop's in the same repeat (seconds apart), then the median over repeats with its
quartiles — load that drifts between repeats cancels out of a paired ratio. The final weights must be
bitwise equal to the hand-written loop's (`torch.equal` on every tensor, every repeat), else the bench
exits with an error. Lightning Fabric runs when the bench-only package `lightning` is installed
(`pip install -c requirements.txt -e ".[bench]"`).
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F

from mllab.data import TensorLoader, load_dataset
from mllab.models import MLP
from mllab.train import fit

Trainer = Callable[[torch.nn.Module, TensorLoader, torch.optim.Optimizer, int], "EpochClock"]


class EpochClock:
    """Wall and CPU seconds of each epoch: call `tick()` at each epoch end (also a fit callback).

    CPU time is this thread's (`time.thread_time`): with one torch thread all the compute runs here, and
    unlike wall time it does not count the time other processes hold the cores.
    """

    def __init__(self, device: torch.device = torch.device("cpu")) -> None:
        self.sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        self.wall, self.cpu = [], []
        self._wall, self._cpu = time.perf_counter(), time.thread_time()

    def tick(self) -> None:
        self.sync()
        wall, cpu = time.perf_counter(), time.thread_time()
        self.wall.append(wall - self._wall)
        self.cpu.append(cpu - self._cpu)
        self._wall, self._cpu = wall, cpu

    def on_epoch_end(self, state, model) -> None:
        self.tick()


def train_by_hand(model: torch.nn.Module, loader: TensorLoader, optimizer: torch.optim.Optimizer,
                  epochs: int) -> EpochClock:
    """The plain PyTorch loop."""
    clock = EpochClock(next(model.parameters()).device)
    model.train()
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        clock.tick()
    return clock


def train_by_fit(model: torch.nn.Module, loader: TensorLoader, optimizer: torch.optim.Optimizer,
                 epochs: int) -> EpochClock:
    def loss_fn(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        x, y = batch
        return F.cross_entropy(model(x), y, reduction="sum"), len(y)

    clock = EpochClock(next(model.parameters()).device)
    fit(model, loss_fn, loader, optimizer, epochs=epochs, callbacks=[clock])
    return clock


def train_by_fabric(model: torch.nn.Module, loader: TensorLoader, optimizer: torch.optim.Optimizer,
                    epochs: int) -> EpochClock:
    """Lightning Fabric's loop on one CPU/GPU device, 32-bit precision."""
    from lightning.fabric import Fabric

    fabric = Fabric(accelerator="cuda" if next(model.parameters()).is_cuda else "cpu", devices=1,
                    precision="32-true")
    model, optimizer = fabric.setup(model, optimizer, move_to_device=False)
    clock = EpochClock(next(model.parameters()).device)
    model.train()
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            fabric.backward(loss)
            optimizer.step()
        clock.tick()
    return clock


def fabric_available() -> bool:
    try:
        import lightning.fabric  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20, help="interleaved runs of each contender")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-fabric", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    data = load_dataset("digits", seed=args.seed, device=device)
    torch.manual_seed(args.seed)
    initial = MLP(64, 10, width=args.width, depth=2).to(device)
    contenders: dict[str, Trainer] = {"hand-written loop": train_by_hand, "mllab fit": train_by_fit}
    if not args.no_fabric and fabric_available():
        contenders["Lightning Fabric"] = train_by_fabric

    def one_run(train: Trainer) -> tuple[EpochClock, dict[str, torch.Tensor]]:
        model = copy.deepcopy(initial)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loader = TensorLoader((data.train.x, data.train.y), args.batch_size, shuffle=True, seed=args.seed)
        clock = train(model, loader, optimizer, args.epochs)
        return clock, {k: v.detach().clone() for k, v in model.state_dict().items()}

    names = list(contenders)
    for name in names:  # warm-up (lazy imports, allocator), not timed
        one_run(contenders[name])
    # name -> one list per repeat: the epochs' wall / CPU seconds of that run
    wall: dict[str, list[list[float]]] = {name: [] for name in names}
    cpu: dict[str, list[list[float]]] = {name: [] for name in names}
    weights: dict[str, list[dict[str, torch.Tensor]]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:  # rotate the order
            clock, final = one_run(contenders[name])
            wall[name].append(clock.wall)
            cpu[name].append(clock.cpu)
            weights[name].append(final)
    report(args, data, device, names, wall, cpu, weights)


def paired_ratios(times: dict[str, list[list[float]]], name: str, base: str) -> list[float]:
    """Per repeat: median epoch of `name` / median epoch of `base` in the same repeat."""
    return [statistics.median(a) / statistics.median(b) for a, b in zip(times[name], times[base])]


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile)."""
    if len(values) == 1:
        return (values[0],) * 3
    q1, median, q3 = statistics.quantiles(values, n=4)
    return q1, median, q3


def report(args: argparse.Namespace, data, device: torch.device, names: list[str], wall: dict, cpu: dict,
           weights: dict) -> None:
    """Print the set-up line and a markdown table; exit 1 if a loop's final weights differ from the hand loop's."""
    reference = weights[names[0]][0]
    n_batches = len(TensorLoader((data.train.x,), args.batch_size))
    print(f"digits train split ({len(data.train)} samples), batch {args.batch_size} ({n_batches} steps/epoch), "
          f"MLP 64-{args.width}-{args.width}-10, SGD momentum 0.9, {args.epochs} epochs x {args.repeats} interleaved "
          f"repeats; {args.threads} torch thread(s), device {device}, torch {torch.__version__}, "
          f"Python {platform.python_version()}, {cpu_name()}\n")
    print("| loop | median epoch wall (ms) | median epoch CPU (ms) | CPU per step (µs) | wall ratio | CPU ratio "
          "(quartiles) | final weights bitwise equal to hand-written |")
    print("|---|---|---|---|---|---|---|")
    unequal = []
    for name in names:
        w = statistics.median(t for run in wall[name] for t in run)
        c = statistics.median(t for run in cpu[name] for t in run)
        w_ratio = quartiles(paired_ratios(wall, name, names[0]))[1]
        c_low, c_ratio, c_high = quartiles(paired_ratios(cpu, name, names[0]))
        equal = all(torch.equal(final[k], reference[k]) for final in weights[name] for k in reference)
        unequal += [] if equal else [name]
        print(f"| {name} | {w * 1e3:.2f} | {c * 1e3:.2f} | {c / n_batches * 1e6:.0f} | {w_ratio:.3f}x "
              f"| {c_ratio:.3f}x ({c_low:.3f}-{c_high:.3f}) | {'yes' if equal else 'NO'} |")
    if unequal:
        sys.exit(f"final weights differ from the hand-written loop's: {', '.join(unequal)}")


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
