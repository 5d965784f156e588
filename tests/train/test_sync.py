"""`fit` reads no tensor on the host per step: on a GPU each such read would make the CPU wait for the device.

Counted on CPU by wrapping every Tensor method that hands a value to Python (item, tolist, float(t), bool(t), ...):
the count must grow with the logging points (epoch ends, checkpoints, log_every), not with the steps.
"""

import collections

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mllab.data import TensorLoader
from mllab.train import fit
from mllab.train.callbacks import StepsToTarget

HOST_READS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


@pytest.fixture
def host_reads(monkeypatch) -> collections.Counter:
    """Counts calls of the Tensor methods that read a value on the host (a sync on a GPU) while the test runs."""
    counts: collections.Counter = collections.Counter()
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    return counts


def ce_sum(model: nn.Module, batch) -> tuple[torch.Tensor, int]:
    x, y = batch
    return F.cross_entropy(model(x), y, reduction="sum"), len(y)


def train(epochs: int, steps: int, accum_steps: int = 1, **kwargs):
    """An MLP trained by fit for `epochs` epochs of `steps` optimizer steps; SGD momentum, clipping, a schedule."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4 * steps * accum_steps, 5, generator=g), torch.randint(0, 3, (4 * steps * accum_steps,),
                                                                                generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.9)
    kwargs = {"loss_fn": ce_sum, **kwargs}
    return fit(model, kwargs.pop("loss_fn"), TensorLoader((x, y), 4, seed=1), optimizer, epochs=epochs,
               accum_steps=accum_steps, scheduler=scheduler, clip_grad_norm=1.0, **kwargs)


def reads_of(host_reads: collections.Counter, **kwargs) -> int:
    host_reads.clear()
    train(**kwargs)
    return sum(host_reads.values())


@pytest.mark.parametrize("accum_steps", [1, 3])
def test_host_reads_grow_with_epochs_not_with_steps(host_reads, accum_steps):
    few = reads_of(host_reads, epochs=2, steps=10, accum_steps=accum_steps)
    many = reads_of(host_reads, epochs=2, steps=50, accum_steps=accum_steps)
    assert many == few  # 80 more steps, not one more read
    per_epoch = reads_of(host_reads, epochs=3, steps=10, accum_steps=accum_steps) - few
    assert per_epoch == 1  # the epoch's Σ loss: its mean and its finiteness check (no evaluate here)
    assert few == 2 * per_epoch + 1  # and the final read, which leaves plain floats in the FitState


def test_the_count_itself_sees_a_per_step_read(host_reads):
    """The counter works: a callback that reads the weights every step adds one read per step."""

    class ReadsEveryStep:
        def on_step_end(self, state, model):
            float(model[0].weight[0, 0].detach())

    base = reads_of(host_reads, epochs=2, steps=50)
    assert reads_of(host_reads, epochs=2, steps=50, callbacks=[ReadsEveryStep()]) == base + 100


def test_log_every_reads_once_per_logging_point(host_reads):
    logged = []

    class Run:
        def log_metrics(self, **values):
            logged.append(values)

    base = reads_of(host_reads, epochs=2, steps=50)
    assert reads_of(host_reads, epochs=2, steps=50, log_every=10, run=Run()) == base + 10
    running = [v for v in logged if "running_train_loss" in v]
    epochs = [v for v in logged if "train_loss" in v]
    assert [v["step"] for v in running] == list(range(10, 101, 10)) and len(epochs) == 2
    # the running mean at an epoch's last step is that epoch's mean training loss
    assert [v["running_train_loss"] for v in running if v["step"] % 50 == 0] == [v["train_loss"] for v in epochs]


def test_each_checkpoint_reads_the_loss_and_nothing_more_per_step(host_reads, tmp_path):
    without = reads_of(host_reads, epochs=2, steps=50)
    every_25 = reads_of(host_reads, epochs=2, steps=50, checkpoint_path=tmp_path / "a.pt", checkpoint_every=25)
    every_5 = reads_of(host_reads, epochs=2, steps=50, checkpoint_path=tmp_path / "b.pt", checkpoint_every=5)
    # three reads a checkpoint (the finiteness check, the two parts of the sum in the FitState record): 20 step
    # saves against 4, and 2 at the epochs' ends
    assert every_5 - every_25 == 3 * (20 - 4)
    assert every_25 - without == 3 * (4 + 2)


def test_tensor_item_counts_are_read_in_the_first_group_of_each_epoch_only(host_reads):
    """A count that is a tensor (loss_fn's, count_items' or both) stays on the device; fit compares loss_fn's
    with count_items' in an epoch's first group (a read each) and reads Σ items at the epoch's end."""
    tensor_count = lambda m, b: (ce_sum(m, b)[0], torch.tensor(len(b[1])))  # noqa: E731
    count_tensor = lambda b: torch.tensor(len(b[1]))  # noqa: E731
    base = reads_of(host_reads, epochs=2, steps=50)
    assert reads_of(host_reads, epochs=2, steps=50, loss_fn=tensor_count) == base + 2  # 1 per epoch
    both = reads_of(host_reads, epochs=2, steps=50, loss_fn=tensor_count, count_items=count_tensor)
    assert both == reads_of(host_reads, epochs=2, steps=10, loss_fn=tensor_count, count_items=count_tensor)
    assert both == base + 2 * (2 + 1)  # per epoch: the two counts compared, and Σ items


def ddp_worker(rank: int, world_size: int) -> dict[str, torch.Tensor]:
    from torch.nn.parallel import DistributedDataParallel

    results = {}
    for name, count in (("int", lambda b: len(b[1])), ("tensor", lambda b: torch.tensor(len(b[1])))):
        g = torch.Generator().manual_seed(rank)
        x, y = torch.randn(30 + 6 * rank, 5, generator=g), torch.randint(0, 3, (30 + 6 * rank,), generator=g)
        torch.manual_seed(0)
        model = DistributedDataParallel(nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)))
        state = fit(model, ce_sum, TensorLoader((x, y), 4, seed=1), torch.optim.SGD(model.parameters(), lr=0.1),
                    epochs=2, accum_steps=3, count_items=count)
        results.update({f"{name}.{k}": v for k, v in model.module.state_dict().items()})
        results[f"{name}.train_loss"] = torch.tensor([h["train_loss"] for h in state.history], dtype=torch.float64)
    return results


def test_tensor_item_counts_under_ddp_train_bit_for_bit_like_int_counts():
    """Unequal shards (30 and 36 samples): N_group = Σ_ranks n is all-reduced as a tensor either way."""
    from mllab.train.distributed import launch

    ranks = launch(ddp_worker, 2)
    for result in ranks:
        names = [k.split(".", 1)[1] for k in result if k.startswith("int.")]
        assert all(torch.equal(result[f"int.{k}"], result[f"tensor.{k}"]) for k in names)
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])


def test_a_callback_that_needs_floats_reads_them_itself(host_reads):
    """StepsToTarget reads floats when it measures (every `every` steps: its caller's choice), fit no more."""
    base = reads_of(host_reads, epochs=2, steps=50)
    tracker = StepsToTarget(lambda m: torch.tensor(1.0), target=0.0, every=5, below=True)  # never reached
    assert reads_of(host_reads, epochs=2, steps=50, callbacks=[tracker]) == base + 20 * 2  # loss check, measure
    assert len(tracker.curve) == 20 and tracker.steps is None
    tracker = StepsToTarget(lambda m: -float("inf"), target=0.0, every=5, below=True)  # reached at its first look
    assert train(epochs=2, steps=50, callbacks=[tracker]).global_step == tracker.steps == 5
