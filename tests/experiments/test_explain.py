"""The explain section's experiments: bad input through the CLI (one line, exit 2, no record), the planted task's
evidence, and the shared CNN cache."""

import pytest
import torch

from mllab.cli import main
from mllab.experiments.explain.smoothgrad import stroke_share, total_variation
from mllab.explain import block_segments
from mllab.explain.planted import evidence_features, planted_patch_task


@pytest.mark.parametrize("name,override,field", [
    ("saliency-maps", "images=0", "images"),
    ("saliency-maps", "attribution=gradcam", "attribution"),
    ("smoothgrad", "noise=-0.1", "noise"),
    ("smoothgrad", "ns=0,5", "ns"),
    ("lime", "n_samples=0", "n_samples"),
    ("lime", "kernel_width=0", "kernel_width"),
    ("explanation-sanity", "ig_steps=0", "ig_steps"),
    ("explanation-sanity", "margin=-1", "margin"),
])
def test_bad_input_is_one_line_and_exit_2(name, override, field, tmp_path, capsys):
    out = tmp_path / "rec"
    code = main(["run", name, "--profile", "smoke", "--set", override, "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and field in err, err
    assert not out.exists()


def test_planted_task_evidence_is_the_checkerboard_block():
    task = planted_patch_task(40, seed=3)
    assert task.y.sum() == 20  # balanced
    seg = block_segments(28, 28, 4)
    for i in range(40):
        features = evidence_features(seg, task.evidence[i])
        assert int(features.sum()) == int(task.y[i])  # one block for class 1, none for class 0
        if task.y[i] == 1:
            patch = task.x[i, 0][task.evidence[i]]
            assert sorted(patch.unique().tolist()) == [0.0, 1.0]  # a checkerboard


def test_visual_noise_measures():
    flat = torch.ones(1, 1, 4, 4)
    speckle = (torch.arange(16).view(1, 1, 4, 4) % 2).float()
    assert total_variation(flat) == 0 and total_variation(speckle) > 0.9
    x = torch.zeros(1, 1, 4, 4)
    x[..., :2] = 1
    assert torch.allclose(stroke_share(flat, x), torch.tensor([0.5]))
