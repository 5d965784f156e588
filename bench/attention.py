"""Is our multi-head attention as fast as PyTorch's, and is truncated attention cheap on long inputs?

    python bench/attention.py [--repeats 7] [--threads 1] [--long 8192] [--window 128]

1. Throughput: one forward + backward of `mllab.layers.attention.MultiHeadAttention` (fast path, SDPA) against
   `nn.MultiheadAttention` (batch_first, need_weights=False) with the same weights (`to_torch`), the same input,
   over a grid of batch × length × width (4 heads), on the CPU with `--threads` torch threads, and on CUDA
   when a GPU is present. Runs are interleaved (the contenders' order alternates every repeat) so that machine
   load hits both alike; reported: median wall and CPU (this thread's) seconds, and the speed ratio
   torch / ours (≥ 1.0: ours is no slower). Outputs are checked equal (float32, ≤ 1e-5) before timing.
2. Truncated attention at n = `--long`, w = `--window` (B = 1, 4 heads, d = 32): the banded path
   (`banded_attention`, O(n·w)) against full SDPA (`F.scaled_dot_product_attention`, no mask: O(n²) time; its
   fused CPU kernel never stores the n × n matrix) — time ratio — and memory: the bytes autograd saves for
   backward (distinct storages, via `saved_tensors_hooks`: exact and load-independent) for banded, fused SDPA
   and the written-out full attention (`attend`, which stores α and α', n × n per head; computed from its
   measured value at n/8, scaled by 64, since at n = 8,192 it would need gigabytes).
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from mllab.layers.attention import MultiHeadAttention, attend, banded_attention


def fwd_bwd(fn, sync) -> tuple[float, float]:
    """Wall and CPU seconds of one forward + backward of `fn()` (its output summed)."""
    sync()
    wall, cpu = time.perf_counter(), time.thread_time()
    fn().sum().backward()
    sync()
    return time.perf_counter() - wall, time.thread_time() - cpu


def saved_bytes(fn) -> int:
    """Bytes of the distinct storages autograd saves for backward during one forward of `fn()`."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    out.sum().backward()
    return sum(seen.values())


def throughput(device: torch.device, repeats: int, grid) -> list[dict]:
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    rows = []
    for batch, length, width in grid:
        torch.manual_seed(0)
        ours = MultiHeadAttention(width, 4, impl="fast").to(device)
        theirs = ours.to_torch()
        x = torch.randn(batch, length, width, device=device, requires_grad=True)
        with torch.no_grad():
            difference = float((ours(x) - theirs(x, x, x, need_weights=False)[0]).abs().max())
        assert difference <= 1e-5, difference
        contenders = {"ours": lambda: ours(x), "torch": lambda: theirs(x, x, x, need_weights=False)[0]}
        times = {name: [] for name in contenders}
        for name, fn in contenders.items():  # warm-up
            fwd_bwd(fn, sync)
        for r in range(repeats):
            order = list(contenders) if r % 2 == 0 else list(contenders)[::-1]
            for name in order:
                times[name].append(fwd_bwd(contenders[name], sync))
        med = {name: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
               for name, ts in times.items()}
        row = {"device": device.type, "batch": batch, "length": length, "width": width,
               "ours_ms": 1e3 * med["ours"][0], "torch_ms": 1e3 * med["torch"][0],
               "ours_cpu_ms": 1e3 * med["ours"][1], "torch_cpu_ms": 1e3 * med["torch"][1],
               "ratio_wall": med["torch"][0] / med["ours"][0], "ratio_cpu": med["torch"][1] / max(med["ours"][1], 1e-9)}
        rows.append(row)
        print(f"{device.type:4} B={batch:3} n={length:5} D={width:4}: ours {row['ours_ms']:8.2f} ms "
              f"(cpu {row['ours_cpu_ms']:8.2f}), torch {row['torch_ms']:8.2f} ms (cpu {row['torch_cpu_ms']:8.2f}); "
              f"torch/ours wall {row['ratio_wall']:.2f}x, cpu {row['ratio_cpu']:.2f}x", flush=True)
    return rows


def truncated(n: int, window: int, repeats: int, device: torch.device) -> dict:
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    g = torch.Generator().manual_seed(0)

    def qkv(length: int):
        return [torch.randn(1, 4, length, 32, generator=g).to(device).requires_grad_(True) for _ in range(3)]

    q, k, v = qkv(n)
    contenders = {"banded": lambda: banded_attention(q, k, v, window),
                  "sdpa": lambda: F.scaled_dot_product_attention(q, k, v)}
    for fn in contenders.values():
        fwd_bwd(fn, sync)
    times = {name: [] for name in contenders}
    for r in range(repeats):
        order = list(contenders) if r % 2 == 0 else list(contenders)[::-1]
        for name in order:
            times[name].append(fwd_bwd(contenders[name], sync))
    med = {name: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)) for name, ts in times.items()}
    memory = {name: saved_bytes(fn) for name, fn in contenders.items()}
    small = n // 8
    qs, ks, vs = qkv(small)
    memory["explicit (n/8, measured)"] = saved_bytes(lambda: attend(qs, ks, vs)[0])
    memory["explicit (n, = 64 × n/8)"] = 64 * memory["explicit (n/8, measured)"]
    return {"n": n, "window": window, "banded_s": med["banded"][0], "sdpa_s": med["sdpa"][0],
            "banded_cpu_s": med["banded"][1], "sdpa_cpu_s": med["sdpa"][1],
            "ratio_wall": med["sdpa"][0] / med["banded"][0], "ratio_cpu": med["sdpa"][1] / med["banded"][1],
            "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--long", type=int, default=8192)
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--devices", default="cpu,cuda", help="comma-separated devices to time (cuda where present)")
    args = parser.parse_args()
    wanted = set(args.devices.split(","))
    devices = [d for d in ("cpu", "cuda") if d in wanted and (d == "cpu" or torch.cuda.is_available())]
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} thread(s), "
          f"{args.repeats} interleaved repeats, medians")
    grid = list(itertools.product((4, 16), (128, 512), (64, 256)))
    rows = throughput(torch.device("cpu"), args.repeats, grid) if "cpu" in devices else []
    if "cuda" in devices:
        rows += throughput(torch.device("cuda"), args.repeats, list(itertools.product((16, 64), (512, 2048),
                                                                                       (256, 1024))))
    for device in devices:
        worst = min(r["ratio_wall"] for r in rows if r["device"] == device)
        worst_cpu = min(r["ratio_cpu"] for r in rows if r["device"] == device)
        print(f"{device}: slowest cell torch/ours = {worst:.2f}x wall, {worst_cpu:.2f}x cpu "
              f"(goal >= 1.0: {'met' if worst >= 1.0 else 'not met'} on wall time)")
    for device in map(torch.device, devices):
        t = truncated(args.long, args.window, max(3, args.repeats // 2), device)
        print(f"{device.type}: truncated attention n={t['n']} w={t['window']} (B=1, 4 heads, d=32): banded "
              f"{t['banded_s']:.3f} s (cpu {t['banded_cpu_s']:.3f}), full SDPA {t['sdpa_s']:.3f} s "
              f"(cpu {t['sdpa_cpu_s']:.3f}): {t['ratio_wall']:.1f}x faster wall, {t['ratio_cpu']:.1f}x cpu "
              f"(goal >= 5x: {'met' if t['ratio_wall'] >= 5 else 'not met'})")
        for name, b in t["memory"].items():
            print(f"  saved for backward, {name}: {b / 2**20:,.1f} MiB")


if __name__ == "__main__":
    main()
