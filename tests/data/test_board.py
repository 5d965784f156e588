"""The five-in-a-row board task: every answer completes five and is the only such cell."""

import numpy as np
import pytest
import torch

from mllab.core.errors import BadInput
from mllab.data.board import make_board_task, top1_accuracy


def brute_force_wins(mover: np.ndarray, opponent: np.ndarray) -> set[tuple[int, int]]:
    size, wins = len(mover), set()
    for r in range(size):
        for c in range(size):
            if mover[r, c] or opponent[r, c]:
                continue
            board = mover.copy()
            board[r, c] = 1
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                run = 1
                for sign in (1, -1):
                    rr, cc = r + sign * dr, c + sign * dc
                    while 0 <= rr < size and 0 <= cc < size and board[rr, cc]:
                        run, rr, cc = run + 1, rr + sign * dr, cc + sign * dc
                if run >= 5:
                    wins.add((r, c))
    return wins


@pytest.mark.parametrize("size", [5, 9, 11])
def test_every_answer_is_the_unique_winning_cell(size):
    task = make_board_task(60, size, seed=size, distractors=(0, 0) if size == 5 else (4, 10))
    assert task.x.shape == (60, 3, size, size)
    for x, y in zip(task.x.numpy().astype(int), task.y.tolist()):
        assert (x.sum(0) == 1).all()  # mover, opponent, empty: one-hot per cell
        assert brute_force_wins(x[0], x[1]) == {divmod(y, size)}


def test_seeded():
    a, b = make_board_task(20, seed=1), make_board_task(20, seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(make_board_task(20, seed=2).x, a.x)


@pytest.mark.parametrize("kwargs,field", [(dict(size=4), "size"), (dict(n=0), "positions"),
                                          (dict(distractors=(5, 2)), "distractors")])
def test_bad_input(kwargs, field):
    args = dict(n=10, size=9) | kwargs
    with pytest.raises(BadInput, match=field):
        make_board_task(args.pop("n"), args.pop("size"), **args)


def test_top1_breaks_ties_uniformly():
    logits = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 2.0, 1.0, 0.0]])
    assert top1_accuracy(logits, torch.tensor([0, 1])) == pytest.approx((0.5 + 1.0) / 2)
