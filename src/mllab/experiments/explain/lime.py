"""lime: a local linear surrogate on superpixels explains one prediction (Ribeiro et al. 2016).

The task is not about digits: its evidence is planted (`explain.planted`), so LIME can be checked against it. The
backgrounds the checkerboard is planted on are real images: grey crops of scikit-image's photos (the quick
default), or `dataset=mnist5k` / `mnist` digits or `cifar10` colour photos (3 × 32 × 32; the planted patch is
black-and-white in every channel) — mnist and cifar10 from --data-dir; the full profile takes mnist when --data-dir
is given. Training backgrounds come from the dataset's training split, test backgrounds from its test split."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch

from mllab.core import figures
from mllab.core.config import Config, at_least, in_range, positive
from mllab.core.registry import NegativeControl, experiment
from mllab.core.run import Run
from mllab.core.seeding import derive_seed
from mllab.data import Split
from mllab.data.images import IMAGE_DATASETS, check_image_dataset, load_images
from mllab.experiments.cnn.common import accuracy, train_steps
from mllab.experiments.explain.common import picture, seeds, show_map
from mllab.explain import block_segments, draw_masks, lime, slic_segments
from mllab.explain.planted import PHOTOS, evidence_features, planted_patch_task
from mllab.models.cnn import CNN

SEGMENTATIONS = ("blocks", "SLIC")
BACKGROUNDS = ("photos", *IMAGE_DATASETS)  # what the checkerboard is planted on
PATCH = 4  # side of the planted patch (`planted_patch_task`'s default; one block of the default segmentation)


@dataclass
class LimeConfig(Config):
    dataset: str = "photos"
    """backgrounds: photos (scikit-image's, grey), mnist5k, or mnist / cifar10 from --data-dir"""
    seeds: int = 3
    """judged seeds (one seed draws the task, the CNN and LIME's perturbations)"""
    train: int = 2000
    """training images of the planted-patch task per seed"""
    test: int = 400
    """test images per seed"""
    steps: int = 300
    """Adam steps of the CNN (conv 8, conv 16, 2×2 pools, linear; 2 classes)"""
    lr: float = 3e-3
    """Adam learning rate (the cnn section's setting; not tuned here)"""
    batch_size: int = 64
    """training mini-batch size"""
    images: int = 20
    """correctly classified class-1 test images explained per seed"""
    n_samples: int = 500
    """LIME perturbations per explanation (equal for every segmentation)"""
    kernel_width: float = 0.25
    """kernel width w of π = exp(−d²/(2w²)), d the cosine distance of z to the all-on vector (the lime package's)"""
    alpha: float = 1.0
    """ridge penalty of the surrogate (the lime package's default)"""
    block: int = 4
    """side of the square superpixels of the block segmentation (pixels); the patch is one block"""
    slic_segments: int = 49
    """SLIC: requested superpixels (as many as blocks)"""
    slic_compactness: float = 0.1
    """SLIC: compactness (grey images in [0, 1] need a small one)"""
    stability_seeds: int = 3
    """LIME repeats with different perturbation draws per image, for the stability measure"""
    surrogate: Literal["ridge", "random"] = "ridge"
    """the explanation: the ridge surrogate's weights ("random": random weights, the negative control)"""
    min_accuracy: float = 0.9
    """sanity: the CNN must solve the task (test accuracy at least this) for its explanation to be testable"""
    margin: float = 0.3
    """the claim: the top superpixel hits the evidence more often than chance by more than this (fraction)"""

    thresholds: ClassVar[tuple[str, ...]] = ("margin", "min_accuracy")
    rules: ClassVar[dict] = {"seeds": at_least(1), "train": at_least(2), "test": at_least(2), "steps": at_least(1),
                             "lr": positive, "batch_size": at_least(1), "images": at_least(1),
                             "n_samples": at_least(1), "kernel_width": positive, "alpha": at_least(0),
                             "block": at_least(1), "slic_segments": at_least(2), "slic_compactness": positive,
                             "stability_seeds": at_least(2), "min_accuracy": in_range(0, 1),
                             "margin": in_range(-1, 1)}
    profiles: ClassVar[dict] = {"smoke": {"seeds": 2, "train": 200, "test": 40, "steps": 30, "images": 3,
                                          "n_samples": 60, "stability_seeds": 2, "min_accuracy": 0.0},
                                "full": {"seeds": 5, "train": 10000, "test": 2000, "steps": 1500, "images": 100,
                                         "n_samples": 1000, "stability_seeds": 5}}
    real_dataset: ClassVar[str] = "mnist"  # the full profile with --data-dir plants the patch on MNIST digits

    def validate(self) -> None:
        super().validate()
        check_image_dataset(self.dataset, BACKGROUNDS)


def top(weights: torch.Tensor, k: int) -> set[int]:
    return set(weights.argsort(descending=True)[:k].tolist())


def planted_splits(cfg: LimeConfig, seed: int, data_dir: Path | None) -> tuple[Split, Split, torch.Tensor, dict]:
    """(train, test, test evidence (N, side, side), a description) of the planted task on `cfg.dataset`'s
    backgrounds: photos (one draw of train + test images from `seed`), or the dataset's train / test images
    (split with `seed`) as the train / test backgrounds."""
    if cfg.dataset == "photos":
        task = planted_patch_task(cfg.train + cfg.test, seed=seed, patch=PATCH)
        about = {"backgrounds": "photos", "background images (train, test)": [len(PHOTOS), len(PHOTOS)]}
        return (Split(task.x[:cfg.train], task.y[:cfg.train]), Split(task.x[cfg.train:], task.y[cfg.train:]),
                task.evidence[cfg.train:], about)
    data = load_images(seed=seed, name=cfg.dataset, data_dir=data_dir)  # (N, C, side, side)
    train = planted_patch_task(cfg.train, seed=derive_seed(seed, "train task"), patch=PATCH, backgrounds=data.train.x)
    test = planted_patch_task(cfg.test, seed=derive_seed(seed, "test task"), patch=PATCH, backgrounds=data.test.x)
    about = {"backgrounds": cfg.dataset, "background images (train, test)": [len(data.train), len(data.test)]}
    return Split(train.x, train.y), Split(test.x, test.y), test.evidence, about


@experiment("lime", section="explain",
            claim="A local linear surrogate on superpixels explains one prediction: on images (photo patches unless "
                  "--set dataset) where the class is a planted checkerboard patch, LIME's top superpixel (blocks, "
                  "and SLIC superpixels) lies on the patch more often than chance by more than {margin:.0%}.",
            negative_control=NegativeControl(
                overrides=("surrogate=random",),
                fails=("LIME finds the evidence (blocks)", "LIME finds the evidence (SLIC)"),
                why="random surrogate weights pick a random superpixel: chance"))
def lime_experiment(run: Run, cfg: LimeConfig) -> None:
    """Per judged seed (derive_seed(--seed, "judge", i)): the planted-patch task (`explain.planted`: 28 × 28 grey
    crops of scikit-image's photos, or `dataset`'s images; class 1 a 4 × 4 checkerboard, class 0 a flat grey
    4 × 4 distractor, both on the block grid); a CNN trained for `steps` Adam steps (sanity: test accuracy ≥
    min_accuracy). For the first `images` correctly classified class-1 test images, LIME of P(class 1) (softmax)
    with `n_samples` perturbations that set superpixels to 0, the kernel exp(−d²/(2·0.25²)) on the cosine
    distance of z to 1, a ridge surrogate (α = 1), on two segmentations: 4 × 4 blocks (49; 64 on 32 × 32 images)
    and SLIC (~49). LIME's draws come from derive_seed(seed, "lime"), the stability repeats' from
    derive_seed(seed, "stability", image, repeat). Hit: the top-weighted superpixel is evidence (≥ half of it,
    or ≥ half of the patch, on the patch); chance: the share of evidence superpixels. `run.compare` (paired by
    seed) of hit rate vs chance per segmentation. Reported, not judged: the
    surrogate's weighted R² (local fidelity) and stability, the mean top-5 overlap |A ∩ B| / 5 between LIME
    runs with different perturbation draws on the same image. Sanity: our LIME equals Captum's `Lime` given
    the same perturbations (≤ 1e-6)."""
    hits = {s: [] for s in SEGMENTATIONS}
    chance = {s: [] for s in SEGMENTATIONS}
    fidelity, stability, stability_top1, accuracies, shown = [], [], [], [], []
    for k, seed in enumerate(run.progress(seeds(run.seed, cfg.seeds), desc="seeds")):
        first = k == 0
        train, test, evidence, about = planted_splits(cfg, seed, run.data_dir)
        channels, side = test.x.shape[1], test.x.shape[-1]
        run.metric("data", {**about, "image shape (C, H, W)": list(test.x.shape[1:])})
        torch.manual_seed(seed)
        model = train_steps(CNN(channels, 2, channels=(8, 16), kernels=3, head="flatten", input_size=side), train,
                            steps=cfg.steps, lr=cfg.lr, batch_size=cfg.batch_size,
                            seed=seed % 2**32)  # TensorLoader multiplies its seed
        accuracies.append(accuracy(model, test))
        probs = torch.nn.Sequential(model, torch.nn.Softmax(1)).eval()
        with torch.no_grad():
            chosen = ((model(test.x).argmax(1) == 1) & (test.y == 1)).nonzero().flatten()[:cfg.images]
        g = torch.Generator().manual_seed(derive_seed(seed, "lime"))
        seed_hits = {s: [] for s in SEGMENTATIONS}
        seed_chance = {s: [] for s in SEGMENTATIONS}
        for j, i in enumerate(chosen.tolist()):
            x = test.x[i:i + 1]
            segs = {"blocks": block_segments(side, side, cfg.block),
                    "SLIC": slic_segments(x[0], cfg.slic_segments, cfg.slic_compactness, sigma=0.5)}
            for s, seg in segs.items():
                result = lime(probs, x, 1, seg, n_samples=cfg.n_samples, kernel_width=cfg.kernel_width,
                              alpha=cfg.alpha, generator=g)
                weights = result.weights if cfg.surrogate == "ridge" else torch.randn(len(result.weights), generator=g)
                is_evidence = evidence_features(seg, evidence[i])
                seed_hits[s].append(float(is_evidence[int(weights.argmax())]))
                seed_chance[s].append(float(is_evidence.float().mean()))
                if s == "blocks":
                    fidelity.append(result.fidelity)
                    repeats = [lime(probs, x, 1, seg, n_samples=cfg.n_samples, kernel_width=cfg.kernel_width,
                                    alpha=cfg.alpha,
                                    generator=torch.Generator().manual_seed(derive_seed(seed, "stability", j, r)))
                               .weights for r in range(cfg.stability_seeds)]
                    stability.append(np.mean([len(top(a, 5) & top(b, 5)) / 5 for a, b in combinations(repeats, 2)]))
                    stability_top1.append(np.mean([top(a, 1) == top(b, 1) for a, b in combinations(repeats, 2)]))
                if first and j < 4:
                    shown.append((s, picture(x[0]), evidence[i], seg, weights[seg]))
            if first and j == 0:
                _captum_sanity(run, probs, x, segs["blocks"], cfg)
        for s in SEGMENTATIONS:
            hits[s].append(float(np.mean(seed_hits[s])) if seed_hits[s] else 0.0)
            chance[s].append(float(np.mean(seed_chance[s])) if seed_chance[s] else 1.0)
        run.log_metrics(seed=seed, accuracy=accuracies[-1], explained=len(chosen),
                        **{f"hit_{s}": hits[s][-1] for s in SEGMENTATIONS})
    run.check("the CNN solves the planted task", min(accuracies) >= cfg.min_accuracy,
              observed=f"test accuracy per seed {[round(a, 3) for a in accuracies]}", expected=f">= {cfg.min_accuracy}",
              kind="sanity")
    run.metric("test accuracy per seed", accuracies)
    run.metric("top-1 hit rate per seed", hits)
    run.metric("chance per seed", chance)
    run.metric("local fidelity: weighted R² (blocks), mean", float(np.mean(fidelity)) if fidelity else None)
    run.metric("stability: top-5 overlap between LIME draws (blocks), mean", float(np.mean(stability)))
    run.metric("stability: same top-1 between LIME draws (blocks), share", float(np.mean(stability_top1)))
    passed = {s: run.compare(f"LIME finds the evidence ({s})", hits[s], chance[s], margin=cfg.margin,
                             better="higher", labels=(f"LIME top-1 hit rate, {s}", "chance")).passed
              for s in SEGMENTATIONS}
    _figures(run, cfg, hits, chance, fidelity, stability, shown, passed)


def _captum_sanity(run: Run, probs, x, segments, cfg: LimeConfig) -> None:
    from captum._utils.models.linear_model import (
        SkLearnRidge,  # the reference implementation
    )
    from captum.attr import Lime

    masks = draw_masks(cfg.n_samples, int(segments.max()) + 1, torch.Generator().manual_seed(1))
    ours = lime(probs, x, 1, segments, masks=masks, kernel_width=cfg.kernel_width, alpha=cfg.alpha)
    samples = iter(masks)

    def similarity(original, perturbed, z, **kwargs):  # the same kernel, on the interpretable vector z
        d = 1 - torch.nn.functional.cosine_similarity(z.double().flatten(), torch.ones(z.numel()).double(), dim=0)
        return float(torch.exp(-d ** 2 / (2 * cfg.kernel_width ** 2)))

    theirs = Lime(probs, interpretable_model=SkLearnRidge(alpha=cfg.alpha), similarity_func=similarity,
                  perturb_func=lambda inputs, **kw: next(samples)[None]).attribute(
        x, target=1, feature_mask=segments[None, None], n_samples=len(masks), perturbations_per_eval=256,
        return_input_shape=False)[0]
    diff = float((ours.weights - theirs).abs().max())
    run.check("LIME equals Captum's Lime on the same perturbations", diff <= 1e-6,
              observed=f"max |difference| of the weights {diff:.2e}", expected="<= 1e-6", kind="sanity")


def _figures(run, cfg, hits, chance, fidelity, stability, shown, passed) -> None:
    fig, axes = figures.subplots(1, 3, panel=(3.6, 3.2))
    x = np.arange(len(SEGMENTATIONS))
    axes[0].bar(x - 0.2, [np.mean(hits[s]) for s in SEGMENTATIONS], 0.4,
                color=[figures.verdict_color(passed[s]) for s in SEGMENTATIONS], label="LIME top-1")
    axes[0].bar(x + 0.2, [np.mean(chance[s]) for s in SEGMENTATIONS], 0.4, color=figures.BASELINE, label="chance")
    for i, s in enumerate(SEGMENTATIONS):
        axes[0].plot(np.full(len(hits[s]), i - 0.2), hits[s], "k.", markersize=4)
    axes[0].set_xticks(x, SEGMENTATIONS)
    axes[0].set(title="top superpixel on the patch", xlabel="superpixels", ylabel="hit rate (share of images)",
                ylim=(0, 1.05))
    figures.legend_below(axes[0], ncol=2)
    axes[1].hist(fidelity, bins=10, range=(0, 1), color=figures.SERIES[0])
    axes[1].set(title="local fidelity (blocks)", xlabel=r"weighted $R^2$ of the surrogate", ylabel="images")
    axes[2].hist(stability, bins=6, range=(0, 1.0001), color=figures.SERIES[1])
    axes[2].set(title=f"stability ({cfg.stability_seeds} LIME draws)", xlabel="top-5 overlap between draws",
                ylabel="images")
    run.figure("hits_fidelity_stability", fig)

    blocks = [item for item in shown if item[0] == "blocks"][:4]
    slics = [item for item in shown if item[0] == "SLIC"][:4]
    fig, axes = figures.subplots(3, len(blocks), panel=(1.9, 2.0))
    from skimage.segmentation import mark_boundaries

    for c, ((_, image, evid, _, wmap), (_, _, _, seg, smap)) in enumerate(zip(blocks, slics)):
        show_map(axes[c], image, "input (patch boxed)")
        rows, cols = evid.nonzero(as_tuple=True)
        axes[c].add_patch(__import__("matplotlib").patches.Rectangle(
            (int(cols.min()) - 0.5, int(rows.min()) - 0.5), PATCH, PATCH, fill=False, edgecolor=figures.HOLDS,
            linewidth=1.5))
        show_map(axes[len(blocks) + c], wmap, "LIME, blocks", signed=True)
        show_map(axes[2 * len(blocks) + c], smap, "LIME, SLIC", signed=True)
        edges = mark_boundaries(np.zeros(tuple(seg.shape)), seg.numpy(), color=(0, 0, 0)).max(-1)  # (H, W)
        axes[2 * len(blocks) + c].imshow(edges, cmap="gray_r", alpha=0.25)
    run.figure("explanations", fig)
