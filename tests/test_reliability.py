"""Reliability: SIGKILL at random steps then resume gives bit-identical weights; a kill inside
`save_checkpoint` leaves the previous checkpoint loadable; a checkpoint that would run code on
unpickling is refused and runs nothing.

The training runs in subprocesses (tests/reliability_train.py); each costs ~3-5 s, mostly importing
torch (its optimizers import torch._dynamo), so independent trials run two at a time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.train import fit, load_checkpoint

SCRIPT = Path(__file__).with_name("reliability_train.py")
TOTAL_STEPS = 21  # reliability_train.TOTAL_STEPS: 3 epochs x ceil(ceil(200/16)/2) groups
N_TRIALS = 3
STEP_PAUSE = 0.02  # seconds the killed child sleeps after announcing each step
TIMEOUT = 120


def _uninterrupted_run(checkpoint: Path) -> dict:
    """The reference: the same script's `train`, in this process (same single thread), never killed."""
    spec = importlib.util.spec_from_file_location("reliability_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TOTAL_STEPS == TOTAL_STEPS
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            result = module.train(str(checkpoint))
    finally:
        torch.set_num_threads(threads)
    assert _steps(printed.getvalue().splitlines()) == list(range(1, TOTAL_STEPS + 1))
    return result


def _start(checkpoint: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(SCRIPT), "--checkpoint", str(checkpoint), "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _run_to_end(checkpoint: Path, out: Path) -> list[str]:
    proc = _start(checkpoint, out)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr
    return stdout.splitlines()


def _kill_when(proc: subprocess.Popen, trigger: str, delay: float = 0.0) -> list[str]:
    """Read stdout until a line starts with `trigger`, wait `delay` s, SIGKILL the process; the lines read."""
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith(trigger):
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=TIMEOUT)
    stderr = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"not killed (rc {proc.returncode}); saw {lines[-3:]}; {stderr}"
    return lines


def _steps(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("step ")]


def _kill_then_resume(folder: Path, kill_step: int, delay: float) -> dict:
    """Kill `delay` s after step `kill_step` (the child pauses STEP_PAUSE s after each step, so the kill
    lands in the pause, the checkpoint write or the next step's compute), check, resume."""
    folder.mkdir()
    checkpoint, out = folder / "ckpt.pt", folder / "weights.pt"
    _kill_when(_start(checkpoint, out, "--step-sleep", str(STEP_PAUSE)), f"step {kill_step}\n", delay)
    saved_step = load_checkpoint(checkpoint)["state"]["global_step"]  # loadable whatever the kill hit
    resumed = _steps(_run_to_end(checkpoint, out))
    return {"saved_step": saved_step, "first_resumed_step": resumed[0], "weights": torch.load(out)}


def _stall_then_resume(folder: Path, stall_step: int) -> dict:
    """Kill while the checkpoint of `stall_step` is half written to its temporary file, check, resume."""
    folder.mkdir()
    checkpoint, out = folder / "ckpt.pt", folder / "weights.pt"
    lines = _kill_when(_start(checkpoint, out, "--stall-save-at", str(stall_step)), "stalled in save")
    partial = Path(lines[-1].split(maxsplit=3)[3])
    result = {"saved_step": load_checkpoint(checkpoint)["state"]["global_step"], "partial": partial,
              "partial_loads": True, "last_step_before_kill": _steps(lines)[-1]}
    try:
        load_checkpoint(partial)
    except BadInput:
        result["partial_loads"] = False
    resumed = _steps(_run_to_end(checkpoint, out))
    result.update(first_resumed_step=resumed[0], weights=torch.load(out))
    return result


def _assert_bit_identical(got: dict, reference: dict) -> None:
    assert got["global_step"] == reference["global_step"] == TOTAL_STEPS
    assert got["train_loss"] == reference["train_loss"]  # floats compared exactly
    for name, tensor in reference["model"].items():
        assert torch.equal(got["model"][name], tensor), f"{name} differs from the uninterrupted run"


def test_sigkill_at_random_steps_then_resume_is_bit_identical(tmp_path):
    rng = random.Random(20260)  # seeded: the same kill steps every time
    kill_steps = sorted(rng.sample(range(2, TOTAL_STEPS - 4), N_TRIALS))
    # after "step k" the child pauses STEP_PAUSE s, writes checkpoint k, computes step k+1: a kill 0.5 pause
    # later lands in the pause (checkpoint k-1 on disk), 1.05 around the write, 1.5 in step k+1 (machine load
    # shifts these; any landing point must give the same weights)
    delays = rng.sample([0.5 * STEP_PAUSE, 1.05 * STEP_PAUSE, 1.5 * STEP_PAUSE], N_TRIALS)
    stall_step = rng.randrange(3, TOTAL_STEPS - 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        trial_jobs = [pool.submit(_kill_then_resume, tmp_path / f"trial{i}", k, d)
                      for i, (k, d) in enumerate(zip(kill_steps, delays))]
        stall_job = pool.submit(_stall_then_resume, tmp_path / "stall", stall_step)
        reference = _uninterrupted_run(tmp_path / "reference.pt")  # meanwhile, here
        trials = [job.result() for job in trial_jobs]
        stall = stall_job.result()

    for kill_step, trial in zip(kill_steps, trials):
        # the step-k checkpoint is written after "step k" is printed, so the kill leaves k-1 or later
        assert kill_step - 1 <= trial["saved_step"] < TOTAL_STEPS, (kill_step, trial["saved_step"])
        assert trial["first_resumed_step"] == trial["saved_step"] + 1  # resumed, not restarted
        _assert_bit_identical(trial["weights"], reference)

    # killed inside save_checkpoint: the file in place is still the previous step's, the torn temporary
    # file is not loadable (the kill really hit mid-write), and resume continues exactly
    assert stall["last_step_before_kill"] == stall_step
    assert stall["saved_step"] == stall_step - 1
    assert stall["partial"].name.endswith(".tmp") and stall["partial"].parent == tmp_path / "stall"
    assert not stall["partial_loads"]
    assert stall["first_resumed_step"] == stall_step
    _assert_bit_identical(stall["weights"], reference)


class _CreatesMarker:
    """Unpickling this runs `open(marker, "w")`: a stand-in for arbitrary code in a checkpoint."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_checkpoint_that_runs_code_is_refused_and_runs_nothing(tmp_path, writer):
    def write(path: Path, marker: Path) -> None:
        payload = {"model": {"w": torch.zeros(2)}, "evil": _CreatesMarker(marker)}
        if writer == "torch.save":
            torch.save(payload, path)
        else:
            with open(path, "wb") as f:
                pickle.dump(payload, f, protocol=2)

    # the payload is live: an unsafe load does create its marker
    write(tmp_path / "armed.pt", tmp_path / "armed-marker")
    if writer == "torch.save":
        torch.load(tmp_path / "armed.pt", weights_only=False)
    else:
        pickle.loads((tmp_path / "armed.pt").read_bytes())
    assert (tmp_path / "armed-marker").exists()

    marker = tmp_path / "marker"
    write(tmp_path / "evil.pt", marker)
    with pytest.raises(BadInput, match="refusing"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()

    # and fit(resume=True) goes through the same refusal before touching the model
    model = torch.nn.Linear(2, 2)
    before = [p.detach().clone() for p in model.parameters()]
    loader = [(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))]
    with pytest.raises(BadInput, match="refusing"):
        fit(model, lambda m, b: (m(b[0]).sum(), 1), loader, torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1, checkpoint_path=tmp_path / "evil.pt", resume=True)
    assert not marker.exists()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
