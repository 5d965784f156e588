"""Contention: experiments run idle and beside a busy process, with 1 torch thread and with one per core.

Issue 10 §1: with one CPU-bound process beside it, an experiment using torch's default thread count (one
per core) ran 17–35× slower than idle; pinned to one thread it did not slow down. `mllab.core.run.execute`
now pins `Config.torch_threads` (1) for every experiment. This bench measures the rule:

    for threads in (1, os.cpu_count()):          # the pinned default, and torch's own default
        for condition in ("idle", "busy"):       # busy: `python3 -c "while True: pass"` running beside
            for each experiment: seconds of one `execute(...)` in a fresh process

and reports busy / idle per experiment and for the sum (goal for threads=1: ≤ 1.5×). Each run is a fresh
Python process (`--child`), so thread pools start clean; a run past `--timeout` seconds is stopped and
reported as "> timeout". The experiments run at profile quick, shortened with `--set` overrides by default
(`--no-shorten` for the plain quick profile).

    .venv/bin/python bench/contention.py                   # 3 experiments, both thread arms
    .venv/bin/python bench/contention.py --threads 1       # only the pinned arm
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENTS = ("model-bias-vs-optimization", "sigmoid-approximation", "overfitting")
# Overrides that shorten each experiment (same code paths, fewer epochs/steps) so both arms fit in minutes.
SHORTEN = {
    "model-bias-vs-optimization": ["epochs=5"],
    "sigmoid-approximation": ["steps=300"],
    "overfitting": ["epochs=15"],
}
GOAL = 1.5


def child(name: str, threads: int, profile: str, overrides: list[str]) -> None:
    """Run one experiment with `threads` torch threads; print {"seconds", "verdict"} as JSON."""
    from mllab.core.registry import get_experiment
    from mllab.core.run import execute
    from mllab.experiments import load_all

    load_all()
    with tempfile.TemporaryDirectory() as tmp:
        result, _ = execute(get_experiment(name), profile=profile, overrides=overrides, out=Path(tmp) / "record",
                            device="cpu", threads=threads)
    print(json.dumps({"seconds": result["seconds"], "verdict": result["verdict"]}))


def measure(name: str, threads: int, profile: str, overrides: list[str], timeout: float) -> dict:
    """Seconds of one run in a fresh process (the experiment's own clock), or None past the timeout."""
    command = [sys.executable, __file__, "--child", name, "--threads", str(threads), "--profile", profile]
    for item in overrides:
        command += ["--set", item]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "verdict": "timed out", "wall": time.perf_counter() - start}
    if done.returncode != 0:
        return {"seconds": None, "verdict": "crashed: " + done.stderr.strip().splitlines()[-1][:80],
                "wall": time.perf_counter() - start}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall": time.perf_counter() - start}


def busy_process() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def load_average() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "?"


def _seconds(run: dict, timeout: float) -> str:
    return f"{run['seconds']:.1f}" if run["seconds"] is not None else f"> {timeout:.0f}"


def _ratio(busy: dict, idle: dict, timeout: float) -> tuple[str, float | None]:
    if idle["seconds"] is None:
        return "—", None
    if busy["seconds"] is None:
        return f"> {timeout / idle['seconds']:.1f}×", None
    ratio = busy["seconds"] / idle["seconds"]
    return f"{ratio:.2f}×", ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS), help="comma-separated experiment names")
    parser.add_argument("--profile", default="quick", help="profile of every run (default quick)")
    parser.add_argument("--no-shorten", action="store_true", help="run the plain profile, without SHORTEN")
    parser.add_argument("--threads", default=f"1,{os.cpu_count()}",
                        help="comma-separated torch thread counts to compare (default 1 and os.cpu_count())")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds before a run is stopped (default 180)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, int(args.threads), args.profile, args.overrides)
        return

    names = [n.strip() for n in args.experiments.split(",") if n.strip()]
    arms = [int(t) for t in args.threads.split(",")]
    overrides = {n: [] if args.no_shorten else SHORTEN.get(n, []) for n in names}
    print(f"cpus {os.cpu_count()}, load average before {load_average()}, profile {args.profile}, "
          f"overrides {overrides}", flush=True)
    results: dict[tuple[int, str, str], dict] = {}
    for threads in arms:
        for condition in ("idle", "busy"):
            hog = busy_process() if condition == "busy" else None
            try:
                if hog:
                    time.sleep(1.0)  # let the busy loop get going
                for name in names:
                    run = measure(name, threads, args.profile, overrides[name], args.timeout)
                    results[threads, condition, name] = run
                    print(f"threads {threads:>2} {condition:<4} {name:<28} {_seconds(run, args.timeout):>7} s  "
                          f"{run['verdict']}  (load {load_average()})", flush=True)
            finally:
                if hog:
                    hog.kill()
                    hog.wait()

    print("\n| torch threads | experiment | idle (s) | beside a busy process (s) | busy / idle |")
    print("|---|---|---|---|---|")
    for threads in arms:
        idle_total = busy_total = 0.0
        complete = True
        for name in names:
            idle, busy = results[threads, "idle", name], results[threads, "busy", name]
            text, _ = _ratio(busy, idle, args.timeout)
            print(f"| {threads} | {name} | {_seconds(idle, args.timeout)} | {_seconds(busy, args.timeout)} | {text} |")
            if idle["seconds"] is None or busy["seconds"] is None:
                complete = False
            else:
                idle_total += idle["seconds"]
                busy_total += busy["seconds"]
        # the sum over the experiments whose two runs both finished (a "+" marks a timed-out one left out)
        total = f"{busy_total / idle_total:.2f}×" if idle_total else "—"
        verdict = ("met" if busy_total / idle_total <= GOAL else "missed") if complete and idle_total else "incomplete"
        goal = f" (goal ≤ {GOAL}×: {verdict})" if threads == 1 else ""
        print(f"| {threads} | **all finished** | {idle_total:.1f}{'' if complete else '+'} | "
              f"{busy_total:.1f}{'' if complete else '+'} | **{total}**{goal} |")
    print(f"\nload average after {load_average()}")


if __name__ == "__main__":
    main()
