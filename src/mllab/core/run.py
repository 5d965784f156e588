"""`Run`: what an experiment writes to, and `execute`: one experiment to one run record.

A run record is a folder:
    result.json    experiment, claim, section, verdict (holds | fails | error), checks, metrics,
                   seconds, profile, seed, config, versions, code_version
    metrics.jsonl  one JSON object a line (`run.log_metrics`)
    figures/*.png  (`run.figure`)
    log.txt        (`run.log`)
The record is assembled in a hidden staging folder and renamed into place when the run ends, so bad
input leaves nothing behind and a reader never sees half a record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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
from mllab.core.config import Config, config_dict, make_config
from mllab.core.devices import resolve_device, torch_threads
from mllab.core.errors import BadInput
from mllab.core.io import atomic_path, write_json
from mllab.core.registry import Experiment
from mllab.core.seeding import seed_everything


@dataclass
class Check:
    name: str
    passed: bool
    observed: str
    expected: str = ""


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
    checks: list[Check] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        (self.out_dir / "figures").mkdir(parents=True, exist_ok=True)
        self._log = open(self.out_dir / "log.txt", "a", buffering=1)
        self._metrics_file = open(self.out_dir / "metrics.jsonl", "a", buffering=1)

    def check(self, name: str, passed: bool, observed: str, expected: str = "") -> bool:
        """Record one check of the claim; `observed` carries the measured numbers."""
        passed = bool(passed)
        self.checks.append(Check(name, passed, observed, expected))
        self.log(f"check {'PASS' if passed else 'FAIL'}: {name}: {observed}" + (f" (expected {expected})" if expected else ""))
        return passed

    def metric(self, name: str, value: Any) -> None:
        """A summary number (or small list/dict) stored in result.json."""
        self.metrics[name] = _plain(value)

    def log_metrics(self, **values: Any) -> None:
        """Append one line to metrics.jsonl, e.g. `run.log_metrics(step=10, loss=0.3)`."""
        self._metrics_file.write(json.dumps({k: _plain(v) for k, v in values.items()}) + "\n")

    def figure(self, name: str, fig: Any) -> Path:
        """Save a matplotlib figure as figures/<name>.png (atomically) and close it."""
        import matplotlib.pyplot as plt

        path = self.out_dir / "figures" / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        return path

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


def code_version(experiment: Experiment) -> str:
    """Hash of the experiment's source file and the package version: a changed file reruns in the tour."""
    digest = hashlib.sha256(mllab.__version__.encode())
    digest.update(experiment.source_file.read_bytes())
    return digest.hexdigest()[:16]


def versions(device: torch.device) -> dict[str, str]:
    import sklearn

    return {
        "mllab": mllab.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "sklearn": sklearn.__version__, "platform": platform.platform(),
        "machine": platform.machine(), "cpus": str(os.cpu_count()), "device": str(device),
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else "",
    }


def default_out_dir(name: str, root: Path = Path("runs")) -> Path:
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
            echo: bool = False) -> tuple[dict[str, Any], Path]:
    """Run one experiment and write its record. Returns (result, record folder).

    BadInput propagates (nothing left on disk); any other exception becomes verdict "error".
    """
    config = make_config(experiment.config_cls, profile, list(overrides))
    torch_device = resolve_device(device)
    if data_dir is not None and not Path(data_dir).is_dir():
        raise BadInput(f"--data-dir: {data_dir} is not a folder; give the folder that holds the dataset files")
    out = Path(out) if out is not None else default_out_dir(experiment.name)
    _check_writable(out)
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # removed again on bad input
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    run = Run(staging, config, profile, seed, torch_device, Path(data_dir) if data_dir else None, echo)
    started = datetime.now(timezone.utc)
    start = time.perf_counter()
    error = None
    try:
        seed_everything(seed)
        run.log(f"run {experiment.name} profile={profile} seed={seed} device={torch_device}")
        with torch_threads(torch.get_num_threads()):  # an experiment's thread setting ends with it
            experiment.func(run, config)
    except (BadInput, KeyboardInterrupt):  # nothing half-written stays on disk
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
    if error is not None:
        verdict = "error"
    elif run.checks and all(c.passed for c in run.checks):
        verdict = "holds"
    else:
        verdict = "fails"
    result = {
        "experiment": experiment.name, "claim": experiment.claim, "section": experiment.section,
        "verdict": verdict, "checks": [c.__dict__ for c in run.checks], "metrics": run.metrics,
        "seconds": round(seconds, 3), "profile": profile, "seed": seed, "config": config_dict(config),
        "versions": versions(torch_device), "code_version": code_version(experiment),
        "started": started.isoformat(timespec="seconds"), "error": error,
        "figures": sorted(p.name for p in (staging / "figures").glob("*.png")),
    }
    run.log(f"verdict {verdict} in {seconds:.1f}s")
    run.close()
    write_json(staging / "result.json", result)
    if out.exists():
        out.rmdir()  # empty, checked above
    os.replace(staging, out)
    return result, out
