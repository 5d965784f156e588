"""overfitting: on a small training set the test loss exceeds the training loss; four remedies are judged."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty, positive
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data import Dataset, TensorLoader
from mllab.data.datasets import FLAT_DATASETS, check_dataset, load_flat
from mllab.models import MLP
from mllab.train import EarlyStopping, fit
from mllab.train.losses import cross_entropy_sum
from mllab.train.helpers import mean_cross_entropy

REMEDIES = ("early stopping", "weight decay", "dropout", "smaller model")


@dataclass
class OverfittingConfig(Config):
    dataset: str = "digits"
    """digits | mnist5k (both bundled) | mnist | cifar10 (your files: --data-dir), as flat vectors"""
    n_train: int = 200
    """size of the small training subset drawn from the training split"""
    width: int = 256
    """hidden units per layer of the baseline MLP"""
    depth: int = 2
    """hidden layers of every MLP"""
    epochs: int = 100
    """epochs of every run (early stopping may stop sooner): the equal budget"""
    batch_size: int = 32
    """mini-batch size"""
    lr: float = 1e-3
    """AdamW learning rate (all runs)"""
    weight_decays: tuple[float, ...] = (0.01, 0.1, 1.0)
    """grid of decoupled weight decay λ for the weight-decay remedy (AdamW: w ← w − η λ w); others use 0"""
    dropouts: tuple[float, ...] = (0.2, 0.5)
    """grid of dropout probabilities for the dropout remedy"""
    small_widths: tuple[int, ...] = (16, 64)
    """grid of hidden widths for the smaller-model remedy"""
    patience: int = 10
    """early stopping: epochs without a lower validation loss before stopping (best weights restored)"""
    tuning_seeds: int = 1
    """seeds that pick each remedy's setting from its grid (by validation loss); not judged"""
    seeds: int = 3
    """judged seeds (subset, initialisation and batch order change with the seed; paired across arms)"""
    overfit_margin: float = 0.1
    """the claim: the baseline's test loss exceeds its training loss by more than this (nats)"""
    margin: float = 0.0
    """the claim: each remedy lowers the baseline's test loss by more than this (nats)"""

    profiles: ClassVar[dict] = {
        "smoke": {"n_train": 100, "width": 64, "epochs": 8, "seeds": 2, "patience": 3, "weight_decays": (0.1,),
                  "dropouts": (0.5,), "small_widths": (16,)},
        "full": {"dataset": "mnist5k", "n_train": 500, "width": 1024, "epochs": 200, "seeds": 5, "tuning_seeds": 2},
    }
    rules: ClassVar[dict] = {"n_train": at_least(10), "width": at_least(1), "depth": at_least(1),
                             "epochs": at_least(1), "batch_size": at_least(1), "lr": positive,
                             "weight_decays": (nonempty, at_least(0)), "dropouts": (nonempty, in_range(0, 1)),
                             "small_widths": (nonempty, at_least(1)), "patience": at_least(1),
                             "tuning_seeds": at_least(1), "seeds": at_least(1), "overfit_margin": at_least(0),
                             "margin": at_least(0)}
    real_dataset: ClassVar[str | None] = "mnist"

    def validate(self) -> None:
        super().validate()
        check_dataset(self.dataset, FLAT_DATASETS)
        if max(self.dropouts) >= 1:
            raise BadInput(f"--set dropouts: each must lie in [0, 1), got {self.dropouts}; e.g. 0.2,0.5")


@dataclass
class Outcome:
    """One training run: per-epoch curves and the final losses (after best-weights restore if any)."""

    train_curve: list[float] = field(default_factory=list)  # eval-mode cross-entropy on the training subset
    test_curve: list[float] = field(default_factory=list)
    train_loss: float = math.nan
    val_loss: float = math.nan
    test_loss: float = math.nan
    best_epoch: int = -1



def train_one(remedy: str | None, value: float, data: Dataset, subset: torch.Tensor, cfg: OverfittingConfig,
              seed: int, run: Run) -> Outcome:
    """Train the baseline (remedy None) or one remedy at `value` (its λ, p or width; unused for early
    stopping) on the training subset; return per-epoch curves and the final losses."""
    torch.manual_seed(seed)
    x_train, y_train = data.train.x[subset], data.train.y[subset]
    model = MLP(math.prod(data.feature_shape), data.n_classes, depth=cfg.depth,
                width=int(value) if remedy == "smaller model" else cfg.width,
                dropout=value if remedy == "dropout" else 0.0).to(run.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr,
                                  weight_decay=value if remedy == "weight decay" else 0.0)
    loader = TensorLoader([x_train, y_train], cfg.batch_size, seed=seed % 2**32)  # TensorLoader multiplies it: 32 bits
    outcome = Outcome()

    loss_fn = cross_entropy_sum  # Σ −log p(y|x)

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        losses = {"train_eval_loss": mean_cross_entropy(model, x_train, y_train),
                  "val_loss": mean_cross_entropy(model, data.val.x, data.val.y),
                  "test_loss": mean_cross_entropy(model, data.test.x, data.test.y)}
        outcome.train_curve.append(losses["train_eval_loss"])
        outcome.test_curve.append(losses["test_loss"])
        return losses

    stopper = EarlyStopping(monitor="val_loss", patience=cfg.patience) if remedy == "early stopping" else None
    state = fit(model, loss_fn, loader, optimizer, epochs=cfg.epochs, evaluate=evaluate, early_stopping=stopper)
    outcome.train_loss = mean_cross_entropy(model, x_train, y_train)  # after the best-weights restore
    outcome.val_loss = mean_cross_entropy(model, data.val.x, data.val.y)
    outcome.test_loss = mean_cross_entropy(model, data.test.x, data.test.y)
    outcome.best_epoch = state.best_epoch if stopper else len(outcome.test_curve) - 1
    return outcome


def grids(cfg: OverfittingConfig) -> dict[str, tuple[float, ...]]:
    """Each remedy's grid (early stopping has one setting: `patience`)."""
    return {"early stopping": (float(cfg.patience),), "weight decay": cfg.weight_decays, "dropout": cfg.dropouts,
            "smaller model": tuple(float(w) for w in cfg.small_widths)}


def subset_for(seed: int, n_available: int, n_train: int) -> torch.Tensor:
    return torch.randperm(n_available, generator=torch.Generator().manual_seed(seed))[:n_train]


@experiment("overfitting", section="training",
            claim="On n = {n_train} training samples a wide MLP's test loss exceeds its training loss by more than "
                  "{overfit_margin:g} nats; early stopping, weight decay, dropout and a smaller model (each at its "
                  "best setting from a stated grid) each lower the baseline's test loss by more than {margin:g} nats.",
            negative_control=NegativeControl(
                overrides=("weight_decays=0", "dropouts=0", "small_widths=64"),
                fails=("weight decay lowers the test loss", "dropout lowers the test loss",
                       "smaller model lowers the test loss"),
                why="λ = 0, p = 0 and the baseline's width (64 in smoke) make those arms the baseline itself"))
def overfitting(run: Run, cfg: OverfittingConfig) -> None:
    """Baseline: a wide MLP trained with AdamW for `epochs` on `n_train` samples. Each remedy changes one thing.

    Early stopping watches the validation split (patience `patience`) and restores the best weights.
    Weight decay, dropout and the smaller model each take their best value from their grid, picked by
    the final validation loss on `tuning_seeds` seeds (derive_seed(seed, "tune", k)) that the verdict does not
    use; the judged seeds are derive_seed(seed, "judge", k). Every arm trains for the same `epochs` (equal budget),
    on the same subset, initialisation seed and batch order per judged seed (paired). Losses: mean cross-entropy in
    nats, eval mode; every comparison is `run.compare` over the judged seeds.

    The "smaller model" remedy usually fails here: the baseline (~85 k parameters for 200 samples × 10
    classes) is far past the interpolation threshold, where a smaller model moves toward the test-error
    peak rather than away from it. The `double-descent` experiment maps where fewer parameters help and
    where they hurt.

    Data: `dataset` = digits (default), mnist5k, or your MNIST / CIFAR-10 files (--data-dir; the full profile uses
    mnist when a folder is given), as flat vectors: the MLP's input size follows the data (64, 784 or 3072).
    """
    data = load_flat(cfg.dataset, seed=run.seed, device=run.device, data_dir=run.data_dir)
    if cfg.n_train > len(data.train):
        raise BadInput(f"--set n_train: {cfg.n_train} exceeds the {len(data.train)} training samples of "
                       f"{cfg.dataset}; choose a smaller subset")
    grid = grids(cfg)
    chosen: dict[str, float] = {}
    bar = run.progress(total=sum(len(v) for v in grid.values() if len(v) > 1) * cfg.tuning_seeds
                       + cfg.seeds * (1 + len(REMEDIES)), desc="overfitting runs")
    for remedy, values in grid.items():  # tuning: pick each remedy's value by validation loss
        if len(values) == 1:
            chosen[remedy] = values[0]
            continue
        val = {v: [] for v in values}
        for k in range(cfg.tuning_seeds):
            seed = derive_seed(run.seed, "tune", k)
            subset = subset_for(seed, len(data.train), cfg.n_train).to(run.device)
            for v in values:
                val[v].append(train_one(remedy, v, data, subset, cfg, seed, run).val_loss)
                bar.update()
        chosen[remedy] = min(values, key=lambda v: float(np.mean(val[v])))
        run.log(f"tuning {remedy}: validation loss " + ", ".join(f"{v:g}: {np.mean(val[v]):.3f}" for v in values)
                + f" -> {chosen[remedy]:g}")
    run.metric("chosen", chosen)

    settings = ("baseline",) + REMEDIES
    outcomes: dict[str, list[Outcome]] = {s: [] for s in settings}
    for k in range(cfg.seeds):
        seed = derive_seed(run.seed, "judge", k)
        subset = subset_for(seed, len(data.train), cfg.n_train).to(run.device)
        for setting in settings:
            remedy = None if setting == "baseline" else setting
            result = train_one(remedy, chosen.get(setting, 0.0), data, subset, cfg, seed, run)
            bar.update()
            outcomes[setting].append(result)
            run.log_metrics(seed=seed, setting=setting, train_loss=result.train_loss, test_loss=result.test_loss,
                            best_epoch=result.best_epoch)
            run.log(f"judged seed {k} {setting}: train {result.train_loss:.3f}, test {result.test_loss:.3f}")
    bar.close()
    passed = _checks(run, cfg, outcomes, chosen)
    _figures(run, cfg, outcomes, chosen, passed)


def _checks(run: Run, cfg: OverfittingConfig, outcomes: dict[str, list[Outcome]],
            chosen: dict[str, float]) -> dict[str, bool]:
    base = outcomes["baseline"]
    base_test = [o.test_loss for o in base]
    run.compare("baseline overfits: test loss > training loss", base_test, [o.train_loss for o in base],
                margin=cfg.overfit_margin, better="higher", labels=("baseline test", "baseline train"))
    passed = {}
    for remedy in REMEDIES:
        test = [o.test_loss for o in outcomes[remedy]]
        run.metric(f"test_loss_{remedy.replace(' ', '_')}", float(np.mean(test)))
        passed[remedy] = run.compare(f"{remedy} lowers the test loss", test, base_test, margin=cfg.margin,
                                     better="lower", labels=(f"{remedy} ({_setting_text(remedy, chosen)})",
                                                             "baseline")).passed
    run.metric("test_loss_baseline", float(np.mean(base_test)))
    run.metric("train_loss_baseline", float(np.mean([o.train_loss for o in base])))
    return passed


def _setting_text(remedy: str, chosen: dict[str, float]) -> str:
    value = chosen[remedy]
    return {"early stopping": f"patience {value:g}", "weight decay": f"λ={value:g}", "dropout": f"p={value:g}",
            "smaller model": f"width {value:g}"}[remedy]


def _figures(run: Run, cfg: OverfittingConfig, outcomes: dict[str, list[Outcome]], chosen: dict[str, float],
             passed: dict[str, bool]) -> None:
    fig, axes = figures.subplots(2, 2, panel=(4.4, 3.0))
    base = outcomes["baseline"][0]
    for ax, remedy in zip(axes, REMEDIES):
        other, color = outcomes[remedy][0], figures.verdict_color(passed[remedy])
        ax.plot(base.train_curve, color=figures.BASELINE, ls="--", label="baseline, train")
        ax.plot(base.test_curve, color=figures.BASELINE, label="baseline, test")
        ax.plot(other.train_curve, color=color, ls="--", label="remedy, train")
        ax.plot(other.test_curve, color=color, label="remedy, test")
        if remedy == "early stopping":
            ax.axvline(other.best_epoch, color=color, lw=0.8, ls=":", label="restored epoch")
        ax.set(title=f"{remedy} ({_setting_text(remedy, chosen)})", xlabel="epoch", ylabel="cross-entropy (nats)",
               yscale="log")
        figures.legend_outside(ax)
    fig.suptitle(f"{cfg.dataset}, {cfg.n_train} training samples, first judged seed "
                 "(green: remedy lowers the test loss over seeds, red: it does not)")
    run.figure("loss_curves", fig)

    settings = list(outcomes)
    values = [np.array([o.test_loss for o in outcomes[s]]) for s in settings]
    fig, axes = figures.subplots(1, 1, panel=(7.5, 3.6))
    ax = axes[0]
    colors = [figures.BASELINE] + [figures.verdict_color(passed[s]) for s in REMEDIES]
    se = [v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0 for v in values]
    ax.bar(range(len(settings)), [v.mean() for v in values], yerr=se, capsize=4, color=colors)
    for i, v in enumerate(values):
        ax.scatter([i] * len(v), v, color="black", s=8, zorder=3, label="one seed" if i == 0 else None)
    names = ["baseline"] + [f"{s.replace('early ', 'early' + chr(10))}\n({_setting_text(s, chosen)})" for s in REMEDIES]
    ax.set_xticks(range(len(settings)), names, fontsize=8)
    ax.set(title=f"test loss, mean ± SE over {cfg.seeds} seeds (green: lower than baseline, red: not)",
           xlabel="setting", ylabel="test cross-entropy (nats)")
    figures.legend_outside(ax)
    run.figure("test_loss", fig)
