"""Task streams from an image dataset (`mllab.data.images`): mnist5k by default (3,500 train / 750 test images,
split by `seed`), or the user's MNIST / CIFAR-10 files (`dataset="mnist" | "cifar10"`, `data_dir`). Images are
flattened, x (N, C·H·W): 784 values for mnist5k / MNIST, 3,072 for CIFAR-10 (channel-major).

split:    the 10 classes cut into `n_tasks` groups in order (5 tasks: 0/1, 2/3, 4/5, 6/7, 8/9);
permuted: every task holds all 10 classes with its own fixed permutation of the H·W pixel positions (task 0:
          the identity; a colour pixel keeps its channels together, so the permutation is defined on any image).
Each task's labels are *within-task* indices 0..k−1; a `Scenario` turns them into the targets it trains on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mllab.core.errors import BadInput
from mllab.core.seeding import derive_seed
from mllab.data import Dataset, Split
from mllab.data.images import IMAGE_DATASETS, check_image_dataset, load_images

STREAMS = ("split", "permuted")


@dataclass
class Task:
    index: int
    classes: tuple[int, ...]  # original digits, in within-task label order
    train: Split  # x (N, C·H·W), y (N,) within-task labels 0..len(classes)−1
    test: Split


@dataclass
class Stream:
    name: str
    tasks: list[Task]

    @property
    def n_inputs(self) -> int:
        """Values per flattened image (784 for mnist5k / MNIST, 3,072 for CIFAR-10)."""
        return int(self.tasks[0].train.x.shape[1])

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


def _images(dataset: str, seed: int, data_dir: str | Path | None) -> Dataset:
    check_image_dataset(dataset, IMAGE_DATASETS)
    return load_images(seed=seed, name=dataset, data_dir=data_dir)  # x (N, C, H, W)


def split_stream(n_tasks: int = 5, seed: int = 0, dataset: str = "mnist5k",
                 data_dir: str | Path | None = None) -> Stream:
    """Split `dataset` (mnist5k, or MNIST / CIFAR-10 from `data_dir`): classes 0..9 cut in order into `n_tasks`
    groups of (nearly) equal size; x flattened to (N, C·H·W)."""
    if not 1 <= n_tasks <= 10:
        raise BadInput(f"tasks: {n_tasks} tasks cannot each get at least one of the 10 classes (a task would be "
                       "empty); use 1..10")
    data = _images(dataset, seed, data_dir)
    train, test = (Split(s.x.flatten(1), s.y) for s in (data.train, data.test))  # (N, C·H·W)
    groups = [tuple(int(c) for c in g) for g in np.array_split(np.arange(10), n_tasks)]
    return Stream(f"split {dataset}", [Task(i, g, _select(train, g), _select(test, g))
                                       for i, g in enumerate(groups)])


def permuted_stream(n_tasks: int = 5, seed: int = 0, dataset: str = "mnist5k",
                    data_dir: str | Path | None = None) -> Stream:
    """Permuted `dataset`: task i's images have their H·W pixel positions in a fixed random order (task 0
    unpermuted; the permutations drawn from `derive_seed(seed, "permutations")`); x flattened to (N, C·H·W)."""
    if n_tasks < 1:
        raise BadInput(f"tasks: must be >= 1, got {n_tasks}")
    data = _images(dataset, seed, data_dir)
    _, C, H, W = data.train.x.shape
    g = torch.Generator().manual_seed(derive_seed(seed, "permutations"))
    tasks = []
    for i in range(n_tasks):
        perm = torch.arange(H * W) if i == 0 else torch.randperm(H * W, generator=g)

        def moved(split: Split, perm: torch.Tensor = perm) -> Split:
            return Split(split.x.reshape(-1, C, H * W)[..., perm].flatten(1), split.y)  # (N, C·H·W)

        tasks.append(Task(i, tuple(range(10)), moved(data.train), moved(data.test)))
    return Stream(f"permuted {dataset}", tasks)


def make_stream(name: str, n_tasks: int = 5, seed: int = 0, dataset: str = "mnist5k",
                data_dir: str | Path | None = None) -> Stream:
    if name not in STREAMS:
        raise BadInput(f"stream: unknown task stream {name!r}; choose one of {', '.join(STREAMS)}")
    make = split_stream if name == "split" else permuted_stream
    return make(n_tasks, seed, dataset, data_dir)
