"""`Run`: what an experiment writes to, and `execute`: one experiment to one run record.

A run record is a folder:
    result.json    experiment, claim, section, verdict (holds | fails | error | not judged), checks (each
                   "claim" or "sanity", comparisons with both arms' mean ± SE), metrics, seconds, profile,
                   seed, config, modified_claim, versions, code_version, command
    metrics.jsonl  one JSON object a line (`run.log_metrics`)
    figures/*.png  (`run.figure`)
    log.txt        (`run.log`)
The record is assembled in a hidden staging folder and renamed into place when the run ends, so bad
input leaves nothing behind and a reader never sees half a record.

Verdicts. A failed *sanity* check (the apparatus: equal to PyTorch, a closed form) or an exception makes
the verdict `error`: the measurement is broken. Otherwise the *claim* checks decide: `holds` when there is
at least one and all pass, else `fails`. A `smoke` run exercises the code and is `not judged`. A run whose
claim thresholds differ from the profile's is marked `modified_claim`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

import mllab
from mllab.core import stats
from mllab.core.config import Config, config_dict, make_config
from mllab.core.deps import source_hash
from mllab.core.devices import resolve_device, torch_threads
from mllab.core.errors import BadInput
from mllab.core.io import atomic_path, write_json
from mllab.core.registry import Experiment
from mllab.core.seeding import check_seed, seed_everything

CHECK_KINDS = ("claim", "sanity")
VERDICTS = ("holds", "fails", "error", "not judged")


@dataclass
class Check:
    name: str
    passed: bool
    observed: str
    expected: str = ""
    kind: str = "claim"  # "claim" decides the verdict; "sanity" tests the apparatus (a failure is an error)
    comparison: dict | None = None  # `stats.Comparison.as_dict()` for checks made by `run.compare`


@dataclass
class Run:
    """The handle an experiment gets: record checks, metrics, figures and log lines."""

    out_dir: Path
    config: Config
    profile: str = "quick"
    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    data_dir: Path | None = None
    echo: bool = False
    progress_bars: bool = False  # draw `run.progress` bars on stderr
    progress_position: int = 0  # line of the bar (1 under the tour's bar)
    checks: list[Check] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    figure_problems: list[str] = field(default_factory=list)
    group: Any = None  # under torchrun: this rank's `mllab.train.distributed.RankGroup`; None in one process

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        (self.out_dir / "figures").mkdir(parents=True, exist_ok=True)
        self._log = open(self.out_dir / "log.txt", "a", buffering=1)
        self._metrics_file = open(self.out_dir / "metrics.jsonl", "a", buffering=1)

    def check(self, name: str, passed: bool, observed: str, expected: str = "", kind: str = "claim") -> bool:
        """Record one check; `observed` carries the measured numbers.

        kind="claim": part of the claim, decides holds / fails. kind="sanity": tests the apparatus
        (equal to PyTorch, a closed form); a failed sanity check makes the verdict `error`.
        A comparison of two settings is not a `check`: use `compare`."""
        if kind not in CHECK_KINDS:
            raise ValueError(f"check kind must be one of {CHECK_KINDS}, got {kind!r}")
        passed = bool(passed)
        self.checks.append(Check(name, passed, observed, expected, kind))
        self.log(f"{kind} check {'PASS' if passed else 'FAIL'}: {name}: {observed}"
                 + (f" (expected {expected})" if expected else ""))
        return passed

    def compare(self, name: str, a: Any, b: Any, *, margin: float = 0.0, better: str = "higher", log: bool = False,
                labels: tuple[str, str] = ("a", "b"), paired: bool | None = None, kind: str = "claim"
                ) -> stats.Comparison:
        """Judge "arm a beats arm b by more than `margin`" over per-seed values by the protocol's rule
        (`mllab.core.stats`: one-sided 95 % t-interval of the paired difference) and record it as a check.

        a, b: per-seed values (same seed order when paired); better: "higher" | "lower";
        log=True compares ratios: `margin` is then a factor (2 = at least twice as good)."""
        result = stats.compare([float(v) for v in a], [float(v) for v in b], margin=margin, better=better, log=log,
                               paired=paired, labels=labels)
        direction = "higher" if better == "higher" else "lower"
        margin_text = f"{margin:g}x" if log else f"{margin:.3g}"
        expected = (f"{labels[0]} {direction} than {labels[1]} by more than {margin_text}: lower 95% bound of the "
                    f"{'log-ratio' if log else 'difference'} above the margin, n >= 2 seeds")
        if kind not in CHECK_KINDS:
            raise ValueError(f"check kind must be one of {CHECK_KINDS}, got {kind!r}")
        self.checks.append(Check(name, result.passed, result.summary(), expected, kind, result.as_dict()))
        self.log(f"{kind} compare {'PASS' if result.passed else 'FAIL'}: {name}: {result.summary()}")
        return result

    def progress(self, iterable: Any = None, total: int | None = None, desc: str = "") -> Any:
        """A progress bar over `iterable` (or a manual one of `total` steps: `bar.update()`), drawn under
        the tour's bar, or not at all when progress is off. Use for loops that take seconds or more.
        tqdm.auto: a text bar in a terminal, a widget in Jupyter when ipywidgets is installed (else text)."""
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True,
                    position=self.progress_position, disable=not self.progress_bars, mininterval=0.5)

    def metric(self, name: str, value: Any) -> None:
        """A summary number (or small list/dict) stored in result.json."""
        self.metrics[name] = _plain(value)

    def log_metrics(self, **values: Any) -> None:
        """Append one line to metrics.jsonl, e.g. `run.log_metrics(step=10, loss=0.3)`."""
        self._metrics_file.write(json.dumps({k: _plain(v) for k, v in values.items()}) + "\n")

    def figure(self, name: str, fig: Any) -> Path:
        """Save a matplotlib figure as figures/<name>.png (atomically) and close it.

        The figure is checked against the package style (`core.figures.figure_problems`: titles, axis
        labels, no text over another panel); problems are logged and listed in result.json."""
        import matplotlib.pyplot as plt

        from mllab.core.figures import figure_problems

        if self.rank != 0:  # under torchrun rank 0 alone draws: the other ranks' folders are scratch
            plt.close(fig)
            return self.out_dir / "figures" / f"{name}.png"
        for problem in figure_problems(fig):
            self.figure_problems.append(f"{name}.png: {problem}")
            self.log(f"figure problem: {name}.png: {problem}")
        path = self.out_dir / "figures" / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        return path

    @property
    def rank(self) -> int:
        """This process's rank under torchrun (0 in a one-process run); rank 0 alone writes the record."""
        return 0 if self.group is None else self.group.rank

    @property
    def world_size(self) -> int:
        """Processes of the torchrun job (1 in a one-process run); a loader shards with rank / world_size."""
        return 1 if self.group is None else self.group.world_size

    def distribute(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` (already on `run.device`) wrapped in DistributedDataParallel under torchrun, so `fit` averages
        the ranks' gradients; the model itself in a one-process run."""
        return model if self.group is None else self.group.distribute(model)

    def all_reduce_sum(self, values: Any) -> torch.Tensor:
        """Σ over ranks of `values` (numbers or a tensor), float64 on the CPU, the same on every rank: e.g. the
        hits of each rank's shard of a test set; the values themselves in a one-process run."""
        total = torch.as_tensor(values, dtype=torch.float64)
        return total.cpu() if self.group is None else self.group.all_reduce_sum(total)

    def all_gather(self, value: Any) -> list[Any]:
        """Every rank's `value` (picklable) in rank order, on every rank; `[value]` in a one-process run."""
        return [value] if self.group is None else self.group.all_gather(value)

    def path(self, name: str) -> Path:
        """A path inside the record for extra artifacts."""
        return self.out_dir / name

    def log(self, message: str) -> None:
        line = f"{datetime.now().strftime('%H:%M:%S')} {message}"
        self._log.write(line + "\n")
        if self.echo:
            print(line, file=sys.stderr)

    def close(self) -> None:
        self._log.close()
        self._metrics_file.close()


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _requirements() -> bytes:
    """The pinned requirements next to the source tree (a checkout), or nothing when installed elsewhere."""
    path = Path(mllab.__file__).resolve().parents[2] / "requirements.txt"
    return path.read_bytes() if path.is_file() else b""


def code_version(experiment: Experiment) -> str:
    """Hash of the experiment's module and every mllab module it imports (transitively), the package
    version and the pinned requirements: a record is current only while all of them are unchanged."""
    return source_hash(experiment.func.__module__, extra=(mllab.__version__.encode(), _requirements()))


def modified_claim(experiment: Experiment, config: Config, profile: str) -> list[str]:
    """Threshold fields of the claim whose value differs from the profile's: the claim was changed."""
    reference = make_config(experiment.config_cls, profile)
    return [f for f in experiment.threshold_fields if getattr(config, f) != getattr(reference, f)]


def reproduce_command(experiment: Experiment, profile: str, seed: int, overrides: list[str] | tuple,
                      data_dir: str | Path | None = None) -> str:
    """The `mllab run` command that makes this record again."""
    parts = ["mllab", "run", experiment.name, "--profile", profile, "--seed", str(seed)]
    if data_dir is not None:
        parts += ["--data-dir", str(data_dir)]
    for item in overrides:
        parts += ["--set", item]
    return shlex.join(parts)


def versions(device: torch.device) -> dict[str, str]:
    import sklearn

    return {
        "mllab": mllab.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "sklearn": sklearn.__version__, "platform": platform.platform(),
        "machine": platform.machine(), "cpus": str(os.cpu_count()), "device": str(device),
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else "",
    }


def default_out_dir(name: str, root: Path = Path("mllab-out") / "runs") -> Path:
    return root / name / datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def _check_writable(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"--out: {out} already exists and is not an empty folder; choose a new path")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(f"--out: cannot write under {parent} (not a writable folder); choose a writable path")


def execute(experiment: Experiment, *, profile: str = "quick", seed: int = 0, overrides: list[str] | tuple = (),
            out: Path | None = None, device: str = "auto", data_dir: str | None = None,
            echo: bool = False, judge: bool | None = None, progress_position: int | None = None,
            threads: int | None = None, group: Any = None) -> tuple[dict[str, Any], Path | None]:
    """Run one experiment and write its record. Returns (result, record folder).

    BadInput propagates (nothing left on disk); any other exception becomes verdict "error".
    judge: judge the claim (default: every profile but smoke). progress_position: draw the experiment's
    progress bars on that stderr line (None: none). threads: torch intra-op threads for the run, default
    the config's `torch_threads` (1): beside one busy process, a second thread made small models 17–35×
    slower, and one thread was as fast idle (docs/benchmarks.md, contention).
    group: under torchrun, this rank's `RankGroup` (`mllab.train.distributed.join_torchrun`): the run uses its
    device; every rank runs the experiment, rank 0 alone writes the record (the others run in a scratch folder,
    removed, and return (result, None)); the verdict's error is the first error of any rank (`RankGroup.settle`).
    """
    seed = check_seed(seed)  # 0 <= seed < 2**32: a bad seed is bad input, before anything is written
    config = make_config(experiment.config_cls, profile, list(overrides), has_data_dir=data_dir is not None)
    torch_device = group.device if group is not None else resolve_device(device)
    if data_dir is not None and not Path(data_dir).is_dir():
        raise BadInput(f"--data-dir: {data_dir} is not a folder; give the folder that holds the dataset files")
    out = Path(out) if out is not None else default_out_dir(experiment.name)
    rank = group.rank if group is not None else 0
    created: list[Path] = []  # folders made for the record: removed again on bad input
    if rank == 0:
        _check_writable(out)
        created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    else:  # another rank under torchrun: a scratch folder, removed at the end; rank 0 alone writes the record
        staging = Path(tempfile.mkdtemp(prefix=f"mllab-rank{rank}-"))
    run = Run(staging, config, profile, seed, torch_device, Path(data_dir) if data_dir else None, echo,
              progress_bars=progress_position is not None, progress_position=progress_position or 0, group=group)
    threads = threads if threads is not None else getattr(experiment.config_cls, "torch_threads", 1)
    judge = profile != "smoke" if judge is None else judge
    version = code_version(experiment)  # of the code that runs, before an edit during the run can change it
    started = datetime.now(timezone.utc)
    start = time.perf_counter()
    error = None
    try:
        seed_everything(seed)
        run.log(f"run {experiment.name} profile={profile} seed={seed} device={torch_device}")
        with torch_threads(threads):  # an experiment's thread setting ends with it
            experiment.func(run, config)
    except (BadInput, KeyboardInterrupt):  # nothing half-written stays on disk
        if group is not None:
            group.abandon()  # ranks waiting for this one in a collective fail at once
        run.close()
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # deepest first; a folder someone else filled meanwhile stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    except Exception as exc:  # an error inside the run is a result: verdict "error"
        error = {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
        run.log(f"error: {type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    if group is not None:
        error = group.settle(error)  # rank 0: the first error of any rank, after every rank finished
    claim_checks = [c for c in run.checks if c.kind == "claim"]
    failed_sanity = [c.name for c in run.checks if c.kind == "sanity" and not c.passed]
    if error is None and failed_sanity:
        error = {"type": "SanityCheckFailed", "message": "the measurement is broken: sanity check(s) failed: "
                 + "; ".join(failed_sanity), "traceback": ""}
    if error is None and not claim_checks:
        error = {"type": "NoClaimCheck", "message": "the experiment recorded no claim check", "traceback": ""}
    if error is not None:
        verdict = "error"
    elif not judge:
        verdict = "not judged"
    else:
        verdict = "holds" if all(c.passed for c in claim_checks) else "fails"
    modified = modified_claim(experiment, config, profile)
    result = {
        "experiment": experiment.name, "claim": experiment.claim_text(config), "section": experiment.section,
        "verdict": verdict, "modified_claim": modified, "checks": [dataclasses.asdict(c) for c in run.checks],
        "metrics": run.metrics,
        "seconds": round(seconds, 3), "profile": profile, "seed": seed, "config": config_dict(config),
        "versions": versions(torch_device), "code_version": version,
        "command": reproduce_command(experiment, profile, seed, overrides, data_dir),
        "started": started.isoformat(timespec="seconds"), "error": error, "figure_problems": run.figure_problems,
        "threads": threads, "world_size": run.world_size, "backend": group.backend if group is not None else None,
        "figures": sorted(p.name for p in (staging / "figures").glob("*.png")),
    }
    if run.world_size > 1:
        result["command"] = f"torchrun --nproc_per_node {run.world_size} -m {result['command']}"
    run.log(f"verdict {verdict} in {seconds:.1f}s")
    run.close()
    if rank != 0:
        shutil.rmtree(staging, ignore_errors=True)
        group.finish()
        return result, None
    write_json(staging / "result.json", result)
    if out.exists():
        out.rmdir()  # empty, checked above
    os.replace(staging, out)
    if group is not None:
        group.finish()
    return result, out
