"""model-bias-vs-optimization: a deeper plain MLP ends with a higher training loss; residual connections fix it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

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
from mllab.data import Dataset, TensorLoader
from mllab.data.datasets import FLAT_DATASETS, check_dataset, load_flat
from mllab.models import MLP
from mllab.train import fit
from mllab.train.losses import cross_entropy_sum
from mllab.train.helpers import mean_cross_entropy

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
ARMS = (("plain", "shallow"), ("plain", "deep"), ("residual", "deep"))  # the judged arms (kind, which depth)


@dataclass
class DepthConfig(Config):
    dataset: str = "digits"
    """the data, as flat vectors: digits | mnist5k (both bundled) | mnist | cifar10 (your files: --data-dir)"""
    shallow: int = 2
    """hidden layers of the shallow plain MLP"""
    deep: int = 8
    """hidden layers of the deep arms: a depth at which the plain MLP still trains on digits (fixed before judging)"""
    dead_depth: int = 24
    """a depth shown apart, where the plain MLP does not train at all (0 = skip); not judged"""
    width: int = 64
    """hidden units per layer"""
    activation: str = "relu"
    """relu | tanh | sigmoid"""
    epochs: int = 30
    """epochs of every run (the equal budget)"""
    batch_size: int = 128
    """mini-batch size"""
    lrs: tuple[float, ...] = (1e-3, 3e-3)
    """Adam learning-rate grid; each arm takes its best (lowest final training loss) on the tuning seeds"""
    tuning_seeds: int = 1
    """seeds that pick each arm's learning rate (derive_seed(seed, "tune", k)); not judged"""
    seeds: int = 3
    """judged seeds (derive_seed(seed, "judge", k)): one seed draws the initialisation and batch order of every arm"""
    margin: float = 0.0
    """the claim: the deep plain MLP's training loss exceeds the shallow one's by more than this (nats)"""
    gap_share: float = 0.1
    """the claim: deep residual <= shallow plain + gap_share x (deep plain - shallow plain), per seed"""
    trained_loss: float = 1.0
    """sanity: the deep plain arm counts as trained when its training loss ends below this (chance: ln 10 = 2.30)"""

    profiles: ClassVar[dict] = {
        "smoke": {"deep": 4, "dead_depth": 0, "epochs": 3, "seeds": 2, "lrs": (3e-3,), "trained_loss": 2.2},
        "full": {"deep": 16, "dead_depth": 48, "width": 128, "epochs": 60, "seeds": 5, "tuning_seeds": 2},
    }
    rules: ClassVar[dict] = {"shallow": at_least(1), "deep": at_least(1), "dead_depth": at_least(0),
                             "width": at_least(1), "epochs": at_least(1), "batch_size": at_least(1),
                             "lrs": (nonempty, positive), "tuning_seeds": at_least(1), "seeds": at_least(1),
                             "margin": at_least(0), "gap_share": in_range(0, 1), "trained_loss": positive}
    real_dataset: ClassVar[str | None] = "mnist"

    def validate(self) -> None:
        super().validate()
        check_dataset(self.dataset, FLAT_DATASETS)
        if self.deep < self.shallow:
            raise BadInput(f"--set deep: must be >= shallow = {self.shallow}, got {self.deep}")
        if self.activation not in ACTIVATIONS:
            raise BadInput(f"--set activation: unknown {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")



def train_one(data: Dataset, depth: int, residual: bool, lr: float, cfg: DepthConfig, seed: int,
              run: Run) -> tuple[list[float], float, float]:
    """Train one MLP on the whole training split; return (per-epoch training loss, final train loss, test loss)."""
    torch.manual_seed(seed)
    model = MLP(data.feature_shape[0], data.n_classes, width=cfg.width, depth=depth,
                activation=ACTIVATIONS[cfg.activation], residual=residual).to(run.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = TensorLoader([data.train.x, data.train.y], cfg.batch_size, seed=seed % 2**32)

    loss_fn = cross_entropy_sum  # Σ −log p(y|x)

    def evaluate(model: nn.Module) -> dict[str, float]:
        return {"train_eval_loss": float(F.cross_entropy(model(data.train.x), data.train.y))}

    state = fit(model, loss_fn, loader, optimizer, epochs=cfg.epochs, evaluate=evaluate)
    curve = [h["train_eval_loss"] for h in state.history]
    return curve, mean_cross_entropy(model, data.train.x, data.train.y), mean_cross_entropy(model, data.test.x, data.test.y)


@experiment("model-bias-vs-optimization", section="training",
            claim="At an equal budget (each arm at its best learning rate) a plain MLP of depth {deep} ends with a "
                  "higher training loss than one of depth {shallow} (by more than {margin:g} nats): an optimisation "
                  "problem, not capacity; residual connections at depth {deep} close the gap to within "
                  "{gap_share:.0%} of it.",
            negative_control=NegativeControl(
                overrides=("deep=2",), fails=("deeper plain MLP ends with a higher training loss",),
                why="both plain arms have the same depth, so neither can end higher"))
def model_bias_vs_optimization(run: Run, cfg: DepthConfig) -> None:
    """MLPs on the training split of `dataset` (digits by default; mnist5k, or your MNIST / CIFAR-10 files with
    --data-dir, as flat vectors: the input size follows the data): plain of depth `shallow` and `deep`, residual
    (h_{l+1} = h_l + f(h_l)) of depth `deep`; same width, optimiser and epochs, PyTorch's default initialisation.

    The deep network contains functions at least as good as the shallow one's (extra layers that pass their
    input on), so a higher *training* loss is a failure of optimisation, not of model capacity. The claim
    is judged at a depth where the plain MLP does train (`deep`, 8 in quick, fixed before the first judged
    run; a sanity check confirms it trained): a network that never leaves chance (ln 10) says nothing about
    how well optimisation works, so `dead_depth` (24) is drawn and recorded apart, not judged.
    Each arm's Adam learning rate is its best from `lrs` on tuning seeds derive_seed(seed, "tune", k); the judged
    seeds are derive_seed(seed, "judge", k), paired across arms. Comparisons: `run.compare` over the judged seeds.
    The depth 8 (quick) was fixed on digits; on other data the sanity check says whether the plain arm trained.
    """
    data = load_flat(cfg.dataset, seed=run.seed, device=run.device, data_dir=run.data_dir)
    depth_of = {"shallow": cfg.shallow, "deep": cfg.deep}
    extra = [(kind, "dead") for kind in ("plain", "residual")] if cfg.dead_depth else []
    depth_of["dead"] = cfg.dead_depth
    bar = run.progress(total=len(ARMS) * (cfg.tuning_seeds * len(cfg.lrs) * (len(cfg.lrs) > 1) + cfg.seeds)
                       + len(extra), desc="depth runs")
    best_lr: dict[tuple[str, str], float] = {}
    for kind, which in ARMS:  # tuning seeds: each arm's best learning rate
        if len(cfg.lrs) == 1:
            best_lr[kind, which] = cfg.lrs[0]
            continue
        losses = {lr: [] for lr in cfg.lrs}
        for k in range(cfg.tuning_seeds):
            for lr in cfg.lrs:
                losses[lr].append(train_one(data, depth_of[which], kind == "residual", lr, cfg,
                                            derive_seed(run.seed, "tune", k), run)[1])
                bar.update()
        best_lr[kind, which] = min(cfg.lrs, key=lambda lr: float(np.mean(losses[lr])))
        run.log(f"tuning {kind} depth {depth_of[which]}: " + ", ".join(f"lr {lr:g}: {np.mean(v):.4f}"
                                                                        for lr, v in losses.items()))
    for kind, which in extra:  # the dead depth at the deep arm's learning rate, one seed: shown, not judged
        best_lr[kind, which] = best_lr[kind, "deep"]
    final: dict[tuple[str, str], list[float]] = {}
    curves: dict[tuple[str, str], list[list[float]]] = {}
    for kind, which in (*ARMS, *extra):
        for k in range(cfg.seeds if which != "dead" else 1):
            seed = derive_seed(run.seed, "judge", k)
            curve, train_loss, test_loss = train_one(data, depth_of[which], kind == "residual",
                                                     best_lr[kind, which], cfg, seed, run)
            bar.update()
            final.setdefault((kind, which), []).append(train_loss)
            curves.setdefault((kind, which), []).append(curve)
            run.log_metrics(kind=kind, depth=depth_of[which], seed=seed, lr=best_lr[kind, which],
                            train_loss=train_loss, test_loss=test_loss)
    bar.close()
    for (kind, which), values in final.items():
        run.metric(f"train_loss_{kind}_{depth_of[which]}", float(np.mean(values)))
        run.metric(f"lr_{kind}_{depth_of[which]}", best_lr[kind, which])
    passed = _checks(run, cfg, final)
    _figure(run, cfg, curves, depth_of, passed)


def _checks(run: Run, cfg: DepthConfig, final: dict[tuple[str, str], list[float]]) -> dict[str, bool]:
    plain_s, plain_d = np.array(final["plain", "shallow"]), np.array(final["plain", "deep"])
    residual_d = np.array(final["residual", "deep"])
    run.check(f"plain depth {cfg.deep} trains (leaves chance)", float(plain_d.max()) < cfg.trained_loss,
              observed=f"final training loss {plain_d.mean():.4f} (worst seed {plain_d.max():.4f}); chance "
                       f"ln 10 = {math.log(10):.4f}",
              expected=f"every seed < {cfg.trained_loss:g} nats", kind="sanity")
    gap = run.compare("deeper plain MLP ends with a higher training loss", plain_d, plain_s, margin=cfg.margin,
                      better="higher", labels=(f"plain depth {cfg.deep}", f"plain depth {cfg.shallow}"))
    allowed = plain_s + cfg.gap_share * np.maximum(plain_d - plain_s, 0.0)  # per seed: shallow + share x gap
    closes = run.compare("residual connections close the gap", allowed, residual_d, margin=0.0, better="higher",
                         labels=(f"shallow + {cfg.gap_share:g} x gap", f"residual depth {cfg.deep}"))
    if ("plain", "dead") in final:
        run.metric("dead_depth_plain_train_loss", final["plain", "dead"][0])
        run.metric("dead_depth_residual_train_loss", final["residual", "dead"][0])
        run.log(f"dead depth {cfg.dead_depth} (not judged): plain {final['plain', 'dead'][0]:.4f}, residual "
                f"{final['residual', 'dead'][0]:.4f}, chance {math.log(10):.4f}")
    return {"gap": gap.passed, "closes": closes.passed}


def _figure(run: Run, cfg: DepthConfig, curves: dict[tuple[str, str], list[list[float]]], depth_of: dict[str, int],
            passed: dict[str, bool]) -> None:
    has_dead = ("plain", "dead") in curves
    fig, axes = figures.subplots(1, 2 if has_dead else 1, panel=(4.8, 3.6))
    styles = {("plain", "shallow"): (figures.BASELINE, "-"),
              ("plain", "deep"): (figures.verdict_color(passed["gap"]), "-"),
              ("residual", "deep"): (figures.verdict_color(passed["closes"]), "--")}
    for (kind, which), (color, ls) in styles.items():
        runs = np.array(curves[kind, which])  # (seeds, epochs)
        epochs = np.arange(1, runs.shape[1] + 1)
        axes[0].plot(epochs, runs.mean(0), color=color, ls=ls, label=f"{kind}, depth {depth_of[which]}")
        axes[0].fill_between(epochs, runs.min(0), runs.max(0), color=color, alpha=0.15)
    axes[0].set(title=f"judged: depth {cfg.shallow} vs {cfg.deep} (band: min..max, {cfg.seeds} seeds)",
                xlabel="epoch", ylabel="training cross-entropy (nats)", yscale="log")
    figures.legend_outside(axes[0])
    if has_dead:
        ax = axes[1]
        for (kind, color, ls) in (("plain", figures.SERIES[1], "-"), ("residual", figures.SERIES[0], "--")):
            curve = curves[kind, "dead"][0]
            ax.plot(np.arange(1, len(curve) + 1), curve, color=color, ls=ls, label=f"{kind}, depth {cfg.dead_depth}")
        ax.axhline(math.log(10), color=figures.BASELINE, ls=":", label=r"chance, $\ln 10$")
        ax.set(title=f"not judged: depth {cfg.dead_depth}, one seed", xlabel="epoch",
               ylabel="training cross-entropy (nats)", yscale="log")
        figures.legend_outside(ax)
    fig.suptitle(f"{cfg.dataset}, {cfg.activation} MLP of width {cfg.width}, {cfg.epochs} epochs of Adam "
                 "(green: claim part holds, red: fails, grey: reference)")
    run.figure("training_loss", fig)
