"""Continual (life-long) learning: task streams from mnist5k, the three scenarios of van de Ven, Tuytelaars &
Tolias (task-, domain-, class-incremental), strategies (naive, EWC, SI, replay, joint) trained through `fit`,
and the accuracy-matrix metrics."""

from mllab.continual.metrics import average_accuracy, backward_transfer, forgetting
from mllab.continual.scenarios import SCENARIOS, Scenario
from mllab.continual.strategies import (
    EWC,
    SI,
    STRATEGIES,
    Joint,
    Naive,
    Replay,
    ReplayMemory,
    fisher_diagonal,
    make_strategy,
)
from mllab.continual.streams import (
    STREAMS,
    Stream,
    Task,
    make_stream,
    permuted_stream,
    split_stream,
)
from mllab.continual.train import accuracy, train_stream

__all__ = [
    "EWC",
    "SCENARIOS",
    "SI",
    "STRATEGIES",
    "STREAMS",
    "Joint",
    "Naive",
    "Replay",
    "ReplayMemory",
    "Scenario",
    "Stream",
    "Task",
    "accuracy",
    "average_accuracy",
    "backward_transfer",
    "fisher_diagonal",
    "forgetting",
    "make_strategy",
    "make_stream",
    "permuted_stream",
    "split_stream",
    "train_stream",
]
