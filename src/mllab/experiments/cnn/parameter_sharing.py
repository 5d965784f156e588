"""parameter-sharing: local receptive fields + shared weights let a CNN learn images from less data with far fewer
parameters than a fully connected network.

Data: `--set dataset=mnist5k|mnist|cifar10` (mnist5k bundled; MNIST / CIFAR-10 from your files with --data-dir, which
the full profile then uses as mnist). Both models follow the images: the CNN takes C input channels and reads out
its last (H/4 × W/4) map, the MLP takes C·H·W inputs (1 × 28 × 28, or 3 × 32 × 32 for cifar10).

Under torchrun (`torchrun --nproc_per_node N -m mllab run parameter-sharing --profile full`) every model trains with
DDP, each rank on its shard: batch_size is the global batch, split over the ranks, so each step's gradient is the
one-process gradient of the same batch (to float rounding) when the training sizes are multiples of N. Test sets are
scored in shards and the hits summed over ranks. `train_samples_per_second` is the global training throughput.
Seeds: judged derive_seed(seed, "judge", i), tuning derive_seed(seed, "tune"): never the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty, positive
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data import Split
from mllab.data.images import (
    check_image_dataset,
    image_shape,
    load_images,
    shifted,
    subset,
)
from mllab.experiments.cnn.common import accuracy, train_steps
from mllab.models import MLP
from mllab.models.cnn import CNN, parameter_count
from mllab.train.distributed import TrainClock, samples_in_steps


@dataclass
class ParameterSharingConfig(Config):
    dataset: str = "mnist5k"
    """images: mnist5k (bundled) | mnist | cifar10 (your files: --data-dir; the full profile then uses mnist)"""
    sizes: tuple[int, ...] = (250, 1000, 3500)
    """training-set sizes of the learning curve (images; 3500 = all of mnist5k's training split)"""
    seeds: int = 3
    """judged seeds (each draws the split, the subset and both arms' initialisation: paired)"""
    steps: int = 150
    """Adam steps per training (the equal budget of both arms, at every size)"""
    batch_size: int = 64
    """mini-batch size (the global batch under torchrun: split over the ranks)"""
    lrs: tuple[float, ...] = (3e-3,)
    """Adam learning-rate grid; each arm takes its best on the tuning seed (never judged) at the smallest size"""
    channels: tuple[int, ...] = (8, 16)
    """CNN: channels of its two 3×3 conv blocks (each followed by 2×2 max-pooling), then a linear read-out"""
    mlp_width: int = 256
    """MLP: units of its one hidden layer"""
    small_model: Literal["cnn", "mlp"] = "cnn"
    """the arm under test: cnn (the claim) or mlp (the negative control: the MLP in both arms)"""
    shifts: tuple[int, ...] = (2, 3, 4)
    """test-digit shifts (pixels, in one of 8 directions per digit)"""
    param_ratio: float = 10.0
    """the claim: the CNN has at least this many times fewer parameters than the MLP"""
    margin: float = 0.0
    """the claim: the CNN's test accuracy beats the MLP's by more than this (fraction), at the full training set"""

    thresholds: ClassVar[tuple[str, ...]] = ("param_ratio", "margin")
    rules: ClassVar[dict] = {"sizes": (nonempty, at_least(10)), "seeds": at_least(1), "steps": at_least(1),
                             "batch_size": at_least(1), "lrs": (nonempty, positive),
                             "channels": (nonempty, at_least(1)),
                             "mlp_width": at_least(1), "shifts": (nonempty, in_range(0, 13)),
                             "param_ratio": positive, "margin": in_range(-1, 1)}
    profiles: ClassVar[dict] = {"smoke": {"sizes": (100, 300), "seeds": 2, "steps": 8, "shifts": (3,)},
                                "full": {"sizes": (250, 500, 1000, 3500), "seeds": 5, "steps": 1000,
                                         "lrs": (1e-3, 3e-3, 1e-2)}}
    real_dataset: ClassVar[str | None] = "mnist"

    def validate(self) -> None:
        super().validate()
        check_image_dataset(self.dataset)
        if self.dataset == "mnist5k" and max(self.sizes) > 3500:
            raise BadInput(f"--set sizes: mnist5k has 3500 training images, got {max(self.sizes)}; use sizes <= 3500")


def make_model(kind: str, cfg: ParameterSharingConfig, shape: tuple[int, int, int] = (1, 28, 28)) -> torch.nn.Module:
    """The arm's model for images of `shape` (C, H, W), H = W: logits (B, 10)."""
    channels, side, _ = shape
    if kind == "cnn":
        return CNN(channels, 10, channels=cfg.channels, kernels=3, pool=True, head="flatten", input_size=side)
    return MLP(channels * side * side, 10, width=cfg.mlp_width, depth=1)


def _train(run: Run, kind: str, cfg: ParameterSharingConfig, train: Split, seed: int, lr: float,
           clock: TrainClock) -> torch.nn.Module:
    """A fresh model of `kind` (initialised from `seed`, the same on every rank) trained for `cfg.steps` steps,
    under DDP when the run has several ranks; returns the trained model itself (not its DDP wrapper), in eval mode."""
    torch.manual_seed(seed)
    model = make_model(kind, cfg, tuple(train.x.shape[1:])).to(run.device)
    with clock:
        train_steps(run.distribute(model), train, steps=cfg.steps, lr=lr, batch_size=cfg.batch_size, seed=seed,
                    rank=run.rank, world_size=run.world_size)
    clock.samples += samples_in_steps(len(train), cfg.batch_size, cfg.steps)  # global: every rank's share
    return model.eval()


def _accuracy(run: Run, model: torch.nn.Module, split: Split) -> float:
    """Test accuracy on all of `split`: each rank scores every world_size-th image, the hits are summed over ranks
    (integer counts: the same number as one process scoring everything, on every rank)."""
    part = Split(split.x[run.rank::run.world_size], split.y[run.rank::run.world_size])
    hits = round(accuracy(model, part) * len(part))  # accuracy() is hits / len: back to the count
    return float(run.all_reduce_sum([hits])[0]) / len(split)


@experiment("parameter-sharing", section="cnn",
            claim="A CNN with at least {param_ratio:g}x fewer parameters than an MLP reaches higher test accuracy on "
                  "images (mnist5k unless --set dataset) by more than {margin:.1%}; its lead is larger at the "
                  "smallest training set than at the full one; shifting test images costs the MLP more accuracy "
                  "than the CNN.",
            negative_control=NegativeControl(
                overrides=("small_model=mlp",),
                fails=("CNN has far fewer parameters", "CNN tests better than the MLP"),
                why="with the MLP in both arms there is no parameter sharing: same size, same accuracy"),
            distributed=True)
def parameter_sharing(run: Run, cfg: ParameterSharingConfig) -> None:
    """CNN (two 3×3 conv + 2×2 max-pool blocks, linear read-out) vs MLP (C·H·W-256-10: 784-256-10 on digits), both
    trained with Adam for the same number of steps at each training size; the learning rate of each arm is picked
    from `lrs` on the tuning seed derive_seed(seed, "tune") (never judged); judged seeds are derive_seed(seed,
    "judge", i). Under torchrun each model trains with DDP on the ranks' shards of every batch."""
    shape = image_shape(cfg.dataset)  # (C, H, W)
    names = {"small": cfg.small_model, "mlp": "mlp"}
    counts = {arm: parameter_count(make_model(kind, cfg, shape)) for arm, kind in names.items()}
    ratio = counts["mlp"] / counts["small"]
    run.metric("parameters", counts)
    run.check("CNN has far fewer parameters", ratio >= cfg.param_ratio,
              observed=f"{names['small']} {counts['small']:,} vs MLP {counts['mlp']:,}: {ratio:.1f}x fewer",
              expected=f">= {cfg.param_ratio:g}x fewer")

    clock = TrainClock(run.device)
    tune_seed = derive_seed(run.seed, "tune")
    tune = load_images(seed=tune_seed, device=run.device, name=cfg.dataset, data_dir=run.data_dir)
    if max(cfg.sizes) > len(tune.train):
        raise BadInput(f"--set sizes: {cfg.dataset} has {len(tune.train)} training images here, got "
                       f"{max(cfg.sizes)}; use sizes <= {len(tune.train)}")
    tune_train = subset(tune.train, min(cfg.sizes), tune_seed)
    best_lr = {}
    for arm, kind in names.items():
        scores = {lr: _accuracy(run, _train(run, kind, cfg, tune_train, tune_seed, lr, clock), tune.val)
                  for lr in cfg.lrs}
        best_lr[arm] = max(scores, key=scores.get)
        run.metric(f"tuning val accuracy per lr ({arm})", {str(k): v for k, v in scores.items()})
    run.metric("best_lr", best_lr)

    sizes = sorted(cfg.sizes)
    acc = {arm: np.zeros((cfg.seeds, len(sizes))) for arm in names}
    shift_acc = {arm: np.zeros((cfg.seeds, len(cfg.shifts))) for arm in names}
    bar = run.progress(total=cfg.seeds * len(sizes), desc="seeds × sizes")
    keep = {}
    for s in range(cfg.seeds):
        seed = derive_seed(run.seed, "judge", s)  # draws the split, the subsets, the shifts and both arms' init
        data = load_images(seed=seed, device=run.device, name=cfg.dataset, data_dir=run.data_dir)
        moved = [shifted(data.test, k, seed=seed).split for k in cfg.shifts]
        for t, n in enumerate(sizes):
            train = subset(data.train, n, seed)
            for arm, kind in names.items():
                model = _train(run, kind, cfg, train, seed, best_lr[arm], clock)
                acc[arm][s, t] = _accuracy(run, model, data.test)
                run.log_metrics(seed=seed, size=n, arm=arm, model=kind, test_accuracy=acc[arm][s, t])
                if n == sizes[-1]:
                    shift_acc[arm][s] = [_accuracy(run, model, m) for m in moved]
                    keep[arm] = (model, data.test)
            bar.update()
    bar.close()
    run.metric("train_samples", clock.samples)  # every rank's, all fits (tuning included)
    run.metric("train_seconds", clock.seconds)
    run.metric("train_samples_per_second", clock.rate())
    for arm in names:
        run.metric(f"test accuracy per size ({arm}): mean", dict(zip(map(str, sizes), acc[arm].mean(0))))
        run.metric(f"shifted accuracy ({arm}): mean", dict(zip(map(str, cfg.shifts), shift_acc[arm].mean(0))))
    labels = (names["small"].upper(), "MLP")
    run.compare("CNN tests better than the MLP", acc["small"][:, -1], acc["mlp"][:, -1], margin=cfg.margin,
                better="higher", labels=labels)
    lead = acc["small"] - acc["mlp"]  # (seeds, sizes)
    run.metric("lead per size: mean", dict(zip(map(str, sizes), lead.mean(0))))
    run.compare(f"CNN's lead is larger at {sizes[0]} than at {sizes[-1]} images", lead[:, 0], lead[:, -1],
                margin=0.0, better="higher", labels=(f"lead at {sizes[0]}", f"lead at {sizes[-1]}"))
    drop = {arm: acc[arm][:, -1] - shift_acc[arm].mean(1) for arm in names}  # accuracy lost to shifting, per seed
    run.compare("shifting costs the MLP more than the CNN", drop["mlp"], drop["small"], margin=0.0, better="higher",
                labels=("MLP drop", f"{labels[0]} drop"))
    _figures(run, cfg, sizes, acc, shift_acc, names, keep)


def _figures(run: Run, cfg: ParameterSharingConfig, sizes, acc, shift_acc, names, keep) -> None:
    fig, axes = figures.subplots(1, 2, panel=(5.0, 3.6))
    colors = {"small": figures.HOLDS, "mlp": figures.BASELINE}
    for arm in names:
        mean, se = acc[arm].mean(0), acc[arm].std(0, ddof=1) / np.sqrt(len(acc[arm])) if len(acc[arm]) > 1 else 0
        axes[0].errorbar(sizes, 100 * mean, yerr=100 * se, marker="o", capsize=3, color=colors[arm])
        shift_mean = np.concatenate([[acc[arm][:, -1].mean()], shift_acc[arm].mean(0)])
        axes[1].plot([0, *cfg.shifts], 100 * shift_mean, marker="o", color=colors[arm],
                     label=f"{names[arm].upper()} ({parameter_count(keep[arm][0]):,} params)")
    axes[0].set_xscale("log")
    axes[0].set(title="test accuracy vs training size", xlabel="training images (log scale)",
                ylabel="test accuracy (%)")
    axes[1].set(title=f"test images shifted (trained on {sizes[-1]})", xlabel="shift (pixels)",
                ylabel="test accuracy (%)")
    axes[0].set_title(f"{cfg.dataset}: test accuracy vs training size\n(mean ± SE over {len(acc['mlp'])} seeds)")
    figures.legend_outside(axes[1])
    run.figure("learning_curves", fig)

    model, test = keep["small"]
    if not isinstance(model, CNN):
        return
    conv = model.features[0]
    filters = conv.weight.detach()[:, 0].cpu()  # (C_out, 3, 3): the weights on the first input channel
    with torch.no_grad():
        maps = torch.relu(conv(test.x[:1]))[0].cpu()  # (C_out, H, W)
    k = min(6, len(filters))
    fig, axes = figures.subplots(2, k + 1, panel=(2.0, 2.2))
    image = test.x[0].cpu()  # (C, H, W)
    if len(image) == 1:
        axes[0].imshow(image[0].numpy(), cmap="gray_r")
    else:
        axes[0].imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())  # (H, W, RGB)
    axes[0].set_title("input image")
    fig.delaxes(axes[k + 1])
    for i in range(k):
        axes[1 + i].imshow(filters[i].numpy(), cmap="RdBu_r", vmin=-filters.abs().max(), vmax=filters.abs().max())
        axes[1 + i].set_title(f"filter {i + 1}" + (" (red)" if len(image) > 1 else ""))
        axes[k + 2 + i].imshow(maps[i].numpy(), cmap="viridis")
        axes[k + 2 + i].set_title(f"map {i + 1}")
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    run.figure("filters", fig)
