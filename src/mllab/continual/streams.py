"""Task streams from mnist5k (3,500 train / 750 test images, flattened to 784, split by `seed`).

split:    the 10 digits cut into `n_tasks` groups in order (5 tasks: 0/1, 2/3, 4/5, 6/7, 8/9);
permuted: every task holds all 10 digits with its own fixed pixel permutation (task 0: the identity).
Each task's labels are *within-task* indices 0..k−1; a `Scenario` turns them into the targets it trains on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mllab.core.errors import BadInput
from mllab.data import Split, load_dataset

STREAMS = ("split", "permuted")


@dataclass
class Task:
    index: int
    classes: tuple[int, ...]  # original digits, in within-task label order
    train: Split  # x (N, 784), y (N,) within-task labels 0..len(classes)−1
    test: Split


@dataclass
class Stream:
    name: str
    tasks: list[Task]

    @property
    def sizes(self) -> list[int]:
        """Classes per task."""
        return [len(t.classes) for t in self.tasks]

    def __len__(self) -> int:
        return len(self.tasks)


def _select(split: Split, classes: tuple[int, ...]) -> Split:
    keep = torch.isin(split.y, torch.tensor(classes))
    y = split.y[keep]
    within = torch.zeros_like(y)
    for k, c in enumerate(classes):
        within[y == c] = k
    return Split(split.x[keep], within)


def split_stream(n_tasks: int = 5, seed: int = 0) -> Stream:
    """Split mnist5k: digits 0..9 cut in order into `n_tasks` groups of (nearly) equal size."""
    if not 1 <= n_tasks <= 10:
        raise BadInput(f"tasks: {n_tasks} tasks cannot each get at least one of the 10 digits (a task would be "
                       "empty); use 1..10")
    data = load_dataset("mnist5k", seed=seed)
    groups = [tuple(int(c) for c in g) for g in np.array_split(np.arange(10), n_tasks)]
    return Stream("split mnist5k", [Task(i, g, _select(data.train, g), _select(data.test, g))
                                    for i, g in enumerate(groups)])


def permuted_stream(n_tasks: int = 5, seed: int = 0) -> Stream:
    """Permuted mnist5k: task i's images have their 784 pixels in a fixed random order (task 0 unpermuted)."""
    if n_tasks < 1:
        raise BadInput(f"tasks: must be >= 1, got {n_tasks}")
    data = load_dataset("mnist5k", seed=seed)
    g = torch.Generator().manual_seed(seed + 7919)
    tasks = []
    for i in range(n_tasks):
        perm = torch.arange(784) if i == 0 else torch.randperm(784, generator=g)
        tasks.append(Task(i, tuple(range(10)), Split(data.train.x[:, perm], data.train.y),
                          Split(data.test.x[:, perm], data.test.y)))
    return Stream("permuted mnist5k", tasks)


def make_stream(name: str, n_tasks: int = 5, seed: int = 0) -> Stream:
    if name not in STREAMS:
        raise BadInput(f"stream: unknown task stream {name!r}; choose one of {', '.join(STREAMS)}")
    return split_stream(n_tasks, seed) if name == "split" else permuted_stream(n_tasks, seed)
