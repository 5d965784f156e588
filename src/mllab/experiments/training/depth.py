"""model-bias-vs-optimization: a deeper plain MLP ends with a higher training loss; residual connections fix it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mllab.core.config import Config
from mllab.core.errors import BadInput
from mllab.core.registry import experiment
from mllab.core.run import Run
from mllab.data import Dataset, TensorLoader, load_dataset
from mllab.models import MLP
from mllab.train import fit
from mllab.train.losses import cross_entropy_sum

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
KINDS = ("plain", "residual")


@dataclass
class DepthConfig(Config):
    depths: tuple[int, ...] = (2, 8, 24)
    """hidden layers of the MLPs, increasing; the first is 'shallow', the last 'deep'"""
    width: int = 64
    """hidden units per layer"""
    activation: str = "relu"
    """relu | tanh | sigmoid"""
    epochs: int = 30
    """epochs of every run (equal budget)"""
    batch_size: int = 128
    """mini-batch size"""
    lr: float = 1e-3
    """Adam learning rate, the same for every depth (Adam's default; not tuned per depth)"""
    seeds: int = 3
    """seeds per (depth, kind)"""
    gap_share: float = 0.1
    """'removes the gap': deep residual <= shallow plain + gap_share x (deep plain - shallow plain)"""

    profiles: ClassVar[dict] = {
        "smoke": {"depths": (2, 8), "epochs": 2, "seeds": 1},
        "full": {"depths": (2, 8, 16, 32, 48), "width": 128, "epochs": 60, "seeds": 5},
    }

    def validate(self) -> None:
        super().validate()
        if len(self.depths) < 2 or any(d < 1 for d in self.depths) or list(self.depths) != sorted(set(self.depths)):
            raise BadInput(f"--set depths: give at least two increasing depths >= 1, got {self.depths}; e.g. 2,24")
        if self.activation not in ACTIVATIONS:
            raise BadInput(f"--set activation: unknown {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if self.width < 1 or not 0 <= self.gap_share <= 1:
            raise BadInput("--set width/gap_share: need width >= 1 and 0 <= gap_share <= 1")


def train_loss_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy (nats) on (x, y) in eval mode."""
    model.eval()
    with torch.no_grad():
        return float(F.cross_entropy(model(x), y))


def train_one(data: Dataset, depth: int, residual: bool, cfg: DepthConfig, seed: int,
              run: Run) -> tuple[list[float], float, float]:
    """Train one MLP on the whole training split; return (per-epoch training loss, final train loss, test loss)."""
    torch.manual_seed(seed)
    model = MLP(data.feature_shape[0], data.n_classes, width=cfg.width, depth=depth,
                activation=ACTIVATIONS[cfg.activation], residual=residual).to(run.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loader = TensorLoader([data.train.x, data.train.y], cfg.batch_size, seed=seed)

    loss_fn = cross_entropy_sum  # Σ −log p(y|x)

    def evaluate(model: nn.Module) -> dict[str, float]:
        return {"train_eval_loss": float(F.cross_entropy(model(data.train.x), data.train.y))}

    state = fit(model, loss_fn, loader, optimizer, epochs=cfg.epochs, evaluate=evaluate)
    curve = [h["train_eval_loss"] for h in state.history]
    return curve, train_loss_of(model, data.train.x, data.train.y), train_loss_of(model, data.test.x, data.test.y)


@experiment("model-bias-vs-optimization", section="training",
            claim="At equal budget a deeper plain network ends with a higher training loss than a shallower one "
                  "(an optimisation problem, not overfitting), and residual connections remove the gap.")
def model_bias_vs_optimization(run: Run, cfg: DepthConfig) -> None:
    """MLPs of each depth, plain and residual (h_{l+1} = h_l + f(h_l)), on the digits training split.

    Same width, optimiser, learning rate and number of epochs for all; PyTorch's default initialisation.
    The deep network contains functions at least as good as the shallow one's (e.g. extra layers that pass
    their input on), so a higher *training* loss is a failure of optimisation, not of model capacity.
    """
    data = load_dataset("digits", seed=run.seed, device=run.device)
    final: dict[tuple[str, int], list[float]] = {}
    curves: dict[tuple[str, int], list[list[float]]] = {}
    for kind in KINDS:
        for depth in cfg.depths:
            for k in range(cfg.seeds):
                seed = run.seed * 1000 + k
                curve, train_loss, test_loss = train_one(data, depth, kind == "residual", cfg, seed, run)
                final.setdefault((kind, depth), []).append(train_loss)
                curves.setdefault((kind, depth), []).append(curve)
                run.log_metrics(kind=kind, depth=depth, seed=seed, train_loss=train_loss, test_loss=test_loss)
                run.log(f"{kind} depth {depth} seed {seed}: train loss {train_loss:.4f}, test loss {test_loss:.4f}")
    _checks(run, cfg, final)
    _figure(run, cfg, curves)


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _checks(run: Run, cfg: DepthConfig, final: dict[tuple[str, int], list[float]]) -> None:
    shallow, deep = cfg.depths[0], cfg.depths[-1]
    stats = {key: _mean_sd(values) for key, values in final.items()}
    for (kind, depth), (mean, sd) in stats.items():
        run.metric(f"train_loss_{kind}_{depth}", mean)
    (plain_s, sd_s), (plain_d, sd_d) = stats["plain", shallow], stats["plain", deep]
    (res_s, sd_rs), (res_d, sd_rd) = stats["residual", shallow], stats["residual", deep]
    gap = plain_d - plain_s
    run.check(f"plain depth {deep} ends with a higher training loss than depth {shallow}", gap > 0,
              observed=f"train loss {plain_d:.4f} ± {sd_d:.4f} vs {plain_s:.4f} ± {sd_s:.4f} "
                       f"(mean ± sd over {cfg.seeds} seeds; gap {gap:.4f})",
              expected="deep plain mean > shallow plain mean")
    allowed = plain_s + cfg.gap_share * max(gap, 0.0)
    run.check(f"residual depth {deep} closes the gap", res_d <= allowed,
              observed=f"residual depth {deep}: {res_d:.4f} ± {sd_rd:.4f}; residual depth {shallow}: "
                       f"{res_s:.4f} ± {sd_rs:.4f}; shallow plain {plain_s:.4f}",
              expected=f"<= shallow plain + {cfg.gap_share:g} x plain gap = {allowed:.4f}")


def _figure(run: Run, cfg: DepthConfig, curves: dict[tuple[str, int], list[list[float]]]) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(KINDS), figsize=(10, 3.6), sharey=True)
    for ax, kind in zip(axes, KINDS):
        for i, depth in enumerate(cfg.depths):
            runs = np.array(curves[kind, depth])  # (seeds, epochs)
            epochs = np.arange(1, runs.shape[1] + 1)
            ax.plot(epochs, runs.mean(0), color=f"C{i}", label=f"depth {depth}")
            ax.fill_between(epochs, runs.min(0), runs.max(0), color=f"C{i}", alpha=0.2)
        ax.set_yscale("log")
        ax.set_title(f"{kind} MLP ({cfg.activation}, width {cfg.width})")
        ax.set_xlabel("epoch")
        ax.legend()
    axes[0].set_ylabel("training cross-entropy (nats)")
    fig.suptitle(f"training loss at equal budget (mean, band = min..max over {cfg.seeds} seeds)", y=1.03)
    run.figure("training_loss", fig)
