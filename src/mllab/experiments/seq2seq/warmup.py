"""transformer-warmup: Post-LN at a high peak learning rate needs warm-up; Pre-LN trains without it
(Xiong et al., ICML 2020: without warm-up their Post-LN reached 8.45 BLEU against ≈34 with it on IWSLT14).

Task: numbers -> English words (`number_task("en")`, split by number). Three arms, same model (D = 64, 4 heads,
2 + 2 layers, MLP 2·D), same data order and budget (`steps` Adam updates, β = 0.9, 0.98, batch 32, peak lr
`lr`): Post-LN with a constant lr (no warm-up), Post-LN with a linear warm-up over `warmup_steps` updates, and
Pre-LN with a constant lr. lr = 1e-2 and 100 warm-up steps were set on tuning seeds 2000–2001 (grid lr ∈ {1e-2, 2e-2});
judged seeds `derive_seed(--seed, "judge", k)` (each draws the split and the initialisation, shared by the three
arms; 63-bit hashes, never the tuning seeds).
Score: teacher-forced test cross-entropy per token (nats) at the end; loss curves per epoch; gradient norm of each
layer at the first update (Xiong et al.'s Theorem 1: Post-LN's gradients grow toward the output at init).
Negative control: `warmup_steps=0` puts no warm-up in the warm-up arm, so it cannot beat the arm without.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from mllab.core import figures
from mllab.core.config import Config, at_least, positive
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data.text import number_task
from mllab.experiments.seq2seq.common import mean_se, token_loss, train_seq2seq
from mllab.models.transformer import Seq2SeqTransformer

ARMS = ("Post-LN, no warm-up", "Post-LN + warm-up", "Pre-LN, no warm-up")


@dataclass
class WarmupConfig(Config):
    lr: float = 1e-2
    """peak Adam learning rate of every arm (high for a Post-LN Transformer)"""
    warmup_steps: int = 100
    """linear warm-up updates of the warm-up arm (0: none, the negative control)"""
    steps: int = 300
    """Adam updates per arm"""
    batch_size: int = 32
    """sentences per batch"""
    width: int = 64
    """model width D (4 heads)"""
    layers: int = 2
    """encoder layers = decoder layers"""
    high: int = 1000
    """numbers 0 … high−1 (20 % held out)"""
    factor: float = 1.5
    """the claim: Post-LN without warm-up ends with a test loss more than this factor above each other arm's"""
    seeds: int = 4
    """judged seeds (paired: the three arms share split, initialisation and data order)"""

    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"steps": 20, "seeds": 2, "high": 200},
        "full": {"steps": 2000, "layers": 6, "width": 128, "seeds": 5, "warmup_steps": 500, "high": 10000},
    }
    rules: ClassVar[dict] = {"lr": positive, "warmup_steps": at_least(0), "steps": at_least(1),
                             "batch_size": at_least(1), "width": at_least(4), "layers": at_least(1),
                             "high": at_least(20), "factor": at_least(1), "seeds": at_least(1)}


class FirstGradients:
    """fit callback: ‖∇‖ of each encoder and decoder layer at the first update (before clipping)."""

    def __init__(self) -> None:
        self.norms: dict[str, float] = {}

    def on_after_backward(self, state, model) -> None:
        if state.global_step == 0:
            for name, stack in (("enc", model.encoder), ("dec", model.decoder)):
                for i, layer in enumerate(stack):
                    grads = [p.grad.flatten() for p in layer.parameters() if p.grad is not None]
                    self.norms[f"{name} {i + 1}"] = float(torch.cat(grads).norm())


@experiment("transformer-warmup", section="seq2seq",
            claim="At a high peak learning rate a Post-LN Transformer without warm-up lags: its final test loss is "
                  "more than {factor:g}× that of the same Post-LN with warm-up, and more than {factor:g}× that of a "
                  "Pre-LN Transformer trained without warm-up.",
            negative_control=NegativeControl(
                overrides=("warmup_steps=0",), fails=("warm-up rescues Post-LN",),
                why="the warm-up arm gets no warm-up: both Post-LN arms are the same run"))
def warmup(run: Run, cfg: WarmupConfig) -> None:
    """Final test loss, loss curves and first-update gradient norms of the three arms."""
    final = {arm: [] for arm in ARMS}
    curves = {arm: [] for arm in ARMS}
    grads = {arm: [] for arm in ARMS}
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    for k in run.progress(range(cfg.seeds), desc="seeds"):
        seed = derive_seed(run.seed, "judge", k)  # shared by the three arms of repeat k
        task = number_task("en", high=cfg.high, seed=seed)
        for arm in ARMS:
            torch.manual_seed(seed)
            model = Seq2SeqTransformer(len(task.src_vocab), len(task.tgt_vocab), width=cfg.width, heads=4,
                                       layers=cfg.layers, mlp_ratio=2, norm="pre" if arm.startswith("Pre") else "post")
            model.to(run.device)
            probe = FirstGradients()
            history = [(0, token_loss(model, task.test))]
            state = train_seq2seq(model, task.train, epochs=10**6, lr=cfg.lr, batch_size=cfg.batch_size, seed=seed,
                                  warmup_steps=cfg.warmup_steps if "+ warm-up" in arm else 0, callbacks=[probe],
                                  max_steps=cfg.steps, evaluate=lambda m, test=task.test: {"val_loss": token_loss(m, test)})
            history += [(h["step"], h["val_loss"]) for h in state.history]
            final[arm].append(token_loss(model, task.test))
            curves[arm].append((state.global_step, history))
            grads[arm].append(probe.norms)
    run.metric("seconds_wall", time.perf_counter() - start_wall)
    run.metric("seconds_cpu", time.process_time() - start_cpu)
    for arm in ARMS:
        run.metric(f"test_loss {arm}", final[arm])
        run.metric(f"first_grad_norms {arm}", {k: float(np.mean([g[k] for g in grads[arm]])) for k in grads[arm][0]})
    slow = final[ARMS[0]]
    rescued = run.compare("warm-up rescues Post-LN", slow, final[ARMS[1]], margin=cfg.factor, better="higher",
                          log=True, labels=(ARMS[0], ARMS[1])).passed
    pre = run.compare("Pre-LN needs no warm-up", slow, final[ARMS[2]], margin=cfg.factor, better="higher", log=True,
                      labels=(ARMS[0], ARMS[2])).passed
    _figure(run, cfg, final, curves, grads, rescued, pre)


def _figure(run: Run, cfg: WarmupConfig, final, curves, grads, rescued: bool, pre: bool) -> None:
    fig, axes = figures.subplots(1, 3, panel=(4.4, 3.4))
    colors = {ARMS[0]: figures.BASELINE, ARMS[1]: figures.verdict_color(rescued), ARMS[2]: figures.verdict_color(pre)}
    ax = axes[0]
    for arm in ARMS:
        for j, (_, history) in enumerate(curves[arm]):
            steps, losses = zip(*history)
            ax.plot(steps, losses, color=colors[arm], alpha=0.8, lw=1.2, ls=("-", "--", "-.")[ARMS.index(arm)],
                    label=arm if j == 0 else None)
    ax.set(title="test loss during training (each seed)", xlabel="Adam update", ylabel="test loss (nats / token)",
           yscale="log")
    figures.legend_outside(ax)
    ax = axes[1]
    stats = [mean_se(final[arm]) for arm in ARMS]
    ax.bar(range(3), [m for m, _ in stats], yerr=[s for _, s in stats], color=[colors[a] for a in ARMS], capsize=3)
    ax.set_xticks(range(3), ["Post\nno warm-up", "Post\n+ warm-up", "Pre\nno warm-up"])
    ax.set(title=f"final test loss ({cfg.steps} updates, lr {cfg.lr:g})", xlabel="arm",
           ylabel="test loss (nats / token)", yscale="log")
    ax = axes[2]
    names = list(grads[ARMS[0]][0])
    x = np.arange(len(names))
    for j, (arm, label) in enumerate(((ARMS[0], "Post-LN"), (ARMS[2], "Pre-LN"))):
        means = [np.mean([g[n] for g in grads[arm]]) for n in names]
        ax.bar(x + (j - 0.5) * 0.4, means, width=0.4, color=figures.SERIES[j], label=label)
    ax.set_xticks(x, names)
    ax.set(title="gradient norm per layer, first update", xlabel="layer (encoder → decoder)",
           ylabel=r"$\|\nabla_{\theta_\ell} L\|$")
    figures.legend_outside(ax)
    run.figure("warmup", fig)
