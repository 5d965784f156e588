"""cnn-is-restricted-attention: a CNN is self-attention restricted to its receptive field.

Part 1 (exact): `ConvAsAttention` (Cordonnier, Loukas & Jaggi, ICLR 2020) — one multi-head self-attention layer
with K² heads, zero content scores and the relative positional score α_{h,i,j} = −β ‖(p_j − p_i) − Δ_h‖² — is run
on mnist5k test digits (average-pooled to 14 × 14 to keep the N² scores small) with random K × K convolutions
(PyTorch's default Conv2d initialisation, seeded) and compared with `F.conv2d` (float32: the claim; float64 reported).
This is a claim check, not a sanity check: it is the first half of the claim (a convolution *is* such an attention
layer), and it can fail — the softmax is one-hot only in the limit β → ∞ (the negative control sets β = 0).

Part 2 (data): the package's CNN (two 3×3 conv + 2×2 max-pool blocks, linear read-out) against a ViT of similar
size (7 × 7 patches, one block, width 32, 2 heads, learned positions, class token), both trained with Adam for the
same `steps` at batch 64 on mnist5k subsets of growing size, test accuracy on the fixed test split. The learning
rate of each arm is its best of `lrs` on the tuning seed 1000 + seed at the smallest size (never judged); judged
seeds are seed, seed + 1, … (each draws the split, the subset and both arms' initialisation: paired).
Claim: the CNN leads at the smallest size by more than `win_margin`, and its lead (CNN − ViT accuracy, per seed)
is larger at the smallest size than at the largest by more than `narrow_margin` — the restriction to a local
receptive field is a prior that helps most when data are few. Thresholds fixed before the first measured run.
Negative control: `contender=cnn beta=0` — the CNN in both arms (no gap at any size) and flat positional scores
(every head averages the whole image, no convolution).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.ticker import NullFormatter

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty, positive
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.data.images import load_images
from mllab.data.images import subset
from mllab.experiments.cnn.common import accuracy, seeds, train_steps, tuning_seed
from mllab.models.cnn import CNN
from mllab.models.vit import ConvAsAttention, ViT, parameter_count


@dataclass
class CnnAttentionConfig(Config):
    kernels: tuple[int, ...] = (1, 3, 5)
    """part 1: kernel sizes K (odd) of the random convolutions written as attention with K² heads"""
    channels_out: int = 4
    """part 1: output channels of each random convolution (input: 1 channel, the digit)"""
    conv_images: int = 4
    """part 1: test digits (14 × 14) each convolution is applied to"""
    beta: float = 1e3
    """part 1: β of the positional score −β‖(p_j − p_i) − Δ_h‖² (large: each head attends to one shift)"""
    sizes: tuple[int, ...] = (250, 1000, 3500)
    """part 2: training-set sizes (images; 3500 = all of mnist5k's training split)"""
    seeds: int = 3
    """part 2: judged seeds (paired: one seed draws split, subset and both arms' initialisation)"""
    steps: int = 250
    """part 2: Adam steps per training (the equal budget of both arms, at every size)"""
    batch_size: int = 64
    """part 2: mini-batch size"""
    lrs: tuple[float, ...] = (1e-3, 3e-3)
    """part 2: Adam learning-rate grid; each arm takes its best on the tuning seed (1000 + seed), smallest size"""
    patch: int = 7
    """ViT: patch side P (must divide 28)"""
    width: int = 32
    """ViT: token width D (2 heads, one block)"""
    contender: Literal["vit", "cnn"] = "vit"
    """the arm compared with the CNN: vit (the claim) or cnn (the negative control: the CNN in both arms)"""
    param_tolerance: float = 1.5
    """sanity: the two arms' parameter counts differ by at most this factor"""
    conv_tolerance: float = 1e-5
    """the claim: max |attention − F.conv2d| over all kernels, digits and pixels (float32) is at most this"""
    win_margin: float = 0.02
    """the claim: at the smallest size the CNN's test accuracy beats the ViT's by more than this (fraction)"""
    narrow_margin: float = 0.02
    """the claim: the CNN's lead at the smallest size exceeds its lead at the largest by more than this"""

    thresholds: ClassVar[tuple[str, ...]] = ("conv_tolerance", "win_margin", "narrow_margin")
    rules: ClassVar[dict] = {"kernels": (nonempty, in_range(1, 7)), "channels_out": at_least(1),
                             "conv_images": at_least(1), "beta": at_least(0), "sizes": (nonempty, at_least(10)),
                             "seeds": at_least(1), "steps": at_least(1), "batch_size": at_least(1),
                             "lrs": (nonempty, positive), "patch": at_least(1), "width": at_least(2),
                             "param_tolerance": at_least(1), "conv_tolerance": positive,
                             "win_margin": in_range(-1, 1), "narrow_margin": in_range(-1, 1)}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"kernels": (1, 3), "conv_images": 1, "sizes": (100, 300), "seeds": 2, "steps": 8, "lrs": (3e-3,)},
        "full": {"sizes": (250, 500, 1000, 2000, 3500), "seeds": 5, "steps": 1000, "lrs": (1e-3, 3e-3, 1e-2)},
    }

    def validate(self) -> None:
        super().validate()
        if any(k % 2 == 0 for k in self.kernels):
            raise BadInput(f"--set kernels: the construction needs odd kernel sizes, got {self.kernels}")
        if max(self.sizes) > 3500:
            raise BadInput(f"--set sizes: mnist5k has 3500 training images, got {max(self.sizes)}; use sizes <= 3500")
        if 28 % self.patch:
            raise BadInput(f"--set patch: image size 28 is not divisible by patch size {self.patch}; use 1, 2, 4, 7, "
                           "14 or 28")
        if self.width % 2:
            raise BadInput(f"--set width: the ViT's 2 heads must divide the width, got {self.width}; use an even width")


NAMES = {"cnn": "CNN", "vit": "ViT"}


def make_model(kind: str, cfg: CnnAttentionConfig) -> torch.nn.Module:
    if kind == "cnn":
        return CNN(1, 10, channels=(8, 16), kernels=3, pool=True, head="flatten")
    return ViT(28, cfg.patch, width=cfg.width, heads=2, depth=1, positional="learned", pool="cls")


def _train(kind: str, cfg: CnnAttentionConfig, train, seed: int, lr: float) -> torch.nn.Module:
    torch.manual_seed(seed)
    return train_steps(make_model(kind, cfg), train, steps=cfg.steps, lr=lr, batch_size=cfg.batch_size, seed=seed)


@experiment("cnn-is-restricted-attention", section="attention",
            claim="A CNN is self-attention restricted to its receptive field: one multi-head self-attention layer "
                  "with K² heads and relative positional scores reproduces K×K convolutions to ≤ {conv_tolerance:g}; "
                  "on mnist5k a CNN beats a ViT of similar size by more than {win_margin:.0%} at the smallest "
                  "training size, and its lead shrinks by more than {narrow_margin:.0%} from the smallest to the "
                  "largest size.",
            negative_control=NegativeControl(
                overrides=("contender=cnn", "beta=0"),
                fails=("attention with K² heads reproduces the convolution", "CNN beats the ViT at the smallest size",
                       "CNN's lead narrows as data grow"),
                why="β = 0 makes every head average the whole image; the CNN in both arms leaves no gap at any size"))
def cnn_is_restricted_attention(run: Run, cfg: CnnAttentionConfig) -> None:
    """Part 1: Cordonnier's construction against F.conv2d; part 2: CNN vs ViT test accuracy against training size."""
    cpu_start = time.process_time()
    conv = _part_one(run, cfg)
    run.metric("conv_max_error", conv["errors"])
    worst32 = max(e["float32"] for e in conv["errors"].values())
    worst64 = max(e["float64"] for e in conv["errors"].values())
    run.check("attention with K² heads reproduces the convolution", worst32 <= cfg.conv_tolerance,
              observed=f"max |attention − F.conv2d| = {worst32:.2e} (float32), {worst64:.2e} (float64) over K ∈ "
                       f"{list(cfg.kernels)}, {cfg.conv_images} digits, {cfg.channels_out} output channels, β = {cfg.beta:g}",
              expected=f"<= {cfg.conv_tolerance:g}")

    names = {"cnn": "cnn", "contender": cfg.contender}
    counts = {arm: parameter_count(make_model(kind, cfg)) for arm, kind in names.items()}
    ratio = max(counts.values()) / min(counts.values())
    run.metric("parameters", counts)
    run.check("the two arms have similar parameter counts", ratio <= cfg.param_tolerance,
              observed=f"CNN {counts['cnn']:,} vs {NAMES[cfg.contender]} {counts['contender']:,} ({ratio:.2f}x)",
              expected=f"<= {cfg.param_tolerance:g}x", kind="sanity")

    sizes = sorted(cfg.sizes)
    tune = load_images(seed=tuning_seed(run.seed))
    best_lr = {}
    for arm, kind in names.items():
        if len(cfg.lrs) == 1:
            best_lr[arm] = cfg.lrs[0]
            continue
        scores = {lr: accuracy(_train(kind, cfg, subset(tune.train, sizes[0], 0), tuning_seed(run.seed), lr), tune.val)
                  for lr in cfg.lrs}
        best_lr[arm] = max(scores, key=scores.get)
        run.metric(f"tuning val accuracy per lr ({arm})", {str(k): v for k, v in scores.items()})
    run.metric("best_lr", best_lr)

    acc = {arm: np.zeros((cfg.seeds, len(sizes))) for arm in names}
    bar = run.progress(total=cfg.seeds * len(sizes), desc="seeds × sizes")
    for s, seed in enumerate(seeds(run.seed, cfg.seeds)):
        data = load_images(seed=seed)
        for t, n in enumerate(sizes):
            train = subset(data.train, n, seed)
            for arm, kind in names.items():
                acc[arm][s, t] = accuracy(_train(kind, cfg, train, seed, best_lr[arm]), data.test)
                run.log_metrics(seed=seed, size=n, arm=arm, model=kind, test_accuracy=acc[arm][s, t])
            bar.update()
    bar.close()
    lead = acc["cnn"] - acc["contender"]  # (seeds, sizes): the CNN's lead
    for arm in names:
        run.metric(f"test accuracy per size ({arm}): mean", dict(zip(map(str, sizes), acc[arm].mean(0))))
    run.metric("lead per size: mean", dict(zip(map(str, sizes), lead.mean(0))))
    run.metric("lead per size: per seed", {str(n): lead[:, t].tolist() for t, n in enumerate(sizes)})
    other = NAMES[cfg.contender] + (" (control)" if cfg.contender == "cnn" else "")
    win = run.compare("CNN beats the ViT at the smallest size", acc["cnn"][:, 0], acc["contender"][:, 0],
                      margin=cfg.win_margin, better="higher", labels=(f"CNN at {sizes[0]}", f"{other} at {sizes[0]}"))
    narrow = run.compare("CNN's lead narrows as data grow", lead[:, 0], lead[:, -1], margin=cfg.narrow_margin,
                         better="higher", labels=(f"lead at {sizes[0]}", f"lead at {sizes[-1]}"))
    run.metric("cpu_seconds", time.process_time() - cpu_start)
    _figure_conv(run, cfg, conv, worst32)
    _figure_curves(run, cfg, sizes, acc, lead, counts, win.passed and narrow.passed)


def _part_one(run: Run, cfg: CnnAttentionConfig) -> dict:
    """Each K: a random Conv2d(1, channels_out, K) (seeded), as attention, on 14 × 14 digits; max errors per dtype."""
    digits = F.avg_pool2d(load_images(seed=run.seed).test.x[:cfg.conv_images], 2)  # (I, 1, 14, 14)
    errors, keep = {}, None
    for k in cfg.kernels:
        torch.manual_seed(run.seed * 100 + k)
        reference = torch.nn.Conv2d(1, cfg.channels_out, k, padding=k // 2)  # PyTorch's default initialisation
        errors[str(k)] = {}
        for dtype in (torch.float32, torch.float64):
            w, b, x = reference.weight.detach().to(dtype), reference.bias.detach().to(dtype), digits.to(dtype)
            layer = ConvAsAttention(w, b, beta=cfg.beta)
            with torch.no_grad():
                out, expected = layer(x), F.conv2d(x, w, b, padding=k // 2)  # (I, C_out, 14, 14)
            errors[str(k)][str(dtype).replace("torch.", "")] = float((out - expected).abs().max())
            if dtype == torch.float32 and k == max(cfg.kernels):
                with torch.no_grad():
                    maps = layer.attention_maps(x[:1])[0]  # (K², N, N)
                keep = {"k": k, "x": x[0, 0], "conv": expected[0, 0], "attention": out[0, 0],
                        "maps": maps, "side": x.shape[-1] + 2 * (k // 2)}
    return {"errors": errors, **keep}


def _figure_conv(run: Run, cfg: CnnAttentionConfig, conv: dict, worst: float) -> None:
    fig, axes = figures.subplots(1, 4, panel=(3.1, 3.0))
    k, side = conv["k"], conv["side"]
    vmax = float(conv["conv"].abs().max())
    panels = ((conv["x"], "input digit (14 × 14)", "gray_r", None),
              (conv["conv"], f"F.conv2d, {k}×{k}, channel 1", "RdBu_r", vmax),
              (conv["attention"], f"attention, {k * k} heads, channel 1", "RdBu_r", vmax))
    for ax, (image, title, cmap, v) in zip(axes, panels):
        ax.imshow(image, cmap=cmap, vmin=None if v is None else -v, vmax=v)
        ax.set(title=title, xlabel="column (pixel)", ylabel="row (pixel)")
    # the receptive field: α' of the centre pixel, summed over heads, on the padded grid
    centre = (side // 2) * side + side // 2
    field = conv["maps"][:, centre].sum(0).view(side, side)
    r = k + 1
    crop = field[side // 2 - r: side // 2 + r + 1, side // 2 - r: side // 2 + r + 1]
    ax = axes[3]
    image = ax.imshow(crop, cmap="viridis", vmin=0, vmax=1, extent=(-r - 0.5, r + 0.5, r + 0.5, -r - 0.5))
    ax.set(title=r"centre pixel's $\alpha'$, summed over heads", xlabel=r"column offset $j - i$ (pixels)",
           ylabel=r"row offset $j - i$ (pixels)")
    ax.set_xticks(range(-r + r % 2, r + 1, 2)), ax.set_yticks(range(-r + r % 2, r + 1, 2))
    fig.colorbar(image, ax=ax, label="attention weight")
    fig.suptitle(f"a {k}×{k} convolution as self-attention: max |difference| = {worst:.1e} (float32)",
                 color=figures.verdict_color(worst <= cfg.conv_tolerance))
    run.figure("conv_as_attention", fig)


def _figure_curves(run: Run, cfg: CnnAttentionConfig, sizes, acc, lead, counts, passed: bool) -> None:
    fig, axes = figures.subplots(1, 2, panel=(4.8, 3.6))
    n = len(lead)
    se = (lambda a: a.std(0, ddof=1) / np.sqrt(n)) if n > 1 else (lambda a: np.zeros(a.shape[1]))
    labels = {"cnn": f"CNN ({counts['cnn']:,} params)",
              "contender": f"{NAMES[cfg.contender]} ({counts['contender']:,} params)"}
    for i, arm in enumerate(("cnn", "contender")):
        axes[0].errorbar(sizes, 100 * acc[arm].mean(0), yerr=100 * se(acc[arm]), marker="os"[i], capsize=3,
                         color=figures.SERIES[i], label=labels[arm], ls=("-", "--")[i])
    axes[0].set_xscale("log")
    axes[0].set_xticks(sizes, [str(s) for s in sizes])
    axes[0].xaxis.set_minor_formatter(NullFormatter())
    axes[0].set(title=f"test accuracy (mean ± SE, {n} seeds)", xlabel="training images (log scale)",
                ylabel="test accuracy (%)")
    figures.legend_below(axes[0], ncol=1)
    ax = axes[1]
    ax.errorbar(sizes, 100 * lead.mean(0), yerr=100 * se(lead), marker="o", capsize=3,
                color=figures.verdict_color(passed), label=f"CNN − {NAMES[cfg.contender]}")
    ax.axhline(0, color=figures.BASELINE, ls=":", label="no lead")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(title="the CNN's lead against training size", xlabel="training images (log scale)",
           ylabel="accuracy difference (points)")
    figures.legend_below(ax, ncol=2)
    run.figure("cnn_vs_vit", fig)
