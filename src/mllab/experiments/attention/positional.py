"""positional-encoding: self-attention ignores position unless a positional vector is added.

Task (`position_task`): BOS, then random noise tokens; the label of token i is which of P parts of the
sequence it lies in — absolute position only (chance 1/P without it). Four one-block attention taggers, the
same data and budget (Adam, lr 0.01, `epochs`, batch 32; set on tuning seed 1000, judged seeds
`derive_seed(--seed, "judge", k)`): no encoding, sinusoidal eⁱ, learned eⁱ, and a learned relative bias b_h(j − i) on α
(which reads absolute position through the BOS token's offset −i).
Without encoding the tagger is permutation-equivariant: permuting the input permutes the output exactly,
measured on the trained model (claim: max difference ≤ 1e-6), so its accuracy stays at chance.
Negative control: `disable_encodings=true` builds every arm without encoding, so no arm learns the task.
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
from mllab.data.sequences import position_task
from mllab.experiments.attention.common import accuracy, train_tagger
from mllab.models.taggers import AttentionTagger

ENCODED = ("sinusoidal", "learned", "relative")


@dataclass
class PositionalConfig(Config):
    length: int = 32
    """sequence length n (BOS included)"""
    parts: int = 4
    """P: the label is which of P equal parts of the sequence a token lies in (chance 1/P)"""
    train_size: int = 800
    """training sequences per seed"""
    test_size: int = 500
    """test sequences per seed"""
    epochs: int = 10
    """epochs for every arm"""
    lr: float = 0.01
    """Adam learning rate for every arm"""
    width: int = 32
    """attention width D (2 heads, one block)"""
    disable_encodings: bool = False
    """build the encoded arms without any encoding (the negative control)"""
    equivariance_tolerance: float = 1e-6
    """the claim: without encoding, permuting the input permutes the output to within this (max abs)"""
    chance_tolerance: float = 0.05
    """the claim: without encoding the accuracy is at most 1/P + this"""
    margin: float = 0.5
    """the claim: each encoding beats no encoding by more than this (accuracy)"""
    seeds: int = 3
    """judged seeds"""

    thresholds: ClassVar[tuple[str, ...]] = ("chance_tolerance",)
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"length": 12, "train_size": 100, "test_size": 100, "epochs": 2, "seeds": 2},
        "full": {"length": 64, "train_size": 3000, "epochs": 20, "seeds": 5},
    }
    rules: ClassVar[dict] = {"length": at_least(5), "parts": at_least(2), "train_size": at_least(1),
                             "test_size": at_least(1), "epochs": at_least(1), "lr": positive, "width": at_least(2),
                             "equivariance_tolerance": positive, "chance_tolerance": in_range(0, 1),
                             "margin": in_range(0, 1), "seeds": at_least(1)}


@experiment("positional-encoding", section="attention",
            claim="Without a positional encoding self-attention is blind to order: permuting the input permutes "
                  "the output (to ≤ {equivariance_tolerance:g}) and the position task stays within "
                  "{chance_tolerance:.0%} of chance; with sinusoidal, learned or relative encodings each beats "
                  "no encoding by more than {margin:.0%}.",
            negative_control=NegativeControl(
                overrides=("disable_encodings=true",),
                fails=("sinusoidal encoding learns position", "learned encoding learns position",
                       "relative encoding learns position"),
                why="every arm is built without an encoding, so none can tell positions apart"))
def positional_encoding(run: Run, cfg: PositionalConfig) -> None:
    """Position task accuracy for no / sinusoidal / learned / relative encodings, and the permutation test."""
    arms = ("none",) + ENCODED
    scores = {arm: [] for arm in arms}
    by_position = {arm: [] for arm in arms}
    worst = 0.0
    for k in run.progress(range(cfg.seeds), desc="seeds"):
        seed = derive_seed(run.seed, "judge", k)  # every arm's initialisation in repeat k
        train = position_task(cfg.train_size, cfg.length, classes=cfg.parts,
                              seed=derive_seed(run.seed, "judge", k, "train"))
        test = position_task(cfg.test_size, cfg.length, classes=cfg.parts,
                             seed=derive_seed(run.seed, "judge", k, "test"))
        order = seed % 2**32  # TensorLoader multiplies its seed: 32 bits
        for arm in arms:
            torch.manual_seed(seed)
            encoding = "none" if cfg.disable_encodings else arm
            model = AttentionTagger(train.vocab, cfg.parts, width=cfg.width, heads=2, depth=1, positional=encoding,
                                    max_len=cfg.length)
            train_tagger(model, train, epochs=cfg.epochs, lr=cfg.lr, batch_size=32, seed=order, device=run.device)
            correct = accuracy(model, test, run.device).numpy()
            scores[arm].append(float(np.nanmean(correct)))
            by_position[arm].append(np.nanmean(correct[:, 1:], axis=0))  # BOS (position 0) is unlabelled
            if arm == "none":
                worst = max(worst, _equivariance_error(model, test.tokens[:64].to(run.device), seed))
    chance = 1 / cfg.parts
    for arm in arms:
        run.metric(f"accuracy_{arm}", scores[arm])
    run.check("without encoding, permuting the input permutes the output", worst <= cfg.equivariance_tolerance,
              observed=f"max |f(Pa) − P f(a)| = {worst:.2e} over {cfg.seeds} trained models, 64 sequences each",
              expected=f"<= {cfg.equivariance_tolerance:g}")
    none = np.array(scores["none"])
    run.check("without encoding the position task stays at chance", bool(none.mean() <= chance + cfg.chance_tolerance),
              observed=f"accuracy {none.mean():.3f} (per seed {np.round(none, 3).tolist()}; chance {chance:.3f})",
              expected=f"<= {chance + cfg.chance_tolerance:.3f}")
    passed = {}
    for arm in ENCODED:
        passed[arm] = run.compare(f"{arm} encoding learns position", scores[arm], scores["none"], margin=cfg.margin,
                                  better="higher", labels=(arm, "no encoding")).passed
    _figure(run, cfg, scores, by_position, chance, passed)


def _equivariance_error(model: AttentionTagger, tokens: torch.Tensor, seed: int) -> float:
    """max |f(P a) − P f(a)| for a random permutation P of the positions (float64 copy of the model)."""
    model = model.double().eval()
    perm = torch.randperm(tokens.shape[1], generator=torch.Generator().manual_seed(seed)).to(tokens.device)
    with torch.no_grad():
        return float((model(tokens[:, perm]) - model(tokens)[:, perm]).abs().max())


def _figure(run: Run, cfg: PositionalConfig, scores, by_position, chance: float, passed) -> None:
    fig, axes = figures.subplots(1, 2, panel=(4.8, 3.6))
    ax = axes[0]
    arms = list(scores)
    means = [np.mean(scores[a]) for a in arms]
    ses = [np.std(scores[a], ddof=1) / np.sqrt(len(scores[a])) if len(scores[a]) > 1 else 0 for a in arms]
    colors = [figures.BASELINE] + [figures.verdict_color(passed[a]) for a in arms[1:]]
    ax.bar(arms, means, yerr=ses, color=colors, capsize=3)
    ax.axhline(chance, color=figures.BASELINE, ls=":", label=f"chance 1/P = {chance:.2f}")
    ax.set(title="position task: test accuracy", xlabel="positional encoding", ylabel="accuracy (fraction)",
           ylim=(0, 1.05))
    figures.legend_outside(ax)
    ax = axes[1]
    for i, arm in enumerate(arms):
        ax.plot(range(1, cfg.length), np.mean(by_position[arm], axis=0), color=figures.SERIES[i], label=arm,
                ls=("-", "--", "-.", ":")[i], lw=2.4 - 0.4 * i)
    ax.set(title="accuracy by position (mean over seeds)", xlabel=r"position $i$", ylabel="accuracy (fraction)",
           ylim=(0, 1.05))
    figures.legend_outside(ax)
    run.figure("position_task", fig)
