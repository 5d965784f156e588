"""receptive-field: the closed-form receptive field is exactly the set of input pixels an output neuron depends on.

Data: `--set dataset=mnist5k|mnist|cifar10` (your MNIST / CIFAR-10 files with --data-dir) sets the probed input's
channels and side (1 × 28 × 28 or 3 × 32 × 32; `image` may override the side) and the image the fields are drawn on;
the check itself needs no training and no data (exact, seedless). digits' 8 × 8 images are refused: the deeper
stacks' fields cover all of an 8-pixel image after two layers, so border and centre neurons could not differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import dataclasses

import matplotlib.patches as patches
import torch
import torch.nn.functional as F

from mllab.core import figures
from mllab.core.config import Config, at_least, nonempty
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.data.images import IMAGE_DATASETS, check_image_dataset, image_shape, load_images
from mllab.layers.conv import LayerGeometry as L
from mllab.layers.conv import conv2d, field_mask, gradient_support, probe_stack, receptive_field

# The stacks the claim is checked on (two channels each: enough to show channel sums, cheap to probe).
STACKS: dict[str, list[L]] = {
    "3x3": [L("conv", 3, in_channels=1, out_channels=2), L("conv", 3, in_channels=2, out_channels=2),
            L("conv", 3, in_channels=2, out_channels=2)],
    "stride 2": [L("conv", 3, 2, in_channels=1, out_channels=2), L("conv", 3, 2, in_channels=2, out_channels=2),
                 L("conv", 3, in_channels=2, out_channels=2)],
    "padding": [L("conv", 3, 1, 1, in_channels=1, out_channels=2), L("conv", 3, 1, 1, in_channels=2, out_channels=2),
                L("conv", 3, 1, 1, in_channels=2, out_channels=2)],
    "dilation": [L("conv", 3, 1, 0, 1, 1, 2), L("conv", 3, 1, 0, 2, 2, 2), L("conv", 3, 1, 0, 4, 2, 2)],
    "max-pool": [L("conv", 3, 1, 1, in_channels=1, out_channels=2), L("pool", 2, 2), L("conv", 3, 1, 1, 1, 2, 2),
                 L("pool", 2, 2), L("conv", 3, 1, 1, 1, 2, 2)],
}


@dataclass
class ReceptiveFieldConfig(Config):
    stacks: tuple[str, ...] = ("3x3", "stride 2", "padding", "dilation", "max-pool")
    """stacks to probe (names of STACKS: 3x3, stride 2, padding, dilation, max-pool)"""
    dataset: str = "mnist5k"
    """the images whose shape is probed and that the fields are drawn on: mnist5k (bundled) | mnist | cifar10 (your
    files: --data-dir)"""
    image: int | None = None
    """input side (pixels); the probe input is C × image × image (None: the dataset's side, 28 or 32)"""
    formula: Literal["closed-form", "no-jump"] = "closed-form"
    """the receptive-field recurrence: closed-form (r += d(k−1)·j) or no-jump (the classic mistake r += d(k−1))"""
    min_stacks: int = 4
    """the claim: at least this many stacks, each matching pixel for pixel"""
    conv_tolerance: float = 1e-12
    """sanity: our conv2d equals F.conv2d to this max |difference| (float64, forward and backward)"""

    rules: ClassVar[dict] = {"stacks": nonempty, "image": at_least(1), "min_stacks": at_least(1),
                             "conv_tolerance": at_least(0)}
    profiles: ClassVar[dict] = {"smoke": {"image": 20}, "full": {}}

    real_dataset: ClassVar[str | None] = "mnist"

    def validate(self) -> None:
        super().validate()
        check_image_dataset(self.dataset, IMAGE_DATASETS, why="its 8 × 8 images are smaller than the deeper stacks' "
                                                              "fields; the stacks are probed at 28 × 28 or 32 × 32")
        unknown = [s for s in self.stacks if s not in STACKS]
        if unknown:
            raise BadInput(f"--set stacks: unknown {unknown}; choose from {', '.join(STACKS)}")


def with_channels(stack: list[L], channels: int) -> list[L]:
    """`stack` with its first layer reading `channels` input channels (3 for CIFAR-10's RGB); the rest unchanged."""
    if stack[0].kind != "conv" or stack[0].in_channels == channels:
        return stack
    return [dataclasses.replace(stack[0], in_channels=channels), *stack[1:]]


def conv_sanity(tolerance: float) -> tuple[float, str]:
    """Max |ours − F.conv2d| over forward, ∂x, ∂w, ∂b for stride, padding, dilation and groups (float64)."""
    worst, cases = 0.0, [dict(), dict(stride=2), dict(padding=2), dict(dilation=2), dict(groups=2),
                         dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)]
    g = torch.Generator().manual_seed(0)
    for options in cases:
        x = torch.randn(2, 4, 11, 10, dtype=torch.float64, generator=g, requires_grad=True)
        w = torch.randn(6, 4 // options.get("groups", 1), 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
        b = torch.randn(6, dtype=torch.float64, generator=g, requires_grad=True)
        outs = []
        for fn in (conv2d, F.conv2d):
            y = fn(x, w, b, **options)
            grads = torch.autograd.grad((y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum(),
                                        (x, w, b))
            outs.append((y, *grads))
        worst = max(worst, *(float((a - b).abs().max().detach()) for a, b in zip(*outs)))
    return worst, f"{len(cases)} option sets (stride, padding, dilation, groups, mixed)"


@experiment("receptive-field", section="cnn",
            claim="The closed-form receptive field (size r += d(k−1)·j, jump j *= s, start a −= p·j) is exactly the "
                  "set of input pixels an output neuron depends on: pixel for pixel, for a centre and a border neuron "
                  "of every layer, in at least {min_stacks} conv/pool stacks.",
            negative_control=NegativeControl(
                overrides=("formula=no-jump",), fails=("formula equals gradient support in every stack",),
                why="the no-jump recurrence forgets that a stride widens every later layer's step in input pixels"))
def receptive_field_experiment(run: Run, cfg: ReceptiveFieldConfig) -> None:
    """For each stack (3×3 convs; stride 2; padding 1; dilation 1-2-4; max-pooling), a linear float64 copy with
    positive weights is probed: the pixels where ∂y_ij/∂x ≠ 0 (a max-pool is probed by its average-pool twin, whose
    gradient reaches every pixel of the window; see `probe_stack`) are compared with the formula's box, for the
    centre neuron and the top-left border neuron of every layer, on an input of `dataset`'s channels and side (or
    `image`). No training, no seeds: exact."""
    channels, side, _ = image_shape(cfg.dataset)
    side = cfg.image or side
    shape = (channels, side, side)
    stacks = {name: with_channels(STACKS[name], channels) for name in cfg.stacks}
    fields = {name: receptive_field(stack, shape, ignore_jump=cfg.formula == "no-jump")  # BadInput: kernel too big
              for name, stack in stacks.items()}
    picture = load_images(seed=0, name=cfg.dataset, data_dir=run.data_dir).test.x[0]  # (C, H, W): drawn under fields
    worst, cases = conv_sanity(cfg.conv_tolerance)
    run.metric("conv2d_max_abs_difference", worst)
    run.check("conv2d equals F.conv2d (forward and backward)", worst <= cfg.conv_tolerance,
              observed=f"max |difference| {worst:.2e} over {cases}", expected=f"<= {cfg.conv_tolerance:g}",
              kind="sanity")
    torch.manual_seed(run.seed)
    results, matched_stacks = {}, 0
    for name in run.progress(cfg.stacks, desc="stacks"):
        infos = fields[name]
        net = probe_stack(stacks[name], in_channels=channels)
        rows, mismatched = [], 0
        for depth, info in enumerate(infos, start=1):
            for where, (i, j) in (("centre", (info.size // 2, info.size // 2)), ("border", (0, 0))):
                measured = gradient_support(net, shape, depth, i, j)
                predicted = field_mask(info, i, j, side)
                wrong = int((measured != predicted).sum())
                mismatched += wrong > 0
                rows.append({"layer": depth, "kind": info.kind, "neuron": where, "size": info.size,
                             "jump": info.jump, "field": info.field, "start": info.start,
                             "measured_pixels": int(measured.sum()), "formula_pixels": int(predicted.sum()),
                             "wrong_pixels": wrong})
                run.log_metrics(stack=name, **rows[-1])
        matched_stacks += mismatched == 0
        results[name] = {"infos": infos, "rows": rows, "net": net, "mismatched": mismatched}
        last = infos[-1]
        run.metric(f"{name}: final field / jump / params / dense params",
                   [last.field, last.jump, sum(i.params for i in infos), last.dense_params])
    bad = {n: r["mismatched"] for n, r in results.items() if r["mismatched"]}
    run.metric("neurons_mismatched", bad)
    run.check("formula equals gradient support in every stack", not bad and matched_stacks >= cfg.min_stacks,
              observed=f"{matched_stacks} of {len(results)} stacks match pixel for pixel"
                       + (f"; mismatched neurons per stack: {bad}" if bad else ""),
              expected=f"every stack matches, at least {cfg.min_stacks} stacks")
    _figures(run, cfg, results, picture, shape)


def _figures(run: Run, cfg: ReceptiveFieldConfig, results: dict, picture: torch.Tensor,
             shape: tuple[int, int, int]) -> None:
    """picture (C, H, W): a test image, resized to the probed side and drawn under the centre neurons' fields."""
    side = shape[-1]
    if picture.shape[-1] != side:
        picture = F.interpolate(picture[None], size=(side, side), mode="bilinear", align_corners=False)[0]
    # grey with dark ink for one channel, colour (H, W, 3) for three
    digit = picture[0].numpy() if picture.shape[0] == 1 else picture.permute(1, 2, 0).clamp(0, 1).numpy()
    names = list(results)
    fig, axes = figures.subplots(2, len(names), panel=(3.3, 3.3))
    for col, name in enumerate(names):
        top, bottom = axes[col], axes[len(names) + col]
        top.imshow(digit, cmap="gray_r" if digit.ndim == 2 else None)
        for depth, info in enumerate(results[name]["infos"]):
            c = info.size // 2
            t, l, b, r = info.box(c, c, side)
            top.add_patch(patches.Rectangle((l - 0.5, t - 0.5), r - l + 1, b - t + 1, fill=False, linewidth=1.6,
                                            color=figures.SERIES[depth % len(figures.SERIES)],
                                            label=f"layer {depth + 1} ({info.kind}): r = {info.field}"))
        top.set(title=f"{name}: centre neuron", xlabel="x (pixel)", ylabel="y (pixel)")
        figures.legend_below(top, ncol=1)
        last = results[name]["infos"][-1]
        support = gradient_support(results[name]["net"], shape, len(results[name]["infos"]), 0, 0)
        bottom.imshow(support.numpy(), cmap="Greens", vmin=0, vmax=1.5)
        t, l, b, r = last.box(0, 0)  # unclipped: the part outside the image is padding
        bottom.add_patch(patches.Rectangle((l - 0.5, t - 0.5), r - l + 1, b - t + 1, fill=False, linewidth=1.6,
                                           linestyle="--", color=figures.BASELINE, label="formula (incl. padding)"))
        bottom.set(title=f"{name}: border neuron (0, 0)", xlabel="x (pixel)", ylabel="y (pixel)",
                   xlim=(min(l, 0) - 1.5, side - 0.5), ylim=(side - 0.5, min(t, 0) - 1.5))
        figures.legend_below(bottom, ncol=1)
    run.figure("receptive_fields", fig)

    fig, axes = figures.subplots(1, 1, panel=(6.5, 3.6))
    ax = axes[0]
    xs = range(len(names))
    conv = [sum(i.params for i in results[n]["infos"]) for n in names]
    dense = [results[n]["infos"][-1].dense_params for n in names]
    ax.bar([x - 0.2 for x in xs], conv, 0.4, color=figures.HOLDS, label="conv stack")
    ax.bar([x + 0.2 for x in xs], dense, 0.4, color=figures.BASELINE, label="one dense layer, same in/out sizes")
    ax.set_yscale("log")
    ax.set_xticks(list(xs), names)
    ax.set(title="parameters: shared filters vs fully connected", xlabel="stack", ylabel="parameters (count)")
    figures.legend_outside(ax)
    run.figure("parameters", fig)
