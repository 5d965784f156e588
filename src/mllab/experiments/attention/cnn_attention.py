"""cnn-is-restricted-attention: a CNN is self-attention restricted to its receptive field.

Part 1 (exact): `ConvAsAttention` (Cordonnier, Loukas & Jaggi, ICLR 2020) — one multi-head self-attention layer
with K² heads, zero content scores and the relative positional score α_{h,i,j} = −β ‖(p_j − p_i) − Δ_h‖² — is run
on test images (average-pooled to half size, 14 × 14 for mnist5k, to keep the N² scores small) with random K × K
convolutions
(PyTorch's default Conv2d initialisation, seeded) and compared with `F.conv2d` (float32: the claim; float64 reported).
This is a claim check, not a sanity check: it is the first half of the claim (a convolution *is* such an attention
layer), and it can fail — the softmax is one-hot only in the limit β → ∞ (the negative control sets β = 0).

Part 2 (data): the package's CNN (two 3×3 conv + 2×2 max-pool blocks, linear read-out) against a ViT of similar
size (7 × 7 patches, one block, width 32, 2 heads, learned positions, class token), both trained with Adam for the
same `steps` at batch 64 on training subsets of growing size, test accuracy on the fixed test split. The learning
rate of each arm is its best of `lrs` on the tuning seed derive_seed(--seed, "tune") at the smallest size (never
judged); judged seeds are derive_seed(--seed, "judge", i) (each draws the split, the subset and both arms'
initialisation: paired).
Claim: the CNN leads at the smallest size by more than `win_margin`, and its lead (CNN − ViT accuracy, per seed)
is larger at the smallest size than at the largest by more than `narrow_margin` — the restriction to a local
receptive field is a prior that helps most when data are few. Thresholds fixed before the first measured run.
Negative control: `contender=cnn beta=0` — the CNN in both arms (no gap at any size) and flat positional scores
(every head averages the whole image, no convolution).

Data (`dataset`): mnist5k (bundled; the quick default), or the user's MNIST or CIFAR-10 from --data-dir (the full
profile takes MNIST when --data-dir is given). Both models fit every one: the CNN takes the images' channels and
size, the ViT cuts P × P patches with P = a quarter of the side by default (7 on 28 × 28, 8 on CIFAR-10's 32 × 32,
3 input channels), and part 1's random convolutions take the images' channels (16 × 16 after pooling on CIFAR-10).
The parameter counts stay within `param_tolerance` of each other on both sizes (a sanity check, measured).
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
from mllab.core.seeding import derive_seed
from mllab.data.images import IMAGE_DATASETS, SHAPES, check_image_dataset, load_images, subset
from mllab.experiments.cnn.common import accuracy, train_steps
from mllab.models.cnn import CNN
from mllab.models.vit import ConvAsAttention, ViT, parameter_count


@dataclass
class CnnAttentionConfig(Config):
    dataset: str = "mnist5k"
    """images: mnist5k (bundled), or mnist / cifar10 from --data-dir (both models take their channels and size)"""
    kernels: tuple[int, ...] = (1, 3, 5)
    """part 1: kernel sizes K (odd) of the random convolutions written as attention with K² heads"""
    channels_out: int = 4
    """part 1: output channels of each random convolution (input: the images' channels)"""
    conv_images: int = 4
    """part 1: test images (pooled to half size: 14 × 14, or 16 × 16 for cifar10) each convolution is applied to"""
    beta: float = 1e3
    """part 1: β of the positional score −β‖(p_j − p_i) − Δ_h‖² (large: each head attends to one shift)"""
    sizes: tuple[int, ...] = (250, 1000, 3500)
    """part 2: training-set sizes (images; 3500 = all of mnist5k's training split; at most the dataset's)"""
    seeds: int = 3
    """part 2: judged seeds (paired: one seed draws split, subset and both arms' initialisation)"""
    steps: int = 250
    """part 2: Adam steps per training (the equal budget of both arms, at every size)"""
    batch_size: int = 64
    """part 2: mini-batch size"""
    lrs: tuple[float, ...] = (1e-3, 3e-3)
    """part 2: Adam learning-rate grid; each arm takes its best on the tuning seed, at the smallest size"""
    patch: int = 0
    """ViT: patch side P, dividing the image side (28, or 32 for cifar10); 0: a quarter of the side (7 or 8)"""
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
                             "lrs": (nonempty, positive), "patch": at_least(0), "width": at_least(2),
                             "param_tolerance": at_least(1), "conv_tolerance": positive,
                             "win_margin": in_range(-1, 1), "narrow_margin": in_range(-1, 1)}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"kernels": (1, 3), "conv_images": 1, "sizes": (100, 300), "seeds": 2, "steps": 8, "lrs": (3e-3,)},
        "full": {"sizes": (250, 500, 1000, 2000, 3500), "seeds": 5, "steps": 1000, "lrs": (1e-3, 3e-3, 1e-2)},
    }
    real_dataset: ClassVar[str] = "mnist"  # the full profile with --data-dir

    def validate(self) -> None:
        super().validate()
        check_image_dataset(self.dataset, IMAGE_DATASETS)
        if any(k % 2 == 0 for k in self.kernels):
            raise BadInput(f"--set kernels: the construction needs odd kernel sizes, got {self.kernels}")
        if self.dataset == "mnist5k" and max(self.sizes) > 3500:
            raise BadInput(f"--set sizes: mnist5k has 3500 training images, got {max(self.sizes)}; use sizes <= 3500")
        side = self.side
        if self.patch and side % self.patch:
            choices = ", ".join(str(p) for p in range(1, side + 1) if side % p == 0)
            raise BadInput(f"--set patch: image size {side} ({self.dataset}) is not divisible by patch size "
                           f"{self.patch}; use {choices}, or 0 for {side // 4}")
        if self.width % 2:
            raise BadInput(f"--set width: the ViT's 2 heads must divide the width, got {self.width}; use an even width")

    @property
    def channels(self) -> int:
        return SHAPES[self.dataset][0]

    @property
    def side(self) -> int:
        return SHAPES[self.dataset][-1]

    @property
    def patch_side(self) -> int:
        """The ViT's patch side: `patch`, or a quarter of the image side when 0."""
        return self.patch or self.side // 4


NAMES = {"cnn": "CNN", "vit": "ViT"}


def make_model(kind: str, cfg: CnnAttentionConfig) -> torch.nn.Module:
    """The CNN or the ViT for `cfg.dataset`'s images (C, side, side) -> logits (B, 10)."""
    if kind == "cnn":
        return CNN(cfg.channels, 10, channels=(8, 16), kernels=3, pool=True, head="flatten", input_size=cfg.side)
    return ViT(cfg.side, cfg.patch_side, in_channels=cfg.channels, width=cfg.width, heads=2, depth=1,
               positional="learned", pool="cls")


def _train(kind: str, cfg: CnnAttentionConfig, train, seed: int, lr: float) -> torch.nn.Module:
    torch.manual_seed(seed)
    return train_steps(make_model(kind, cfg), train, steps=cfg.steps, lr=lr, batch_size=cfg.batch_size,
                       seed=seed % 2**32)  # TensorLoader multiplies its seed


@experiment("cnn-is-restricted-attention", section="attention",
            claim="A CNN is self-attention restricted to its receptive field: one multi-head self-attention layer "
                  "with K² heads and relative positional scores reproduces K×K convolutions to ≤ {conv_tolerance:g}; "
                  "on images (mnist5k unless --set dataset) a CNN beats a ViT of similar size by more than "
                  "{win_margin:.0%} at the smallest "
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
                       f"{list(cfg.kernels)}, {cfg.conv_images} images, {cfg.channels_out} output channels, "
                       f"β = {cfg.beta:g}",
              expected=f"<= {cfg.conv_tolerance:g}")

    names = {"cnn": "cnn", "contender": cfg.contender}
    counts = {arm: parameter_count(make_model(kind, cfg)) for arm, kind in names.items()}
    ratio = max(counts.values()) / min(counts.values())
    run.metric("parameters", counts)
    run.check("the two arms have similar parameter counts", ratio <= cfg.param_tolerance,
              observed=f"CNN {counts['cnn']:,} vs {NAMES[cfg.contender]} {counts['contender']:,} ({ratio:.2f}x)",
              expected=f"<= {cfg.param_tolerance:g}x", kind="sanity")

    sizes = sorted(cfg.sizes)
    tuning_seed = derive_seed(run.seed, "tune")
    tune = load_images(seed=tuning_seed, name=cfg.dataset, data_dir=run.data_dir)
    if sizes[-1] > len(tune.train):
        raise BadInput(f"--set sizes: {cfg.dataset} has {len(tune.train)} training images (after the validation "
                       f"split), got {sizes[-1]}; use sizes <= {len(tune.train)}")
    run.metric("data", {"dataset": cfg.dataset, "images (train, val, test)": [len(tune.train), len(tune.val),
                        len(tune.test)], "image shape (C, H, W)": list(tune.train.x.shape[1:])})
    best_lr = {}
    for arm, kind in names.items():
        if len(cfg.lrs) == 1:
            best_lr[arm] = cfg.lrs[0]
            continue
        scores = {lr: accuracy(_train(kind, cfg, subset(tune.train, sizes[0], 0), tuning_seed, lr), tune.val)
                  for lr in cfg.lrs}
        best_lr[arm] = max(scores, key=scores.get)
        run.metric(f"tuning val accuracy per lr ({arm})", {str(k): v for k, v in scores.items()})
    run.metric("best_lr", best_lr)

    acc = {arm: np.zeros((cfg.seeds, len(sizes))) for arm in names}
    bar = run.progress(total=cfg.seeds * len(sizes), desc="seeds × sizes")
    for s, seed in enumerate(derive_seed(run.seed, "judge", i) for i in range(cfg.seeds)):
        data = load_images(seed=seed, name=cfg.dataset, data_dir=run.data_dir)
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
    """Each K: a random Conv2d(C, channels_out, K) (from derive_seed(--seed, "conv", K)), as attention, on test
    images pooled to half size (14 × 14, or 16 × 16 for cifar10); max errors per dtype."""
    test = load_images(seed=run.seed, name=cfg.dataset, data_dir=run.data_dir).test
    digits = F.avg_pool2d(test.x[:cfg.conv_images], 2)  # (I, C, side/2, side/2)
    errors, keep = {}, None
    for k in cfg.kernels:
        torch.manual_seed(derive_seed(run.seed, "conv", k))
        reference = torch.nn.Conv2d(cfg.channels, cfg.channels_out, k, padding=k // 2)  # PyTorch's default init
        errors[str(k)] = {}
        for dtype in (torch.float32, torch.float64):
            w, b, x = reference.weight.detach().to(dtype), reference.bias.detach().to(dtype), digits.to(dtype)
            layer = ConvAsAttention(w, b, beta=cfg.beta)
            with torch.no_grad():
                out, expected = layer(x), F.conv2d(x, w, b, padding=k // 2)  # (I, C_out, side/2, side/2)
            errors[str(k)][str(dtype).replace("torch.", "")] = float((out - expected).abs().max())
            if dtype == torch.float32 and k == max(cfg.kernels):
                with torch.no_grad():
                    maps = layer.attention_maps(x[:1])[0]  # (K², N, N)
                image = x[0, 0] if cfg.channels == 1 else x[0].permute(1, 2, 0).clamp(0, 1)  # (H, W) or (H, W, 3)
                keep = {"k": k, "x": image, "conv": expected[0, 0], "attention": out[0, 0],
                        "maps": maps, "side": x.shape[-1] + 2 * (k // 2)}
    return {"errors": errors, **keep}


def _figure_conv(run: Run, cfg: CnnAttentionConfig, conv: dict, worst: float) -> None:
    fig, axes = figures.subplots(1, 4, panel=(3.1, 3.0))
    k, side = conv["k"], conv["side"]
    vmax = float(conv["conv"].abs().max())
    h, w = conv["conv"].shape
    panels = ((conv["x"], f"input image ({h} × {w})", "gray_r", None),
              (conv["conv"], f"F.conv2d, {k}×{k}, channel 1", "RdBu_r", vmax),
              (conv["attention"], f"attention, {k * k} heads, channel 1", "RdBu_r", vmax))
    for ax, (image, title, cmap, v) in zip(axes, panels):
        ax.imshow(image.numpy(), cmap=cmap, vmin=None if v is None else -v, vmax=v)
        ax.set(title=title, xlabel="column (pixel)", ylabel="row (pixel)")
    # the receptive field: α' of the centre pixel, summed over heads, on the padded grid
    centre = (side // 2) * side + side // 2
    field = conv["maps"][:, centre].sum(0).view(side, side)
    r = k + 1
    crop = field[side // 2 - r: side // 2 + r + 1, side // 2 - r: side // 2 + r + 1]
    ax = axes[3]
    image = ax.imshow(crop.numpy(), cmap="viridis", vmin=0, vmax=1, extent=(-r - 0.5, r + 0.5, r + 0.5, -r - 0.5))
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
