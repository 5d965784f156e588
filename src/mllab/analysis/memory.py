"""Peak memory of one `fit` optimizer step with k micro-batches, measured in a fresh process.

    python -m mllab.analysis.memory K BATCH WIDTH DEPTH SEED
    -> {"baseline_mb": RSS before the step, "peak_mb": peak RSS during it}

A fresh interpreter per measurement, so that no earlier allocation (and no allocator cache) of the
caller counts. This module imports only torch, the MLP and fit, to start fast.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import torch

from mllab.models.mlp import MLP
from mllab.train import fit
from mllab.train.losses import cross_entropy_sum


def resident_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB: /proc on Linux, else getrusage's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024  # kB -> MiB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)
    return peak, peak


def memory_probe(accum_steps: int, batch: int, width: int, depth: int, seed: int) -> dict[str, float]:
    """RSS before and peak RSS during one optimizer step on `batch` random 64-feature rows, k micro-batches."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x, y = torch.randn(batch, 64), torch.randint(0, 10, (batch,))  # (B, 64), (B,)
    model = MLP(64, 10, width=width, depth=depth)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    size = batch // accum_steps
    micro_batches = [(x[i:i + size], y[i:i + size]) for i in range(0, batch, size)]  # k views, one group
    try:  # reset the peak to the current RSS so that set-up transients do not count (Linux)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    baseline, _ = resident_mb()
    fit(model, cross_entropy_sum, micro_batches, optimizer, epochs=1, accum_steps=accum_steps)
    _, peak = resident_mb()
    return {"baseline_mb": baseline, "peak_mb": max(peak, baseline)}


def start_memory_probes(accum_steps: int, batch: int, width: int, depth: int,
                        seed: int) -> dict[int, subprocess.Popen]:
    """Start two fresh processes side by side: k=1 and k=accum_steps, the same batch and model.

    Returns {k: process}; read them with `collect_memory_probes`."""
    return {k: subprocess.Popen([sys.executable, "-m", __name__, *map(str, (k, batch, width, depth, seed))],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for k in (1, accum_steps)}


def collect_memory_probes(processes: dict[int, subprocess.Popen]) -> dict[int, dict[str, float]]:
    """{k: {"baseline_mb", "peak_mb"}} once the probes have finished."""
    results = {}
    for k, process in processes.items():
        out, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"memory probe k={k} failed: {err.strip()[-500:]}")
        results[k] = json.loads(out.strip().splitlines()[-1])
    return results


if __name__ == "__main__":
    print(json.dumps(memory_probe(*map(int, sys.argv[1:6]))))
