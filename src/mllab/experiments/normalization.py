"""Section "normalization": feature normalization and the Hessian; batch norm (speed, running statistics at
evaluation, micro-batches) against layer and group norm."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.config import Config
from mllab.core.devices import torch_threads
from mllab.core.errors import BadInput, TrainingError
from mllab.core.registry import experiment
from mllab.core.run import Run
from mllab.data import Split, TensorLoader, load_dataset
from mllab.layers import BatchNorm1d
from mllab.metrics import accuracy
from mllab.train import fit
from mllab.train.callbacks import StepsToTarget
from mllab.train.losses import cross_entropy_sum


def fit_until(model: nn.Module, tracker: StepsToTarget, **fit_kwargs) -> StepsToTarget:
    """`fit(model, ...)` that ends early when `tracker` reaches its target; a diverged run keeps steps None."""
    try:
        fit(model, callbacks=[tracker], **fit_kwargs)
    except TrainingError:
        tracker.curve.append((tracker.curve[-1][0] + 1 if tracker.curve else 1, float("nan")))
    return tracker


# ---------------------------------------------------------------------------------------------- feature-normalization


@dataclass
class FeatureNormalizationConfig(Config):
    target_loss: float = 0.15
    """training loss (mean binary cross-entropy) to reach"""
    lrs: tuple[float, ...] = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
    """gradient-descent learning rates; each feature scaling is judged at its best"""
    max_steps: int = 2000
    """full-batch gradient-descent steps before giving up"""
    speedup: float = 10.0
    """the claim: standardised features need at least this many times fewer steps"""
    condition_drop: float = 100.0
    """the claim: standardising lowers the Hessian's condition number at least this many times"""

    profiles: ClassVar[dict] = {"smoke": {"lrs": (1e-5, 1.0), "max_steps": 100},
                                "full": {"lrs": tuple(10.0 ** k for k in np.arange(-8, 1.5, 0.5)), "max_steps": 20000}}

    def validate(self) -> None:
        super().validate()
        if not self.target_loss > 0:
            raise BadInput(f"--set target_loss: must be > 0, got {self.target_loss}")
        if any(lr <= 0 for lr in self.lrs):
            raise BadInput(f"--set lrs: learning rates must be > 0, got {self.lrs}")


def logistic_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Summed binary cross-entropy of a linear model, -Σ [y log σ(w·x + b) + (1 - y) log(1 - σ(w·x + b))]."""
    return F.binary_cross_entropy_with_logits(model(x).squeeze(1), y.to(x.dtype), reduction="sum")


def loss_hessian(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Hessian (D+1, D+1) of the mean logistic loss over (w, b) at w = 0, b = 0, in float64 (autograd)."""
    x, y = x.double(), y.double()

    def mean_loss(theta: torch.Tensor) -> torch.Tensor:  # theta = (w_1..w_D, b)
        logits = x @ theta[:-1] + theta[-1]  # (N,)
        return F.binary_cross_entropy_with_logits(logits, y)

    return torch.autograd.functional.hessian(mean_loss, torch.zeros(x.shape[1] + 1, dtype=torch.float64))


def _descend(x: torch.Tensor, y: torch.Tensor, lr: float, cfg: FeatureNormalizationConfig) -> StepsToTarget:
    """Full-batch gradient descent of logistic regression from w = 0 until the training loss reaches the target."""
    model = nn.Linear(x.shape[1], 1)
    nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)
    tracker = StepsToTarget(lambda m: logistic_loss(m, x, y) / len(y), cfg.target_loss, below=True)
    tracker.curve.append((0, float(logistic_loss(model, x, y).detach()) / len(y)))
    return fit_until(model, tracker, loss_fn=lambda m, b: (logistic_loss(m, *b), len(b[1])),
                     loader=TensorLoader((x, y), batch_size=len(y), shuffle=False),
                     optimizer=torch.optim.SGD(model.parameters(), lr=lr), epochs=cfg.max_steps)


@experiment("feature-normalization", section="normalization",
            claim="Features of very different scales make the loss surface ill-conditioned: standardising them cuts the "
                  "condition number of the (linear-model) loss Hessian by orders of magnitude and gradient descent "
                  "reaches a target loss in many times fewer steps, each at its best learning rate.")
def feature_normalization(run: Run, cfg: FeatureNormalizationConfig) -> None:
    """Logistic regression on the raw breast-cancer features vs the same features standardised (train statistics)."""
    data = load_dataset("breast-cancer", seed=run.seed)
    raw = data.train.x
    mean, std = raw.mean(dim=0), raw.std(dim=0)
    inputs = {"raw": raw, "standardised": (raw - mean) / std}  # x' = (x - μ) / σ per feature
    y = data.train.y
    run.metric("feature_std_range", [float(std.min()), float(std.max())])
    results = {}
    with torch_threads(1):
        for name, x in inputs.items():
            eigenvalues = torch.linalg.eigvalsh(loss_hessian(x, y))  # ascending
            condition = float(eigenvalues[-1] / eigenvalues[0])  # κ = λ_max / λ_min
            runs = {lr: _descend(x, y, lr, cfg) for lr in cfg.lrs}
            reached = {lr: t.steps for lr, t in runs.items() if t.steps is not None}
            best = min(reached, key=reached.get) if reached else \
                min(runs, key=lambda lr: np.nan_to_num(runs[lr].curve[-1][1], nan=np.inf))
            results[name] = {"eigenvalues": eigenvalues.numpy(), "condition": condition, "runs": runs, "best": best,
                             "steps": reached.get(best)}
            run.metric(f"{name}_condition_number", condition)
            run.metric(f"{name}_best_lr", best)
            run.metric(f"{name}_steps_to_target", reached.get(best))
            run.metric(f"{name}_steps_per_lr", {str(lr): t.steps for lr, t in runs.items()})
            for lr, t in runs.items():
                run.log_metrics(features=name, lr=lr, steps=t.steps, final_loss=t.curve[-1][1])

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    for name, r in results.items():
        steps, losses = zip(*r["runs"][r["best"]].curve)
        axes[0].loglog(np.array(steps) + 1, losses, label=f"{name}, best lr {r['best']:g}")
        lowest = [np.nanmin([v for _, v in r["runs"][lr].curve]) for lr in cfg.lrs]
        axes[1].loglog(cfg.lrs, lowest, "o-", label=name)
        axes[2].semilogy(r["eigenvalues"][::-1], "o", markersize=4, label=f"{name}: κ = {r['condition']:.1e}")
    axes[0].axhline(cfg.target_loss, color="gray", linestyle=":", label="target")
    axes[0].set(xlabel="gradient-descent step + 1", ylabel="training loss", title="loss at each one's best learning rate")
    axes[1].axhline(cfg.target_loss, color="gray", linestyle=":", label="target")
    axes[1].set(xlabel="learning rate", ylabel="lowest training loss", title=f"within {cfg.max_steps} steps or at target")
    axes[2].set(xlabel="index", ylabel="Hessian eigenvalue", title="loss Hessian at w = 0")
    for ax in axes:
        ax.legend(fontsize=8)
    run.figure("feature_normalization", fig)

    raw_r, std_r = results["raw"], results["standardised"]
    drop = raw_r["condition"] / std_r["condition"]
    run.check("standardising cuts the Hessian's condition number", drop >= cfg.condition_drop,
              observed=f"κ raw {raw_r['condition']:.2e}, standardised {std_r['condition']:.2e}: {drop:.1e}x lower",
              expected=f">= {cfg.condition_drop:g}x lower")
    raw_steps = raw_r["steps"] if raw_r["steps"] is not None else cfg.max_steps
    ratio = raw_steps / std_r["steps"] if std_r["steps"] else 0.0
    run.metric("steps_ratio", ratio)
    run.check("standardised features reach the target loss in far fewer steps", ratio >= cfg.speedup,
              observed=f"steps to loss {cfg.target_loss}: raw {raw_r['steps']} (best lr {raw_r['best']:g}; None = "
                       f"not within {cfg.max_steps}), standardised {std_r['steps']} (best lr {std_r['best']:g}); "
                       f"ratio {'>= ' if raw_r['steps'] is None else ''}{ratio:.1f}",
              expected=f"ratio >= {cfg.speedup:g}")


# ---------------------------------------------------------------------------------------------- batch-norm


def make_norm(kind: str, width: int, groups: int) -> nn.Module:
    """The normalization after each hidden linear layer: none | batch (ours, from the formula) | layer | group."""
    return {"none": lambda: nn.Identity(), "batch": lambda: BatchNorm1d(width), "layer": lambda: nn.LayerNorm(width),
            "group": lambda: nn.GroupNorm(groups, width)}[kind]()


class DeepNet(nn.Module):
    """x (B, in_features) -> logits (B, classes): `depth` blocks of Linear -> norm -> ReLU, then a linear head.

    Linear weights use He initialisation, so the network without normalization trains too.
    """

    def __init__(self, in_features: int, classes: int, width: int, depth: int, norm: str, groups: int = 8):
        super().__init__()
        layers, size = [], in_features
        for _ in range(depth):
            layers += [nn.Linear(size, width), make_norm(norm, width, groups), nn.ReLU()]
            size = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, classes)
        for module in self.modules():  # He init keeps the signal's scale through ReLU layers: a fair baseline
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.flatten(1)))


@dataclass
class BatchNormConfig(Config):
    depth: int = 8
    """hidden layers of the deep network"""
    width: int = 64
    """units per hidden layer"""
    lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    """SGD (momentum 0.9) learning rates; with and without batch norm are each judged at their best"""
    batch_size: int = 64
    """mini-batch size of the speed comparison and of the batch-64 reference"""
    target_accuracy: float = 0.9
    """validation accuracy to reach"""
    max_epochs: int = 6
    """epochs before giving up on the target"""
    eval_every: int = 10
    """optimizer steps between validation measurements"""
    seeds: int = 2
    """seeds per learning rate (the best learning rate is chosen on their mean)"""
    micro_batch: int = 2
    """micro-batch size of the gradient-accumulation comparison (accumulated to batch_size)"""
    micro_epochs: int = 2
    """epochs of each micro-batch / batch-64 run (same samples seen, same optimizer steps)"""
    micro_lr: float = 0.03
    """SGD (momentum 0.9) learning rate of the micro-batch comparison (all norms, both batch sizes)"""
    degradation: float = 0.05
    """test-accuracy drop that counts as degrading (runs that differ only in float summation order differ ~0.03)"""
    train_samples: int = 3500
    """training samples used (of the 3,500 in the mnist5k training split)"""

    profiles: ClassVar[dict] = {
        "smoke": {"depth": 3, "width": 16, "lrs": (0.1,), "max_epochs": 1, "seeds": 1, "micro_epochs": 1,
                  "eval_every": 2, "train_samples": 256},
        "full": {"depth": 12, "width": 128, "lrs": (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0), "max_epochs": 30,
                 "seeds": 5, "micro_epochs": 10},
    }

    def validate(self) -> None:
        super().validate()
        if self.micro_batch < 2 or self.batch_size % self.micro_batch:
            raise BadInput(f"--set micro_batch: needs >= 2 (batch norm needs 2 values per channel) and to divide "
                           f"batch_size={self.batch_size}, got {self.micro_batch}")
        if self.width % 8:
            raise BadInput(f"--set width: group norm uses 8 groups, so width must be a multiple of 8, got {self.width}")
        if not 0 < self.target_accuracy < 1:
            raise BadInput(f"--set target_accuracy: must lie in (0, 1), got {self.target_accuracy}")
        if self.train_samples < 120:
            raise BadInput(f"--set train_samples: need at least 120, got {self.train_samples}")




def _speed(run: Run, cfg: BatchNormConfig, data) -> dict:
    """Steps to the target validation accuracy with and without batch norm over the learning-rate grid."""
    results = {}
    budget = cfg.max_epochs * len(TensorLoader((data.train.x,), cfg.batch_size))
    for norm in ("none", "batch"):
        per_lr = {}
        for lr in cfg.lrs:
            trackers = []
            for s in range(cfg.seeds):
                seed = run.seed * 1000 + s
                torch.manual_seed(seed)
                model = DeepNet(data.train.x.shape[1], 10, cfg.width, cfg.depth, norm).to(run.device)
                tracker = StepsToTarget(lambda m: accuracy(m, data.val.x, data.val.y), cfg.target_accuracy,
                                        every=cfg.eval_every)
                trackers.append(fit_until(model, tracker, loss_fn=cross_entropy_sum,
                                          loader=TensorLoader((data.train.x, data.train.y), cfg.batch_size, seed=seed),
                                          optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9),
                                          epochs=cfg.max_epochs))
                run.log_metrics(part="speed", norm=norm, lr=lr, seed=s, steps=tracker.steps)
            per_lr[lr] = trackers
        mean_steps = {lr: float(np.mean([t.steps if t.steps is not None else budget for t in ts]))
                      for lr, ts in per_lr.items()}
        best = min(mean_steps, key=mean_steps.get)
        results[norm] = {"best": best, "mean_steps": mean_steps[best], "trackers": per_lr[best],
                         "steps": [t.steps for t in per_lr[best]], "per_lr": mean_steps}
        run.metric(f"{norm}_best_lr", best)
        run.metric(f"{norm}_steps_per_lr", {str(k): v for k, v in mean_steps.items()})
    results["budget"] = budget
    return results


def _batch_independence(model: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """Max |Δ output| of the first 8 samples when their 56 batch-mates change, in eval and in train mode."""
    samples, mates_a, mates_b = x[:8], x[8:64], x[64:120]
    model = copy.deepcopy(model)  # train mode would move the running statistics
    differences = []
    for training in (False, True):
        model.train(training)
        with torch.no_grad():
            out_a = model(torch.cat([samples, mates_a]))[:8]
            out_b = model(torch.cat([samples, mates_b]))[:8]
        differences.append(float((out_a - out_b).abs().max()))
    return differences[0], differences[1]


def _micro_batches(run: Run, cfg: BatchNormConfig, data) -> dict:
    """Test accuracy of each norm trained with micro-batches accumulated to batch_size vs whole batches."""
    results, batch_statistics = {}, []
    for norm in ("batch", "layer", "group"):
        for micro in (cfg.micro_batch, cfg.batch_size):
            accuracies = []
            for s in range(cfg.seeds):
                seed = run.seed * 1000 + s
                torch.manual_seed(seed)
                model = DeepNet(data.train.x.shape[1], 10, cfg.width, cfg.depth, norm).to(run.device)
                # micro-batches of 2 accumulated 32 times: the same optimizer steps on the same samples as batch 64
                fit(model, cross_entropy_sum, TensorLoader((data.train.x, data.train.y), micro, seed=seed),
                    torch.optim.SGD(model.parameters(), lr=cfg.micro_lr, momentum=0.9), epochs=cfg.micro_epochs,
                    accum_steps=cfg.batch_size // micro)
                model.eval()
                accuracies.append(accuracy(model, data.test.x, data.test.y))
                run.log_metrics(part="micro", norm=norm, batch=micro, seed=s, test_acc=accuracies[-1])
                if norm == "batch" and micro == cfg.micro_batch:  # diagnosis: normalise with test-batch statistics
                    model.train()
                    with torch.no_grad():
                        logits = torch.cat([model(x) for x in data.test.x.split(cfg.batch_size)])
                    batch_statistics.append(float((logits.argmax(1) == data.test.y).float().mean()))
            results[(norm, micro)] = accuracies
    run.metric("micro_batch_test_acc", {f"{n}@{b}": float(np.mean(a)) for (n, b), a in results.items()})
    run.metric("bn_micro_batch_test_acc_with_test_batch_statistics", float(np.mean(batch_statistics)))
    return results


@experiment("batch-norm", section="normalization",
            claim="Batch norm lets a deep network reach a target validation accuracy in fewer steps (each at its best "
                  "learning rate); at evaluation its running statistics make a sample's output independent of its "
                  "batch-mates; with micro-batches of 2 (as under gradient accumulation) batch norm degrades against "
                  "batch 64 while layer and group norm do not.")
def batch_norm(run: Run, cfg: BatchNormConfig) -> None:
    """A deep ReLU MLP on the mnist5k sample, with our BatchNorm1d, PyTorch's LayerNorm and GroupNorm."""
    data = load_dataset("mnist5k", seed=run.seed, device=run.device)
    data.train = Split(data.train.x[:cfg.train_samples], data.train.y[:cfg.train_samples])  # stratified split, shuffled
    with torch_threads(1):
        speed = _speed(run, cfg, data)
        torch.manual_seed(run.seed)
        probe = DeepNet(data.train.x.shape[1], 10, cfg.width, cfg.depth, "batch").to(run.device)
        fit(probe, cross_entropy_sum, TensorLoader((data.train.x, data.train.y), cfg.batch_size, seed=run.seed),
            torch.optim.SGD(probe.parameters(), lr=speed["batch"]["best"], momentum=0.9), epochs=1)
        eval_difference, train_difference = _batch_independence(probe, data.test.x)
        micro = _micro_batches(run, cfg, data)
    _figures(run, cfg, speed, micro)

    none, batch, budget = speed["none"], speed["batch"], speed["budget"]
    ratio = none["mean_steps"] / batch["mean_steps"]
    run.metric("steps_ratio_without_over_with_bn", ratio)
    run.check("batch norm reaches the target accuracy in fewer steps", ratio > 1,
              observed=f"mean steps to val acc {cfg.target_accuracy}: without BN {none['mean_steps']:.0f} (lr "
                       f"{none['best']:g}, per seed {none['steps']}), with BN {batch['mean_steps']:.0f} (lr "
                       f"{batch['best']:g}, per seed {batch['steps']}); ratio {ratio:.2f}x (None = not within "
                       f"{budget} steps, counted as {budget}); the paper reports 14x on ImageNet",
              expected="ratio > 1")
    run.metric("eval_output_change", eval_difference)
    run.metric("train_output_change", train_difference)
    run.check("at evaluation an output does not depend on its batch-mates", eval_difference <= 1e-5 < train_difference,
              observed=f"max |Δ output| when the 56 batch-mates change: eval {eval_difference:.2e}, "
                       f"train mode {train_difference:.2e}",
              expected="eval <= 1e-5 (train mode > 1e-5)")
    mean = {key: float(np.mean(v)) for key, v in micro.items()}
    small, large = cfg.micro_batch, cfg.batch_size
    run.check(f"batch norm degrades with micro-batches of {small}",
              mean[("batch", small)] < mean[("batch", large)] - cfg.degradation,
              observed=f"BN test acc {mean[('batch', small)]:.3f} at micro-batch {small} vs "
                       f"{mean[('batch', large)]:.3f} at batch {large} (mean of {cfg.seeds} seeds)",
              expected=f"a drop of more than {cfg.degradation}")
    steady = all(mean[(n, small)] >= mean[(n, large)] - cfg.degradation for n in ("layer", "group"))
    run.check(f"layer and group norm do not degrade with micro-batches of {small}", steady,
              observed=", ".join(f"{n} norm {mean[(n, small)]:.3f} at {small} vs {mean[(n, large)]:.3f} at {large}"
                                 for n in ("layer", "group")) + f"; BN at {small}: {mean[('batch', small)]:.3f}",
              expected=f"a drop of at most {cfg.degradation}")


def _figures(run: Run, cfg: BatchNormConfig, speed: dict, micro: dict) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    for norm, color in (("none", "C3"), ("batch", "C0")):
        r = speed[norm]
        for i, tracker in enumerate(r["trackers"]):
            if tracker.curve:
                steps, values = zip(*tracker.curve)
                axes[0].plot(steps, values, color=color, label=f"{norm} (lr {r['best']:g})" if i == 0 else None)
        lrs = list(r["per_lr"])
        axes[1].semilogx(lrs, [r["per_lr"][lr] for lr in lrs], "o-", color=color, label=norm)
    axes[0].axhline(cfg.target_accuracy, color="gray", linestyle=":")
    axes[0].set(xlabel="optimizer step", ylabel="validation accuracy", title=f"depth {cfg.depth}, best lr each")
    axes[1].axhline(speed["budget"], color="gray", linestyle=":", label="budget (never)")
    axes[1].set(xlabel="learning rate", ylabel=f"mean steps to {cfg.target_accuracy}", title="learning-rate grid")
    names = ["batch", "layer", "group"]
    for i, batch in enumerate((cfg.micro_batch, cfg.batch_size)):
        means = [np.mean(micro[(n, batch)]) for n in names]
        spreads = [np.std(micro[(n, batch)]) for n in names]
        axes[2].bar(np.arange(3) + 0.4 * (i - 0.5), means, width=0.4, yerr=spreads,
                    label=f"batch {batch}" + (f" ({cfg.micro_batch} x {cfg.batch_size // cfg.micro_batch} accumulated)"
                                              if batch == cfg.micro_batch else ""))
    axes[2].set(xticks=range(3), xticklabels=[f"{n} norm" for n in names], ylabel="test accuracy",
                title=f"{cfg.micro_epochs} epoch(s), lr {cfg.micro_lr}, same optimizer steps", ylim=(0, 1))
    for ax in axes:
        ax.legend(fontsize=8)
    run.figure("batch_norm", fig)
