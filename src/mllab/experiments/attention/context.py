"""attention-context: a window network only sees its neighbours; self-attention considers the whole sequence.

Task (`mllab.data.sequences.distance_task`): each sequence holds one query token and one value token V_c at
distance d (1 … n − 1, log-uniform per sequence, so that
d ≤ w is about a third of the data); the query's label is c (chance 1/C). Two taggers, the same data,
the same budget (Adam, `epochs` × `train_size` sequences):
- a window MLP (`WindowMLPTagger`): token i sees the embeddings of i − w … i + w only;
- a one-block self-attention tagger (`AttentionTagger`, no positional encoding: the value token is found by
  its content, wherever it is).
Accuracy is measured on fresh test sequences, binned by d. The window MLP must be at chance for d > w
and high for d ≤ w (a sanity check: it learned what it can see); self-attention must stay high at every d.
Hyperparameters (lr 0.01, 8 epochs, width 32) were set on tuning seed 1000 (data seed 1); judged seeds are
`derive_seed(--seed, "judge", k)`, k < seeds. Negative control: self-attention truncated to the same ±w
(`attention_window=w`) no longer sees far partners, so the "high at every d" and "beats the window" checks must fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, positive
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data.sequences import distance_task
from mllab.experiments.attention.common import accuracy, train_tagger
from mllab.models.taggers import AttentionTagger, WindowMLPTagger


@dataclass
class ContextConfig(Config):
    length: int = 32
    """sequence length n (tokens)"""
    window: int = 3
    """w: the window MLP sees tokens i − w … i + w"""
    attention_window: int = -1
    """truncate self-attention to ±this many positions; -1 = the whole sequence (the method under test)"""
    classes: int = 4
    """C value classes (chance accuracy 1/C)"""
    train_size: int = 1000
    """training sequences per seed"""
    test_size: int = 1000
    """test sequences per seed"""
    epochs: int = 8
    """epochs for both taggers"""
    lr: float = 0.01
    """Adam learning rate for both taggers"""
    width: int = 32
    """attention width D (2 heads, one block); the window MLP has 64 hidden units"""
    high: float = 0.9
    """the claim: self-attention's accuracy is at least this at every distance bin"""
    chance_tolerance: float = 0.06
    """the claim: the window MLP's accuracy beyond w is at most 1/C + this"""
    margin: float = 0.5
    """the claim: self-attention beats the window MLP beyond w by more than this (accuracy)"""
    seeds: int = 3
    """judged seeds (each draws the data and both initialisations)"""

    thresholds: ClassVar[tuple[str, ...]] = ("chance_tolerance",)
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"length": 12, "train_size": 300, "test_size": 200, "epochs": 4, "seeds": 2},
        "full": {"length": 64, "train_size": 4000, "test_size": 2000, "epochs": 15, "seeds": 5},
    }
    rules: ClassVar[dict] = {"length": at_least(4), "window": at_least(0), "attention_window": at_least(-1),
                             "classes": at_least(2), "train_size": at_least(1), "test_size": at_least(1),
                             "epochs": at_least(1), "lr": positive, "width": at_least(2), "high": in_range(0, 1),
                             "chance_tolerance": in_range(0, 1), "margin": in_range(0, 1), "seeds": at_least(1)}


@experiment("attention-context", section="attention",
            claim="A window network sees only its ±{window} neighbours: its accuracy at distances d > {window} stays "
                  "within {chance_tolerance:.0%} of chance, while self-attention reaches ≥ {high:.0%} at every d and "
                  "beats the window network beyond its window by more than {margin:.0%}.",
            negative_control=NegativeControl(
                overrides=("attention_window=3",),
                fails=("self-attention is high at every distance", "self-attention beats the window network beyond w"),
                why="self-attention truncated to ±w sees no more than the window network"))
def attention_context(run: Run, cfg: ContextConfig) -> None:
    """Accuracy against dependency distance d for a window MLP and for self-attention."""
    n, w = cfg.length, cfg.window
    window_arm, attention_arm = [], []  # per seed: (N,) correctness at the query, and d
    distances = []
    model = None
    for k in run.progress(range(cfg.seeds), desc="seeds"):
        seed = derive_seed(run.seed, "judge", k)  # both arms' initialisation in repeat k
        train = distance_task(cfg.train_size, n, classes=cfg.classes, log_uniform=True,
                              seed=derive_seed(run.seed, "judge", k, "train"))
        test = distance_task(cfg.test_size, n, classes=cfg.classes, log_uniform=True,
                             seed=derive_seed(run.seed, "judge", k, "test"))
        order = seed % 2**32  # TensorLoader multiplies its seed: 32 bits
        torch.manual_seed(seed)
        mlp = WindowMLPTagger(train.vocab, cfg.classes, window=w)
        train_tagger(mlp, train, epochs=cfg.epochs, lr=cfg.lr, batch_size=64, seed=order, device=run.device)
        torch.manual_seed(seed)
        model = AttentionTagger(train.vocab, cfg.classes, width=cfg.width, heads=2, depth=1, positional="none",
                                window=None if cfg.attention_window < 0 else cfg.attention_window)
        train_tagger(model, train, epochs=cfg.epochs, lr=cfg.lr, batch_size=64, seed=order, device=run.device)
        window_arm.append(np.nanmax(accuracy(mlp, test, run.device).numpy(), axis=1))  # one labelled token a row
        attention_arm.append(np.nanmax(accuracy(model, test, run.device).numpy(), axis=1))
        distances.append(test.distance.numpy())

    bins = _bins(n, w)
    table = {name: np.array([[arm[s][(distances[s] >= lo) & (distances[s] <= hi)].mean() for lo, hi in bins]
                             for s in range(cfg.seeds)]) for name, arm in (("window", window_arm),
                                                                           ("attention", attention_arm))}
    run.metric("distance_bins", [f"{lo}-{hi}" for lo, hi in bins])
    for name, values in table.items():
        run.metric(f"{name}_accuracy_by_distance", values.mean(0))
    far = [(distances[s] > w) for s in range(cfg.seeds)]
    near = [(distances[s] <= w) for s in range(cfg.seeds)]
    window_far = np.array([window_arm[s][far[s]].mean() for s in range(cfg.seeds)])
    window_near = np.array([window_arm[s][near[s]].mean() for s in range(cfg.seeds)])
    attention_far = np.array([attention_arm[s][far[s]].mean() for s in range(cfg.seeds)])
    chance = 1 / cfg.classes

    learned = chance + 0.5 * (1 - chance)  # halfway from chance to perfect: it learned what it can see
    run.check("the window network learns what it can see (d ≤ w)", window_near.mean() >= learned,
              observed=f"window MLP accuracy at d ≤ {w}: {window_near.mean():.3f} (per seed "
                       f"{np.round(window_near, 3).tolist()})", expected=f">= {learned:.2f}", kind="sanity")
    attention_by_bin = table["attention"].mean(0)
    run.check("self-attention is high at every distance", bool(attention_by_bin.min() >= cfg.high),
              observed=f"lowest bin {attention_by_bin.min():.3f} (bins {[f'{lo}-{hi}' for lo, hi in bins]}: "
                       f"{np.round(attention_by_bin, 3).tolist()}, mean of {cfg.seeds} seeds)",
              expected=f">= {cfg.high:.2f} in every bin")
    run.check("the window network is at chance beyond w", bool(window_far.mean() <= chance + cfg.chance_tolerance),
              observed=f"window MLP accuracy at d > {w}: {window_far.mean():.3f} (chance {chance:.3f})",
              expected=f"<= {chance + cfg.chance_tolerance:.3f}")
    beats = run.compare("self-attention beats the window network beyond w", attention_far, window_far,
                        margin=cfg.margin, better="higher", labels=("self-attention", f"window MLP ±{w}"))
    _figure(run, cfg, bins, table, chance, beats.passed, model, test)


def _bins(n: int, w: int) -> list[tuple[int, int]]:
    """Distance bins: each d ≤ w on its own, then ~5 equal bins up to n − 1."""
    bins = [(d, d) for d in range(1, w + 1)]
    edges = np.unique(np.linspace(w + 1, n, 6).astype(int))
    bins += [(int(lo), int(hi) - 1) for lo, hi in zip(edges[:-1], edges[1:])]
    return bins


def _figure(run: Run, cfg: ContextConfig, bins, table, chance: float, passed: bool, model, test) -> None:
    fig, axes = figures.subplots(1, 2, panel=(5.0, 3.8))
    ax = axes[0]
    centres = [(lo + hi) / 2 for lo, hi in bins]
    for name, color, label in (("attention", figures.verdict_color(passed), "self-attention"),
                               ("window", figures.BASELINE, f"window MLP (±{cfg.window})")):
        values = table[name]
        se = values.std(0, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.zeros(values.shape[1])
        ax.errorbar(centres, values.mean(0), yerr=se, marker="o", ms=4, color=color, label=label, capsize=2)
    ax.axhline(chance, color=figures.BASELINE, ls=":", label=f"chance 1/C = {chance:.2f}")
    ax.axvline(cfg.window + 0.5, color=figures.SERIES[1], ls="--", label=r"window edge $d = w$")
    ax.set(title="accuracy at the query vs dependency distance", xlabel=r"distance $d$ (tokens)",
           ylabel="test accuracy (fraction)", ylim=(0, 1.05))
    figures.legend_outside(ax)
    # one test sequence whose partner is far: the query's row of α'
    far = int(torch.argmax(test.distance))
    tokens = test.tokens[far:far + 1].to(run.device)
    with torch.no_grad():
        weights = model.attention_maps(tokens)[0][0].mean(0).cpu()  # (n, n), mean over heads
    query = int((test.labels[far] != -100).nonzero()[0])
    ax = axes[1]
    ax.bar(range(cfg.length), weights[query].numpy(), color=figures.SERIES[0], label=r"$\alpha'_{q,j}$ (head mean)")
    partner = query + int(test.distance[far]) if query + int(test.distance[far]) < cfg.length else \
        query - int(test.distance[far])
    ax.axvline(query, color=figures.BASELINE, ls=":", label=f"query position {query}")
    ax.axvline(partner, color=figures.HOLDS, ls="--", label=f"value token at {partner}")
    ax.set(title=f"where the query attends (d = {int(test.distance[far])})", xlabel=r"key position $j$",
           ylabel="attention weight (fraction)")
    figures.legend_outside(ax)
    run.figure("accuracy_vs_distance", fig)
