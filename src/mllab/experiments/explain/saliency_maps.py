"""saliency-maps: the gradient of the class score with respect to the input shows which pixels matter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, positive
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.experiments.explain.common import (
    check_dataset,
    correct_test_images,
    data_summary,
    heat,
    picture,
    seeds,
    show_map,
    trained_cnn,
)
from mllab.explain import saliency
from mllab.explain.evaluate import (
    area_under,
    perturbation_curve,
    pixel_order,
    random_order,
)


@dataclass
class SaliencyMapsConfig(Config):
    dataset: str = "mnist5k"
    """images: mnist5k (bundled), or mnist / cifar10 from --data-dir (the CNN takes their channels and size)"""
    seeds: int = 3
    """judged seeds (one seed draws the data split, the CNN's initialisation and the random orders)"""
    steps: int = 150
    """Adam steps of the CNN (150 × 64 ≈ 2.7 epochs of mnist5k's 3,500 training images)"""
    lr: float = 3e-3
    """Adam learning rate (the cnn section's setting, chosen on data seed 100, not judged)"""
    batch_size: int = 64
    """training mini-batch size"""
    images: int = 64
    """correctly classified test images explained per seed"""
    curve_steps: int = 28
    """deletion / insertion steps (28 steps of 28 pixels for a 28 × 28 image, of ~37 for 32 × 32)"""
    attribution: Literal["saliency", "random"] = "saliency"
    """the arm under test: |∂y_c/∂x| ("random": a random map, the negative control)"""
    margin: float = 0.0
    """the claim: saliency's deletion AUC is below random order's, and its insertion AUC above, by more than this"""

    thresholds: ClassVar[tuple[str, ...]] = ("margin",)
    rules: ClassVar[dict] = {"seeds": at_least(1), "steps": at_least(1), "lr": positive, "batch_size": at_least(1),
                             "images": at_least(1), "curve_steps": at_least(1), "margin": in_range(-1, 1)}
    profiles: ClassVar[dict] = {"smoke": {"seeds": 2, "steps": 20, "images": 8, "curve_steps": 7},
                                "full": {"seeds": 5, "steps": 1000, "images": 500}}
    real_dataset: ClassVar[str] = "mnist"  # the full profile with --data-dir

    def validate(self) -> None:
        super().validate()
        check_dataset(self.dataset)


@experiment("saliency-maps", section="explain",
            claim="The gradient of the class score with respect to the input shows which pixels matter: on a CNN "
                  "trained on images (mnist5k unless --set dataset), deleting pixels in saliency order lowers the "
                  "class probability faster than a random order (deletion AUC lower by more than {margin:.2f}) and "
                  "inserting them raises it faster (insertion AUC higher by more than {margin:.2f}).",
            negative_control=NegativeControl(
                overrides=("attribution=random",),
                fails=("saliency deletes faster than random", "saliency inserts faster than random"),
                why="a random map is a random order: both arms are random"))
def saliency_maps(run: Run, cfg: SaliencyMapsConfig) -> None:
    """Per judged seed (derive_seed(--seed, "judge", i)): the shared CNN (`common.trained_cnn`: conv 8, conv 16, 2×2
    pools, linear) trained for `steps` Adam steps on `dataset` — mnist5k (the quick default), or the user's MNIST or
    CIFAR-10 from --data-dir (3 input channels, 32 × 32; the full profile takes MNIST when --data-dir is given); the
    first `images` correctly classified test images; the saliency map |∂y_c/∂x| of the true class; deletion (pixels set
    to 0, the background) and insertion (from an all-zero image) curves of the softmax probability over the fraction of
    pixels changed (a pixel: all its channels), in the map's order (channels summed) and in a random order (drawn from
    derive_seed(seed, "random order")); the per-seed mean AUCs are compared with `run.compare` (paired by seed). Sanity:
    our saliency equals Captum's `Saliency` on these images (max |difference| ≤ 1e-6)."""
    deletion = {"map": [], "random": []}
    insertion = {"map": [], "random": []}
    accuracies, shown = [], None
    run.metric("data", data_summary(seeds(run.seed, 1)[0], cfg.dataset, run.data_dir))
    for seed in run.progress(seeds(run.seed, cfg.seeds), desc="seeds"):
        model, acc = trained_cnn(seed, cfg.steps, cfg.lr, cfg.batch_size, dataset=cfg.dataset, data_dir=run.data_dir)
        accuracies.append(acc)
        x, y = correct_test_images(model, seed, cfg.images, cfg.dataset, run.data_dir)
        maps = saliency(model, x, y)  # (N, C, H, W)
        if shown is None:
            from captum.attr import (
                Saliency,  # the reference implementation (imported only where used)
            )

            diff = float((maps - Saliency(model).attribute(x.clone().requires_grad_(), target=y)).abs().max())
            run.check("saliency equals Captum's Saliency", diff <= 1e-6, observed=f"max |difference| {diff:.2e}",
                      expected="<= 1e-6", kind="sanity")
        g = torch.Generator().manual_seed(derive_seed(seed, "random order"))
        if cfg.attribution == "random":
            maps = torch.rand(maps.shape, generator=g)
        orders = {"map": pixel_order(maps), "random": random_order(len(x), x.shape[-2] * x.shape[-1], g)}
        curves = {}
        for arm, order in orders.items():
            for mode, store in (("deletion", deletion), ("insertion", insertion)):
                frac, p = perturbation_curve(model, x, y, order, mode=mode, steps=cfg.curve_steps)
                store[arm].append(float(area_under(frac, p).mean()))
                curves[arm, mode] = (frac, p.mean(0))
        run.log_metrics(seed=seed, accuracy=acc, **{f"deletion_auc_{a}": v[-1] for a, v in deletion.items()},
                        **{f"insertion_auc_{a}": v[-1] for a, v in insertion.items()})
        if shown is None:
            shown = (x[:6], y[:6], maps[:6], curves)
    run.metric("test accuracy per seed", accuracies)
    run.metric("deletion AUC per seed", deletion)
    run.metric("insertion AUC per seed", insertion)
    gap_del = run.compare("saliency deletes faster than random", deletion["map"], deletion["random"],
                          margin=cfg.margin, better="lower", labels=(cfg.attribution, "random order"))
    gap_ins = run.compare("saliency inserts faster than random", insertion["map"], insertion["random"],
                          margin=cfg.margin, better="higher", labels=(cfg.attribution, "random order"))
    _figures(run, cfg, shown, deletion, insertion, (gap_del.passed, gap_ins.passed))


def _figures(run, cfg, shown, deletion, insertion, passed) -> None:
    x, y, maps, curves = shown
    fig, axes = figures.subplots(2, 6, panel=(1.8, 2.0))
    for i in range(6):
        if i >= len(x):  # fewer correctly classified images than panels
            axes[i].set_visible(False), axes[6 + i].set_visible(False)
            continue
        show_map(axes[i], picture(x[i]), f"class {int(y[i])}")
        show_map(axes[6 + i], heat(maps[i]), f"{cfg.attribution} map", cmap="magma")
    run.figure("maps", fig)

    fig, axes = figures.subplots(1, 3, panel=(3.8, 3.2))
    for ax, mode, ok in ((axes[0], "deletion", passed[0]), (axes[1], "insertion", passed[1])):
        frac, p = curves["map", mode]
        ax.plot(frac, p, color=figures.verdict_color(ok), label=f"{cfg.attribution} order")
        frac, p = curves["random", mode]
        ax.plot(frac, p, color=figures.BASELINE, linestyle="--", label="random order")
        ax.set(title=f"{mode}, first judged seed", xlabel="fraction of pixels changed",
               ylabel="mean P(true class)", ylim=(0, 1.02))
    figures.legend_outside(axes[1])
    n = len(deletion["map"])
    for j, (name, values) in enumerate((("deletion", deletion), ("insertion", insertion))):
        axes[2].plot([2 * j - 0.2] * n, values["map"], "o", color=figures.verdict_color(passed[j]),
                     label=f"{cfg.attribution}" if j == 0 else None)
        axes[2].plot([2 * j + 0.2] * n, values["random"], "s", color=figures.BASELINE,
                     label="random order" if j == 0 else None)
    axes[2].set_xticks([0, 2], ["deletion", "insertion"])
    axes[2].set(title="AUC per seed", xlabel="curve", ylabel="area under P(true class)", xlim=(-1, 3))
    figures.legend_outside(axes[2])
    run.figure("deletion_insertion", fig)
