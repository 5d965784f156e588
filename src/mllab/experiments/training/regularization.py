"""overfitting: on a small training set the test loss exceeds the training loss; four remedies lower it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from mllab.core.config import Config
from mllab.core.errors import BadInput
from mllab.core.registry import experiment
from mllab.core.run import Run
from mllab.data import Dataset, TensorLoader, load_dataset
from mllab.models import MLP
from mllab.train import EarlyStopping, fit
from mllab.train.losses import cross_entropy_sum

DATASET_CHOICES = ("digits", "mnist5k", "mnist", "cifar10")
REMEDIES = ("early stopping", "weight decay", "dropout", "smaller model")


@dataclass
class OverfittingConfig(Config):
    dataset: str = "digits"
    """digits | mnist5k (bundled) | mnist | cifar10 (the last two read your files: --data-dir)"""
    n_train: int = 200
    """size of the small training subset drawn from the training split"""
    width: int = 256
    """hidden units per layer of the baseline MLP"""
    depth: int = 2
    """hidden layers of every MLP"""
    epochs: int = 100
    """epochs of every run (early stopping may stop sooner)"""
    batch_size: int = 32
    """mini-batch size"""
    lr: float = 1e-3
    """AdamW learning rate (all runs)"""
    weight_decay: float = 0.1
    """decoupled weight decay λ of the weight-decay remedy (AdamW: w ← w − η λ w each step); others use 0"""
    dropout: float = 0.5
    """dropout probability of the dropout remedy"""
    small_width: int = 16
    """hidden units per layer of the smaller-model remedy"""
    patience: int = 10
    """early stopping: epochs without a lower validation loss before stopping (best weights restored)"""
    seeds: int = 3
    """seeds per setting (subset, initialisation and batch order change with the seed)"""

    profiles: ClassVar[dict] = {
        "smoke": {"n_train": 100, "width": 64, "epochs": 8, "seeds": 1, "patience": 3},
        "full": {"dataset": "mnist5k", "n_train": 500, "width": 1024, "epochs": 200, "seeds": 5},
    }

    def validate(self) -> None:
        super().validate()
        if self.dataset not in DATASET_CHOICES:
            raise BadInput(f"--set dataset: unknown dataset {self.dataset!r}; "
                           f"choose one of {', '.join(DATASET_CHOICES)}")
        if self.n_train < 10:
            raise BadInput(f"--set n_train: need at least 10 training samples, got {self.n_train}")
        if self.width < 1 or self.small_width < 1 or self.depth < 1:
            raise BadInput("--set width/small_width/depth: must be integers >= 1")
        if not 0 <= self.dropout < 1:
            raise BadInput(f"--set dropout: must lie in [0, 1), got {self.dropout}")
        if self.weight_decay < 0 or self.patience < 1:
            raise BadInput("--set weight_decay/patience: need weight_decay >= 0 and patience >= 1")


@dataclass
class Outcome:
    """One training run: per-epoch curves and the final losses (after best-weights restore if any)."""

    train_curve: list[float] = field(default_factory=list)  # eval-mode cross-entropy on the training subset
    test_curve: list[float] = field(default_factory=list)
    train_loss: float = math.nan
    test_loss: float = math.nan
    best_epoch: int = -1


def mean_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy (nats) of `model` on (x, y), eval mode, no grad."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        loss = float(F.cross_entropy(model(x), y))
    model.train(was_training)
    return loss


def train_one(remedy: str | None, data: Dataset, subset: torch.Tensor, cfg: OverfittingConfig, seed: int,
              run: Run) -> Outcome:
    """Train the baseline (remedy None) or one remedy on the training subset; return curves and final losses."""
    torch.manual_seed(seed)
    x_train, y_train = data.train.x[subset], data.train.y[subset]
    model = MLP(math.prod(data.feature_shape), data.n_classes, depth=cfg.depth,
                width=cfg.small_width if remedy == "smaller model" else cfg.width,
                dropout=cfg.dropout if remedy == "dropout" else 0.0).to(run.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr,
                                  weight_decay=cfg.weight_decay if remedy == "weight decay" else 0.0)
    loader = TensorLoader([x_train, y_train], cfg.batch_size, seed=seed)
    outcome = Outcome()

    loss_fn = cross_entropy_sum  # Σ −log p(y|x)

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        losses = {"train_eval_loss": mean_loss(model, x_train, y_train),
                  "val_loss": mean_loss(model, data.val.x, data.val.y),
                  "test_loss": mean_loss(model, data.test.x, data.test.y)}
        outcome.train_curve.append(losses["train_eval_loss"])
        outcome.test_curve.append(losses["test_loss"])
        return losses

    stopper = EarlyStopping(monitor="val_loss", patience=cfg.patience) if remedy == "early stopping" else None
    state = fit(model, loss_fn, loader, optimizer, epochs=cfg.epochs, evaluate=evaluate, early_stopping=stopper)
    outcome.train_loss = mean_loss(model, x_train, y_train)  # after the best-weights restore
    outcome.test_loss = mean_loss(model, data.test.x, data.test.y)
    outcome.best_epoch = state.best_epoch if stopper else len(outcome.test_curve) - 1
    return outcome


@experiment("overfitting", section="training",
            claim="On a small training subset the test loss exceeds the training loss; early stopping, weight "
                  "decay, dropout and a smaller model each lower the baseline's test loss.")
def overfitting(run: Run, cfg: OverfittingConfig) -> None:
    """Baseline: a wide MLP trained with AdamW for `epochs` on `n_train` samples. Each remedy changes one thing.

    Early stopping watches the validation split (patience `patience`) and restores the best weights.
    Losses are mean cross-entropy in nats, measured in eval mode; the verdict compares means over seeds.
    """
    data = load_dataset(cfg.dataset, seed=run.seed, device=run.device, data_dir=run.data_dir)
    if cfg.n_train > len(data.train):
        raise BadInput(f"--set n_train: {cfg.n_train} exceeds the {len(data.train)} training samples of "
                       f"{cfg.dataset}; choose a smaller subset")
    settings = ("baseline",) + REMEDIES
    outcomes: dict[str, list[Outcome]] = {s: [] for s in settings}
    for k in range(cfg.seeds):
        seed = run.seed * 1000 + k
        subset = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))[: cfg.n_train]
        for setting in settings:
            result = train_one(None if setting == "baseline" else setting, data, subset.to(run.device), cfg, seed, run)
            outcomes[setting].append(result)
            run.log_metrics(seed=seed, setting=setting, train_loss=result.train_loss, test_loss=result.test_loss,
                            best_epoch=result.best_epoch)
            run.log(f"seed {seed} {setting}: train {result.train_loss:.3f}, test {result.test_loss:.3f}")
    _checks(run, outcomes)
    _figures(run, cfg, outcomes)


def _stats(values: list[float]) -> tuple[float, float]:
    """(mean, standard deviation over seeds; 0 for one seed)."""
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _checks(run: Run, outcomes: dict[str, list[Outcome]]) -> None:
    base = outcomes["baseline"]
    train_mean, train_std = _stats([o.train_loss for o in base])
    test_mean, test_std = _stats([o.test_loss for o in base])
    run.check("baseline overfits: test loss > training loss", test_mean > train_mean,
              observed=f"test {test_mean:.3f} ± {test_std:.3f} vs train {train_mean:.4f} ± {train_std:.4f} "
                       f"(mean ± sd over {len(base)} seeds)",
              expected="mean test loss > mean training loss")
    for setting, mean_sd in {s: _stats([o.test_loss for o in outcomes[s]]) for s in REMEDIES}.items():
        run.metric(f"test_loss_{setting.replace(' ', '_')}", mean_sd[0])
        run.check(f"{setting} lowers the test loss", mean_sd[0] < test_mean,
                  observed=f"{mean_sd[0]:.3f} ± {mean_sd[1]:.3f} vs baseline {test_mean:.3f} ± {test_std:.3f}",
                  expected="mean test loss below the baseline's")
    run.metric("test_loss_baseline", test_mean)
    run.metric("train_loss_baseline", train_mean)


def _figures(run: Run, cfg: OverfittingConfig, outcomes: dict[str, list[Outcome]]) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(REMEDIES), figsize=(4 * len(REMEDIES), 3.4), sharey=True)
    base = outcomes["baseline"][0]
    for ax, remedy in zip(axes, REMEDIES):
        other = outcomes[remedy][0]
        ax.plot(base.train_curve, "C0--", label="baseline train")
        ax.plot(base.test_curve, "C0-", label="baseline test")
        ax.plot(other.train_curve, "C3--", label=f"{remedy} train")
        ax.plot(other.test_curve, "C3-", label=f"{remedy} test")
        if remedy == "early stopping":
            ax.axvline(other.best_epoch, color="C3", lw=0.8, ls=":", label="restored epoch")
        ax.set_title(remedy)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("cross-entropy (nats)")
    fig.suptitle(f"{cfg.dataset}, {cfg.n_train} training samples (first seed)", y=1.03)
    run.figure("loss_curves", fig)

    settings = list(outcomes)
    stats = [_stats([o.test_loss for o in outcomes[s]]) for s in settings]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.bar(settings, [m for m, _ in stats], yerr=[sd for _, sd in stats], capsize=4,
           color=["C0"] + ["C3"] * len(REMEDIES))
    for i, s in enumerate(settings):
        ax.scatter([i] * len(outcomes[s]), [o.test_loss for o in outcomes[s]], color="k", s=8, zorder=3)
    ax.set_ylabel("test cross-entropy (nats)")
    ax.set_title(f"test loss, mean ± sd over {cfg.seeds} seeds (dots: seeds)")
    ax.tick_params(axis="x", rotation=20)
    run.figure("test_loss", fig)
