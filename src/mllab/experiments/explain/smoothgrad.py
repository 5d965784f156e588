"""smoothgrad: averaging saliency over noisy copies of the input gives cleaner maps (Smilkov et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from mllab.core import figures
from mllab.core.config import Config, at_least, nonempty, positive
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
from mllab.explain import saliency, smoothgrad
from mllab.explain.evaluate import area_under, perturbation_curve, pixel_order


def total_variation(maps: torch.Tensor) -> torch.Tensor:
    """Visual noise of each map (B, C, H, W): the total variation of the map normalised to sum 1,
    TV(m) = Σ |m_{i+1,j} − m_{i,j}| + |m_{i,j+1} − m_{i,j}|, m = |M| / Σ|M|  (B,). Lower: smoother."""
    m = maps.abs().flatten(1)
    m = (m / m.sum(1, keepdim=True).clamp_min(1e-12)).view_as(maps)
    return (m.diff(dim=-2).abs().flatten(1).sum(1) + m.diff(dim=-1).abs().flatten(1).sum(1))


def stroke_share(maps: torch.Tensor, x: torch.Tensor, level: float = 0.5) -> torch.Tensor:
    """Share of the attribution mass Σ|M| on the bright pixels x > level (a digit's stroke)  (B,); maps and x
    (B, C, H, W)."""
    m = maps.abs().flatten(1)
    return (m * (x.flatten(1) > level)).sum(1) / m.sum(1).clamp_min(1e-12)


@dataclass
class SmoothGradConfig(Config):
    dataset: str = "mnist5k"
    """images: mnist5k (bundled), or mnist / cifar10 from --data-dir (the CNN takes their channels and size)"""
    seeds: int = 3
    """judged seeds (one seed draws the data split, the CNN and the noise)"""
    steps: int = 150
    """Adam steps of the CNN (the same CNN as saliency-maps)"""
    lr: float = 3e-3
    """Adam learning rate"""
    batch_size: int = 64
    """training mini-batch size"""
    images: int = 32
    """correctly classified test images per seed"""
    ns: tuple[int, ...] = (1, 5, 25, 50)
    """noisy copies n drawn; the claim is judged at the largest"""
    noise: float = 0.15
    """σ as a fraction of the image's range (Smilkov et al.'s 10–20 %; PAIR saliency's default 0.15); 0: vanilla"""
    curve_steps: int = 28
    """deletion-curve steps"""
    factor: float = 1.25
    """the claim: SmoothGrad's total variation at the largest n is lower than vanilla saliency's by at least this
    factor"""

    thresholds: ClassVar[tuple[str, ...]] = ("factor",)
    rules: ClassVar[dict] = {"seeds": at_least(1), "steps": at_least(1), "lr": positive, "batch_size": at_least(1),
                             "images": at_least(1), "ns": (nonempty, at_least(1)), "noise": at_least(0),
                             "curve_steps": at_least(1), "factor": positive}
    profiles: ClassVar[dict] = {"smoke": {"seeds": 2, "steps": 20, "images": 4, "ns": (1, 4), "curve_steps": 7},
                                "full": {"seeds": 5, "steps": 1000, "images": 200, "ns": (1, 5, 25, 50, 100)}}
    real_dataset: ClassVar[str] = "mnist"  # the full profile with --data-dir

    def validate(self) -> None:
        super().validate()
        check_dataset(self.dataset)


@experiment("smoothgrad", section="explain",
            claim="Averaging saliency over noisy copies gives cleaner maps: with σ = {noise:.0%} of the image's range, "
                  "SmoothGrad's maps at the largest n have at least {factor:g}x lower total variation (of the map "
                  "normalised to sum 1) than vanilla saliency's, on a CNN trained on images (mnist5k unless --set "
                  "dataset).",
            negative_control=NegativeControl(
                overrides=("noise=0",), fails=("SmoothGrad is smoother than saliency",),
                why="with σ = 0 every noisy copy is the input: SmoothGrad is vanilla saliency"))
def smoothgrad_experiment(run: Run, cfg: SmoothGradConfig) -> None:
    """Per judged seed (derive_seed(--seed, "judge", i)): the shared CNN (`common.trained_cnn`) on `dataset` —
    mnist5k (the quick default), or the user's MNIST or CIFAR-10 (3 channels, 32 × 32) from --data-dir (the full
    profile takes MNIST when --data-dir is given); the first `images` correctly classified test images; vanilla
    saliency |∂y_c/∂x| and SmoothGrad (mean |∂y_c/∂x| over n copies x + ε, ε ~ N(0, (noise·(x_max − x_min))²),
    drawn from derive_seed(seed, "noise")) for each n in `ns`. Visual noise: the total variation of the map
    normalised to sum 1 (lower: smoother); also the share of attribution on stroke pixels (x > 0.5) and the
    deletion AUC (pixels set to 0 in the map's order; lower: more faithful). `run.compare` (log ratio, paired by
    seed): TV of SmoothGrad at the largest n vs vanilla. σ = 15 % is the literature's default, not tuned here."""
    ns = sorted(cfg.ns)
    arms = ["vanilla"] + [f"n={n}" for n in ns]
    tv = {a: [] for a in arms}
    share = {a: [] for a in arms}
    deletion = {a: [] for a in arms}
    shown = None
    run.metric("data", data_summary(seeds(run.seed, 1)[0], cfg.dataset, run.data_dir))
    for seed in run.progress(seeds(run.seed, cfg.seeds), desc="seeds"):
        model, acc = trained_cnn(seed, cfg.steps, cfg.lr, cfg.batch_size, dataset=cfg.dataset, data_dir=run.data_dir)
        x, y = correct_test_images(model, seed, cfg.images, cfg.dataset, run.data_dir)
        maps = {"vanilla": saliency(model, x, y)}
        for n in ns:
            noise = torch.Generator().manual_seed(derive_seed(seed, "noise"))  # the same draws for every n
            maps[f"n={n}"] = smoothgrad(model, x, y, n=n, noise=cfg.noise, generator=noise)
        for a, m in maps.items():
            tv[a].append(float(total_variation(m).mean()))
            share[a].append(float(stroke_share(m, x).mean()))
            frac, p = perturbation_curve(model, x, y, pixel_order(m), mode="deletion", steps=cfg.curve_steps)
            deletion[a].append(float(area_under(frac, p).mean()))
        if shown is None:
            _captum_sanity(run, model, x[:4], y[:4], cfg)
        run.log_metrics(seed=seed, accuracy=acc, **{f"tv_{a}": v[-1] for a, v in tv.items()})
        if shown is None:
            shown = (x[:3], {a: m[:3] for a, m in maps.items()})
    run.metric("total variation per seed", tv)
    run.metric("stroke share per seed", share)
    run.metric("deletion AUC per seed", deletion)
    top = f"n={ns[-1]}"
    result = run.compare("SmoothGrad is smoother than saliency", tv[top], tv["vanilla"], margin=cfg.factor,
                         better="lower", log=True, labels=(f"SmoothGrad {top}", "vanilla saliency"))
    _figures(run, cfg, arms, tv, share, deletion, shown, result.passed)


def _captum_sanity(run: Run, model, x, y, cfg: SmoothGradConfig) -> None:
    """Ours equals Captum's NoiseTunnel(Saliency) given the same noise draws (one σ in input units for the batch)."""
    from captum.attr import NoiseTunnel, Saliency  # the reference implementation

    std = float(cfg.noise * (x.max() - x.min()))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        ours = smoothgrad(model, x, y, n=5, std=std)
        torch.manual_seed(0)
        theirs = NoiseTunnel(Saliency(model)).attribute(x.clone(), nt_type="smoothgrad", nt_samples=5, stdevs=std,
                                                        target=y)
    diff = float((ours - theirs).abs().max())
    run.check("SmoothGrad equals Captum's NoiseTunnel", diff <= 1e-6, observed=f"max |difference| {diff:.2e}",
              expected="<= 1e-6", kind="sanity")


def _figures(run, cfg, arms, tv, share, deletion, shown, passed) -> None:
    fig, axes = figures.subplots(1, 3, panel=(3.6, 3.2))
    x = np.arange(len(arms))
    for ax, values, title, ylabel in ((axes[0], tv, "visual noise", "total variation of normalised map"),
                                      (axes[1], share, "attribution on the stroke", "share of |map| on x > 0.5"),
                                      (axes[2], deletion, "faithfulness", "deletion AUC (lower: better)")):
        means = [np.mean(values[a]) for a in arms]
        colors = [figures.BASELINE] + [figures.verdict_color(passed)] * (len(arms) - 1)
        ax.bar(x, means, color=colors)
        for i, a in enumerate(arms):
            ax.plot(np.full(len(values[a]), x[i]), values[a], "k.", markersize=4)
        ax.set_xticks(x, arms, rotation=30)
        ax.set(title=f"{title} (σ = {cfg.noise:.0%})", xlabel="map", ylabel=ylabel)
    run.figure("noise_vs_n", fig)

    images, maps = shown
    fig, axes = figures.subplots(len(images), len(arms) + 1, panel=(1.7, 1.9))
    for r in range(len(images)):
        row = axes[r * (len(arms) + 1):(r + 1) * (len(arms) + 1)]
        show_map(row[0], picture(images[r]), "input")
        for c, a in enumerate(arms):
            show_map(row[c + 1], heat(maps[a][r]), a if a == "vanilla" else f"SmoothGrad {a}", cmap="magma")
    run.figure("maps", fig)
