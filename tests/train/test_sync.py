"""`fit` reads no tensor on the host per step: on a GPU each such read would make the CPU wait for the device.

Counted on CPU by wrapping every Tensor method that hands a value to Python (item, tolist, float(t), bool(t), ...):
the count must grow with the logging points (epoch ends, checkpoints, log_every), not with the steps.
"""

import collections

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import TrainingError
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
    assert few == 2 * per_epoch  # the final read finds the sums of a finished epoch: floats already


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
    # three reads a step checkpoint (the finiteness check, the two parts of the sum in the FitState record): 20
    # step saves against 4; an epoch-end save reads nothing more (the epoch's sum was just read and reset)
    assert every_5 - every_25 == 3 * (20 - 4)
    assert every_25 - without == 3 * 4


def test_a_tensor_item_count_is_read_in_the_first_group_of_each_epoch_only(host_reads):
    tensor_count = lambda m, b: (ce_sum(m, b)[0], torch.tensor(len(b[1])))  # noqa: E731
    base = reads_of(host_reads, epochs=2, steps=50)
    assert reads_of(host_reads, epochs=2, steps=50, loss_fn=tensor_count) == base + 2


def test_a_callback_that_needs_floats_syncs_itself_and_still_stops_fit():
    """StepsToTarget reads its measure every `every` steps (its choice); it still stops fit at the target."""
    tracker = StepsToTarget(lambda m: -float("inf"), target=0.0, every=5, below=True)  # reached at its first look
    state = train(epochs=2, steps=50, callbacks=[tracker])
    assert tracker.steps == state.global_step == 5


def test_steps_to_target_raises_at_its_next_look_when_the_loss_is_not_finite():
    """StepsToTarget already syncs when it measures, so it checks the running loss there: a diverged run stops
    within `every` steps, as it did when fit read every loss (helpers.fit_until counts it as never reached)."""
    calls = []

    def nan_from_step_7(m, b):
        calls.append(1)
        loss_sum, n = ce_sum(m, b)
        return (loss_sum * float("nan") if len(calls) >= 7 else loss_sum), n

    tracker = StepsToTarget(lambda m: 1.0, target=0.0, every=5, below=True)
    with pytest.raises(TrainingError, match=r"StepsToTarget.*step 10\b"):
        train(epochs=2, steps=50, loss_fn=nan_from_step_7, callbacks=[tracker])
    assert [step for step, _ in tracker.curve] == [5]
