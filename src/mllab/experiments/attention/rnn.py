"""attention-vs-rnn: an RNN is sequential (n steps, each waiting for the last); self-attention processes the
whole sequence at once.

Same task (`local_task`, label = left neighbour's value), same data and budget (Adam lr 0.01, `epochs`, batch
32; set on tuning seed 1000; judged seeds `derive_seed(--seed, "judge", k)`): a bidirectional GRU tagger (width 32)
against a one-block self-attention tagger (width 32, relative-position bias). Accuracy at `length`; wall time of one
training epoch (`epoch_size` sequences, batch 64) at each of `lengths`, both models, per seed.
Claims: attention's accuracy is at least the GRU's (minus `tolerance`); the GRU's epoch time grows with n
(log-log slope ≥ `min_slope`: n sequential steps); at the longest length attention's epoch is faster than the
GRU's (paired over seeds, log ratio above 0).
Negative control: lengths = 1 — a one-step sequence has nothing sequential to wait for, so the GRU's time
cannot grow with n and attention has no parallel advantage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from matplotlib.ticker import NullFormatter

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, positive
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data import TensorLoader
from mllab.data.sequences import local_task
from mllab.experiments.attention.common import accuracy, train_tagger
from mllab.models.taggers import AttentionTagger, GRUTagger, count_labelled, tagging_loss
from mllab.train import fit


@dataclass
class RNNConfig(Config):
    length: int = 32
    """sequence length of the accuracy comparison"""
    train_size: int = 800
    """training sequences per seed (accuracy)"""
    test_size: int = 500
    """test sequences per seed"""
    epochs: int = 8
    """epochs for both models (accuracy)"""
    lr: float = 0.01
    """Adam learning rate for both"""
    lengths: tuple[int, ...] = (16, 64, 256)
    """lengths n of the epoch-time measurement (increasing)"""
    epoch_size: int = 256
    """sequences in one timed epoch"""
    tolerance: float = 0.02
    """the claim: attention's accuracy is at least the GRU's minus this"""
    min_slope: float = 0.5
    """the claim: the GRU's log-log slope of epoch time against n is at least this"""
    seeds: int = 3
    """judged seeds"""

    thresholds: ClassVar[tuple[str, ...]] = ()
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"length": 12, "train_size": 100, "test_size": 100, "epochs": 2, "seeds": 2, "lengths": (8, 32),
                  "epoch_size": 64},
        "full": {"lengths": (16, 64, 256, 1024), "seeds": 5, "train_size": 3000, "epochs": 15},
    }
    rules: ClassVar[dict] = {"length": at_least(2), "train_size": at_least(1), "test_size": at_least(1),
                             "epochs": at_least(1), "lr": positive, "lengths": at_least(1), "epoch_size": at_least(1),
                             "tolerance": in_range(0, 1), "min_slope": positive, "seeds": at_least(1)}


@experiment("attention-vs-rnn", section="attention",
            claim="On the same task self-attention is at least as accurate as a GRU (within {tolerance:.0%}); the "
                  "GRU's epoch time grows with its n sequential steps (log-log slope ≥ {min_slope:g}) and at the "
                  "longest length self-attention's epoch is faster.",
            negative_control=NegativeControl(
                overrides=("lengths=1",),
                fails=("the GRU's epoch time grows with n",),
                why="with one length of one token there is no sequence for the GRU to step through"))
def attention_vs_rnn(run: Run, cfg: RNNConfig) -> None:
    """GRU vs self-attention: accuracy, and wall time per epoch against sequence length."""
    acc = {"attention": [], "gru": []}
    times = {"attention": np.zeros((cfg.seeds, len(cfg.lengths))), "gru": np.zeros((cfg.seeds, len(cfg.lengths)))}
    for k in run.progress(range(cfg.seeds), desc="seeds"):
        seed = derive_seed(run.seed, "judge", k)  # both arms' initialisation (and timing data) in repeat k
        train = local_task(cfg.train_size, cfg.length, seed=derive_seed(run.seed, "judge", k, "train"))
        test = local_task(cfg.test_size, cfg.length, seed=derive_seed(run.seed, "judge", k, "test"))
        order = seed % 2**32  # TensorLoader multiplies its seed: 32 bits
        for arm in acc:
            torch.manual_seed(seed)
            model = _model(arm, train.vocab, train.classes, max(cfg.length, max(cfg.lengths)))
            train_tagger(model, train, epochs=cfg.epochs, lr=cfg.lr, batch_size=32, seed=order, device=run.device)
            acc[arm].append(float(np.nanmean(accuracy(model, test, run.device).numpy())))
        for j, n in enumerate(cfg.lengths):
            data = local_task(cfg.epoch_size, n, seed=seed)
            for arm in times:
                torch.manual_seed(seed)
                model = _model(arm, data.vocab, data.classes, max(cfg.length, max(cfg.lengths))).to(run.device)
                times[arm][k, j] = _epoch_seconds(model, data, run.device, seed)
    run.metric("accuracy", acc)
    run.metric("epoch_seconds", {arm: t.mean(0) for arm, t in times.items()})
    run.compare("self-attention is at least as accurate as the GRU", acc["attention"], acc["gru"],
                margin=-cfg.tolerance, better="higher", labels=("self-attention", "GRU"))
    n = np.array(cfg.lengths, dtype=float)
    distinct = len(set(cfg.lengths)) >= 2
    slope = float(np.polyfit(np.log(n), np.log(times["gru"].mean(0)), 1)[0]) if distinct else float("nan")
    attention_slope = float(np.polyfit(np.log(n), np.log(times["attention"].mean(0)), 1)[0]) if distinct \
        else float("nan")
    run.metric("gru_slope", slope)
    run.metric("attention_slope", attention_slope)
    run.check("the GRU's epoch time grows with n", distinct and slope >= cfg.min_slope,
              observed=f"log-log slope {slope:.2f} over n = {list(cfg.lengths)} (attention {attention_slope:.2f})",
              expected=f">= {cfg.min_slope:g} (needs two lengths or more)")
    faster = run.compare("self-attention's epoch is faster at the longest length", times["gru"][:, -1],
                         times["attention"][:, -1], margin=1.0, log=True, better="higher",
                         labels=("GRU seconds", "attention seconds"))
    _figure(run, cfg, acc, times, faster.passed)


def _model(arm: str, vocab: int, classes: int, max_len: int) -> torch.nn.Module:
    if arm == "gru":
        return GRUTagger(vocab, classes, width=32)
    return AttentionTagger(vocab, classes, width=32, heads=2, depth=1, positional="relative", max_len=max_len)


def _epoch_seconds(model: torch.nn.Module, data, device: torch.device, seed: int) -> float:
    """Wall seconds of one training epoch (fit, batch 64) after one warm-up batch."""
    loader = TensorLoader((data.tokens.to(device), data.labels.to(device)), 64, seed=seed % 2**32)  # it multiplies seed
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(model, tagging_loss, [next(iter(loader))], optimizer, epochs=1, count_items=count_labelled)  # warm-up
    start = time.perf_counter()
    fit(model, tagging_loss, loader, optimizer, epochs=1, count_items=count_labelled)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _figure(run: Run, cfg: RNNConfig, acc, times, faster: bool) -> None:
    fig, axes = figures.subplots(1, 2, panel=(4.6, 3.6))
    ax = axes[0]
    for arm, color in (("attention", figures.verdict_color(faster)), ("gru", figures.BASELINE)):
        mean = times[arm].mean(0)
        ax.plot(cfg.lengths, mean, "o-", color=color, label="self-attention" if arm == "attention" else "GRU")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(cfg.lengths, [str(v) for v in cfg.lengths])
    ax.set(title="wall time of one training epoch", xlabel=r"sequence length $n$ (tokens)", ylabel="seconds")
    figures.legend_outside(ax)
    ax = axes[1]
    ax.bar(["self-attention", "GRU"], [np.mean(acc["attention"]), np.mean(acc["gru"])],
           color=[figures.SERIES[0], figures.BASELINE])
    ax.set(title=f"accuracy at n = {cfg.length}", xlabel="model", ylabel="test accuracy (fraction)", ylim=(0, 1.05))
    run.figure("attention_vs_rnn", fig)
