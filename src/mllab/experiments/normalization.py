"""Section "normalization": feature normalization and the Hessian; batch norm (speed, running statistics at
evaluation, micro-batches) against layer and group norm.

Data: batch-norm takes `--set dataset=` (mnist5k by default; digits, or your MNIST / CIFAR-10 files with
--data-dir), as flat vectors: the network's input size follows the data. feature-normalization is not an image
experiment: its claim is about features of very different scales (breast-cancer's 30 raw measurements, 1e-3 to
1e3); image pixels all share one scale [0, 1], so it takes no `dataset`. Seeds: derive_seed(seed, "judge", i)
for judged seeds, derive_seed(seed, "tune", i) for tuning seeds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty, positive
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data import Dataset, Split, TensorLoader, load_dataset
from mllab.data.datasets import FLAT_DATASETS, check_dataset, load_flat
from mllab.metrics import accuracy
from mllab.models import DeepNet
from mllab.train import fit
from mllab.train.callbacks import StepsToTarget
from mllab.train.helpers import fit_until
from mllab.train.losses import cross_entropy_sum


# ---------------------------------------------------------------------------------------------- feature-normalization


@dataclass
class FeatureNormalizationConfig(Config):
    condition_drop: float = 100.0
    """the claim: standardising lowers the Hessian's condition number by more than this factor"""
    speedup: float = 10.0
    """the claim: standardised features reach the target loss in more than this many times fewer steps"""
    target_loss: float = 0.15
    """training loss (mean binary cross-entropy, nats) to reach"""
    standardise: bool = True
    """standardise the features of the second arm (the negative control turns it off: raw features in both arms)"""
    lrs: tuple[float, ...] = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
    """gradient-descent learning-rate grid; each arm is judged at its best, picked on the tuning seeds"""
    max_steps: int = 2000
    """full-batch gradient-descent steps before giving up (a run that never reaches the target counts as this)"""
    seeds: int = 3
    """judged seeds (paired: one seed draws the train split for both arms)"""
    tuning_seeds: int = 1
    """seeds that pick each arm's learning rate (distinct from the judged seeds)"""

    thresholds: ClassVar[tuple[str, ...]] = ("target_loss",)
    rules: ClassVar[dict] = {
        "condition_drop": at_least(1), "speedup": at_least(1), "target_loss": positive, "lrs": (nonempty, positive),
        "max_steps": at_least(1), "seeds": at_least(2), "tuning_seeds": at_least(1),
    }
    profiles: ClassVar[dict] = {"smoke": {"lrs": (1e-5, 1.0), "max_steps": 100, "seeds": 2},
                                "full": {"lrs": tuple(10.0 ** k for k in np.arange(-8, 1.5, 0.5)), "max_steps": 20000,
                                         "seeds": 10, "tuning_seeds": 3}}


def logistic_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Summed binary cross-entropy of a linear model, -Σ [y log σ(w·x + b) + (1 - y) log(1 - σ(w·x + b))]."""
    return F.binary_cross_entropy_with_logits(model(x).squeeze(1), y.to(x.dtype), reduction="sum")


def loss_hessian(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Hessian (D+1, D+1) of the mean logistic loss over (w, b) at w = 0, b = 0, in float64 (autograd)."""
    x, y = x.double(), y.double()

    def loss_at(theta: torch.Tensor) -> torch.Tensor:  # theta = (w_1..w_D, b)
        logits = x @ theta[:-1] + theta[-1]  # (N,)
        return F.binary_cross_entropy_with_logits(logits, y)

    return torch.autograd.functional.hessian(loss_at, torch.zeros(x.shape[1] + 1, dtype=torch.float64))


def _descend(x: torch.Tensor, y: torch.Tensor, lr: float, cfg: FeatureNormalizationConfig) -> StepsToTarget:
    """Full-batch gradient descent of logistic regression from w = 0 until the training loss reaches the target."""
    model = nn.Linear(x.shape[1], 1)
    nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)
    tracker = StepsToTarget(lambda m: logistic_loss(m, x, y) / len(y), cfg.target_loss, below=True)
    tracker.curve.append((0, float(logistic_loss(model, x, y).detach()) / len(y)))
    return fit_until(model, tracker, loss_fn=lambda m, b: (logistic_loss(m, *b), len(b[1])),
                     loader=TensorLoader((x, y), batch_size=len(y), shuffle=False),
                     optimizer=torch.optim.SGD(model.parameters(), lr=lr), epochs=cfg.max_steps)


def _arms(seed: int, standardise: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The breast-cancer training split of `seed`: {"raw": x, "standardised": x'} (N, 30) and y (N,)."""
    data = load_dataset("breast-cancer", seed=seed)
    raw = data.train.x
    mean, std = raw.mean(dim=0), raw.std(dim=0)  # train statistics
    return {"raw": raw, "standardised": (raw - mean) / std if standardise else raw}, data.train.y  # x' = (x - μ) / σ


def _steps(tracker: StepsToTarget, cfg: FeatureNormalizationConfig) -> int:
    return tracker.steps if tracker.steps is not None else cfg.max_steps


@experiment("feature-normalization", section="normalization",
            claim="Features of very different scales make the loss surface ill-conditioned: standardising them cuts the "
                  "condition number of the (logistic-regression) loss Hessian by more than {condition_drop:g}x, and "
                  "gradient descent reaches training loss {target_loss:g} in more than {speedup:g}x fewer steps, each "
                  "arm at its best learning rate.",
            negative_control=NegativeControl(
                overrides=("standardise=false",),
                fails=("standardising cuts the Hessian's condition number",
                       "standardised features reach the target loss in far fewer steps"),
                why="standardisation off: raw features in both arms"))
def feature_normalization(run: Run, cfg: FeatureNormalizationConfig) -> None:
    """Logistic regression by full-batch gradient descent from w = 0 on the raw breast-cancer features vs the same
    features standardised with the training split's statistics. Each arm's lr is the one from `lrs` that reaches
    the target in the fewest steps on the tuning seeds (derive_seed(seed, "tune", i)); the judged seeds
    (derive_seed(seed, "judge", i)) draw the split; budget `max_steps` for both arms. Not an image experiment (see the
    module docstring): no `dataset`."""
    tuning = {}  # arm -> lr -> tracker on the first tuning seed (drawn in the figure)
    mean_steps = {"raw": {}, "standardised": {}}  # arm -> lr -> steps per tuning seed
    final_loss = {"raw": {}, "standardised": {}}  # arm -> lr -> last training loss per tuning seed
    with run.progress(total=2 * len(cfg.lrs) * cfg.tuning_seeds + 2 * cfg.seeds, desc="feature-normalization") as bar:
        for i in range(cfg.tuning_seeds):
            inputs, y = _arms(derive_seed(run.seed, "tune", i), cfg.standardise)
            for name, x in inputs.items():
                for lr in cfg.lrs:
                    tracker = _descend(x, y, lr, cfg)
                    mean_steps[name].setdefault(lr, []).append(_steps(tracker, cfg))
                    final_loss[name].setdefault(lr, []).append(np.nan_to_num(tracker.curve[-1][1], nan=np.inf))
                    if i == 0:
                        tuning.setdefault(name, {})[lr] = tracker
                    bar.update()
        best = {name: min(cfg.lrs, key=lambda lr: (np.mean(per_lr[lr]), np.mean(final_loss[name][lr])))
                for name, per_lr in mean_steps.items()}  # fewest steps; ties: lowest final loss
        judged = {name: {"steps": [], "reached": [], "condition": [], "curves": []} for name in best}
        for i in range(cfg.seeds):
            inputs, y = _arms(derive_seed(run.seed, "judge", i), cfg.standardise)
            for name, x in inputs.items():
                eigenvalues = torch.linalg.eigvalsh(loss_hessian(x, y))  # ascending
                judged[name]["condition"].append(float(eigenvalues[-1] / eigenvalues[0]))  # κ = λ_max / λ_min
                tracker = _descend(x, y, best[name], cfg)
                judged[name]["steps"].append(_steps(tracker, cfg))
                judged[name]["reached"].append(tracker.steps)
                judged[name]["curves"].append(tracker.curve)
                if i == 0:
                    judged[name]["eigenvalues"] = eigenvalues.numpy()
                run.log_metrics(features=name, seed=i, lr=best[name], steps=tracker.steps,
                                condition=judged[name]["condition"][-1])
                bar.update()

    # the apparatus: autograd's Hessian at w = 0 equals the closed form Xᵀ diag(p(1 - p)) X / N with p = σ(0) = 1/2
    inputs, y = _arms(derive_seed(run.seed, "judge", 0), cfg.standardise)
    x = inputs["raw"]
    design = torch.cat([x, torch.ones(len(x), 1)], dim=1).double()  # (N, D+1): the bias is a column of ones
    closed = design.T @ design / (4 * len(x))
    error = float((loss_hessian(x, y) - closed).abs().max() / closed.abs().max())
    run.check("the loss Hessian equals its closed form", error < 1e-10, observed=f"max relative error {error:.1e}",
              expected="< 1e-10 (float64)", kind="sanity")

    for name in judged:
        run.metric(f"{name}_best_lr", best[name])
        run.metric(f"{name}_condition_number", judged[name]["condition"])
        run.metric(f"{name}_steps_to_target", judged[name]["reached"])
        run.metric(f"{name}_tuning_steps_per_lr", {str(lr): float(np.mean(v)) for lr, v in mean_steps[name].items()})
    raw, std = judged["raw"], judged["standardised"]
    kappa = run.compare("standardising cuts the Hessian's condition number", raw["condition"], std["condition"],
                        margin=cfg.condition_drop, better="higher", log=True, labels=("κ raw", "κ standardised"))
    steps = run.compare("standardised features reach the target loss in far fewer steps", std["steps"], raw["steps"],
                        margin=cfg.speedup, better="lower", log=True,
                        labels=(f"standardised steps (lr {best['standardised']:g})",
                                f"raw steps (lr {best['raw']:g}; never = {cfg.max_steps})"))
    _feature_figure(run, cfg, tuning, judged, best, kappa.passed and steps.passed)


def _feature_figure(run: Run, cfg: FeatureNormalizationConfig, tuning: dict, judged: dict, best: dict,
                    passed: bool) -> None:
    colors = {"raw": figures.BASELINE, "standardised": figures.verdict_color(passed)}
    fig, axes = figures.subplots(1, 3, panel=(4.4, 3.6))
    for name, r in judged.items():
        steps, losses = zip(*r["curves"][0])
        axes[0].loglog(np.array(steps) + 1, losses, color=colors[name], label=f"{name}, $\\eta$ = {best[name]:g}")
        lowest = [np.nanmin([v for _, v in tuning[name][lr].curve]) for lr in cfg.lrs]
        axes[1].loglog(cfg.lrs, lowest, "o-", color=colors[name], label=name)
        axes[2].semilogy(r["eigenvalues"][::-1], "o", color=colors[name], markersize=4,
                         label=f"{name}: $\\kappa$ = {r['condition'][0]:.1e}")
    for ax in axes[:2]:
        ax.axhline(cfg.target_loss, color=figures.BASELINE, linestyle=":", linewidth=1, label="target")
    axes[0].set(xlabel="gradient-descent step + 1", ylabel="training loss (nats)",
                title="each arm at its best $\\eta$ (judged seed 0)")
    axes[1].set(xlabel="learning rate $\\eta$", ylabel="lowest training loss (nats)",
                title=f"$\\eta$ grid, {cfg.max_steps} steps (tuning seed)")
    axes[2].set(xlabel="eigenvalue index (largest first)", ylabel="Hessian eigenvalue (nats)",
                title="loss Hessian at $w = 0$ (judged seed 0)")
    for ax in axes:
        figures.legend_below(ax, ncol=1)
    run.figure("feature_normalization", fig)


# ---------------------------------------------------------------------------------------------- batch-norm


@dataclass
class BatchNormConfig(Config):
    dataset: str = "mnist5k"
    """the images, as flat vectors: mnist5k | digits (both bundled) | mnist | cifar10 (your files: --data-dir)"""
    speedup: float = 1.0
    """the claim: with the norm the target is reached in fewer steps than without by more than this factor (1 = fewer)"""
    degradation: float = 0.05
    """the claim: batch norm's test accuracy drops by more than this with micro-batches, layer/group norm's by less"""
    independence_tolerance: float = 1e-5
    """the claim: at evaluation an output changes by at most this when its batch-mates change (train mode: more)"""
    target_accuracy: float = 0.9
    """validation accuracy to reach"""
    tested_norm: Literal["batch", "layer", "group", "none"] = "batch"
    """the norm under test against none and at micro-batches (the negative control sets none: no batch norm anywhere)"""
    depth: int = 8
    """hidden layers of the deep network"""
    width: int = 64
    """units per hidden layer"""
    groups: int = 8
    """channel groups of group norm (must divide width)"""
    lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    """SGD (momentum 0.9) learning-rate grid; with and without the norm each judged at its best (tuning seeds)"""
    batch_size: int = 64
    """mini-batch size of the speed comparison and of the whole-batch arm of the micro-batch comparison"""
    max_epochs: int = 6
    """epochs before giving up on the target (a run that never reaches it counts as this budget)"""
    eval_every: int = 10
    """optimizer steps between validation measurements"""
    seeds: int = 5
    """judged seeds of the speed comparison (paired: one seed draws the initialisation and the batch order)"""
    tuning_seeds: int = 1
    """seeds that pick each arm's learning rate (distinct from the judged seeds)"""
    micro_batch: int = 2
    """micro-batch size of the gradient-accumulation comparison (accumulated to batch_size)"""
    micro_epochs: int = 2
    """epochs of each micro-batch / whole-batch run (same samples seen, same optimizer steps)"""
    micro_lr: float = 0.03
    """SGD (momentum 0.9) learning rate of the micro-batch comparison (all norms, both batch sizes; not tuned)"""
    micro_seeds: int = 3
    """judged seeds of the micro-batch comparison (paired)"""
    train_samples: int = 3500
    """training samples used (the first of the training split; all of it when it is smaller: mnist5k has 3,500)"""

    thresholds: ClassVar[tuple[str, ...]] = ("speedup", "degradation", "independence_tolerance", "target_accuracy")
    rules: ClassVar[dict] = {
        "speedup": at_least(1), "degradation": at_least(0), "independence_tolerance": positive,
        "target_accuracy": in_range(0, 1, closed=False), "depth": at_least(1), "width": at_least(1),
        "groups": at_least(1), "lrs": (nonempty, positive), "batch_size": at_least(2), "max_epochs": at_least(1),
        "eval_every": at_least(1), "seeds": at_least(2), "tuning_seeds": at_least(1), "micro_batch": at_least(2),
        "micro_epochs": at_least(1), "micro_lr": positive, "micro_seeds": at_least(2), "train_samples": at_least(120),
    }
    profiles: ClassVar[dict] = {
        "smoke": {"depth": 3, "width": 16, "lrs": (0.1,), "max_epochs": 1, "seeds": 2, "micro_seeds": 2,
                  "micro_epochs": 1, "eval_every": 2, "train_samples": 256},
        "full": {"depth": 12, "width": 128, "lrs": (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0), "max_epochs": 30,
                 "seeds": 10, "tuning_seeds": 3, "micro_seeds": 10, "micro_epochs": 10, "train_samples": 60000},
    }
    real_dataset: ClassVar[str | None] = "mnist"

    def validate(self) -> None:
        super().validate()
        check_dataset(self.dataset, FLAT_DATASETS)
        if self.batch_size % self.micro_batch:
            raise BadInput(f"--set micro_batch: must divide batch_size={self.batch_size}, got {self.micro_batch}")
        if self.width % self.groups:
            raise BadInput(f"--set width: group norm uses {self.groups} groups, so width must be a multiple of "
                           f"{self.groups}, got {self.width}")


def _net(data: Dataset, cfg: BatchNormConfig, norm: str, seed: int, device) -> DeepNet:
    torch.manual_seed(seed)
    return DeepNet(data.feature_shape[0], data.n_classes, cfg.width, cfg.depth, norm, cfg.groups).to(device)


def _steps_to_target(run: Run, cfg: BatchNormConfig, data: Dataset, norm: str, lr: float, seed: int) -> StepsToTarget:
    model = _net(data, cfg, norm, seed, run.device)
    tracker = StepsToTarget(lambda m: accuracy(m, data.val.x, data.val.y), cfg.target_accuracy, every=cfg.eval_every)
    return fit_until(model, tracker, loss_fn=cross_entropy_sum,
                     loader=TensorLoader((data.train.x, data.train.y), cfg.batch_size, seed=seed % 2**32),
                     optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9), epochs=cfg.max_epochs)


def _speed(run: Run, cfg: BatchNormConfig, data: Dataset, bar) -> dict:
    """Steps to the target validation accuracy without a norm and with the tested one, each at its best lr."""
    budget = cfg.max_epochs * len(TensorLoader((data.train.x,), cfg.batch_size))
    results = {"budget": budget}
    for arm, norm in (("without", "none"), ("with", cfg.tested_norm)):
        tuned, last = {}, {}
        for lr in cfg.lrs:
            steps, final = [], []
            for i in range(cfg.tuning_seeds):
                tracker = _steps_to_target(run, cfg, data, norm, lr, derive_seed(run.seed, "tune", i))
                steps.append(tracker.steps if tracker.steps is not None else budget)
                final.append(np.nan_to_num(tracker.curve[-1][1]) if tracker.curve else 0.0)
                bar.update()
            tuned[lr], last[lr] = float(np.mean(steps)), float(np.mean(final))
        best = min(tuned, key=lambda lr: (tuned[lr], -last[lr]))  # fewest steps; ties: highest final accuracy
        trackers = []
        for i in range(cfg.seeds):
            trackers.append(_steps_to_target(run, cfg, data, norm, best, derive_seed(run.seed, "judge", i)))
            run.log_metrics(part="speed", norm=norm, lr=best, seed=i, steps=trackers[-1].steps)
            bar.update()
        results[arm] = {"norm": norm, "best": best, "tuning": tuned, "trackers": trackers,
                        "steps": [t.steps if t.steps is not None else budget for t in trackers]}
        run.metric(f"{arm}_norm_best_lr", best)
        run.metric(f"{arm}_norm_tuning_steps_per_lr", {str(k): v for k, v in tuned.items()})
        run.metric(f"{arm}_norm_steps_to_target", [t.steps for t in trackers])
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


def _micro_batches(run: Run, cfg: BatchNormConfig, data: Dataset, norms: tuple[str, ...], bar) -> dict:
    """Per-seed test accuracy of each norm trained with micro-batches accumulated to batch_size vs whole batches."""
    results = {}
    for norm in norms:
        for micro in (cfg.micro_batch, cfg.batch_size):
            accuracies = []
            for i in range(cfg.micro_seeds):
                seed = derive_seed(run.seed, "judge", i)
                model = _net(data, cfg, norm, seed, run.device)
                # micro-batches of 2 accumulated 32 times: the same optimizer steps on the same samples as batch 64
                fit(model, cross_entropy_sum, TensorLoader((data.train.x, data.train.y), micro, seed=seed % 2**32),
                    torch.optim.SGD(model.parameters(), lr=cfg.micro_lr, momentum=0.9), epochs=cfg.micro_epochs,
                    accum_steps=cfg.batch_size // micro)
                model.eval()
                accuracies.append(accuracy(model, data.test.x, data.test.y))
                run.log_metrics(part="micro", norm=norm, batch=micro, seed=i, test_acc=accuracies[-1])
                bar.update()
            results[(norm, micro)] = accuracies
    run.metric("micro_batch_test_acc", {f"{n}@{b}": a for (n, b), a in results.items()})
    return results


@experiment("batch-norm", section="normalization",
            claim="Batch norm lets a deep network reach {target_accuracy:.0%} validation accuracy in fewer steps than "
                  "without it (by more than a factor {speedup:g}, each at its best learning rate); at evaluation its "
                  "running statistics make a sample's output independent of its batch-mates (change <= "
                  "{independence_tolerance:g}); with micro-batches of 2 (as under gradient accumulation) batch norm's "
                  "test accuracy drops by more than {degradation:g} against batch 64 while layer and group norm's "
                  "drop by less.",
            negative_control=NegativeControl(
                overrides=("tested_norm=none",),
                fails=("batch norm reaches the target accuracy in fewer steps",
                       "at evaluation an output does not depend on its batch-mates",
                       "batch norm degrades with micro-batches of 2"),
                why="no batch norm in either arm: the same network with and without, no batch statistics"))
def batch_norm(run: Run, cfg: BatchNormConfig) -> None:
    """A deep He-initialised ReLU MLP (`models.DeepNet`) on `dataset` (the mnist5k sample by default; digits, or
    your MNIST / CIFAR-10 files with --data-dir, flattened) with our BatchNorm1d, LayerNorm and GroupNorm
    (`layers.make_norm`). Speed: each arm's lr from `lrs` picked on tuning seeds derive_seed(seed, "tune", i), then
    judged on seeds derive_seed(seed, "judge", i) at an equal budget of `max_epochs`. Micro-batches: one stated lr
    for every norm and both batch sizes, same optimizer steps on the same samples."""
    data = load_flat(cfg.dataset, seed=run.seed, device=run.device, data_dir=run.data_dir)
    if len(data.test) < 120:  # the batch-mates probe takes 8 samples and two sets of 56 mates from the test split
        raise BadInput(f"--data-dir: batch-norm needs at least 120 test samples, {cfg.dataset} has {len(data.test)}; "
                       "give a larger test set")
    data.train = Split(data.train.x[:cfg.train_samples], data.train.y[:cfg.train_samples])  # stratified split, shuffled
    micro_norms = tuple(dict.fromkeys((cfg.tested_norm, "layer", "group")))
    total = 2 * (len(cfg.lrs) * cfg.tuning_seeds + cfg.seeds) + 2 * len(micro_norms) * cfg.micro_seeds
    with run.progress(total=total, desc="batch-norm") as bar:
        speed = _speed(run, cfg, data, bar)
        probe = _net(data, cfg, cfg.tested_norm, derive_seed(run.seed, "judge", 0), run.device)
        fit(probe, cross_entropy_sum, TensorLoader((data.train.x, data.train.y), cfg.batch_size, seed=run.seed),
            torch.optim.SGD(probe.parameters(), lr=speed["with"]["best"], momentum=0.9), epochs=1)
        eval_difference, train_difference = _batch_independence(probe, data.test.x)
        micro = _micro_batches(run, cfg, data, micro_norms, bar)

    without, with_norm = speed["without"], speed["with"]
    fewer = run.compare("batch norm reaches the target accuracy in fewer steps", with_norm["steps"],
                        without["steps"], margin=cfg.speedup, better="lower", log=True,
                        labels=(f"{cfg.tested_norm} norm steps (lr {with_norm['best']:g})",
                                f"no norm steps (lr {without['best']:g}; never = {speed['budget']})"))
    run.metric("eval_output_change", eval_difference)
    run.metric("train_output_change", train_difference)
    run.check("at evaluation an output does not depend on its batch-mates",
              eval_difference <= cfg.independence_tolerance < train_difference,
              observed=f"{cfg.tested_norm} norm: max |Δ output| when the 56 batch-mates change: eval "
                       f"{eval_difference:.2e}, train mode {train_difference:.2e}",
              expected=f"eval <= {cfg.independence_tolerance:g} < train mode")
    small, large = cfg.micro_batch, cfg.batch_size
    degrades = run.compare(f"batch norm degrades with micro-batches of {small}", micro[(cfg.tested_norm, large)],
                           micro[(cfg.tested_norm, small)], margin=cfg.degradation,
                           labels=(f"{cfg.tested_norm} norm test acc at batch {large}", f"at micro-batch {small}"))
    steady = {}
    for norm in ("layer", "group"):  # non-inferiority: acc(micro) − acc(batch) > −degradation
        steady[norm] = run.compare(f"{norm} norm does not degrade with micro-batches of {small}", micro[(norm, small)],
                                   micro[(norm, large)], margin=-cfg.degradation,
                                   labels=(f"{norm} norm test acc at micro-batch {small}", f"at batch {large}"))
    _batch_norm_figure(run, cfg, speed, micro, micro_norms, fewer.passed,
                       {cfg.tested_norm: degrades.passed, **{n: c.passed for n, c in steady.items()}})


def _batch_norm_figure(run: Run, cfg: BatchNormConfig, speed: dict, micro: dict, norms: tuple[str, ...],
                       faster: bool, micro_passed: dict) -> None:
    fig, axes = figures.subplots(1, 3, panel=(4.4, 3.6))
    colors = {"without": figures.BASELINE, "with": figures.verdict_color(faster)}
    for arm in ("without", "with"):
        r = speed[arm]
        for i, tracker in enumerate(r["trackers"]):
            if tracker.curve:
                steps, values = zip(*tracker.curve)
                axes[0].plot(steps, values, color=colors[arm], alpha=0.8,
                             label=f"{r['norm']} norm ($\\eta$ = {r['best']:g})" if i == 0 else None)
        lrs = list(r["tuning"])
        axes[1].semilogx(lrs, [r["tuning"][lr] for lr in lrs], "o-", color=colors[arm], label=f"{r['norm']} norm")
    axes[0].axhline(cfg.target_accuracy, color=figures.BASELINE, linestyle=":", linewidth=1, label="target")
    axes[0].set(xlabel="optimizer step", ylabel="validation accuracy (fraction)",
                title=f"depth {cfg.depth}, judged seeds")
    axes[1].axhline(speed["budget"], color=figures.BASELINE, linestyle=":", linewidth=1, label="budget (never)")
    axes[1].set(xlabel="learning rate $\\eta$", ylabel=f"steps to {cfg.target_accuracy:g} (tuning)",
                title="learning-rate grid")
    for i, batch in enumerate((cfg.micro_batch, cfg.batch_size)):
        means = [np.mean(micro[(n, batch)]) for n in norms]
        errors = [np.std(micro[(n, batch)], ddof=1) / np.sqrt(len(micro[(n, batch)])) for n in norms]
        colors_i = [figures.verdict_color(micro_passed[n]) if i == 0 else figures.BASELINE for n in norms]
        axes[2].bar(np.arange(len(norms)) + 0.4 * (i - 0.5), means, width=0.4, yerr=errors, color=colors_i,
                    label=f"micro-batch {batch} x {cfg.batch_size // batch}" if i == 0 else f"batch {batch}")
    axes[2].set(xticks=range(len(norms)), xticklabels=[f"{n} norm" for n in norms], ylabel="test accuracy (fraction)",
                xlabel="normalization", title=f"{cfg.micro_epochs} epoch(s), $\\eta$ = {cfg.micro_lr:g}", ylim=(0, 1))
    for ax in axes:
        figures.legend_below(ax, ncol=1)
    run.figure("batch_norm", fig)
