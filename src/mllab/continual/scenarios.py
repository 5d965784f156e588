"""The three scenarios of van de Ven, Tuytelaars & Tolias (2022), as what the network outputs and what it is
asked at test time. Tasks have k_t classes; offset_t = Σ_{s<t} k_s.

    task-incremental:   task id given; one head per task (a shared layer of Σ k_t logits, masked to the task's own)
    domain-incremental: no task id; one head of max k_t logits shared by all tasks (target: the within-task label)
    class-incremental:  no task id; one head of Σ k_t logits, trained and tested over every class seen so far
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mllab.core.errors import BadInput

SCENARIOS = ("task", "domain", "class")


@dataclass
class Scenario:
    name: str
    sizes: tuple[int, ...]  # classes per task

    def __post_init__(self) -> None:
        if self.name not in SCENARIOS:
            raise BadInput(f"scenario: unknown scenario {self.name!r}; choose one of {', '.join(SCENARIOS)}")
        self.offsets = torch.tensor([0, *self.sizes]).cumsum(0)  # (T + 1,)

    @property
    def n_outputs(self) -> int:
        return max(self.sizes) if self.name == "domain" else sum(self.sizes)

    def targets(self, y: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Within-task labels (N,) of tasks (N,) -> the class indices the head is trained on (N,)."""
        return y if self.name == "domain" else self.offsets[task] + y

    def logits(self, out: torch.Tensor, task: torch.Tensor, seen: int) -> torch.Tensor:
        """The head's output (N, n_outputs) masked to what may be answered: the sample's own task's classes
        (task-IL), every class of tasks 0..seen−1 (class-IL), or all (domain-IL); masked entries are −inf."""
        if self.name == "domain":
            return out
        cols = torch.arange(out.shape[1])
        if self.name == "task":
            lo, hi = self.offsets[task][:, None], self.offsets[task + 1][:, None]  # (N, 1)
            allowed = (cols >= lo) & (cols < hi)  # (N, n_outputs)
        else:
            allowed = (cols < self.offsets[seen]).expand(len(out), -1)
        return out.masked_fill(~allowed, float("-inf"))
