"""Properties of `fit`: exact accumulation, one step/clip/schedule per group, early stopping, errors, resume."""

import copy
import math
import os
import signal
import threading
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.errors import BadInput, Interrupted, TrainingError
from mllab.data import TensorLoader
from mllab.train import EarlyStopping, fit, load_checkpoint

N_FEATURES, N_CLASSES = 5, 3


def classification_data(n: int, seed: int = 0, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, N_FEATURES, generator=g, dtype=dtype), torch.randint(0, N_CLASSES, (n,), generator=g)


def small_model(seed: int = 0, dropout: float = 0.0, dtype=torch.float64) -> nn.Module:
    torch.manual_seed(seed)
    dropout_layer = [nn.Dropout(dropout)] if dropout else []
    layers = [nn.Linear(N_FEATURES, 8), nn.Tanh(), *dropout_layer, nn.Linear(8, N_CLASSES)]
    return nn.Sequential(*layers).to(dtype)


def ce_sum(model: nn.Module, batch) -> tuple[torch.Tensor, int]:
    x, y = batch
    return F.cross_entropy(model(x), y, reduction="sum"), len(y)


class RecordingSGD(torch.optim.SGD):
    """SGD that records, at every step, the parameters it is about to change and their gradients."""

    def __init__(self, params, lr: float = 0.1, events: list | None = None):
        super().__init__(params, lr=lr)
        self.params_before: list[list[torch.Tensor]] = []
        self.grads: list[list[torch.Tensor]] = []
        self.events = events if events is not None else []

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def step(self, closure=None):
        self.events.append("step")
        self.params_before.append([p.detach().clone() for p in self._params()])
        self.grads.append([p.grad.detach().clone() for p in self._params()])
        return super().step(closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.events.append("zero_grad")
        super().zero_grad(set_to_none)


class RecordingLoss:
    """Wraps a loss_fn; keeps every batch it sees and logs a 'forward' event."""

    def __init__(self, loss_fn, events: list | None = None):
        self.loss_fn, self.batches = loss_fn, []
        self.events = events if events is not None else []

    def __call__(self, model, batch):
        self.events.append("forward")
        self.batches.append(batch)
        return self.loss_fn(model, batch)


def max_relative_difference(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """max over tensors of max|a - b| / max|b|."""
    return max(float((x.detach() - y.detach()).abs().max() / y.detach().abs().max()) for x, y in zip(a, b))


def reference_gradient(model: nn.Module, params: list[torch.Tensor], mean_loss) -> list[torch.Tensor]:
    """∇ of `mean_loss(model)` at `params`, computed directly on a copy of the model."""
    reference = copy.deepcopy(model)
    with torch.no_grad():
        for p, value in zip(reference.parameters(), params):
            p.copy_(value)
    return list(torch.autograd.grad(mean_loss(reference), list(reference.parameters())))


def groups_of(items: list, k: int) -> list[list]:
    return [items[i:i + k] for i in range(0, len(items), k)]


# --- exact gradient accumulation -------------------------------------------------------------------------------

ACCUMULATION_CASES = {
    # name: (n samples, loader kwargs, k, expected group sizes of the first epoch in micro-batches)
    "equal batches": (48, dict(batch_size=8), 3, [3, 3]),
    "unequal batches": (60, dict(batch_size=1, batch_sizes=(3, 11, 6)), 3, [3, 3, 3]),
    "short final group": (46, dict(batch_size=8), 4, [4, 2]),  # batches 8,8,8,8,8,6: groups of 4 and 2
}


@pytest.mark.parametrize("case", list(ACCUMULATION_CASES))
def test_accumulated_gradient_equals_big_batch_gradient(case):
    n, loader_kwargs, k, group_sizes = ACCUMULATION_CASES[case]
    x, y = classification_data(n)
    model = small_model()
    optimizer = RecordingSGD(model.parameters(), lr=0.1)
    loss = RecordingLoss(ce_sum)
    fit(model, loss, TensorLoader((x, y), seed=3, **loader_kwargs), optimizer, epochs=2, accum_steps=k)

    groups = groups_of(loss.batches[:len(loss.batches) // 2], k)  # first epoch
    groups += groups_of(loss.batches[len(loss.batches) // 2:], k)  # second epoch, regrouped from its start
    assert [len(g) for g in groups] == group_sizes * 2
    assert len(optimizer.grads) == len(groups)
    for group, params, grads in zip(groups, optimizer.params_before, optimizer.grads):
        xg, yg = torch.cat([b[0] for b in group]), torch.cat([b[1] for b in group])  # the one big batch
        expected = reference_gradient(model, params, lambda m: F.cross_entropy(m(xg), yg))  # mean over the group
        assert max_relative_difference(grads, expected) <= 1e-6, case
        assert grads[0].dtype == torch.float64


def test_unequal_batches_would_break_the_naive_recipe():
    """The check above can fail: averaging per-batch means (loss /= k) is off by far more than 1e-6 here."""
    x, y = classification_data(20)
    model = small_model()
    sizes = [2, 15, 3]
    parts = torch.split(torch.arange(20), sizes)
    params = [p.detach().clone() for p in model.parameters()]
    exact = reference_gradient(model, params, lambda m: F.cross_entropy(m(x), y))
    naive = reference_gradient(model, params, lambda m: sum(F.cross_entropy(m(x[i]), y[i]) for i in parts) / 3)
    assert max_relative_difference(naive, exact) > 1e-3


def _token_batches(seed: int = 0, vocab: int = 7) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sequences (N, T) of very different lengths, padded with 0 and masked."""
    g = torch.Generator().manual_seed(seed)
    n, t = 24, 12
    lengths = torch.tensor([1, 12, 2, 11, 3, 9] * 4)
    mask = torch.arange(t)[None, :] < lengths[:, None]  # (N, T)
    tokens = torch.randint(1, vocab, (n, t), generator=g) * mask
    targets = torch.randint(1, vocab, (n, t), generator=g) * mask
    return tokens, targets, mask


def test_token_weighted_accumulation_equals_one_batch_of_all_tokens():
    vocab = 7
    tokens, targets, mask = _token_batches(vocab=vocab)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(vocab, 6), nn.Tanh(), nn.Linear(6, vocab)).double()

    def token_loss(m, batch):
        tok, tgt, msk = batch
        logits = m(tok)  # (B, T, V)
        return F.cross_entropy(logits[msk], tgt[msk], reduction="sum"), msk.sum()  # padding masked out

    optimizer = RecordingSGD(model.parameters(), lr=0.5)
    loss = RecordingLoss(token_loss)
    fit(model, loss, TensorLoader((tokens, targets, mask), batch_sizes=(2, 5, 3), batch_size=1, seed=1), optimizer,
        epochs=1, accum_steps=2, count_items=lambda batch: int(batch[2].sum()))
    groups = groups_of(loss.batches, 2)
    assert len(groups) == len(optimizer.grads) == 4  # batches 2,5,3,2,5,3,2,2 -> 4 groups
    naive_errors = []
    for group, params, grads in zip(groups, optimizer.params_before, optimizer.grads):
        tok, tgt, msk = (torch.cat([b[i] for b in group]) for i in range(3))
        expected = reference_gradient(model, params, lambda m: F.cross_entropy(m(tok)[msk], tgt[msk]))  # token mean
        assert max_relative_difference(grads, expected) <= 1e-6
        naive = reference_gradient(model, params, lambda m: sum(
            F.cross_entropy(m(b[0])[b[2]], b[1][b[2]]) for b in group) / len(group))
        naive_errors.append(max_relative_difference(naive, expected))
    assert max(naive_errors) > 1e-3  # token counts differ between batches: the naive recipe is wrong here


def test_tensor_item_counts_train_bit_for_bit_like_int_counts():
    """count_items may return a tensor (a token count on the GPU): N_group and 1/N then stay on the device,
    with the same rounding as for a Python int: same weights, same history."""
    vocab = 7
    tokens, targets, mask = _token_batches(vocab=vocab)

    def token_loss(m, batch):
        tok, tgt, msk = batch
        return F.cross_entropy(m(tok)[msk], tgt[msk], reduction="sum"), msk.sum()

    runs = []
    for count in (lambda batch: int(batch[2].sum()), lambda batch: batch[2].sum()):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Embedding(vocab, 6), nn.Tanh(), nn.Linear(6, vocab))  # float32: 1/N rounds
        state = fit(model, token_loss, TensorLoader((tokens, targets, mask), batch_sizes=(2, 5, 3), batch_size=1,
                                                    seed=1), torch.optim.SGD(model.parameters(), lr=0.5),
                    epochs=2, accum_steps=2, count_items=count)
        runs.append((model.state_dict(), state.history, state.epoch_items))
    (weights, history, items), (tensor_weights, tensor_history, tensor_items) = runs
    assert all(torch.equal(weights[k], tensor_weights[k]) for k in weights)
    assert history == tensor_history and type(tensor_items) is float and items == tensor_items == 0.0


def test_weights_after_accumulation_equal_weights_after_big_batches():
    x, y = classification_data(64)
    runs = {}
    for k, batch_size in ((4, 4), (1, 16)):
        model = small_model()
        fit(model, ce_sum, TensorLoader((x, y), batch_size=batch_size, shuffle=False), torch.optim.SGD(
            model.parameters(), lr=0.3, momentum=0.9), epochs=3, accum_steps=k)
        runs[k] = list(model.parameters())
    assert max_relative_difference(runs[4], runs[1]) <= 1e-10


# --- one step, one clip, one schedule per group; zero_grad only at group boundaries -----------------------------

@pytest.mark.parametrize("n_batches,k", [(10, 1), (10, 3), (9, 3), (7, 4), (3, 5)])
def test_optimizer_steps_per_epoch_is_ceil_batches_over_k(n_batches, k):
    x, y = classification_data(n_batches * 2)
    model = small_model()
    optimizer = RecordingSGD(model.parameters())
    state = fit(model, ce_sum, TensorLoader((x, y), batch_size=2), optimizer, epochs=2, accum_steps=k)
    assert state.global_step == 2 * math.ceil(n_batches / k) == len(optimizer.grads)
    assert [h["step"] for h in state.history] == [math.ceil(n_batches / k), 2 * math.ceil(n_batches / k)]


def test_order_of_forward_clip_step_schedule_and_zero_grad():
    """Per group: all forwards, then one clip (on the full gradient), one step, one scheduler step, one zero_grad."""
    x, y = classification_data(14)
    events: list[str] = []
    model = small_model()
    optimizer = RecordingSGD(model.parameters(), lr=0.1, events=events)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    real_scheduler_step = scheduler.step
    scheduler.step = lambda *a: (events.append("schedule"), real_scheduler_step(*a))[1]
    clipped_norms: list[float] = []
    real_clip = torch.nn.utils.clip_grad_norm_

    def spy_clip(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        events.append("clip")
        norm = real_clip(parameters, max_norm, *args, **kwargs)
        clipped_norms.append(float(norm))
        return norm

    loss = RecordingLoss(ce_sum, events)
    with mock.patch("torch.nn.utils.clip_grad_norm_", side_effect=spy_clip) as clip:
        state = fit(model, loss, TensorLoader((x, y), batch_size=2, shuffle=False), optimizer, epochs=2,
                    accum_steps=3, scheduler=scheduler, clip_grad_norm=0.05)
    group = ["forward"] * 3 + ["clip", "step", "schedule", "zero_grad"]
    short = ["forward"] * 1 + ["clip", "step", "schedule", "zero_grad"]  # 7 batches: groups of 3, 3, 1
    assert events == ["zero_grad"] + (group + group + short) * 2
    assert clip.call_count == state.global_step == 6
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 6)
    # the clip saw the full group gradient: its norm before clipping is that of the big-batch gradient
    xg, yg = x[:6], y[:6]
    first = reference_gradient(model, optimizer.params_before[0], lambda m: F.cross_entropy(m(xg), yg))
    assert clipped_norms[0] == pytest.approx(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in first]))),
                                             rel=1e-9)
    assert clipped_norms[0] > 0.05  # so the clip acted and the recorded gradients are clipped
    clipped = optimizer.grads[0]
    assert float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in clipped]))) == pytest.approx(0.05, rel=1e-5)


def test_short_final_group_is_neither_dropped_nor_leaked():
    x, y = classification_data(10)
    index = torch.arange(10)
    seen: list[list[int]] = []
    events: list[str] = []
    model = small_model()

    def loss_fn(m, batch):
        events.append("forward")
        seen.append(batch[2].tolist())
        return ce_sum(m, batch[:2])

    optimizer = RecordingSGD(model.parameters(), events=events)
    fit(model, loss_fn, TensorLoader((x, y, index), batch_size=2, seed=5), optimizer, epochs=3, accum_steps=2)
    # 5 batches an epoch -> groups of 2, 2, 1; the single last batch makes its own step inside its epoch
    per_step = "".join("F" if e == "forward" else "|" for e in events if e != "zero_grad").split("|")[:-1]
    assert [len(s) for s in per_step] == [2, 2, 1] * 3
    for epoch in range(3):
        samples = sum(seen[epoch * 5:(epoch + 1) * 5], [])
        assert sorted(samples) == list(range(10))  # every sample exactly once per epoch


# --- hooks: on_after_backward sees the group's whole gradient, on_before_step the clipped one -------------------

class GradientWatcher:
    """A callback that copies the gradients at on_after_backward and on_before_step."""

    def __init__(self, events: list | None = None):
        self.after_backward: list[list[torch.Tensor]] = []
        self.before_step: list[list[torch.Tensor]] = []
        self.steps_seen: list[int] = []
        self.events = events if events is not None else []

    def on_after_backward(self, state, model):
        self.events.append("after_backward")
        self.steps_seen.append(state.global_step)
        self.after_backward.append([p.grad.detach().clone() for p in model.parameters()])

    def on_before_step(self, state, model, optimizer):
        self.events.append("before_step")
        self.before_step.append([p.grad.detach().clone() for p in model.parameters()])


def norm_of(tensors: list[torch.Tensor]) -> float:
    return float(torch.linalg.vector_norm(torch.cat([t.flatten() for t in tensors])))


@pytest.mark.parametrize("case", list(ACCUMULATION_CASES))
def test_on_after_backward_sees_the_gradient_of_the_whole_group(case):
    """Once per optimizer step, after the group's last backward: ∇ of the group's big batch, to 1e-6."""
    n, loader_kwargs, k, _ = ACCUMULATION_CASES[case]
    x, y = classification_data(n)
    model = small_model()
    optimizer = RecordingSGD(model.parameters(), lr=0.1)
    loss, watcher = RecordingLoss(ce_sum), GradientWatcher()
    state = fit(model, loss, TensorLoader((x, y), seed=3, **loader_kwargs), optimizer, epochs=1, accum_steps=k,
                callbacks=[watcher])
    groups = groups_of(loss.batches, k)
    assert len(watcher.after_backward) == len(groups) == state.global_step
    assert watcher.steps_seen == list(range(state.global_step))  # the steps taken before this one
    for group, params, grads in zip(groups, optimizer.params_before, watcher.after_backward):
        xg, yg = torch.cat([b[0] for b in group]), torch.cat([b[1] for b in group])
        expected = reference_gradient(model, params, lambda m: F.cross_entropy(m(xg), yg))  # one big-batch backward
        assert max_relative_difference(grads, expected) <= 1e-6, case


def test_on_before_step_sees_the_clipped_gradient_the_optimizer_uses():
    x, y = classification_data(12)
    events: list[str] = []
    model = small_model()
    optimizer = RecordingSGD(model.parameters(), lr=0.1, events=events)
    loss, watcher = RecordingLoss(ce_sum, events), GradientWatcher(events)
    real_clip = torch.nn.utils.clip_grad_norm_

    def spy_clip(parameters, max_norm, *args, **kwargs):
        events.append("clip")
        return real_clip(parameters, max_norm, *args, **kwargs)

    with mock.patch("torch.nn.utils.clip_grad_norm_", side_effect=spy_clip):
        fit(model, loss, TensorLoader((x, y), batch_size=2, shuffle=False), optimizer, epochs=1, accum_steps=3,
            clip_grad_norm=0.05, callbacks=[watcher])
    group = ["forward"] * 3 + ["after_backward", "clip", "before_step", "step", "zero_grad"]
    assert events == ["zero_grad"] + group * 2
    for raw, clipped, used in zip(watcher.after_backward, watcher.before_step, optimizer.grads):
        assert norm_of(raw) > 0.05  # so the clip acts
        assert norm_of(clipped) == pytest.approx(0.05, rel=1e-5)  # ‖g‖ = c after the clip (c / (‖g‖ + 1e-6))
        assert all(torch.equal(a, b) for a, b in zip(clipped, used))  # exactly what step() got
        assert max_relative_difference(clipped, [g * (0.05 / norm_of(raw)) for g in raw]) <= 1e-5  # same direction


def test_on_after_backward_sees_the_unscaled_gradient_under_fp16():
    """The GradScaler multiplies the loss by 2^16; the hook sees the gradient after unscale, as the clip does."""
    x, y = classification_data(16, dtype=torch.float32)
    model = small_model(dtype=torch.float32)
    optimizer = RecordingSGD(model.parameters(), lr=0.1)
    loss, watcher = RecordingLoss(ce_sum), GradientWatcher()
    fit(model, loss, TensorLoader((x, y), batch_size=4, shuffle=False), optimizer, epochs=1, accum_steps=2,
        amp="fp16", callbacks=[watcher])
    for group, params, grads in zip(groups_of(loss.batches, 2), optimizer.params_before, watcher.after_backward):
        xg, yg = torch.cat([b[0] for b in group]), torch.cat([b[1] for b in group])
        expected = reference_gradient(model, params, lambda m: F.cross_entropy(m(xg), yg))
        assert max_relative_difference(grads, expected) <= 2e-2  # fp16 rounding, not a factor 65536


# --- early stopping, errors -----------------------------------------------------------------------------------

def test_early_stopping_restores_best_weights():
    x, y = classification_data(16)
    model = small_model()
    scripted = iter([3.0, 1.0, 2.0, 2.5, 0.5])  # best at epoch 1, then two bad epochs with patience 2
    snapshots = []

    class Snapshot:
        def on_epoch_end(self, state, m):
            snapshots.append(copy.deepcopy(m.state_dict()))

    state = fit(model, ce_sum, TensorLoader((x, y), batch_size=4), torch.optim.SGD(model.parameters(), lr=0.5),
                epochs=5, evaluate=lambda m: {"val_loss": next(scripted)}, callbacks=[Snapshot()],
                early_stopping=EarlyStopping(monitor="val_loss", patience=2))
    assert state.stopped_early and state.best_epoch == 1 and len(state.history) == 4
    final = model.state_dict()
    assert all(torch.equal(final[k], snapshots[1][k]) for k in final)
    assert not all(torch.equal(final[k], snapshots[3][k]) for k in final)


def test_early_stopping_needs_evaluate_and_a_known_metric():
    x, y = classification_data(8)
    model = small_model()
    with pytest.raises(BadInput, match="evaluate"):
        fit(model, ce_sum, TensorLoader((x, y), batch_size=4), torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=2, early_stopping=EarlyStopping())
    with pytest.raises(BadInput, match="val_acc"):
        fit(model, ce_sum, TensorLoader((x, y), batch_size=4), torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=2, evaluate=lambda m: {"val_loss": 1.0}, early_stopping=EarlyStopping(monitor="val_acc"))


def nan_at(*calls: int):
    """ce_sum, except that the micro-batches with these 0-based call numbers give a NaN loss."""
    seen = []

    def loss_fn(m, batch):
        seen.append(1)
        loss_sum, n = ce_sum(m, batch)
        return (loss_sum * float("nan") if len(seen) - 1 in calls else loss_sum), n

    return loss_fn


@pytest.mark.parametrize("nan_call,log_every,message", [
    # 16 samples, batch 2, k=2: 8 micro-batches, 4 steps an epoch. Micro-batch 3 is in step 2 (batches 2, 3).
    (3, 0, r"in steps 1 to 4 \(epoch 0, batches 0 to 7 of the epoch\).*log_every=1 names the step"),  # epoch end
    (3, 2, r"in steps 1 to 2 \(epoch 0, batches 0 to 3 of the epoch\)"),  # read every 2 steps
    (3, 1, r"in step 2 \(epoch 0, batches 2 to 3 of the epoch\); lower the learning rate"),  # read every step
    (13, 0, r"in steps 5 to 8 \(epoch 1, batches 0 to 7 of the epoch\)"),  # epoch 1, batch 5, step 7
    (13, 3, r"in steps 7 to 8 \(epoch 1, batches 4 to 7 of the epoch\)"),  # last read at step 6 (batch 4)
])
def test_non_finite_loss_raises_naming_the_steps_and_batches_since_the_last_read(nan_call, log_every, message):
    """The loss is read at logging points only; the error names the steps (and batches) between two reads."""
    x, y = classification_data(16)
    model = small_model()
    with pytest.raises(TrainingError, match=message):
        fit(model, nan_at(nan_call), TensorLoader((x, y), batch_size=2), torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=3, accum_steps=2, log_every=log_every)


def test_no_checkpoint_holds_weights_stepped_from_a_non_finite_loss(tmp_path):
    """A save reads the loss first: NaN in step 3 -> the save at step 4 raises; the file keeps step 2's weights."""
    x, y = classification_data(16)
    model = small_model()
    saved = []

    class Snapshot:
        def on_step_end(self, state, m):
            saved.append(copy.deepcopy(m.state_dict()))

    path = tmp_path / "ckpt.pt"
    with pytest.raises(TrainingError, match=r"in steps 3 to 4 "):
        fit(model, nan_at(5), TensorLoader((x, y), batch_size=2), torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1, accum_steps=2, checkpoint_path=path, checkpoint_every=2, callbacks=[Snapshot()])
    ckpt = load_checkpoint(path)
    assert ckpt["state"]["global_step"] == 2
    assert all(torch.equal(ckpt["model"][k], v) for k, v in saved[1].items())
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert not all(torch.isfinite(v).all() for v in model.state_dict().values())  # the live model went on: NaN


def test_fit_returns_plain_numbers_in_its_state():
    x, y = classification_data(16)
    model = small_model()
    state = fit(model, ce_sum, TensorLoader((x, y), batch_size=4), torch.optim.SGD(model.parameters(), lr=0.1),
                epochs=2, max_steps=5)  # ends mid-epoch: the running sum is read and kept as a float
    assert isinstance(state.epoch_loss_sum, float) and state.epoch_loss_sum > 0 and state.epoch_items == 4
    assert state.epoch_loss_recent == 0.0 and state.loss_sum() == state.epoch_loss_sum


def test_item_count_mismatch_is_bad_input():
    x, y = classification_data(8)
    model = small_model()
    with pytest.raises(BadInput, match="count_items"):
        fit(model, lambda m, b: (ce_sum(m, b)[0], len(b[1]) + 1), TensorLoader((x, y), batch_size=4),
            torch.optim.SGD(model.parameters(), lr=0.1), epochs=1)


@pytest.mark.parametrize("kwargs", [dict(accum_steps=0), dict(epochs=0)])
def test_bad_arguments_are_bad_input(kwargs):
    x, y = classification_data(8)
    model = small_model()
    with pytest.raises(BadInput):
        fit(model, ce_sum, TensorLoader((x, y), batch_size=4), torch.optim.SGD(model.parameters(), lr=0.1),
            **{"epochs": 1, **kwargs})


# --- checkpoints and bit-exact resume ---------------------------------------------------------------------------

EPOCHS = 3


def _training(seed: int = 0):
    """A model with dropout (RNG matters), Adam, an LR schedule, a shuffled loader with a short final group."""
    x, y = classification_data(44, dtype=torch.float32)
    model = small_model(seed=seed, dropout=0.3, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.7)
    loader = TensorLoader((x, y), batch_size=4, seed=7)  # 11 batches: with k=2, groups 2,2,2,2,2,1
    return model, optimizer, scheduler, loader


def _fit(seed: int = 0, **kwargs):
    model, optimizer, scheduler, loader = _training(seed)
    kwargs = {"epochs": EPOCHS, **kwargs}
    state = fit(model, ce_sum, loader, optimizer, accum_steps=2, scheduler=scheduler, **kwargs)
    return model, state


@pytest.fixture(scope="module")
def uninterrupted():
    model, state = _fit()
    return model.state_dict(), state.history


def _assert_same_run(model, state, uninterrupted):
    weights, history = uninterrupted
    assert all(torch.equal(model.state_dict()[k], weights[k]) for k in weights)
    assert state.history == history


class Crash(Exception):
    pass


class CrashAt:
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, state, model):
        if state.global_step == self.step:
            raise Crash(f"simulated crash at step {self.step}")


def test_resume_from_epoch_boundary_is_bit_exact(tmp_path, uninterrupted):
    path = tmp_path / "ckpt.pt"
    _fit(epochs=1, checkpoint_path=path)
    assert load_checkpoint(path)["state"]["batch_in_epoch"] == 0
    torch.manual_seed(12345)  # a different global RNG state: resume must restore its own
    model, state = _fit(seed=99, checkpoint_path=path, resume=True)  # other initial weights: overwritten
    _assert_same_run(model, state, uninterrupted)


def test_resume_mid_epoch_is_bit_exact(tmp_path, uninterrupted):
    path = tmp_path / "ckpt.pt"
    with pytest.raises(Crash):  # at step 9, before its checkpoint: the last one is step 8, inside epoch 1
        _fit(checkpoint_path=path, checkpoint_every=1, callbacks=[CrashAt(9)])
    saved = load_checkpoint(path)["state"]
    assert (saved["epoch"], saved["batch_in_epoch"], saved["global_step"]) == (1, 4, 8)
    torch.manual_seed(12345)
    model, state = _fit(seed=99, checkpoint_path=path, resume=True)
    _assert_same_run(model, state, uninterrupted)


def test_resume_keeps_early_stopping_state_and_best_weights(tmp_path):
    x_val, y_val = classification_data(40, seed=1, dtype=torch.float32)

    def evaluate(m):
        return {"val_loss": float(F.cross_entropy(m(x_val), y_val))}

    def run(**kwargs):
        return _fit(epochs=8, evaluate=evaluate, early_stopping=EarlyStopping(patience=2), **kwargs)

    expected_model, expected = run()
    assert expected.stopped_early and expected.global_step > 15  # stops in epoch 2, after the crash below
    path = tmp_path / "ckpt.pt"
    with pytest.raises(Crash):
        run(checkpoint_path=path, checkpoint_every=1, callbacks=[CrashAt(15)])
    model, state = run(seed=99, checkpoint_path=path, resume=True)
    assert state.history == expected.history and state.best_epoch == expected.best_epoch
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected_model.state_dict().items())


def test_resume_mid_epoch_with_a_shuffling_dataloader_is_bit_exact(tmp_path):
    """A DataLoader draws its shuffle from the global RNG when the epoch starts; resume replays that draw."""
    from torch.utils.data import DataLoader, TensorDataset

    def run(**kwargs):
        model, optimizer, scheduler, loader = _training()
        data = DataLoader(TensorDataset(*loader.tensors), batch_size=4, shuffle=True)
        fit(model, ce_sum, data, optimizer, epochs=EPOCHS, accum_steps=2, scheduler=scheduler, **kwargs)
        return model.state_dict()

    torch.manual_seed(3)
    expected = run()
    path = tmp_path / "ckpt.pt"
    torch.manual_seed(3)
    with pytest.raises(Crash):
        run(checkpoint_path=path, checkpoint_every=1, callbacks=[CrashAt(9)])
    torch.manual_seed(12345)
    resumed = run(checkpoint_path=path, resume=True)
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)


def test_uninterrupted_run_depends_on_the_rng(uninterrupted):
    """Dropout draws from the RNG, so the resume tests above would notice a lost RNG state."""
    torch.manual_seed(1)
    model, optimizer, scheduler, loader = _training()
    torch.manual_seed(2)  # same initial weights, different dropout masks
    fit(model, ce_sum, loader, optimizer, epochs=EPOCHS, accum_steps=2, scheduler=scheduler)
    assert not all(torch.equal(model.state_dict()[k], v) for k, v in uninterrupted[0].items())


@pytest.mark.parametrize("signum,step", [(signal.SIGTERM, 7), (signal.SIGINT, 6)])  # 6: the last step of epoch 0
def test_signal_saves_checkpoint_and_resume_is_bit_exact(tmp_path, uninterrupted, signum, step):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    path = tmp_path / "ckpt.pt"

    class SendSignal:
        def on_step_end(self, state, model):
            if state.global_step == step:
                os.kill(os.getpid(), signum)

    previous = signal.getsignal(signum)
    with pytest.raises(Interrupted, match=f"step {step}"):
        _fit(checkpoint_path=path, callbacks=[SendSignal()])
    assert signal.getsignal(signum) is previous  # fit put the old handler back
    assert load_checkpoint(path)["state"]["global_step"] == step
    model, state = _fit(seed=99, checkpoint_path=path, resume=True)
    _assert_same_run(model, state, uninterrupted)
