"""Top Hessian eigenvalue: our Lanczos vs PyHessian's power iteration vs the exact Hessian, side by side.

Same model (an MLP, briefly trained with `fit`), same data (the whole training split as one batch),
same loss (mean cross-entropy). Each method is timed end to end (building the gradient graph included),
after one warm-up call, interleaved, median of --repeats runs; the reference is eigvalsh of the exact
Hessian. Both methods spend their time in the same double-backward HVP, so the HVP count is the
load-independent part of the comparison; the wall-clock ratio is what a user sees.

    .venv/bin/python bench/hessian.py [--repeats 7] [--threads 1] [--dataset mnist5k] [--width 4] [--depth 1]

PyHessian (pip install pyhessian) is bench-only; without it the table shows our numbers alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn

from mllab.analysis import exact_hessian, extreme_eigenvalues
from mllab.data import TensorLoader, load_dataset
from mllab.models import MLP
from mllab.train import fit
from mllab.train.optimizers import Adam


def cross_entropy(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y, reduction="sum"), len(y)


def timed(function, repeats):
    """(median seconds, last result)."""
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=5, help="training epochs before measuring")
    parser.add_argument("--dataset", default="mnist5k", choices=("digits", "mnist5k"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = load_dataset(args.dataset, seed=0)
    in_features = data.train.x.shape[1]
    model = MLP(in_features, 10, width=args.width, depth=args.depth)
    fit(model, cross_entropy, TensorLoader((data.train.x, data.train.y), 64, seed=0),
        Adam(model.parameters(), lr=1e-3), epochs=args.epochs)
    model.eval()
    batches = [(data.train.x, data.train.y)]
    n_params = sum(p.numel() for p in model.parameters())

    methods = {}
    for tol in (1e-3, 1e-4):
        methods[f"mllab Lanczos (tol {tol:g})"] = lambda tol=tol: extreme_eigenvalues(
            model, cross_entropy, batches, 1, "largest", tol=tol, max_iter=100)
    try:
        from pyhessian import hessian as PyHessian

        pyhessian_module = sys.modules["pyhessian.hessian"]  # the package re-exports the class under this name

        counted = pyhessian_module.hessian_vector_product

        def counting_hvp(*a, **kw):  # count PyHessian's Hessian-vector products
            counting_hvp.calls += 1
            return counted(*a, **kw)

        counting_hvp.calls = 0
        pyhessian_module.hessian_vector_product = counting_hvp

        criterion = nn.CrossEntropyLoss()
        for tol in (1e-3, 1e-4, 1e-5):
            def power_iteration(tol=tol):
                torch.manual_seed(0)
                counting_hvp.calls = 0
                return PyHessian(model, criterion, data=(data.train.x, data.train.y), cuda=False).eigenvalues(
                    maxIter=100, tol=tol, top_n=1)[0][0]

            methods[f"PyHessian power iteration (tol {tol:g})"] = power_iteration
    except ImportError as exc:
        print(f"PyHessian unavailable ({exc}); pip install pyhessian to compare")
    seconds = {name: [] for name in methods}
    values, hvps = {}, {}
    for name, method in methods.items():  # warm-up: the first double backward of a process is slow
        method()
    for _ in range(args.repeats):  # interleaved, so that load from other processes hits all alike
        for name, method in methods.items():
            start = time.perf_counter()
            result = method()
            seconds[name].append(time.perf_counter() - start)
            values[name] = result
            if name.startswith("PyHessian"):
                hvps[name] = counting_hvp.calls
    exact_seconds, hessian = timed(lambda: exact_hessian(model, cross_entropy, batches), 1)
    reference = float(torch.linalg.eigvalsh(hessian.double())[-1])
    rows = [("exact Hessian + eigvalsh", exact_seconds, reference, "P HVPs, batched")]
    for name in methods:
        value = values[name]
        note = f"{value.iterations if hasattr(value, 'iterations') else hvps[name]} HVPs"
        value = float(value.values[0]) if hasattr(value, "values") else float(value)
        rows.append((name, statistics.median(seconds[name]), value, note))

    print(f"model: MLP {in_features}-{'-'.join([str(args.width)] * args.depth)}-10, P = {n_params}; data: {args.dataset} train "
          f"({len(data.train)} samples, one batch); torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median of {args.repeats}")
    print("| method | seconds | λ_max | relative error | Hessian-vector products |\n|---|---|---|---|---|")
    for name, seconds, value, note in rows:
        print(f"| {name} | {seconds:.3f} | {value:.6f} | {abs(value - reference) / abs(reference):.1e} | {note} |")
    ours = {name: s for name, s, v, _ in rows if name.startswith("mllab")}
    theirs = [(name, s, v) for name, s, v, _ in rows if name.startswith("PyHessian")]
    accurate = [(n, s) for n, s, v in theirs if abs(v - reference) / abs(reference) <= 1e-3]
    if theirs:
        ours_seconds = ours["mllab Lanczos (tol 0.001)"]
        for name, seconds, _ in theirs:
            print(f"time ratio {name} / mllab Lanczos (tol 0.001): {seconds / ours_seconds:.2f}x")
        if accurate:
            print(f"fastest PyHessian setting within 1e-3: {min(accurate, key=lambda r: r[1])[0]}")


if __name__ == "__main__":
    main()
