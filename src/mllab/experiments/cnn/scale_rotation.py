"""scale-rotation: a CNN is not invariant to scaling and rotation; data augmentation (or a spatial transformer
trained with it) fixes it.

Data: `--set dataset=mnist5k|mnist|cifar10` (your MNIST / CIFAR-10 files with --data-dir; the full profile uses mnist
when a folder is given); the CNN's and the spatial transformer's input channels and size follow the images
(1 × 28 × 28 or 3 × 32 × 32). digits' 8 × 8 images are refused: ±45° rotations of 8 pixels are mostly resampling
blur, and the strided CNN leaves a 2 × 2 map. Judged seeds: derive_seed(seed, "judge", i).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, nonempty, positive
from mllab.core.errors import BadInput
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.data.images import IMAGE_DATASETS, check_image_dataset, image_shape, load_images, rotated, rotated_scaled
from mllab.experiments.cnn.common import accuracy, seeds, train_steps
from mllab.layers.spatial import RandomAffine, SpatialTransformer, theta_angle
from mllab.models.cnn import CNN


@dataclass
class ScaleRotationConfig(Config):
    dataset: str = "mnist5k"
    """the images: mnist5k (bundled) | mnist | cifar10 (your files: --data-dir)"""
    seeds: int = 3
    """judged seeds (paired: one seed draws the split, the initialisation and the augmentation of every arm)"""
    steps: int = 300
    """Adam steps per training (equal for every arm)"""
    batch_size: int = 64
    """mini-batch size"""
    lr: float = 3e-3
    """Adam learning rate of every arm (chosen in exploratory runs on data seed 100, not judged)"""
    max_angle: float = 45.0
    """test transform: rotation ~ U[−max_angle, max_angle] (degrees)"""
    scale_low: float = 0.7
    """test transform: scale ~ U[scale_low, scale_high]"""
    scale_high: float = 1.3
    """test transform: upper end of the scale range"""
    aug_angle: float = 45.0
    """augmentation: rotation range ± (degrees); 0 with aug scale 1–1 is the negative control"""
    aug_scale_low: float = 0.7
    """augmentation: lower end of the scale range"""
    aug_scale_high: float = 1.3
    """augmentation: upper end of the scale range"""
    angles: tuple[float, ...] = (-45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0)
    """angles (degrees) at which the accuracy drop is measured, one rotated copy of the test set each"""
    stn: bool = True
    """also train an STN-CNN with the same augmentation (first judged seed only; reported, not judged)"""
    min_drop: float = 0.05
    """the claim: the upright-trained CNN loses more than this accuracy (fraction) on transformed digits"""
    recover_margin: float = 0.05
    """the claim: augmentation raises transformed-digit accuracy by more than this (fraction)"""
    recovered_share: float = 0.5
    """the claim: augmentation wins back at least this share of the drop ("most of it")"""

    thresholds: ClassVar[tuple[str, ...]] = ("min_drop", "recover_margin", "recovered_share")
    rules: ClassVar[dict] = {"seeds": at_least(1), "steps": at_least(1), "batch_size": at_least(1), "lr": positive,
                             "max_angle": in_range(0, 180), "scale_low": positive, "scale_high": positive,
                             "aug_angle": in_range(0, 180), "aug_scale_low": positive, "aug_scale_high": positive,
                             "angles": (nonempty, in_range(-180, 180)), "min_drop": in_range(0, 1),
                             "recover_margin": in_range(-1, 1), "recovered_share": in_range(0, 1)}
    profiles: ClassVar[dict] = {"smoke": {"seeds": 2, "steps": 6, "angles": (-45.0, 0.0, 45.0)},
                                "full": {"seeds": 5, "steps": 3000}}
    real_dataset: ClassVar[str | None] = "mnist"

    def validate(self) -> None:
        super().validate()
        check_image_dataset(self.dataset, IMAGE_DATASETS, why="its 8 × 8 images are too small to rotate and scale: "
                                                              "the CNN needs 28 × 28 or 32 × 32 images")
        if self.scale_low > self.scale_high or self.aug_scale_low > self.aug_scale_high:
            raise BadInput("--set scale_low/aug_scale_low: the low end of a scale range must not exceed its high end")


def make_model(cfg: ScaleRotationConfig, arm: str, seed: int, shape: tuple[int, int, int] = (1, 28, 28)) -> CNN:
    """plain: no augmentation; augmented: random affine in front (training only); stn: augmentation then a
    spatial transformer. The same strided CNN behind each, for images of `shape` (C, H, W), H = W."""
    channels, side = shape[0], shape[-1]
    augment = RandomAffine(cfg.aug_angle, (cfg.aug_scale_low, cfg.aug_scale_high), seed=seed)
    front = {"plain": None, "augmented": augment,
             "stn": nn.Sequential(augment, SpatialTransformer(channels, side))}[arm]
    torch.manual_seed(seed)  # the CNN's initialisation is the same in every arm
    return CNN(channels, 10, channels=(8, 16), kernels=(5, 3), strides=2, pool=False, head="flatten",
               input_size=side, front=front)


@experiment("scale-rotation", section="cnn",
            claim="A CNN trained on upright images (digits by default) is not invariant to rotation (±45°) and "
                  "scaling (0.7–1.3): it loses more than {min_drop:.0%} accuracy on transformed images; training with "
                  "the same random transforms raises that accuracy by more than {recover_margin:.0%} and wins back at "
                  "least {recovered_share:.0%} of the drop.",
            negative_control=NegativeControl(
                overrides=("aug_angle=0", "aug_scale_low=1", "aug_scale_high=1"),
                fails=("augmentation recovers transformed accuracy", "augmentation wins back most of the drop"),
                why="augmentation with a zero range is the identity: both arms train on upright digits"))
def scale_rotation(run: Run, cfg: ScaleRotationConfig) -> None:
    """`dataset` (mnist5k by default); a strided CNN (5×5 s2, 3×3 s2, linear read-out) trained for the same steps
    without augmentation, with random affine augmentation (`layers.spatial.RandomAffine`), and (first seed) with a
    spatial transformer after the augmentation. Test sets are made deterministically from the test split
    (`data.images`): rotated by each of `angles`, and rotated ±max_angle and scaled together. Judged seeds: derive_seed(seed, "judge", i)."""
    arms = ("plain", "augmented")
    upright = {a: [] for a in arms}
    transformed = {a: [] for a in arms}
    per_angle = {a: [] for a in (*arms, "stn")}
    stn_info = None
    judged = seeds(run.seed, cfg.seeds)
    shape = image_shape(cfg.dataset)  # (C, H, W)
    bar = run.progress(total=cfg.seeds * 2 + int(cfg.stn), desc="seeds × arms")
    for seed in judged:
        data = load_images(seed=seed, name=cfg.dataset, data_dir=run.data_dir)
        mixed = rotated_scaled(data.test, cfg.max_angle, (cfg.scale_low, cfg.scale_high), seed=seed)
        turned = [rotated(data.test, a).split for a in cfg.angles]
        for arm in (*arms, "stn") if cfg.stn and seed == judged[0] else arms:
            model = train_steps(make_model(cfg, arm, seed, shape), data.train, steps=cfg.steps, lr=cfg.lr,
                                batch_size=cfg.batch_size, seed=seed)
            if arm in upright:
                upright[arm].append(accuracy(model, data.test))
                transformed[arm].append(accuracy(model, mixed.split))
            per_angle[arm].append([accuracy(model, t) for t in turned])
            if arm == "stn":
                stn_info = _stn_metrics(run, model, mixed)
            run.log_metrics(seed=seed, arm=arm, per_angle=per_angle[arm][-1])
            bar.update()
    bar.close()
    for arm in arms:
        run.metric(f"{arm}: upright / transformed accuracy (mean)",
                   [float(np.mean(upright[arm])), float(np.mean(transformed[arm]))])
    for arm, rows in per_angle.items():
        if rows:
            run.metric(f"{arm}: accuracy per angle (mean)", dict(zip(map(str, cfg.angles), np.mean(rows, 0))))
    run.compare("upright CNN loses accuracy on transformed digits", upright["plain"], transformed["plain"],
                margin=cfg.min_drop, better="higher", labels=("upright test", "transformed test"))
    run.compare("augmentation recovers transformed accuracy", transformed["augmented"], transformed["plain"],
                margin=cfg.recover_margin, better="higher", labels=("augmented", "plain"))
    drop = np.mean(upright["plain"]) - np.mean(transformed["plain"])
    gain = np.mean(transformed["augmented"]) - np.mean(transformed["plain"])
    share = gain / drop if drop > 0 else float("nan")
    run.metric("share of the drop recovered", share)
    run.check("augmentation wins back most of the drop", bool(share >= cfg.recovered_share),
              observed=f"drop {drop:.3f}, recovered {gain:.3f}: share {share:.2f} (means over {cfg.seeds} seeds)",
              expected=f"share >= {cfg.recovered_share:g}")
    _figures(run, cfg, per_angle, stn_info)


@torch.no_grad()
def _stn_metrics(run: Run, model: CNN, mixed) -> dict:
    """The STN's rotation on the transformed test set against the applied one (undoing it means r ≈ −1)."""
    stn = model.front[1]
    x = mixed.split.x
    theta = stn.theta(x)  # (N, 2, 3)
    learned = theta_angle(theta).numpy()
    applied = mixed.params["angle"].numpy()
    r = float(np.corrcoef(learned, applied)[0, 1])
    run.metric("STN rotation vs applied rotation: correlation (−1 = undoes it)", r)
    run.metric("STN transformed accuracy", accuracy(model, mixed.split))
    return {"learned": learned, "applied": applied, "r": r, "inputs": x[:6], "outputs": stn(x[:6])}


def _figures(run: Run, cfg: ScaleRotationConfig, per_angle: dict, stn_info: dict | None) -> None:
    fig, axes = figures.subplots(1, 2 if stn_info else 1, panel=(4.8, 3.6))
    colors = {"plain": figures.BASELINE, "augmented": figures.HOLDS, "stn": figures.SERIES[0]}
    for arm, rows in per_angle.items():
        if rows:
            axes[0].plot(cfg.angles, 100 * np.mean(rows, 0), marker="o", color=colors[arm],
                         label=f"{arm} ({len(rows)} seed{'s' if len(rows) > 1 else ''})")
    axes[0].set(title=f"accuracy on rotated {cfg.dataset} test images", xlabel="rotation (degrees)",
                ylabel="test accuracy (%)")
    figures.legend_below(axes[0], ncol=3)
    if stn_info:
        axes[1].scatter(stn_info["applied"], stn_info["learned"], s=6, color=figures.SERIES[0], alpha=0.5)
        axes[1].plot([-cfg.max_angle, cfg.max_angle], [cfg.max_angle, -cfg.max_angle], color=figures.BASELINE,
                     linestyle=":", label="perfect undo")
        axes[1].set(title=f"STN's rotation vs applied (r = {stn_info['r']:.2f})", xlabel="applied rotation (degrees)",
                    ylabel="STN rotation (degrees)")
        figures.legend_below(axes[1], ncol=1)
    run.figure("rotation", fig)
    if stn_info:
        n = len(stn_info["inputs"])
        fig, axes = figures.subplots(2, n, panel=(1.8, 2.0))
        for i in range(n):
            _show(axes[i], stn_info["inputs"][i])
            axes[i].set_title(f"input {i + 1}")
            _show(axes[n + i], stn_info["outputs"][i])
            axes[n + i].set_title(f"STN out {i + 1}")
        for ax in axes:
            ax.set_xticks([]), ax.set_yticks([])
        run.figure("stn", fig)


def _show(ax, image: torch.Tensor) -> None:
    """One image (C, H, W) in [0, 1]: grey (ink dark) for one channel, colour for three."""
    if image.shape[0] == 1:
        ax.imshow(image[0].numpy(), cmap="gray_r")
    else:
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())  # (H, W, 3)
