"""The five-in-a-row board task: on a size × size board, find the one empty cell that completes five in a row for
the player to move. In the spirit of Go programs (AlphaGo feeds board features as input channels), a position is

    x (3, size, size): channel 0 the mover's stones, 1 the opponent's, 2 the empty cells (0/1 floats)
    y: the answer's cell index row · size + col

Each position holds the mover's four-with-a-gap on a random line (row, column or diagonal), plus distractors:
scattered stones of both players and, half of the time, an opponent's four-with-a-gap (its gap completes the
opponent's five, not the mover's). Positions are rejected until the answer is the *only* empty cell that gives
the mover five (or more) in a row and nobody has five yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from mllab.core.errors import BadInput

DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))  # → ↓ ↘ ↙


@dataclass
class BoardTask:
    x: torch.Tensor  # (N, 3, size, size) float32: mover, opponent, empty
    y: torch.Tensor  # (N,) int64: answer cell row · size + col
    size: int

    def __len__(self) -> int:
        return len(self.y)


@cache
def windows(size: int) -> np.ndarray:
    """(W, 5) flat cell indices of every five-cell line segment of the board."""
    out = []
    for dr, dc in DIRECTIONS:
        for r in range(size):
            for c in range(size):
                cells = [(r + k * dr, c + k * dc) for k in range(5)]
                if all(0 <= rr < size and 0 <= cc < size for rr, cc in cells):
                    out.append([rr * size + cc for rr, cc in cells])
    return np.array(out, dtype=np.int64)


def winning_cells(mover: np.ndarray, opponent: np.ndarray, size: int) -> np.ndarray:
    """(N, size²) bool: empty cells where a mover's stone makes five or more in a row. mover, opponent (N, size²)
    0/1. A cell completes five iff some five-cell segment through it holds the mover's four other stones."""
    seg = windows(size)  # (W, 5)
    own, empty = mover[:, seg], 1 - mover[:, seg] - opponent[:, seg]  # (N, W, 5)
    ready = (own.sum(-1) == 4) & (empty.sum(-1) == 1)  # (N, W): four of the mover and one empty cell
    wins = np.zeros(mover.shape, dtype=bool)
    n_idx, w_idx = np.nonzero(ready)
    gap = seg[w_idx, np.argmax(empty[n_idx, w_idx], axis=-1)]  # the empty cell of each ready segment
    wins[n_idx, gap] = True
    return wins


def has_five(stones: np.ndarray, size: int) -> np.ndarray:
    """(N,) bool: the player already has five in a row."""
    return (stones[:, windows(size)].sum(-1) == 5).any(-1)


def _line(rng: np.random.Generator, size: int) -> np.ndarray:
    """The five cells of a random segment."""
    seg = windows(size)
    return seg[rng.integers(len(seg))]


def make_board_task(n: int, size: int = 9, *, seed: int = 0, distractors: tuple[int, int] = (4, 10),
                    decoy: float = 0.5, device: torch.device | str = "cpu") -> BoardTask:
    """`n` positions on a `size` × `size` board drawn from `seed`; each side gets U{distractors} scattered stones
    besides its lines; with probability `decoy` the opponent has a four-with-a-gap too."""
    if size < 5:
        raise BadInput(f"board size: a {size}×{size} board cannot hold five in a row; use size >= 5")
    if n < 1:
        raise BadInput(f"board positions: must be >= 1, got {n}")
    low, high = distractors
    if not 0 <= low <= high or 2 * high + 10 > size * size // 2:
        raise BadInput(f"distractors: need 0 <= low <= high and room on the board (2·high + 10 <= {size * size // 2}), "
                       f"got {distractors}; use fewer distractor stones or a larger board")
    rng = np.random.default_rng(seed)
    cells = size * size
    xs, ys = [], []
    while len(ys) < n:
        mover, opponent = np.zeros(cells, np.int64), np.zeros(cells, np.int64)
        line = _line(rng, size)
        answer = line[rng.integers(5)]
        mover[line[line != answer]] = 1  # the mover's four with one gap
        if rng.random() < decoy:  # the opponent's four with a gap: its gap is a wrong answer
            seg = _line(rng, size)
            free = seg[(mover[seg] == 0) & (seg != answer)]
            if len(free) == 5:
                gap = seg[rng.integers(5)]
                opponent[seg[seg != gap]] = 1
        for stones, count in ((mover, rng.integers(low, high + 1)), (opponent, rng.integers(low, high + 1))):
            empty = np.flatnonzero((mover == 0) & (opponent == 0) & (np.arange(cells) != answer))
            stones[rng.choice(empty, size=min(count, len(empty)), replace=False)] = 1
        m, o = mover[None], opponent[None]
        wins = winning_cells(m, o, size)[0]
        if has_five(m, size)[0] or has_five(o, size)[0] or wins.sum() != 1 or not wins[answer]:
            continue  # not a unique answer: draw again
        xs.append(np.stack([mover, opponent, 1 - mover - opponent]).reshape(3, size, size))
        ys.append(answer)
    x = torch.as_tensor(np.stack(xs), dtype=torch.float32, device=device)  # (N, 3, size, size)
    return BoardTask(x, torch.as_tensor(np.array(ys), dtype=torch.int64, device=device), size)


@torch.no_grad()
def top1_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of per-cell logits (N, size²) against answers y (N,), ties broken uniformly at random (in
    expectation): a model whose pooled logits are equal over a block of cells gets 1/block, not the luck of
    arg-max's first index."""
    best = logits == logits.max(dim=1, keepdim=True).values  # (N, cells): the tied maxima
    hit = best.gather(1, y[:, None]).squeeze(1).float()  # answer among the maxima?
    return float((hit / best.sum(1)).mean())
