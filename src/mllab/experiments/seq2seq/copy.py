"""copy-mechanism: a pointer-generator copies names it never saw; the same Transformer without copy cannot.

Task (`copy_task`): "my name is ⟨name⟩" -> "nice to meet you ⟨name⟩" (5 templates, one or two names); names are
random syllables, test names never appear in training, and no name is in either vocabulary. Two arms, same model
(D = 64, 4 heads, 2 + 2 layers, Pre-LN), data, order and budget (Adam 3e-3, batch 32, `epochs`; chosen a priori,
not tuned; judged seeds `derive_seed(--seed, "judge", k)`): the pointer-generator (`PointerGenerator(copy=True)`:
copy distribution from the last layer's cross-attention, gate p_gen, extended vocabulary) and the same model with
copy off.
Score: exact match of the whole output on test sentences (every name must be right).
Negative control: `disable_copy=true` turns copying off in both arms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, positive
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data import TensorLoader
from mllab.data.text import CopyTask, Vocab, copy_task
from mllab.models.pointer import PointerGenerator, count_pointer_tokens, pointer_loss
from mllab.models.transformer import strip
from mllab.train import fit

ARMS = ("pointer-generator", "no copy")


@dataclass
class CopyConfig(Config):
    train_size: int = 600
    """training sentences"""
    test_size: int = 200
    """test sentences (names unseen in training)"""
    epochs: int = 8
    """training epochs per arm"""
    lr: float = 3e-3
    """Adam learning rate"""
    width: int = 64
    """model width D (4 heads, 2 + 2 layers)"""
    disable_copy: bool = False
    """turn copying off in both arms (the negative control)"""
    margin: float = 0.5
    """the claim: the pointer-generator's exact match beats no-copy's by more than this (fraction)"""
    seeds: int = 3
    """judged seeds (paired: both arms share data and initialisation)"""

    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"train_size": 60, "test_size": 20, "epochs": 1, "seeds": 2},
        "full": {"train_size": 5000, "test_size": 1000, "epochs": 20, "seeds": 5},
    }
    rules: ClassVar[dict] = {"train_size": at_least(1), "test_size": at_least(1), "epochs": at_least(1),
                             "lr": positive, "width": at_least(4), "margin": in_range(0, 1), "seeds": at_least(1)}


def _words(tokens: list[int], row: int, task: CopyTask, vocab: Vocab) -> list[str]:
    V = len(vocab)
    return [vocab.itos[t] if t < V else (task.extended[row][t - V] if t - V < len(task.extended[row]) else "<unk>")
            for t in tokens]


@experiment("copy-mechanism", section="seq2seq",
            claim="A pointer network copies from its input: on names never seen in training the pointer-generator's "
                  "exact match beats the same Transformer without copy (which cannot emit them) by more than "
                  "{margin:.0%}.",
            negative_control=NegativeControl(overrides=("disable_copy=true",), fails=("copying emits unseen names",),
                                             why="both arms are the Transformer without copy"))
def copy_mechanism(run: Run, cfg: CopyConfig) -> None:
    """Exact match on unseen names, pointer-generator vs no copy; p_gen over one output sentence."""
    scores = {arm: [] for arm in ARMS}
    example = None
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    for k in run.progress(range(cfg.seeds), desc="seeds"):
        seed = derive_seed(run.seed, "judge", k)  # shared by both arms of repeat k
        train, test, src_vocab, tgt_vocab = copy_task(cfg.train_size, cfg.test_size, seed=seed)
        extra = int(test.src_ext.max()) + 1 - len(tgt_vocab)
        for arm in ARMS:
            torch.manual_seed(seed)
            model = PointerGenerator(len(src_vocab), len(tgt_vocab), copy=arm == ARMS[0] and not cfg.disable_copy,
                                     width=cfg.width, heads=4, layers=2, mlp_ratio=2).to(run.device)
            loader = TensorLoader((train.src, train.src_ext, train.tgt), 32, seed=seed % 2**32)  # it multiplies seed
            optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
            fit(model, pointer_loss, loader, optimizer, epochs=cfg.epochs, count_items=count_pointer_tokens)
            model.eval()
            tokens, gates = model.greedy_copy(test.src, test.src_ext, extra, test.tgt.shape[1] + 2)
            hyps = [_words(row, r, test, tgt_vocab) for r, row in enumerate(strip(tokens))]
            refs = [_words(row, r, test, tgt_vocab) for r, row in enumerate(strip(test.tgt))]
            scores[arm].append(float(np.mean([h == r for h, r in zip(hyps, refs)])))
            if arm == ARMS[0] and k == 0:
                row = next((r for r, ref in enumerate(refs) if len(test.names[r]) == 2), 0)
                n = min(len(hyps[row]) + 1, gates.shape[1])
                example = {"words": (hyps[row] + ["<eos>"])[:n], "p_gen": gates[row, :n].numpy(),
                           "names": test.names[row]}
    run.metric("seconds_wall", time.perf_counter() - start_wall)
    run.metric("seconds_cpu", time.process_time() - start_cpu)
    for arm in ARMS:
        run.metric(f"exact_match {arm}", scores[arm])
    passed = run.compare("copying emits unseen names", scores[ARMS[0]], scores[ARMS[1]], margin=cfg.margin,
                         better="higher", labels=ARMS).passed
    _figure(run, cfg, scores, example, passed)


def _figure(run: Run, cfg: CopyConfig, scores, example, passed: bool) -> None:
    fig, axes = figures.subplots(1, 2, panel=(4.6, 3.6))
    ax = axes[0]
    means = [np.mean(scores[a]) for a in ARMS]
    ses = [np.std(scores[a], ddof=1) / np.sqrt(len(scores[a])) if len(scores[a]) > 1 else 0 for a in ARMS]
    ax.bar(ARMS, means, yerr=ses, color=[figures.verdict_color(passed), figures.BASELINE], capsize=3)
    ax.set(title="exact match, names unseen in training", xlabel="model", ylabel="exact match (fraction)",
           ylim=(0, 1.05))
    ax = axes[1]
    if example is not None:
        x = np.arange(len(example["words"]))
        ax.bar(x, example["p_gen"], color=figures.SERIES[0], label=r"$p_{gen}$ (generate)")
        ax.bar(x, 1 - example["p_gen"], bottom=example["p_gen"], color=figures.SERIES[1], label=r"$1-p_{gen}$ (copy)")
        ax.set_xticks(x, example["words"], rotation=60, fontsize=8)
        figures.legend_outside(ax)
    ax.set(title="gate over one output sentence", xlabel="output token", ylabel=r"$p_{gen}$ (probability)",
           ylim=(0, 1))
    run.figure("copy", fig)
