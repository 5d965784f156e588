"""Checkpoints: round trip with RNG states, atomic writes, clear errors for missing / corrupt / unsafe files."""

import os
import pickle
import random

import numpy as np
import pytest
import torch

from mllab.core.errors import BadInput
from mllab.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(3)


def test_round_trip_restores_tensors_containers_and_rng_states(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # leaves a cached Gaussian in NumPy's state
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng_state(),
               "state": {"epoch": 2, "history": "[]", "best": None, "stopped": False}}
    save_checkpoint(tmp_path / "ckpt.pt", payload)
    expected = _draws()

    loaded = load_checkpoint(tmp_path / "ckpt.pt")
    assert loaded["state"] == payload["state"]
    assert all(torch.equal(loaded["model"][k], v) for k, v in model.state_dict().items())
    assert torch.equal(loaded["optimizer"]["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    set_rng_state(loaded["rng"])
    again = _draws()
    assert again[:3] == expected[:3] and torch.equal(again[3], expected[3])
    assert _draws()[0] != expected[0]  # the draws move on: the equality above is not a constant


def test_atomic_write_leaves_only_the_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "ckpt.pt", {"w": torch.ones(3)})
    save_checkpoint(tmp_path / "ckpt.pt", {"w": torch.zeros(3)})  # overwrite
    assert os.listdir(tmp_path) == ["ckpt.pt"]
    assert torch.equal(load_checkpoint(tmp_path / "ckpt.pt")["w"], torch.zeros(3))


def test_failed_write_keeps_the_previous_checkpoint_and_no_temp_file(tmp_path):
    save_checkpoint(tmp_path / "ckpt.pt", {"w": torch.ones(3)})
    with pytest.raises(Exception):
        save_checkpoint(tmp_path / "ckpt.pt", {"w": torch.zeros(3), "bad": lambda: None})  # lambdas do not pickle
    assert os.listdir(tmp_path) == ["ckpt.pt"]
    assert torch.equal(load_checkpoint(tmp_path / "ckpt.pt")["w"], torch.ones(3))


def test_missing_checkpoint_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.0])
def test_truncated_checkpoint_is_bad_input(tmp_path, keep):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"w": torch.randn(100, 100), "rng": rng_state()})
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(BadInput, match="ckpt.pt"):
        load_checkpoint(path)


def test_garbage_file_is_bad_input(tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"this is not a checkpoint\n" * 10)
    with pytest.raises(BadInput, match="ckpt.pt"):
        load_checkpoint(path)


class _RunsCode:
    def __reduce__(self):
        return (os.mkdir, (str(_RunsCode.target),))


def test_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    _RunsCode.target = tmp_path / "was-run"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "payload": _RunsCode()}, path, pickle_module=pickle)
    with pytest.raises(BadInput, match="refusing"):
        load_checkpoint(path)
    assert not _RunsCode.target.exists()


def test_save_removes_a_temporary_file_left_by_a_killed_writer(tmp_path):
    path = tmp_path / "ckpt.pt"
    stale = tmp_path / ".ckpt.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    save_checkpoint(path, {"w": torch.zeros(2)})
    assert not stale.exists() and path.is_file()
