"""Glue shared by the lifelong experiments: one strategy over one stream, seeded, returning R; the datasets the
streams may come from; the judged seeds."""

from __future__ import annotations

import numpy as np
import torch

from mllab.continual import Scenario, Stream, make_strategy, train_stream
from mllab.core.seeding import derive_seed
from mllab.data.images import IMAGE_DATASETS
from mllab.models.mlp import MLP

DATASETS = IMAGE_DATASETS  # mnist5k (bundled), mnist / cifar10 (files in --data-dir): an MLP takes any of them

# van de Ven, Siegelmann & Tolias, ICLR-2019 submission of arXiv 1809.10635, Table 3: split MNIST, average
# accuracy (%) over the 5 tasks after the last one, 20 seeds, MLP 2×400 (REFERENCES.md §5b). "Offline" is joint.
PUBLISHED_SPLIT_MNIST = {
    "naive": {"task": 85.15, "domain": 57.33, "class": 19.90},
    "ewc": {"task": 85.48, "domain": 57.80, "class": 19.90},
    "si": {"task": 99.14, "domain": 63.77, "class": 20.04},
    "joint": {"task": 99.64, "domain": 98.41, "class": 97.93},
}
PUBLISHED_SOURCE = "van de Ven et al., arXiv 1809.10635 (ICLR-2019 submission), Table 3, split MNIST"


def run_strategy(stream: Stream, scenario_name: str, strategy: str, *, seed: int, width: int, epochs: int,
                 lr: float, batch_size: int, ewc_strength: float = 0.0, si_strength: float = 0.0,
                 memory_size: int = 0) -> np.ndarray:
    """R (T, T) of `strategy` on `stream` in scenario `scenario_name`; an MLP (D → width → width → outputs, D = 784
    for mnist5k / MNIST, 3,072 for CIFAR-10) initialised from `seed` (the same initial weights for every strategy
    of that seed)."""
    scenario = Scenario(scenario_name, tuple(stream.sizes))
    torch.manual_seed(seed)
    model = MLP(stream.n_inputs, scenario.n_outputs, width=width, depth=2)
    chosen = make_strategy(strategy, scenario, ewc_strength=ewc_strength, si_strength=si_strength,
                           memory_size=memory_size, seed=seed)
    return train_stream(model, stream, scenario, chosen, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)


def judged_seeds(run_seed: int, n: int) -> list[int]:
    """The seeds the verdict uses: derive_seed(--seed, "judge", i), i < n (each draws the split, the permutations,
    the initial weights and the batches; no hyperparameter is tuned on them)."""
    return [derive_seed(run_seed, "judge", i) for i in range(n)]
