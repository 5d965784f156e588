"""`RankGroup` (what `Run` delegates to under torchrun) on 2 gloo ranks: collectives, DDP wrapping, the end-of-run
exchange that names the rank that failed first; `TrainClock` and `samples_in_steps` in one process."""

import time

import pytest
import torch
from torch import nn

from mllab.core.errors import BadInput
from mllab.data import TensorLoader
from mllab.train.distributed import (
    RankGroup,
    TrainClock,
    _torchrun_device,
    join_torchrun,
    launch,
    samples_in_steps,
    torchrun_rank,
    torchrun_world_size,
)


def collectives_worker(rank: int, world_size: int) -> dict:
    group = join_torchrun("cpu")  # the group `launch` joined: reused, not left by close()
    assert isinstance(group, RankGroup) and not group.owned
    total = group.all_reduce_sum([rank + 1.0, 10.0 * rank])
    gathered = group.all_gather({"rank": rank, "words": ["a"] * (rank + 1)})
    torch.manual_seed(rank)  # different initial weights per rank: DDP's broadcast makes rank 0's everyone's
    model = group.distribute(nn.Linear(3, 2))
    return {"total": total, "gathered": gathered, "weight": model.module.weight.detach().clone(),
            "rank": torchrun_rank(), "world": torchrun_world_size(), "backend": group.backend}


def test_collectives_give_every_rank_the_global_values():
    ranks = launch(collectives_worker, 2)
    for r, out in enumerate(ranks):
        assert out["rank"] == r and out["world"] == 2 and out["backend"] == "gloo"
        assert out["total"].tolist() == [3.0, 10.0]  # (1 + 2, 0 + 10) on both ranks
        assert out["total"].dtype == torch.float64
        assert out["gathered"] == [{"rank": 0, "words": ["a"]}, {"rank": 1, "words": ["a", "a"]}]
    torch.manual_seed(0)
    assert torch.equal(ranks[0]["weight"], nn.Linear(3, 2).weight.detach())  # rank 0's initialisation
    assert torch.equal(ranks[0]["weight"], ranks[1]["weight"])


def settle_worker(rank: int, world_size: int, failing: int | None) -> dict:
    group = join_torchrun("cpu")
    group.all_reduce_sum([1.0])  # both ranks in step
    error = None
    start = time.perf_counter()
    if rank == failing:
        error = {"type": "ValueError", "message": f"rank {rank} cannot go on", "traceback": "..."}
    else:
        try:
            group.all_reduce_sum([1.0])  # the failing rank never comes: it leaves the group in settle()
        except Exception as exc:  # noqa: BLE001  (gloo: "Connection closed by peer")
            error = {"type": type(exc).__name__, "message": str(exc)[:80], "traceback": ""}
    waited = time.perf_counter() - start
    settled = group.settle(error)
    group.finish()
    return {"settled": settled, "waited": waited}


@pytest.mark.parametrize("failing", [1, 0])
def test_a_failing_rank_ends_the_others_collectives_and_rank_0_names_it(failing):
    ranks = launch(settle_worker, 2, failing)
    other = 1 - failing
    assert ranks[other]["waited"] < 30  # failed within seconds (default timeout: 600 s)
    first = ranks[0]["settled"]
    assert first["type"] == "ValueError"  # the first failure, not the peer's lost connection
    assert first["message"] == ("rank 1: rank 1 cannot go on" if failing == 1 else "rank 0 cannot go on")


def test_settle_without_errors_is_none_on_every_rank():
    ranks = launch(settle_worker, 2, None)
    assert [r["settled"] for r in ranks] == [None, None]


def sharded_fit_worker(rank: int, world_size: int) -> torch.Tensor:
    """The README's recipe: run.distribute + a sharded TensorLoader + fit."""
    from mllab.train import fit
    from mllab.train.losses import cross_entropy_sum

    group = join_torchrun("cpu")
    x, y = torch.randn(40, 5, generator=torch.Generator().manual_seed(0)), torch.arange(40) % 3
    torch.manual_seed(1)
    model = nn.Linear(5, 3)
    loader = TensorLoader((x, y), 8 // world_size, seed=2, rank=group.rank, world_size=group.world_size)
    fit(group.distribute(model), cross_entropy_sum, loader, torch.optim.SGD(model.parameters(), lr=0.5), epochs=3)
    return model.weight.detach().clone()


def test_distributed_fit_equals_one_process_with_the_global_batch():
    from mllab.train import fit
    from mllab.train.losses import cross_entropy_sum

    ranks = launch(sharded_fit_worker, 2)
    x, y = torch.randn(40, 5, generator=torch.Generator().manual_seed(0)), torch.arange(40) % 3
    torch.manual_seed(1)
    model = nn.Linear(5, 3)
    start = model.weight.detach().clone()
    fit(model, cross_entropy_sum, TensorLoader((x, y), 8, seed=2), torch.optim.SGD(model.parameters(), lr=0.5),
        epochs=3)
    assert (model.weight - start).abs().max() > 0.05  # it trained
    assert torch.equal(ranks[0], ranks[1])
    torch.testing.assert_close(ranks[0], model.weight.detach(), rtol=0, atol=1e-6)


def test_outside_torchrun_there_is_no_world(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert torchrun_world_size() is None and torchrun_rank() == 0
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert torchrun_world_size() == 3 and torchrun_rank() == 1


def test_device_choice_under_torchrun():
    assert _torchrun_device("cpu", 1) == torch.device("cpu")
    if not torch.cuda.is_available():
        assert _torchrun_device("auto", 1) == torch.device("cpu")
        with pytest.raises(BadInput, match="CUDA is not available"):
            _torchrun_device("cuda", 0)
    with pytest.raises(BadInput, match="--device"):
        _torchrun_device("tpu", 0)


def test_a_bad_timeout_is_bad_input(monkeypatch):
    monkeypatch.setenv("MLLAB_DIST_TIMEOUT", "soon")
    with pytest.raises(BadInput, match="MLLAB_DIST_TIMEOUT"):
        join_torchrun("cpu")


def test_samples_in_steps_counts_what_the_loader_feeds():
    for n, batch, steps in ((100, 64, 8), (3500, 64, 150), (96, 32, 3), (10, 3, 7)):
        loader = TensorLoader((torch.arange(n),), batch, seed=0)
        fed, left = 0, steps
        while left:
            for (b,) in loader:
                fed, left = fed + len(b), left - 1
                if not left:
                    break
        assert samples_in_steps(n, batch, steps) == fed, (n, batch, steps)


def test_train_clock_sums_the_timed_blocks():
    clock = TrainClock(torch.device("cpu"))
    assert clock.rate() == 0.0
    for _ in range(2):
        with clock:
            time.sleep(0.05)
    clock.samples = 30
    assert 0.1 <= clock.seconds < 1.0
    assert clock.rate() == pytest.approx(30 / clock.seconds)
