"""examples/ddp_digits.py under a real torchrun: two gloo ranks train with fit and agree."""

import re
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]


def test_torchrun_two_ranks_train_and_agree(tmp_path):
    """Run with the default --out from a fresh folder: the weights land under the git-ignored mllab-out/."""
    out = tmp_path / "mllab-out" / "examples" / "ddp_digits.safetensors"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "examples" / "ddp_digits.py"), "--epochs", "2", "--accum-steps", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = re.findall(r"rank (\d)/2: steps (\d+), train loss per epoch ([\d. ]+)", done.stdout)
    assert sorted(rank for rank, _, _ in lines) == ["0", "1"], done.stdout
    (_, steps0, losses0), (_, steps1, losses1) = lines
    assert steps0 == steps1 and losses0.strip() == losses1.strip()  # one global mean loss on both ranks
    first, last = (float(v) for v in losses0.split()[::len(losses0.split()) - 1])
    assert last < first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mllab-out"]  # nothing else written in the checkout
    weights = load_file(out)
    assert weights and all(v.isfinite().all() for v in weights.values())
