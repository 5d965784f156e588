"""explanation-sanity: a trustworthy explanation depends on the model (Adebayo et al. 2018's model-parameter
randomisation test, cascading from the output layer down)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from mllab.core import figures, stats
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
from mllab.explain import gradient_x_input, integrated_gradients, saliency, smoothgrad
from mllab.explain.evaluate import (
    cascading_randomisation,
    parametrised_layers,
    rank_correlation,
)

METHODS = ("saliency", "SmoothGrad", "gradient × input", "integrated gradients")
JUDGED = ("saliency", "SmoothGrad")  # the claim's methods; the other two are measured by the same rule and flagged


@dataclass
class ExplanationSanityConfig(Config):
    dataset: str = "mnist5k"
    """images: mnist5k (bundled), or mnist / cifar10 from --data-dir (the CNN takes their channels and size)"""
    seeds: int = 3
    """judged seeds (one seed draws the data split, the CNN, the re-initialisation and SmoothGrad's noise)"""
    steps: int = 150
    """Adam steps of the CNN (the same CNN as saliency-maps)"""
    lr: float = 3e-3
    """Adam learning rate"""
    batch_size: int = 64
    """training mini-batch size"""
    images: int = 16
    """correctly classified test images per seed"""
    smoothgrad_n: int = 25
    """SmoothGrad's noisy copies (PAIR saliency's default)"""
    noise: float = 0.15
    """SmoothGrad's σ as a fraction of the image's range (Smilkov et al.: 10–20 %)"""
    ig_steps: int = 32
    """integrated gradients: Gauss–Legendre nodes, baseline the black image"""
    randomise: bool = True
    """re-initialise the layers (false: the negative control, the "randomised" model is the trained one)"""
    margin: float = 0.3
    """the claim: after randomising every layer, the mean Spearman |ρ| with the trained model's maps is lower than
    the trained model's own repeat (a fresh SmoothGrad draw) by more than this"""

    thresholds: ClassVar[tuple[str, ...]] = ("margin",)
    rules: ClassVar[dict] = {"seeds": at_least(1), "steps": at_least(1), "lr": positive, "batch_size": at_least(1),
                             "images": at_least(1), "smoothgrad_n": at_least(1), "noise": at_least(0),
                             "ig_steps": at_least(1), "margin": in_range(0, 2)}
    profiles: ClassVar[dict] = {"smoke": {"seeds": 2, "steps": 20, "images": 3, "smoothgrad_n": 4, "ig_steps": 4},
                                "full": {"seeds": 5, "steps": 1000, "images": 100, "smoothgrad_n": 50}}
    real_dataset: ClassVar[str] = "mnist"  # the full profile with --data-dir

    def validate(self) -> None:
        super().validate()
        check_dataset(self.dataset)


def attribute(method: str, model, x, y, cfg: ExplanationSanityConfig, seed: int) -> torch.Tensor:
    """The maps (N, C, H, W) of one method; SmoothGrad's noise drawn from `seed`."""
    if method == "saliency":
        return saliency(model, x, y)
    if method == "SmoothGrad":
        return smoothgrad(model, x, y, n=cfg.smoothgrad_n, noise=cfg.noise,
                          generator=torch.Generator().manual_seed(seed))
    if method == "gradient × input":
        return gradient_x_input(model, x, y)
    return integrated_gradients(model, x, y, 0.0, n_steps=cfg.ig_steps)


def layers_changed(original, randomised, names: list[str]) -> bool:
    """True when exactly the parameters of the layers `names` differ from the original's."""
    before = original.state_dict()
    return all((not torch.equal(v, before[k])) == (k.rsplit(".", 1)[0] in names)
               for k, v in randomised.state_dict().items())


@experiment("explanation-sanity", section="explain",
            claim="A trustworthy explanation depends on the model: after re-initialising a trained CNN's layers (an "
                  "image classifier, mnist5k unless --set dataset) from the top down, saliency and SmoothGrad maps "
                  "lose their rank correlation with the trained model's maps (mean Spearman |ρ| lower than a repeat "
                  "on the trained model by more than "
                  "{margin:g}); gradient × input and integrated gradients are measured by the same rule and flagged "
                  "where they stay correlated.",
            negative_control=NegativeControl(
                overrides=("randomise=false",),
                fails=("saliency depends on the model", "SmoothGrad depends on the model"),
                why="without re-initialisation the 'randomised' model is the trained one"))
def explanation_sanity(run: Run, cfg: ExplanationSanityConfig) -> None:
    """Per judged seed (derive_seed(--seed, "judge", i)): the shared CNN (`common.trained_cnn`) on `dataset` —
    mnist5k (the quick default), or the user's MNIST or CIFAR-10 (3 channels, 32 × 32) from --data-dir (the full
    profile takes MNIST when --data-dir is given); the first `images` correctly classified test images; maps of
    the true class by saliency |∂y_c/∂x|, SmoothGrad (|·| averaged), gradient × input and integrated gradients
    (black baseline). Cascading randomisation (`explain.evaluate`): head, then
    conv 2, then conv 1 re-initialised by their own initialisers; after each step the Spearman correlation of
    |map| with the trained model's |map| (Adebayo et al.'s absolute measure; the signed one is recorded too).
    The repeat arm is the trained model's maps computed again (a fresh noise draw for SmoothGrad, from
    derive_seed(seed, "repeat"); identical for the deterministic methods, ρ = 1). `run.compare` per judged
    method: ρ after all layers are randomised vs the repeat, paired by seed. Sanity: each step changes exactly
    the layers it names."""
    layer_names = None
    rho = {m: [] for m in METHODS}  # per seed: [repeat, after step 1, 2, …]
    signed = {m: [] for m in METHODS}
    exact = True
    example = {}
    run.metric("data", data_summary(seeds(run.seed, 1)[0], cfg.dataset, run.data_dir))
    for seed in run.progress(seeds(run.seed, cfg.seeds), desc="seeds"):
        model, acc = trained_cnn(seed, cfg.steps, cfg.lr, cfg.batch_size, dataset=cfg.dataset, data_dir=run.data_dir)
        x, y = correct_test_images(model, seed, cfg.images, cfg.dataset, run.data_dir)
        noise = derive_seed(seed, "noise")  # SmoothGrad's draws on the trained and the randomised models
        original = {m: attribute(m, model, x, y, cfg, noise) for m in METHODS}
        repeat = {m: attribute(m, model, x, y, cfg, derive_seed(seed, "repeat")) for m in METHODS}
        steps = list(cascading_randomisation(model, seed=seed)) if cfg.randomise else \
            [(names, model) for names in ([n] for n in parametrised_layers(model)[::-1])]
        layer_names = [names[-1] for names, _ in steps]
        row = {m: [float(rank_correlation(original[m], repeat[m]).mean())] for m in METHODS}
        row_signed = {m: [float(rank_correlation(original[m], repeat[m], absolute=False).mean())] for m in METHODS}
        for names, randomised in steps:
            exact &= (not cfg.randomise) or layers_changed(model, randomised, names)
            for p in randomised.parameters():
                p.requires_grad_(False)
            for m in METHODS:
                maps = attribute(m, randomised.eval(), x, y, cfg, noise)
                row[m].append(float(rank_correlation(original[m], maps).mean()))
                row_signed[m].append(float(rank_correlation(original[m], maps, absolute=False).mean()))
                if "image" not in example:  # the first judged seed's first image
                    example.setdefault(m, [heat(original[m][0])]).append(heat(maps[0]))
        for m in METHODS:
            rho[m].append(row[m])
            signed[m].append(row_signed[m])
        if "image" not in example:
            example["image"] = picture(x[0])
        run.log_metrics(seed=seed, accuracy=acc, **{f"rho_{m}": row[m] for m in METHODS})
    if cfg.randomise:
        run.check("randomisation changes exactly the layers it names", exact,
                  observed="every step's changed parameters are its named layers" if exact else "mismatch",
                  expected="step k changes the top k layers only", kind="sanity")
    run.metric("cascade steps (layer re-initialised)", layer_names)
    run.metric("Spearman |rho| per seed [repeat, step 1..]", rho)
    run.metric("Spearman signed rho per seed [repeat, step 1..]", signed)
    passed, flagged = {}, {}
    for m in METHODS:
        after = [r[-1] for r in rho[m]]
        before = [r[0] for r in rho[m]]
        if m in JUDGED:
            passed[m] = run.compare(f"{m} depends on the model", after, before, margin=cfg.margin, better="lower",
                                    labels=("randomised", "repeat")).passed
        else:  # the same rule, recorded and flagged, not part of the claim
            result = stats.compare(after, before, margin=cfg.margin, better="lower", labels=("randomised", "repeat"))
            passed[m] = result.passed
            flagged[m] = {"passes the check": result.passed, "summary": result.summary()}
            run.log(f"{m}: {'passes' if result.passed else 'FLAGGED (stays correlated)'}: {result.summary()}")
    run.metric("measured, not judged (flagged when they fail)", flagged)
    run.metric("methods passing the randomisation check", [m for m in METHODS if passed[m]])
    _figures(run, cfg, rho, layer_names, passed, example)


def _figures(run, cfg, rho, layer_names, passed, example) -> None:
    fig, axes = figures.subplots(1, 1, panel=(6.0, 3.6))
    ax = axes[0]
    steps = np.arange(len(layer_names) + 1)
    for i, m in enumerate(METHODS):
        values = np.array(rho[m])  # (seeds, steps + 1)
        se = values.std(0, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.zeros(values.shape[1])
        color = figures.verdict_color(passed[m]) if m in JUDGED else figures.SERIES[i]
        style = "-" if m in JUDGED else "--"
        ax.errorbar(steps, values.mean(0), yerr=se, color=color, linestyle=style, marker="os^v"[i], capsize=3,
                    label=f"{m} ({'passes' if passed[m] else 'fails' if m in JUDGED else 'flagged'})")
    ax.set_xticks(steps, ["repeat"] + [f"+{n}" for n in layer_names])
    ax.set(title="cascading randomisation (top layer first)", xlabel="layers re-initialised (cumulative)",
           ylabel=r"Spearman $|\rho|$ with trained maps", ylim=(-0.1, 1.05))
    figures.legend_outside(ax)
    run.figure("rank_correlation", fig)

    columns = 1 + len(layer_names)
    fig, axes = figures.subplots(len(METHODS), columns + 1, panel=(1.7, 1.9))
    for r, m in enumerate(METHODS):
        row = axes[r * (columns + 1):(r + 1) * (columns + 1)]
        show_map(row[0], example["image"], "input" if r == 0 else "")
        if r:
            row[0].set_title(" ")
        for c, image in enumerate(example[m]):
            title = f"{m}" if c == 0 else f"+{layer_names[c - 1]}"
            show_map(row[c + 1], image.abs(), title, cmap="magma")
    run.figure("maps_under_randomisation", fig)
