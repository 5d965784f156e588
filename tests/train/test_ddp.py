"""2-rank gloo DDP `fit` equals one process that sees the combined batch (float64)."""

import pytest
import torch
from torch import nn
from torch.multiprocessing import ProcessRaisedException
from torch.nn.parallel import DistributedDataParallel

from mllab.data import TensorLoader
from mllab.train import fit
from mllab.train.distributed import init_distributed, launch

N, FEATURES, CLASSES, EPOCHS = 32, 5, 3, 2


def make_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, FEATURES, generator=g, dtype=torch.float64), torch.randint(0, CLASSES, (N,), generator=g)


def make_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(FEATURES, 8), nn.Tanh(), nn.Linear(8, CLASSES)).double()


def loss_fn(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y, reduction="sum"), len(y)


def train(model: nn.Module, loader, accum_steps: int) -> dict[str, torch.Tensor]:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    state = fit(model, loss_fn, loader, optimizer, epochs=EPOCHS, accum_steps=accum_steps)
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    weights = {k: v.detach().clone() for k, v in inner.state_dict().items()}
    weights["train_loss"] = torch.tensor([h["train_loss"] for h in state.history], dtype=torch.float64)
    return weights  # the epochs' mean training loss rides along: it must be the global one on every rank


def unequal_shards(rank: int) -> TensorLoader:
    """Rank 0 holds 12 samples cut 1,5,1,5; rank 1 holds 20 cut 7,3,7,3: unequal shards and batches."""
    x, y = make_data()
    part = slice(0, 12) if rank == 0 else slice(12, 32)
    return TensorLoader((x[part], y[part]), 1, shuffle=False, batch_sizes=(1, 5) if rank == 0 else (7, 3))


def ddp_worker(rank: int, world_size: int) -> dict[str, dict[str, torch.Tensor]]:
    x, y = make_data()
    results = {}
    for name, accum_steps in (("k1", 1), ("k2", 2)):
        loader = TensorLoader((x, y), 4, seed=3, rank=rank, world_size=world_size)
        results[name] = train(DistributedDataParallel(make_model()), loader, accum_steps)
    results["unequal"] = train(DistributedDataParallel(make_model()), unequal_shards(rank), 2)
    return results


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_two_rank_ddp_equals_one_process_with_the_combined_batch():
    ranks = launch(ddp_worker, 2)
    x, y = make_data()
    # 2 ranks x batch 4 x k -> one process with batch 8k; same shuffle seed, so the same samples per step.
    single = {name: train(make_model(), TensorLoader((x, y), 8 * k, seed=3), 1) for name, k in (("k1", 1), ("k2", 2))}
    # unequal shards: the step's batch is rank 0's group + rank 1's group (6 + 10 samples).
    steps = [list(range(0, 6)) + list(range(12, 22)), list(range(6, 12)) + list(range(22, 32))]
    single["unequal"] = train(make_model(), [(x[rows], y[rows]) for rows in steps], 1)
    untrained = dict(make_model().state_dict(), train_loss=torch.zeros(EPOCHS, dtype=torch.float64))
    for name in ("k1", "k2", "unequal"):
        assert max_diff(ranks[0][name], ranks[1][name]) == 0.0, f"{name}: replicas diverged"
        assert max_diff(single[name], untrained) > 1e-2, f"{name}: training did not move the weights"
        assert max_diff(ranks[0][name], single[name]) < 1e-10, name


def test_init_distributed_without_torchrun_is_single_process(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert init_distributed("gloo") == (0, 1, torch.device("cpu"))


def failing_worker(rank: int, world_size: int) -> None:
    raise ValueError(f"rank {rank} cannot go on")


def test_a_failing_rank_raises_in_the_caller_with_its_message():
    with pytest.raises(ProcessRaisedException, match="cannot go on"):
        launch(failing_worker, 2)
