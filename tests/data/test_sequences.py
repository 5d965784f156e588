"""Synthetic sequence tasks: the known answer is where the docstring says."""

import pytest
import torch

from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed
from mllab.data.sequences import IGNORE, distance_task, local_task, position_task


def test_distance_task_label_is_the_value_at_distance_d():
    data = distance_task(200, 16, classes=3, seed=1)
    for row in range(200):
        q = int((data.labels[row] != IGNORE).nonzero()[0])
        values = ((data.tokens[row] >= 2) & (data.tokens[row] < 5)).nonzero().flatten()
        assert len(values) == 1 and abs(int(values[0]) - q) == int(data.distance[row])
        assert int(data.tokens[row, values[0]]) - 2 == int(data.labels[row, q])
    again = distance_task(200, 16, classes=3, seed=1)
    assert torch.equal(again.tokens, data.tokens)
    near = distance_task(300, 32, log_uniform=True, seed=2).distance
    assert near.min() >= 1 and near.max() <= 31 and (near <= 3).float().mean() > 0.2


def test_position_and_local_tasks():
    pos = position_task(5, 9, classes=4)
    assert pos.labels[0].tolist() == [IGNORE, 0, 0, 1, 1, 2, 2, 3, 3] and (pos.tokens[:, 0] == 0).all()
    loc = local_task(4, 6, classes=4, seed=3)
    assert torch.equal(loc.labels[:, 1:], loc.tokens[:, :-1] - 1) and (loc.labels[:, 0] == 0).all()


def test_bad_sizes():
    with pytest.raises(BadInput, match="max_distance"):
        distance_task(3, 8, max_distance=8)
    with pytest.raises(BadInput, match="length"):
        position_task(3, 2)


@pytest.mark.parametrize("make", [distance_task, position_task, local_task])
def test_tasks_take_a_derived_63_bit_seed(make):
    seed = derive_seed(2**32 - 1, "judge", 0, "train")  # what the attention experiments pass: up to 2⁶³ − 1
    assert torch.equal(make(20, 12, seed=seed).tokens, make(20, 12, seed=seed).tokens)
