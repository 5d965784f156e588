"""The parallel tour: `mllab tour --jobs 2` against `--jobs 1`, side by side on one machine (issue 18 §4).

    .venv/bin/python bench/tour.py                          # the whole quick tour, twice (~20 min quiet)
    .venv/bin/python bench/tour.py --only classification    # one section (repeatable: --only cnn --only rl)

Runs `python -m mllab tour --profile P --force --jobs N --device cpu --out OUT/jobs-N` for N = 2, then
N = 1 (fresh folders each time, so nothing is kept from an earlier record), one after the other on the
same machine, and prints both wall times, their ratio (goal: jobs 2 ≤ 0.6 × jobs 1 on a 2-core machine)
and whether the two tours gave the same verdicts. Each experiment runs with one torch thread in both arms
(`Config.torch_threads`), so the ratio measures running experiments side by side, not thread pools.
The load average before each arm is printed: a number taken beside other work is a loaded-machine number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.6  # jobs-2 wall time / jobs-1 wall time


def verdicts(runs: Path) -> dict[str, str]:
    """Experiment -> verdict of each record under runs (one per experiment after a --force tour)."""
    found = {}
    for path in sorted(runs.glob("*/*/result.json")):
        result = json.loads(path.read_text())
        found[result["experiment"]] = result["verdict"]
    return found


def tour(jobs: int, out: Path, profile: str, only: list[str]) -> tuple[float, int, dict[str, str]]:
    """One tour in a fresh process: (wall seconds, exit code, verdicts)."""
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, "-m", "mllab", "tour", "--profile", profile, "--force", "--device", "cpu",
               "--jobs", str(jobs), "--out", str(out)]
    for section in only:
        command += ["--only", section]
    print(f"\n$ python {' '.join(command[1:])}   (load average {os.getloadavg()[0]:.1f})", flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    seconds = time.perf_counter() - start
    print("\n".join(line for line in done.stdout.splitlines() if " experiments in " in line), flush=True)
    return seconds, done.returncode, verdicts(out / "runs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="SECTION",
                        help="bench this section only (repeatable; default: every section)")
    parser.add_argument("--out", type=Path, default=ROOT / "mllab-out" / "bench-tour",
                        help="records go to OUT/jobs-2 and OUT/jobs-1, replaced each run "
                             "(default mllab-out/bench-tour)")
    parser.add_argument("--profile", default="quick", help="profile of both tours (default quick)")
    args = parser.parse_args(argv)

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"{datetime.now():%Y-%m-%d %H:%M}; sections: {', '.join(args.only) or 'all'}; profile {args.profile}")
    arms = {jobs: tour(jobs, args.out / f"jobs-{jobs}", args.profile, args.only) for jobs in (2, 1)}
    (two, code2, verdicts2), (one, code1, verdicts1) = arms[2], arms[1]
    ratio = two / one
    print(f"\njobs 2: {two:7.1f} s (exit {code2})\njobs 1: {one:7.1f} s (exit {code1})")
    print(f"ratio jobs 2 / jobs 1: {ratio:.2f} (goal <= {GOAL}): {'met' if ratio <= GOAL else 'not met'}")
    differ = sorted(n for n in verdicts1.keys() | verdicts2.keys() if verdicts1.get(n) != verdicts2.get(n))
    print(f"{len(verdicts1)} experiments; verdicts " + ("equal in both tours" if not differ else
          "differ: " + ", ".join(f"{n} ({verdicts2.get(n)} vs {verdicts1.get(n)})" for n in differ)))
    return 0 if code1 == code2 == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
