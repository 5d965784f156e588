"""Resume through the public `fit` with loaders that draw their order from their own torch.Generator, and
checkpoints of torch.compile / DDP models.

A DataLoader with a seeded generator (what PyTorch's reproducibility notes advise) resumes bit for bit, at an
epoch boundary and mid-epoch; a sampler whose state fit cannot see is refused with one BadInput. Checkpoints
hold unprefixed keys whatever wraps the model (torch.compile, DDP, both nestings), so they load across them.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import (BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SubsetRandomSampler,
                              TensorDataset, WeightedRandomSampler)

from mllab.core.errors import BadInput
from mllab.train import fit, load_checkpoint
from mllab.train.checkpoint import LoaderOrder, is_ddp, unwrap_model

N, FEATURES, CLASSES, BATCH = 44, 5, 3, 4  # 11 batches an epoch
EPOCHS = 4


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, FEATURES, generator=g), torch.randint(0, CLASSES, (N,), generator=g)


def model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(FEATURES, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, CLASSES))


def ce_sum(m: nn.Module, batch) -> tuple[torch.Tensor, int]:
    x, y = batch
    return F.cross_entropy(m(x), y, reduction="sum"), len(y)


class NoisyDataset(Dataset):
    """Adds noise drawn from its own generator to each sample (an augmentation): the order of the draws matters."""

    def __init__(self):
        self.x, self.y = data()
        self.generator = torch.Generator().manual_seed(5)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int):
        return self.x[i] + 0.1 * torch.randn(FEATURES, generator=self.generator), self.y[i]


class HiddenStateSampler(Sampler):
    """Shuffles from a generator fit cannot see (no `generator` attribute)."""

    def __init__(self, n: int):
        self.n, self._rng = n, torch.Generator().manual_seed(9)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self._rng).tolist())


class VisibleStateSampler(HiddenStateSampler):
    """The same sampler, its generator exposed as `generator`: fit saves and restores it."""

    @property
    def generator(self) -> torch.Generator:
        return self._rng


def g(seed: int = 123) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


LOADERS = {  # each a fresh loader whose order comes from its own seeded generator(s)
    "DataLoader(generator=)": lambda ds: DataLoader(ds, batch_size=BATCH, shuffle=True, generator=g()),
    "DataLoader(generator=), 2 workers": lambda ds: DataLoader(ds, batch_size=BATCH, shuffle=True, generator=g(),
                                                               num_workers=2),
    "RandomSampler(generator=)": lambda ds: DataLoader(ds, batch_size=BATCH, sampler=RandomSampler(ds, generator=g())),
    "RandomSampler with replacement": lambda ds: DataLoader(ds, batch_size=BATCH, sampler=RandomSampler(
        ds, replacement=True, generator=g())),
    "BatchSampler(RandomSampler)": lambda ds: DataLoader(ds, batch_sampler=BatchSampler(
        RandomSampler(ds, generator=g()), BATCH, drop_last=False)),
    "SubsetRandomSampler": lambda ds: DataLoader(ds, batch_size=BATCH, sampler=SubsetRandomSampler(
        range(N - 4), generator=g())),
    "WeightedRandomSampler": lambda ds: DataLoader(ds, batch_size=BATCH, sampler=WeightedRandomSampler(
        torch.linspace(1, 2, N), N, generator=g())),
    "sampler with a generator attribute": lambda ds: DataLoader(ds, batch_size=BATCH, sampler=VisibleStateSampler(N)),
    "dataset with a generator (augmentation)": lambda ds: DataLoader(NoisyDataset(), batch_size=BATCH, shuffle=True,
                                                                     generator=g()),
}


class Crash(Exception):
    pass


class CrashAt:
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, state, m):
        if state.global_step == self.step:
            raise Crash(f"simulated crash at step {self.step}")


def train(make_loader, epochs: int = EPOCHS, wrap=lambda m: m, seed: int = 0, **kwargs) -> nn.Module:
    """A fresh model (dropout: the global RNG matters too) and loader, trained by fit; the unwrapped model."""
    m = model(seed)
    optimizer = torch.optim.Adam(m.parameters(), lr=0.01)
    fit(wrap(m), ce_sum, make_loader(TensorDataset(*data())), optimizer, epochs=epochs, accum_steps=2, **kwargs)
    return m


def same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def max_difference(a: nn.Module, b: nn.Module) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("loader", LOADERS.values(), ids=LOADERS.keys())
def test_resume_at_an_epoch_boundary_with_the_loaders_own_generator_is_bit_exact(loader, tmp_path):
    """The issue's case: 4 epochs straight vs 2 epochs, then resumed to 4 from the checkpoint."""
    torch.manual_seed(3)
    expected = train(loader)
    path = tmp_path / "ckpt.pt"
    torch.manual_seed(3)
    train(loader, epochs=2, checkpoint_path=path)
    torch.manual_seed(12345)  # another global RNG: resume restores its own
    resumed = train(loader, seed=99, checkpoint_path=path, resume=True)  # other initial weights: overwritten
    assert same(resumed, expected), max_difference(resumed, expected)


@pytest.mark.parametrize("loader", LOADERS.values(), ids=LOADERS.keys())
def test_resume_mid_epoch_with_the_loaders_own_generator_is_bit_exact(loader, tmp_path):
    torch.manual_seed(3)
    expected = train(loader)
    path = tmp_path / "ckpt.pt"
    torch.manual_seed(3)
    with pytest.raises(Crash):  # at step 9, after the checkpoint of step 8: 2 groups into epoch 1 (6 steps each)
        train(loader, checkpoint_path=path, checkpoint_every=1, callbacks=[CrashAt(9)])
    assert load_checkpoint(path)["state"]["batch_in_epoch"] > 0
    torch.manual_seed(12345)
    resumed = train(loader, seed=99, checkpoint_path=path, resume=True)
    assert same(resumed, expected), max_difference(resumed, expected)


def test_without_the_generators_state_the_resumed_run_diverges(tmp_path, monkeypatch):
    """What the tests above guard against (the issue's 0.0275): a LoaderOrder blind to generators resumes the
    epoch-boundary case in another order, silently."""
    loader = LOADERS["DataLoader(generator=)"]
    torch.manual_seed(3)
    expected = train(loader)
    monkeypatch.setattr(LoaderOrder, "_add", lambda self, generator: None)
    path = tmp_path / "ckpt.pt"
    torch.manual_seed(3)
    train(loader, epochs=2, checkpoint_path=path)
    resumed = train(loader, checkpoint_path=path, resume=True)
    assert max_difference(resumed, expected) > 1e-3


def test_a_sampler_with_hidden_state_is_refused_on_resume_and_leaves_the_model_untouched(tmp_path):
    hidden = lambda ds: DataLoader(ds, batch_size=BATCH, sampler=HiddenStateSampler(N))  # noqa: E731
    path = tmp_path / "ckpt.pt"
    train(hidden, epochs=1, checkpoint_path=path)  # training and checkpointing with it is fine
    m = model(seed=99)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(BadInput, match="cannot restore the batch order of the loader's HiddenStateSampler") as info:
        fit(m, ce_sum, hidden(TensorDataset(*data())), torch.optim.Adam(m.parameters()), epochs=2,
            checkpoint_path=path, resume=True)
    assert "`generator` attribute" in str(info.value) and "\n" not in str(info.value)
    assert all(torch.equal(m.state_dict()[k], v) for k, v in before.items())


def test_a_checkpoint_without_the_loaders_generator_state_is_refused(tmp_path):
    """Written with a loader drawing from the global RNG, resumed with one that has its own generator."""
    path = tmp_path / "ckpt.pt"
    train(lambda ds: DataLoader(ds, batch_size=BATCH, shuffle=True), epochs=1, checkpoint_path=path)
    with pytest.raises(BadInput, match="holds the state of 0 loader generator"):
        train(LOADERS["DataLoader(generator=)"], checkpoint_path=path, resume=True)


def test_loader_order_finds_each_generator_once_and_flags_only_unknown_samplers():
    ds = TensorDataset(*data())
    shared = g()
    assert LoaderOrder(DataLoader(ds, batch_size=BATCH, shuffle=True, generator=shared)).generators == [shared]
    order = LoaderOrder(DataLoader(ds, batch_size=BATCH, shuffle=True))  # the global RNG: replayed, no generator
    assert order.generators == [] and order.unknown is None
    assert LoaderOrder(DataLoader(ds, batch_size=BATCH)).unknown is None  # SequentialSampler
    assert isinstance(LoaderOrder(DataLoader(ds, batch_sampler=BatchSampler(HiddenStateSampler(N), BATCH, False)))
                      .unknown, HiddenStateSampler)


# --- torch.compile and DDP wrappers -----------------------------------------------------------------------------

def compiled(m: nn.Module) -> nn.Module:
    # backend="eager": the wrapper (OptimizedModule, keys `_orig_mod.*`) without inductor's minutes of C++ here;
    # its kernels are eager PyTorch's, so a compiled run equals a plain one bit for bit
    return torch.compile(m, backend="eager")


PLAIN_LOADER = LOADERS["DataLoader(generator=)"]


def test_checkpoint_of_a_compiled_model_has_plain_keys_and_loads_into_the_plain_model(tmp_path):
    path = tmp_path / "ckpt.pt"
    trained = train(PLAIN_LOADER, epochs=1, wrap=compiled, checkpoint_path=path)
    assert "_orig_mod.0.weight" in compiled(model()).state_dict()  # what torch.compile's wrapper would save
    saved = load_checkpoint(path)["model"]
    assert list(saved) == list(model().state_dict())  # 0.weight, 0.bias, 3.weight, 3.bias
    plain = model(seed=99)
    plain.load_state_dict(saved)
    assert same(plain, trained)


@pytest.mark.parametrize("first, second", [(compiled, lambda m: m), (lambda m: m, compiled), (compiled, compiled)],
                         ids=["compiled then plain", "plain then compiled", "compiled run resumed"])
def test_resume_across_compiled_and_plain_models_is_bit_exact(first, second, tmp_path):
    torch.manual_seed(3)
    expected = train(PLAIN_LOADER)
    path = tmp_path / "ckpt.pt"
    torch.manual_seed(3)
    with pytest.raises(Crash):
        train(PLAIN_LOADER, wrap=first, checkpoint_path=path, checkpoint_every=1, callbacks=[CrashAt(9)])
    resumed = train(PLAIN_LOADER, wrap=second, seed=99, checkpoint_path=path, resume=True)
    assert same(resumed, expected), max_difference(resumed, expected)


@pytest.fixture
def one_rank_group(tmp_path):
    """A one-process gloo group, so that DDP can wrap a model in this process."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_unwrap_sees_through_ddp_and_compile_in_both_nestings(one_rank_group, tmp_path):
    inner = model()
    for wrapped in (DistributedDataParallel(compiled(inner)), compiled(DistributedDataParallel(inner)),
                    compiled(inner), DistributedDataParallel(inner), inner):
        assert unwrap_model(wrapped) is inner
    assert is_ddp(compiled(DistributedDataParallel(inner))) and not is_ddp(compiled(inner))
    for name, wrap in (("ddp-of-compiled", lambda m: DistributedDataParallel(compiled(m))),
                       ("compiled-ddp", lambda m: compiled(DistributedDataParallel(m)))):
        path = tmp_path / f"{name}.pt"
        trained = train(PLAIN_LOADER, epochs=1, wrap=wrap, checkpoint_path=path)
        saved = load_checkpoint(path)["model"]
        assert list(saved) == list(model().state_dict()), name
        assert same(trained, train(PLAIN_LOADER, epochs=1)), name  # one rank: the plain run's weights

